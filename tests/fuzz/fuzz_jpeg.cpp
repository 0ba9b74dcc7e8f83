// fuzz-links: ds_slide_reader
// libFuzzer harness for one JPEG tile through the cropper and the decoder, as the TIFF backend
// feeds them (slide/reader/jpeg_crop.h, jpeg_decode.h), with and without shared JPEGTables.
// Input layout (tests/fuzz/make_seeds.py writes seeds in it):
//   byte 0      bit 0: JPEGTables present; bits 1-2: colour (auto, YCbCr, RGB, grey)
//   byte 1      extra tile pixels beyond the frame (low nibble: width, high nibble: height)
//   bytes 2-5   region x0, y0, x1, y1 as fractions of the tile (/255)
//   [2 bytes    JPEGTables length, little-endian, then the tables]   when bit 0 is set
//   the rest    the tile's JPEG data
// Every decode runs: the whole tile by libjpeg alone (the oracle) and with the fast decoder first
// (jpeg_fast_decode.h: the same outcome, error or pixels, is required), the rectangle (the fast
// decoder, or a crop and then libjpeg's crop and skip), and the cropped stream on its own. When
// the whole tile and the rectangle both decode, their pixels in the rectangle must be equal
// (jpeg_crop.h and jpeg_fast_decode.h promise it): a difference aborts, as a crash would.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "fuzz_input.h"
#include "slide/reader/jpeg_crop.h"
#include "slide/reader/jpeg_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ds::fuzz::Bytes in{data, size};
  const uint8_t flags = in.u8(), extra = in.u8();
  const uint8_t fx0 = in.u8(), fy0 = in.u8(), fx1 = in.u8(), fy1 = in.u8();
  const uint8_t* tables = nullptr;
  size_t tables_len = 0;
  if (flags & 1) {
    tables_len = in.u16();
    if (tables_len > in.n) return 0;
    tables = in.p;
    in.p += tables_len;
    in.n -= tables_len;
  }
  const auto color = (ds::JpegColor)((flags >> 1) & 3);
  auto [fw, fh] = ds::jpeg_header_size(in.p, in.n);
  if (fw <= 0 || fh <= 0) fw = fh = 64;
  if (fw > 1024 || fh > 1024) return 0;  // TIFF tiles this large are refused before decoding
  const int tw = fw + (extra & 15), th = fh + (extra >> 4);
  int x0 = fx0 * tw / 255, x1 = fx1 * tw / 255, y0 = fy0 * th / 255, y1 = fy1 * th / 255;
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  if (x1 == x0) x1 = x0 < tw ? x0 + 1 : x0, x0 = x1 - 1;
  if (y1 == y0) y1 = y0 < th ? y0 + 1 : y0, y0 = y1 - 1;
  const size_t stride = (size_t)tw * 3;

  // The whole tile, with the fast decoder (fast) or libjpeg alone: {ok, width, height}.
  std::string why;  // libjpeg's reason for refusing the tile
  auto whole = [&](bool fast, std::vector<uint8_t>& out) {
    out.assign(stride * th, 7);
    ds::set_fast_jpeg_decoder(fast);
    std::tuple<bool, int, int> r{false, 0, 0};
    try {
      const auto [w, h] = ds::decode_jpeg_rgb(tables, tables_len, in.p, in.n, color, out.data(), tw, th, "tile");
      r = {true, w, h};
    } catch (const ds::InputError& e) {
      if (!fast) why = e.what();
    }
    ds::set_fast_jpeg_decoder(true);
    return r;
  };
  std::vector<uint8_t> full, fast;
  const auto [full_ok, jw, jh] = whole(false, full);
  if (whole(true, fast) != std::make_tuple(full_ok, jw, jh) || (full_ok && fast != full)) {
    std::fprintf(stderr, "fuzz_jpeg: the fast decoder's whole tile differs from libjpeg's (libjpeg: %s)\n",
                 full_ok ? "decoded" : why.c_str());
    std::abort();
  }

  std::vector<uint8_t> rect(stride * th, 7);
  bool rect_ok = false;
  try {
    ds::decode_jpeg_rgb_rect(tables, tables_len, in.p, in.n, color, tw, th, x0, y0, x1, y1,
                             rect.data() + (size_t)y0 * stride + (size_t)x0 * 3, stride, "tile");
    rect_ok = true;
  } catch (const ds::InputError&) {
  }
  if (full_ok && rect_ok) {
    for (int y = y0; y < y1 && y < jh; ++y) {
      const size_t a = (size_t)y * stride + (size_t)x0 * 3;
      const size_t len = (size_t)(std::min(x1, jw) - x0) * 3;
      if (x0 < jw && std::memcmp(full.data() + a, rect.data() + a, len) != 0) {
        std::fprintf(stderr,
                     "fuzz_jpeg: rectangle [%d,%d)x[%d,%d) of a %dx%d tile differs from the full decode "
                     "at row %d\n",
                     x0, x1, y0, y1, tw, th, y);
        std::abort();
      }
    }
  }

  // The cropped stream by itself: what crop_jpeg writes must be a JPEG libjpeg accepts or refuses
  // cleanly, never one that makes it misbehave.
  std::vector<uint8_t> cropped;
  ds::JpegCrop at;
  if (ds::crop_jpeg(tables, tables_len, in.p, in.n, x0, y0, x1, y1, cropped, &at)) {
    if (at.bytes > cropped.size() || at.x < 0 || at.y < 0 || at.x > x0 || at.y > y0) {
      std::fprintf(stderr, "fuzz_jpeg: crop_jpeg result out of range (%zu of %zu bytes at %d,%d)\n", at.bytes,
                   cropped.size(), at.x, at.y);
      std::abort();
    }
    std::vector<uint8_t> out(stride * th);
    try {
      ds::decode_jpeg_rgb(tables, tables_len, cropped.data(), at.bytes, color, out.data(), tw, th, "crop");
    } catch (const ds::InputError&) {
    }
  }
  return 0;
}
