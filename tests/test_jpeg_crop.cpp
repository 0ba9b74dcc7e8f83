// jpeg_crop (cutting a JPEG down to a rectangle's MCUs before libjpeg decodes it): every
// rectangle decoded through it matches the same rectangle of a full libjpeg decode exactly, for
// each chroma subsampling, grey, odd sizes, optimized Huffman tables, dense detail and a restart
// marker after every MCU row (NDPI's restart intervals, also with the frame and interval cut short
// as the NDPI reader does); streams it cannot cut (other restart intervals, progressive) are
// refused and still decode; corrupt and truncated data give an InputError or a decode, never a
// crash; a JPEG that lacks a table it uses never borrows it from the JPEG decoded before it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "base/error.h"
#include "slide/reader/jpeg_crop.h"
#include "slide/reader/jpeg_decode.h"
#include "test_jpeg_util.h"
#include "test_slide_util.h"

namespace {

using ds::test::busy_image;
using ds::test::encode;
using ds::test::EncodeOptions;

ds::RgbImage full_decode(const std::vector<uint8_t>& jpg, int w, int h) {
  ds::RgbImage img(w, h);
  ds::decode_jpeg_rgb(nullptr, 0, jpg.data(), jpg.size(), ds::JpegColor::kAuto, img.pixels.data(), w, h, "test");
  return img;
}

// Decodes [x0, x1) x [y0, y1) through decode_jpeg_rgb_rect and compares with the full decode.
bool rect_matches(const std::vector<uint8_t>& jpg, const ds::RgbImage& full, int x0, int y0, int x1, int y1) {
  std::vector<uint8_t> out((size_t)(x1 - x0) * (y1 - y0) * 3);
  ds::decode_jpeg_rgb_rect(nullptr, 0, jpg.data(), jpg.size(), ds::JpegColor::kAuto, full.width, full.height, x0, y0,
                           x1, y1, out.data(), (size_t)(x1 - x0) * 3, "test");
  for (int y = y0; y < y1; ++y)
    if (std::memcmp(out.data() + (size_t)(y - y0) * (x1 - x0) * 3, full.row(y) + (size_t)x0 * 3,
                    (size_t)(x1 - x0) * 3) != 0)
      return false;
  return true;
}

bool can_crop(const std::vector<uint8_t>& jpg, int x0, int y0, int x1, int y1) {
  std::vector<uint8_t> out;
  ds::JpegCrop at;
  return ds::crop_jpeg(nullptr, 0, jpg.data(), jpg.size(), x0, y0, x1, y1, out, &at);
}

// Offset of the first marker `m` (0xFF m) in a JPEG's header, or 0.
size_t find_marker(const std::vector<uint8_t>& jpg, uint8_t m) {
  for (size_t i = 0; i + 1 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == m) return i;
  return 0;
}

}  // namespace

TEST_CASE("cropped JPEG rectangles match a full decode exactly", "[slide][jpeg]") {
  struct Variant {
    const char* name;
    EncodeOptions o;
    int w, h;
  };
  std::vector<Variant> variants = {
      {"4:2:0", {}, 256, 256},
      {"4:2:0 odd size", {}, 251, 203},
      {"4:4:4", {1, 1}, 240, 176},
      {"4:2:2", {2, 1}, 199, 257},
      {"grey", {1, 1, true}, 250, 131},
      {"optimized tables", {2, 2, false, true}, 256, 256},
      {"quality 97", {2, 2, false, false, false, 0, 97}, 256, 128},
      {"4:2:2, restart marker every MCU row", {2, 1, false, false, false, 1}, 512, 64},
      {"4:2:0 odd size, restart marker every MCU row", {2, 2, false, false, false, 1}, 251, 203},
      {"4:4:4, restart marker every MCU row", {1, 1, false, false, false, 1, 95}, 240, 176},
      {"grey, restart marker every MCU row", {1, 1, true, false, false, 1}, 250, 131},
  };
  std::mt19937 rng(5);
  for (const auto& v : variants) {
    INFO(v.name);
    auto img = busy_image(v.w, v.h, 3);
    auto jpg = encode(img, v.o);
    auto full = full_decode(jpg, v.w, v.h);
    // A small rectangle in the middle is always cut (by rows and columns).
    CHECK(can_crop(jpg, v.w / 2, v.h / 2, v.w / 2 + 9, v.h / 2 + 9));
    // A wide one far down is cut by rows; with restart markers every row is reached without
    // walking, and a rectangle at the left edge leaves no MCUs to skip.
    CHECK(can_crop(jpg, 0, v.h - 20, v.w, v.h) == (v.o.restart_rows == 0));
    for (int k = 0; k < 150; ++k) {
      int x0 = (int)(rng() % (unsigned)v.w), y0 = (int)(rng() % (unsigned)v.h);
      int x1 = x0 + 1 + (int)(rng() % (unsigned)(v.w - x0)), y1 = y0 + 1 + (int)(rng() % (unsigned)(v.h - y0));
      if (k % 3 == 0) x1 = std::min(v.w, x0 + 1 + (int)(rng() % 24));  // narrow: cut by columns
      INFO("rect " << x0 << "," << y0 << " - " << x1 << "," << y1);
      REQUIRE(rect_matches(jpg, full, x0, y0, x1, y1));
    }
    // Every single MCU-aligned corner case: regions touching each edge.
    REQUIRE(rect_matches(jpg, full, 0, 0, 1, 1));
    REQUIRE(rect_matches(jpg, full, v.w - 1, v.h - 1, v.w, v.h));
    REQUIRE(rect_matches(jpg, full, v.w - 17, 0, v.w, v.h));
    REQUIRE(rect_matches(jpg, full, 0, v.h - 17, 17, v.h));
  }
}

TEST_CASE("JPEGs with restart intervals other than one MCU row or progressive scans are not cut but still decode",
          "[slide][jpeg]") {
  auto img = busy_image(200, 160, 4);
  for (int which = 0; which < 2; ++which) {
    EncodeOptions o;
    if (which == 0) o.restart_rows = 2;
    else o.progressive = true;
    auto jpg = encode(img, o);
    CHECK_FALSE(can_crop(jpg, 100, 100, 110, 110));
    auto full = full_decode(jpg, 200, 160);
    CHECK(rect_matches(jpg, full, 100, 100, 110, 110));
  }
}

// The NDPI reader's partial reads: a JPEG of restart intervals one MCU row each whose frame and
// restart interval are cut short in the header (the data still holds whole rows), decoded with
// libjpeg skipping to each next marker. Cut or not, the pixels are the full decode's.
TEST_CASE("restart-interval rows cut short in the header crop to the same pixels", "[slide][jpeg]") {
  auto img = busy_image(512, 40, 8);
  EncodeOptions o;
  o.h_samp = 2;
  o.v_samp = 1;
  o.restart_rows = 1;
  o.quality = 85;
  auto jpg = encode(img, o);
  auto full = full_decode(jpg, 512, 40);
  const size_t sof = find_marker(jpg, 0xC0), dri = find_marker(jpg, 0xDD);
  REQUIRE(sof > 0);
  REQUIRE(dri > 0);
  REQUIRE((jpg[dri + 4] << 8 | jpg[dri + 5]) == 32);  // one interval per 16-px MCU row
  std::mt19937 rng(11);
  int cut = 0;
  for (int k = 0; k < 120; ++k) {
    int x0 = (int)(rng() % 500), x1 = std::min(512, x0 + 1 + (int)(rng() % 240));
    int y0 = (int)(rng() % 40), y1 = y0 + 1 + (int)(rng() % (unsigned)(40 - y0));
    // As the reader: the frame ends one MCU right of the region, and so does each interval.
    const int frame_w = std::min(512, ((x1 - 1) / 16 + 2) * 16), mcus = frame_w / 16;
    auto short_jpg = jpg;
    short_jpg[sof + 7] = (uint8_t)(frame_w >> 8);
    short_jpg[sof + 8] = (uint8_t)frame_w;
    short_jpg[dri + 4] = (uint8_t)(mcus >> 8);
    short_jpg[dri + 5] = (uint8_t)mcus;
    cut += can_crop(short_jpg, x0, y0, x1, y1);
    std::vector<uint8_t> out((size_t)(x1 - x0) * (y1 - y0) * 3);
    ds::decode_jpeg_rgb_rect(nullptr, 0, short_jpg.data(), short_jpg.size(), ds::JpegColor::kAuto, frame_w, 40, x0, y0,
                             x1, y1, out.data(), (size_t)(x1 - x0) * 3, "test", frame_w < 512);
    INFO("rect " << x0 << "," << y0 << " - " << x1 << "," << y1);
    for (int y = y0; y < y1; ++y)
      REQUIRE(std::memcmp(out.data() + (size_t)(y - y0) * (x1 - x0) * 3, full.row(y) + (size_t)x0 * 3,
                          (size_t)(x1 - x0) * 3) == 0);
  }
  CHECK(cut > 60);  // most of them were cut (those starting 32 px in or more)
}

TEST_CASE("corrupt or truncated JPEG data never crashes the cutter", "[slide][jpeg]") {
  auto img = busy_image(256, 256, 6);
  EncodeOptions with_restarts;
  with_restarts.restart_rows = 1;
  auto jpg = GENERATE(as<bool>{}, false, true) ? encode(img, with_restarts) : encode(img, {});
  std::mt19937 rng(9);
  std::vector<uint8_t> out(256 * 256 * 3);
  int errors = 0;
  for (int k = 0; k < 300; ++k) {
    auto bad = jpg;
    if (k % 3 == 0) {
      bad.resize(bad.size() * (size_t)(rng() % 100) / 100);  // truncated
    } else {
      for (int f = 0; f < 1 + k % 4; ++f) bad[600 + rng() % (bad.size() - 600)] = (uint8_t)rng();  // entropy data
    }
    if (k % 7 == 0) bad[200 + rng() % 400] = (uint8_t)rng();  // headers and tables too
    int x0 = (int)(rng() % 200), y0 = (int)(rng() % 200);
    try {
      ds::decode_jpeg_rgb_rect(nullptr, 0, bad.data(), bad.size(), ds::JpegColor::kAuto, 4096, 4096, x0, y0, x0 + 40,
                               y0 + 40, out.data(), 40 * 3, "bad.jpg");
    } catch (const ds::InputError&) {
      ++errors;
    }
  }
  CHECK(errors > 0);  // damage was noticed somewhere, and nothing but InputError escaped
}

TEST_CASE("review findings: over-subscribed Huffman tables and duplicate component ids are refused", "[slide][jpeg]") {
  auto img = busy_image(256, 256, 12);
  auto jpg = encode(img, {});
  auto find = [&](uint8_t marker) {
    for (size_t i = 0; i + 1 < jpg.size(); ++i)
      if (jpg[i] == 0xFF && jpg[i + 1] == marker) return i;
    return (size_t)0;
  };
  std::vector<uint8_t> out(40 * 40 * 3);
  // Three 1-bit codes (same symbol count: taken from the longest length): once wrote past the
  // fast lookup table.
  {
    auto bad = jpg;
    size_t dht = find(0xC4);
    REQUIRE(dht > 0);
    uint8_t* counts = bad.data() + dht + 4;  // counts[1..16] follow FF C4, length, Tc/Th
    int longest = 16;
    while (longest > 1 && counts[longest] < 3) --longest;
    REQUIRE(longest > 1);
    counts[longest] -= 3;
    counts[1] += 3;
    ds::JpegCrop at;
    std::vector<uint8_t> cut;
    CHECK_FALSE(ds::crop_jpeg(nullptr, 0, bad.data(), bad.size(), 100, 100, 140, 140, cut, &at));
    CHECK_THROWS_AS(ds::decode_jpeg_rgb_rect(nullptr, 0, bad.data(), bad.size(), ds::JpegColor::kAuto, 4096, 4096, 100,
                                             100, 140, 140, out.data(), 40 * 3, "bad.jpg"),
                    ds::InputError);
  }
  // Component ids {1, 1, 3}: libjpeg pairs scan and frame components its own way; a cut walked
  // the wrong blocks and gave wrong pixels without any error.
  {
    auto dup = jpg;
    size_t sof = find(0xC0), sos = find(0xDA);
    REQUIRE(sof > 0);
    REQUIRE(sos > 0);
    dup[sof + 2 + 8 + 3] = dup[sof + 2 + 8];  // second frame component's id := the first's
    dup[sos + 2 + 3 + 2] = dup[sos + 2 + 3];  // and the scan's second selector
    CHECK_FALSE(can_crop(dup, 100, 100, 110, 110));
    ds::RgbImage full(256, 256);
    bool decodes = true;
    try {
      full = full_decode(dup, 256, 256);
    } catch (const ds::InputError&) {
      decodes = false;
    }
    if (decodes) CHECK(rect_matches(dup, full, 100, 100, 140, 140));
  }
}

TEST_CASE("a JPEG missing its quantization table never borrows the previous JPEG's", "[slide][jpeg]") {
  // libjpeg keeps tables in its (per-thread, reused) decompressor; a tile without DQT must fail as
  // it would alone, not decode with the last tile's table.
  const auto good = encode(busy_image(64, 32, 1), {2, 1});
  auto bad = encode(busy_image(64, 32, 2), {2, 1});
  const size_t dqt = find_marker(bad, 0xDB);
  REQUIRE(dqt > 0);
  const size_t seg = 2 + (size_t)((bad[dqt + 2] << 8) | bad[dqt + 3]);
  bad.erase(bad.begin() + (long)dqt, bad.begin() + (long)(dqt + seg));
  REQUIRE(find_marker(bad, 0xDB) > 0);  // libjpeg writes one DQT per table: the chroma one is left
  std::vector<uint8_t> out(64 * 32 * 3);
  for (int round = 0; round < 2; ++round) {
    ds::decode_jpeg_rgb(nullptr, 0, good.data(), good.size(), ds::JpegColor::kAuto, out.data(), 64, 32, "good");
    CHECK_THROWS_AS(
        ds::decode_jpeg_rgb(nullptr, 0, bad.data(), bad.size(), ds::JpegColor::kAuto, out.data(), 64, 32, "bad"),
        ds::InputError);
    ds::decode_jpeg_rgb_rect(nullptr, 0, good.data(), good.size(), ds::JpegColor::kYCbCr, 64, 32, 5, 5, 40, 30,
                             out.data(), 64 * 3, "good");
    CHECK_THROWS_AS(ds::decode_jpeg_rgb_rect(nullptr, 0, bad.data(), bad.size(), ds::JpegColor::kYCbCr, 64, 32, 5, 5,
                                             40, 30, out.data(), 64 * 3, "bad"),
                    ds::InputError);
    ds::decode_jpeg_rgb_frame(good.data(), good.size(), 64, 32, 2, out.data(), "good");
    CHECK_THROWS_AS(ds::decode_jpeg_rgb_frame(bad.data(), bad.size(), 64, 32, 2, out.data(), "bad"), ds::InputError);
  }
}
