// The baseline JPEG fast path (slide/reader/jpeg_fast_decode.h) against libjpeg-turbo, its oracle:
// whole frames and rectangles equal libjpeg's pixels bit for bit (4:4:4, 4:2:2 and 4:2:0, restart
// intervals of one row (decoded two rows side by side), of two rows, of a few MCUs or none,
// qualities 30-100, optimized tables, odd sizes, flat saturated colours, every pixel instance;
// TIFF tiles with their tables apart, as decode_jpeg_rgb reads them);
// what it does not handle is declined and still decodes through libjpeg; on corrupted data it
// either declines or gives exactly what libjpeg gives; and the SIMD pixel stages equal the plain
// ones (the two-block IDCT two one-block ones, range answer included).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/jpeg_fast_decode.h"
#include "slide/reader/jpeg_pixels.h"
#include "test_jpeg_util.h"

namespace {

using ds::test::busy_image;
using ds::test::encode;
using ds::test::EncodeOptions;

std::vector<std::pair<const char*, const ds::JpegPixels*>> pixel_instances() {
  std::vector<std::pair<const char*, const ds::JpegPixels*>> v = {{"plain", &ds::jpeg_pixels_generic()}};
  if (ds::jpeg_pixels_have_avx2()) v.push_back({"avx2", &ds::jpeg_pixels_avx2()});
  else WARN("the AVX2 JPEG pixel stages were not run: this CPU lacks AVX2");
  if (ds::jpeg_pixels_have_avx512()) v.push_back({"avx512", &ds::jpeg_pixels_avx512()});
  else WARN("the AVX-512 JPEG pixel stages were not run: this CPU lacks AVX-512");
  return v;
}

// libjpeg alone (the fast path switched off), as the NDPI reader decodes a frame.
std::vector<uint8_t> libjpeg_frame(const std::vector<uint8_t>& jpg, int w, int h) {
  ds::set_fast_jpeg_decoder(false);
  std::vector<uint8_t> out((size_t)w * h * 3);
  try {
    ds::decode_jpeg_rgb_frame(jpg.data(), jpg.size(), w, h, 1, out.data(), "test");
  } catch (...) {
    ds::set_fast_jpeg_decoder(true);
    throw;
  }
  ds::set_fast_jpeg_decoder(true);
  return out;
}

std::vector<uint8_t> fast_frame(const std::vector<uint8_t>& jpg, int w, int h, bool* ok) {
  std::vector<uint8_t> out((size_t)w * h * 3, 0);
  *ok = ds::fast_decode_jpeg_rgb(jpg.data(), jpg.size(), w, h, false, 0, 0, w, h, out.data(), (size_t)w * 3);
  return out;
}

// Restores the CPU's pixel instance when a test forcing one ends.
struct ForcePixels {
  explicit ForcePixels(const ds::JpegPixels* p) { ds::force_jpeg_pixels(p); }
  ~ForcePixels() { ds::force_jpeg_pixels(nullptr); }
};

enum class Picture { kBusy, kSmooth, kFlat };

struct Variant {
  std::string name;
  EncodeOptions o;
  int w, h;
  Picture pic;
};

// Flat blocks of white, black and saturated colours: DC-only blocks whose values, after
// quantization, land beyond 0..255 and must be clamped.
ds::RgbImage flat_image(int w, int h) {
  ds::RgbImage img(w, h);
  const uint8_t colours[6][3] = {{255, 255, 255}, {0, 0, 0}, {0, 0, 255}, {255, 255, 0}, {255, 0, 0}, {0, 255, 0}};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) std::memcpy(img.row(y) + (size_t)x * 3, colours[(x / 16 + y / 8) % 6], 3);
  return img;
}

std::vector<Variant> handled_variants() {
  std::vector<Variant> v;
  const int sampling[3][2] = {{1, 1}, {2, 1}, {2, 2}};
  for (const auto& hv : sampling)
    for (int q : {30, 85, 100}) {
      const int hs = hv[0], vs = hv[1];
      const std::string s = std::string(vs == 2 ? "4:2:0" : hs == 2 ? "4:2:2" : "4:4:4") + " q" + std::to_string(q);
      v.push_back({s + ", restart every MCU row", {hs, vs, false, false, false, 1, q}, 512, 64, Picture::kBusy});
      v.push_back({s + ", no restart markers", {hs, vs, false, false, false, 0, q}, 199, 57, Picture::kBusy});
      v.push_back(
          {s + ", restart every MCU row, odd row count", {hs, vs, false, false, false, 1, q}, 200, 33, Picture::kBusy});
      v.push_back({s + ", restart every 2 rows, optimized, smooth",
                   {hs, vs, false, true, false, 2, q},
                   333,
                   41,
                   Picture::kSmooth});
      v.push_back({s + ", flat saturated colours", {hs, vs, false, false, false, 1, q}, 96, 40, Picture::kFlat});
      EncodeOptions every5{hs, vs, false, false, false, 0, q};
      every5.restart_mcus = 5;
      v.push_back({s + ", restart every 5 MCUs", every5, 141, 30, Picture::kBusy});
    }
  v.push_back({"4:2:2, 6 px wide", {2, 1, false, false, false, 1, 90}, 6, 19, Picture::kBusy});
  v.push_back({"4:4:4, 1 x 1", {1, 1, false, false, false, 0, 90}, 1, 1, Picture::kBusy});
  // 4:2:0 at the sizes where the chroma context rows are the image's own: one row, two, an odd
  // count (the last chroma row half used), a height of one MCU and one more.
  for (const auto& wh : {std::pair{6, 1}, {7, 2}, {9, 3}, {40, 16}, {40, 17}, {35, 31}, {50, 33}})
    v.push_back({"4:2:0, " + std::to_string(wh.first) + " x " + std::to_string(wh.second),
                 {2, 2, false, false, false, 0, 90},
                 wh.first,
                 wh.second,
                 Picture::kBusy});
  return v;
}

}  // namespace

TEST_CASE("the fast JPEG decoder gives libjpeg's pixels bit for bit", "[slide][jpeg]") {
  std::mt19937 rng(11);
  int frames = 0, rects = 0;
  for (const auto& [pname, pixels] : pixel_instances()) {
    ForcePixels force(pixels);
    for (const Variant& v : handled_variants()) {
      INFO(pname << ": " << v.name);
      const ds::RgbImage img = v.pic == Picture::kSmooth ? ds::test::pattern_image(v.w, v.h, 4)
                               : v.pic == Picture::kFlat ? flat_image(v.w, v.h)
                                                         : busy_image(v.w, v.h, 4);
      const auto jpg = encode(img, v.o);
      const auto want = libjpeg_frame(jpg, v.w, v.h);
      bool ok = false;
      const auto got = fast_frame(jpg, v.w, v.h, &ok);
      REQUIRE(ok);
      REQUIRE(got == want);
      ++frames;
      for (int t = 0; t < 12; ++t) {  // rectangles, through decode_jpeg_rgb_rect's fast path
        const int x0 = (int)(rng() % (unsigned)v.w), y0 = (int)(rng() % (unsigned)v.h);
        const int x1 = x0 + 1 + (int)(rng() % (unsigned)(v.w - x0)), y1 = y0 + 1 + (int)(rng() % (unsigned)(v.h - y0));
        std::vector<uint8_t> out((size_t)(x1 - x0) * (y1 - y0) * 3);
        REQUIRE(ds::fast_decode_jpeg_rgb(jpg.data(), jpg.size(), v.w, v.h, true, x0, y0, x1, y1, out.data(),
                                         (size_t)(x1 - x0) * 3));
        for (int y = y0; y < y1; ++y)
          REQUIRE(std::memcmp(out.data() + (size_t)(y - y0) * (x1 - x0) * 3, want.data() + ((size_t)y * v.w + x0) * 3,
                              (size_t)(x1 - x0) * 3) == 0);
        ++rects;
      }
    }
  }
  CHECK(frames >= 54);
  CHECK(rects >= 648);
}

namespace {

// A JPEG as a TIFF stores it: its tables (SOI, the DQT and DHT segments, EOI) apart from the
// abbreviated tile (SOI, every other segment, the scan, EOI).
std::pair<std::vector<uint8_t>, std::vector<uint8_t>> split_tables(const std::vector<uint8_t>& jpg) {
  std::vector<uint8_t> tables = {0xFF, 0xD8}, tile = {0xFF, 0xD8};
  size_t pos = 2;
  while (pos + 4 <= jpg.size() && jpg[pos] == 0xFF) {
    const uint8_t m = jpg[pos + 1];
    const size_t seg = 2 + (size_t)(jpg[pos + 2] << 8 | jpg[pos + 3]);
    if (m == 0xDA) break;
    std::vector<uint8_t>& to = m == 0xDB || m == 0xC4 ? tables : tile;
    to.insert(to.end(), jpg.begin() + (long)pos, jpg.begin() + (long)(pos + seg));
    pos += seg;
  }
  tile.insert(tile.end(), jpg.begin() + (long)pos, jpg.end());
  tables.insert(tables.end(), {0xFF, 0xD9});
  return {tables, tile};
}

// decode_jpeg_rgb with the fast path on or off: the frame's size, or the InputError's message.
std::string tile_decode(bool fast, const std::vector<uint8_t>& tables, const std::vector<uint8_t>& tile,
                        ds::JpegColor color, int out_w, int out_h, std::vector<uint8_t>& out) {
  ds::set_fast_jpeg_decoder(fast);
  out.assign((size_t)out_w * out_h * 3, 7);
  std::string r;
  try {
    const auto [w, h] = ds::decode_jpeg_rgb(tables.data(), tables.size(), tile.data(), tile.size(), color, out.data(),
                                            out_w, out_h, "tile");
    r = std::to_string(w) + "x" + std::to_string(h);
  } catch (const ds::InputError& e) {
    r = e.what();
  }
  ds::set_fast_jpeg_decoder(true);
  return r;
}

}  // namespace

TEST_CASE("TIFF tiles with their tables apart decode as libjpeg decodes them", "[slide][jpeg]") {
  std::mt19937 rng(12);
  int fast_taken = 0;
  for (const auto& [pname, pixels] : pixel_instances()) {
    ForcePixels force(pixels);
    for (const auto& hv : {std::pair{1, 1}, {2, 1}, {2, 2}})
      for (const auto& wh : {std::pair{256, 256}, {240, 200}, {256, 17}}) {
        const auto [w, h] = wh;
        INFO(pname << ": sampling " << hv.first << "x" << hv.second << ", frame " << w << " x " << h);
        const auto [tables, tile] = split_tables(encode(busy_image(w, h, 5), {hv.first, hv.second}));
        for (const ds::JpegColor color : {ds::JpegColor::kYCbCr, ds::JpegColor::kAuto}) {
          std::vector<uint8_t> fast, slow;
          const std::string a = tile_decode(true, tables, tile, color, 256, 256, fast);
          REQUIRE(a == tile_decode(false, tables, tile, color, 256, 256, slow));
          REQUIRE(a == std::to_string(w) + "x" + std::to_string(h));
          REQUIRE(fast == slow);  // the frame, and the rest of a larger tile left as it was
        }
        for (int t = 0; t < 8; ++t) {  // rectangles, through decode_jpeg_rgb_rect
          const int x0 = (int)(rng() % (unsigned)w), y0 = (int)(rng() % (unsigned)h);
          const int x1 = x0 + 1 + (int)(rng() % (unsigned)(w - x0)), y1 = y0 + 1 + (int)(rng() % (unsigned)(h - y0));
          const size_t n = (size_t)(x1 - x0) * 3;
          std::vector<uint8_t> fast((size_t)(y1 - y0) * n), slow(fast.size());
          REQUIRE(ds::fast_decode_jpeg_rgb_rect(tables.data(), tables.size(), tile.data(), tile.size(), 256, 256, x0,
                                                y0, x1, y1, fast.data(), n));
          ds::set_fast_jpeg_decoder(false);
          ds::decode_jpeg_rgb_rect(tables.data(), tables.size(), tile.data(), tile.size(), ds::JpegColor::kYCbCr, 256,
                                   256, x0, y0, x1, y1, slow.data(), n, "tile");
          ds::set_fast_jpeg_decoder(true);
          REQUIRE(fast == slow);
        }
        std::vector<uint8_t> out(256 * 256 * 3);
        int gw = 0, gh = 0;
        REQUIRE(ds::fast_decode_jpeg_rgb_tile(tables.data(), tables.size(), tile.data(), tile.size(), 256, 256,
                                              out.data(), 256 * 3, &gw, &gh));
        CHECK((gw == w && gh == h));
        ++fast_taken;
      }
  }
  CHECK(fast_taken >= 9);

  // Declined, and libjpeg has the last word (an error, or its pixels).
  const auto [tables, tile] = split_tables(encode(busy_image(64, 48, 6), {2, 2}));
  std::vector<uint8_t> out(64 * 48 * 3), fast, slow;
  int gw, gh;
  // Bytes between the last MCU and EOI: a few vanish into libjpeg's bit buffer, more make
  // jpeg_finish_decompress warn (a corrupt tile).
  for (const size_t n : {3, 100}) {
    INFO(n << " bytes before EOI");
    auto extra = tile;
    extra.insert(extra.end() - 2, n, 0x5A);
    CHECK_FALSE(ds::fast_decode_jpeg_rgb_tile(tables.data(), tables.size(), extra.data(), extra.size(), 64, 48,
                                              out.data(), 64 * 3, &gw, &gh));
    const std::string e = tile_decode(true, tables, extra, ds::JpegColor::kYCbCr, 64, 48, fast);
    CHECK(e == tile_decode(false, tables, extra, ds::JpegColor::kYCbCr, 64, 48, slow));
    CHECK(fast == slow);
    CHECK((e.find("corrupt JPEG data") != std::string::npos) == (n == 100));
  }
  // A frame larger than the tile: refused by both.
  CHECK_FALSE(ds::fast_decode_jpeg_rgb_tile(tables.data(), tables.size(), tile.data(), tile.size(), 63, 48, out.data(),
                                            63 * 3, &gw, &gh));
  // Tables holding anything but tables; no tables at all (the tile does not define them).
  auto bad_tables = tables;
  bad_tables.insert(bad_tables.end() - 2, {0xFF, 0xDD, 0x00, 0x04, 0x00, 0x01});
  CHECK_FALSE(ds::fast_decode_jpeg_rgb_tile(bad_tables.data(), bad_tables.size(), tile.data(), tile.size(), 64, 48,
                                            out.data(), 64 * 3, &gw, &gh));
  CHECK(tile_decode(true, bad_tables, tile, ds::JpegColor::kYCbCr, 64, 48, fast) ==
        tile_decode(false, bad_tables, tile, ds::JpegColor::kYCbCr, 64, 48, slow));
  CHECK(fast == slow);
  CHECK_FALSE(
      ds::fast_decode_jpeg_rgb_tile(nullptr, 0, tile.data(), tile.size(), 64, 48, out.data(), 64 * 3, &gw, &gh));
  // RGB by the directory's say: libjpeg's, never the fast path's YCbCr conversion.
  CHECK(tile_decode(true, tables, tile, ds::JpegColor::kRgb, 64, 48, fast) ==
        tile_decode(false, tables, tile, ds::JpegColor::kRgb, 64, 48, slow));
  CHECK(fast == slow);
}

TEST_CASE("the fast JPEG decoder cuts NDPI rows as libjpeg does: frame and interval shortened", "[slide][jpeg]") {
  // The NDPI reader narrows a stack of one-row intervals to the MCUs left of a region's right
  // edge (SOF width and DRI patched) and lets each interval's remaining MCUs be skipped.
  const int w = 512, h = 64;
  auto jpg = encode(busy_image(w, h, 9), {2, 1, false, false, false, 1, 85});
  size_t sof = 0, dri = 0;
  for (size_t i = 0; i + 1 < jpg.size() && !(sof && dri); ++i) {
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) sof = i;
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xDD) dri = i;
  }
  REQUIRE(sof);
  REQUIRE(dri);
  for (int frame_w : {48, 160, 496}) {
    INFO("frame width " << frame_w);
    auto cut = jpg;
    cut[sof + 7] = (uint8_t)(frame_w >> 8), cut[sof + 8] = (uint8_t)frame_w;
    cut[dri + 4] = 0, cut[dri + 5] = (uint8_t)(frame_w / 16);
    const int x0 = frame_w / 3, x1 = frame_w - 16, y0 = 5, y1 = 60;
    const size_t n = (size_t)(x1 - x0) * 3;
    std::vector<uint8_t> fast((size_t)(y1 - y0) * n), slow((size_t)(y1 - y0) * n);
    REQUIRE(ds::fast_decode_jpeg_rgb(cut.data(), cut.size(), frame_w, h, true, x0, y0, x1, y1, fast.data(), n, true));
    // Strictly, the intervals hold more data than the interval length says: declined.
    std::vector<uint8_t> unused(fast.size());
    CHECK_FALSE(ds::fast_decode_jpeg_rgb(cut.data(), cut.size(), frame_w, h, true, x0, y0, x1, y1, unused.data(), n));
    ds::set_fast_jpeg_decoder(false);
    ds::decode_jpeg_rgb_rect(nullptr, 0, cut.data(), cut.size(), ds::JpegColor::kAuto, frame_w, h, x0, y0, x1, y1,
                             slow.data(), n, "test", true);
    ds::set_fast_jpeg_decoder(true);
    CHECK(fast == slow);
  }
}

TEST_CASE("the fast JPEG decoder declines what it does not handle, and libjpeg still decodes it", "[slide][jpeg]") {
  const auto img = busy_image(64, 48, 2);
  struct Case {
    const char* name;
    EncodeOptions o;
  };
  EncodeOptions rgb{1, 1};
  rgb.rgb = true;
  const std::vector<Case> cases = {{"4:4:0", {1, 2}},
                                   {"grey", {1, 1, true}},
                                   {"progressive", {2, 1, false, false, true}},
                                   {"RGB (Adobe marker)", rgb}};
  for (const auto& c : cases) {
    INFO(c.name);
    const auto jpg = encode(img, c.o);
    std::vector<uint8_t> out((size_t)64 * 48 * 3);
    CHECK_FALSE(ds::fast_decode_jpeg_rgb(jpg.data(), jpg.size(), 64, 48, true, 0, 0, 64, 48, out.data(), 64 * 3));
    CHECK_NOTHROW(ds::decode_jpeg_rgb_rect(nullptr, 0, jpg.data(), jpg.size(), ds::JpegColor::kAuto, 64, 48, 3, 4, 60,
                                           40, out.data(), 57 * 3, "test"));
  }
  // 4:2:2 two chroma samples wide: libjpeg replicates instead of interpolating.
  const auto narrow = encode(busy_image(4, 8, 2), {2, 1});
  std::vector<uint8_t> out(4 * 8 * 3);
  CHECK_FALSE(ds::fast_decode_jpeg_rgb(narrow.data(), narrow.size(), 4, 8, true, 0, 0, 4, 8, out.data(), 12));
}

TEST_CASE("on corrupted JPEGs the fast decoder declines or gives exactly libjpeg's pixels", "[slide][jpeg]") {
  const int w = 256, h = 32;
  const auto jpg = encode(busy_image(w, h, 6), {2, 1, false, false, false, 1, 85});
  size_t scan = 0;
  for (size_t i = 0; i + 1 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xDA) scan = i;
  REQUIRE(scan > 0);
  std::mt19937 rng(3);
  int declined = 0, agreed = 0;
  for (int t = 0; t < 400; ++t) {
    auto bad = jpg;
    const int kind = t % 4;
    if (kind == 0) {  // a byte of the header changed
      bad[2 + rng() % (scan + 10 - 2)] = (uint8_t)rng();
    } else if (kind == 1) {  // a byte of the entropy data changed
      bad[scan + 14 + rng() % (bad.size() - scan - 16)] = (uint8_t)rng();
    } else if (kind == 2) {  // truncated
      bad.resize(scan + rng() % (bad.size() - scan));
    } else {  // a few bits flipped anywhere
      for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] ^= (uint8_t)(1u << (rng() % 8));
    }
    bool ok = false;
    const auto got = fast_frame(bad, w, h, &ok);
    if (!ok) {
      ++declined;
      continue;
    }
    INFO("mutation " << t);
    std::vector<uint8_t> want;
    REQUIRE_NOTHROW(want = libjpeg_frame(bad, w, h));
    REQUIRE(got == want);
    ++agreed;
  }
  CHECK(declined > 100);
  CHECK(agreed > 10);
}

TEST_CASE("the two-block IDCT equals two one-block IDCTs in every instance, range answer included", "[slide][jpeg]") {
  std::mt19937 rng(12);
  const ds::JpegPixels& plain = ds::jpeg_pixels_generic();
  int out_of_range = 0;
  for (const auto& [name, px] : pixel_instances()) {
    INFO(name);
    for (int t = 0; t < 3000; ++t) {
      int16_t coef[2][64] = {}, quant[2][64];
      for (int b = 0; b < 2; ++b) {
        // Mostly blocks as encoders make them; every 7th with coefficients far out of range.
        const int lim_all = t % 7 == 0 ? 32767 : 2047;
        for (int i = 0; i < 64; ++i) quant[b][i] = (int16_t)(1 + rng() % (t % 2 ? 255 : 16));
        for (int k = 0, n = 1 + (int)(rng() % 64); k < n; ++k) {
          const int i = (int)(rng() % 64), lim = std::max(1, lim_all / (t % 7 == 0 ? 1 : quant[b][i]));
          coef[b][i] = (int16_t)((int)(rng() % (2u * lim + 1)) - lim);
        }
      }
      uint8_t want[2][8 * 9], got[2][8 * 9];
      const bool ok0 = plain.idct(coef[0], quant[0], want[0], 9), ok1 = plain.idct(coef[1], quant[1], want[1], 9);
      const bool ok = px->idct2(coef[0], quant[0], got[0], 9, coef[1], quant[1], got[1], 9);
      REQUIRE(ok == (ok0 && ok1));
      out_of_range += !ok;
      if (!ok) continue;  // pixels out of range are libjpeg's to decide
      for (int b = 0; b < 2; ++b)
        for (int r = 0; r < 8; ++r) REQUIRE(std::memcmp(want[b] + r * 9, got[b] + r * 9, 8) == 0);
    }
  }
  CHECK(out_of_range > 100);
}

TEST_CASE("a DC-only block's IDCT is the constant the decoder's shortcut writes, range answer included",
          "[slide][jpeg]") {
  // jpeg_fast_decode.cpp's idct_dc_only skips the transform: (dc q + 4) >> 3, in range for dc q
  // in -4096..4091. Every instance's full IDCT must agree with that, at and around the edges.
  for (const auto& [name, px] : pixel_instances()) {
    INFO(name);
    for (int d = -4300; d <= 4300; ++d) {
      int16_t coef[64] = {}, quant[64];
      for (auto& q : quant) q = 1;
      coef[0] = (int16_t)d;
      uint8_t out[64];
      const bool ok = px->idct(coef, quant, out, 8);
      REQUIRE(ok == (d >= -4096 && d <= 4091));
      if (!ok) continue;
      const int want = std::clamp(((d + 4) >> 3) + 128, 0, 255);
      for (uint8_t v : out) REQUIRE(v == want);
    }
  }
}

TEST_CASE("the AVX2 JPEG pixel stages equal the plain ones", "[slide][jpeg]") {
  if (!ds::jpeg_pixels_have_avx2()) {
    WARN("not run: this CPU lacks AVX2");
    return;
  }
  const ds::JpegPixels& a = ds::jpeg_pixels_generic();
  const ds::JpegPixels& b = ds::jpeg_pixels_avx2();
  std::mt19937 rng(8);
  // Blocks as encoders make them: dequantized coefficients within +-2048 (8-bit samples), most
  // of them zero, the quantization table from 1 to 255.
  for (int t = 0; t < 4000; ++t) {
    int16_t coef[64] = {}, quant[64];
    for (int i = 0; i < 64; ++i) quant[i] = (int16_t)(1 + rng() % (t % 2 ? 255 : 16));
    const int nonzero = 1 + (int)(rng() % 64);
    for (int k = 0; k < nonzero; ++k) {
      const int i = (int)(rng() % 64), lim = 2047 / quant[i];
      coef[i] = (int16_t)((int)(rng() % (2u * lim + 1)) - lim);
    }
    uint8_t pa[8 * 11], pb[8 * 11];
    const bool ra = a.idct(coef, quant, pa, 11);
    REQUIRE(b.idct(coef, quant, pb, 11) == ra);
    for (int r = 0; r < 8; ++r) REQUIRE(std::memcmp(pa + r * 11, pb + r * 11, 8) == 0);
  }
  for (int t = 0; t < 500; ++t) {
    const int in_w = 3 + (int)(rng() % 200);
    std::vector<uint8_t> in((size_t)in_w + 64);
    for (auto& v : in) v = (uint8_t)rng();
    const int c0 = (int)(rng() % (unsigned)(2 * in_w)), c1 = c0 + 1 + (int)(rng() % (unsigned)(2 * in_w - c0));
    std::vector<uint8_t> oa((size_t)(c1 - c0)), ob((size_t)(c1 - c0));
    a.upsample_h2v1(in.data(), in_w, c0, c1, oa.data());
    b.upsample_h2v1(in.data(), in_w, c0, c1, ob.data());
    REQUIRE(oa == ob);
    const int n = 1 + (int)(rng() % 300);
    std::vector<uint8_t> y((size_t)n), cb((size_t)n), cr((size_t)n), ra((size_t)n * 3), rb((size_t)n * 3);
    for (int i = 0; i < n; ++i)
      y[(size_t)i] = (uint8_t)rng(), cb[(size_t)i] = (uint8_t)rng(), cr[(size_t)i] = (uint8_t)rng();
    a.ycc_rgb(y.data(), cb.data(), cr.data(), ra.data(), n);
    b.ycc_rgb(y.data(), cb.data(), cr.data(), rb.data(), n);
    REQUIRE(ra == rb);
  }
  // Whole rows and rows' ends (the vector tail's overlapping last step and the last sample).
  for (int in_w = 1; in_w <= 300; ++in_w)
    for (const int c0 : {0, 1, 2, 3, in_w}) {
      const int c1 = 2 * in_w;
      if (c0 >= c1) continue;
      std::vector<uint8_t> in((size_t)in_w + 64);
      for (auto& v : in) v = (uint8_t)rng();
      std::vector<uint8_t> oa((size_t)(c1 - c0)), ob((size_t)(c1 - c0));
      a.upsample_h2v1(in.data(), in_w, c0, c1, oa.data());
      b.upsample_h2v1(in.data(), in_w, c0, c1, ob.data());
      REQUIRE(oa == ob);
    }
}
