// JPEG tile decoding with libjpeg-turbo, outside any lock: abbreviated TIFF tiles get their
// JPEGTables first, and the colour space comes from the TIFF (PhotometricInterpretation), never
// from libjpeg's guess. Accurate integer IDCT and fancy upsampling, as libtiff and OpenSlide use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace ds {

enum class JpegColor { kAuto, kYCbCr, kRgb, kGrey };

// Decodes `data` (with optional `tables`) into `out`, an RGB buffer of out_w x out_h pixels
// (row stride out_w * 3). Returns the width and height written (the JPEG's frame, which may be
// smaller than out_w x out_h); pixels outside are left untouched. InputError(what, reason) on any
// libjpeg error or warning (corrupt or truncated data), on a frame larger than out_w x out_h and
// on a component count that does not match `color`, the last two found before decoding starts.
std::pair<int, int> decode_jpeg_rgb(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len,
                                    JpegColor color, uint8_t* out, int out_w, int out_h, const std::string& what);

// The baseline fast path (jpeg_fast_decode.h) runs first where it applies (decode_jpeg_rgb and
// decode_jpeg_rgb_rect with the colour space from the JPEG or YCbCr, with or without tables;
// decode_jpeg_rgb_rect's skip_to_restart without tables; decode_jpeg_rgb_frame at full scale),
// libjpeg when it declines. Off: libjpeg always (tests and bench-read's --jpeg-decoder libjpeg
// compare the two). On by default; process-wide.
void set_fast_jpeg_decoder(bool on);
bool fast_jpeg_decoder();

// Width and height from a JPEG's frame header, or {0, 0} when there is none or it is unreadable.
std::pair<int, int> jpeg_header_size(const uint8_t* data, size_t len);

// Decodes only columns [x0, x1) and rows [y0, y1) (inside the JPEG, whose frame may be at most
// tile_w x tile_h) into `out` (row stride `stride` bytes; out points at pixel (x0, y0)). Same
// pixels as a full decode: libjpeg-turbo's crop and skip run with a one-iMCU margin so fancy
// upsampling sees the real neighbours, and decoding stops after row y1.
// skip_to_restart: the caller made the restart interval shorter than the data between restart
// markers, so libjpeg stops each interval early and skips to the next marker (NDPI: the MCUs of a
// row right of a region); libjpeg's warning about the bytes it skips is then expected.
void decode_jpeg_rgb_rect(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, JpegColor color,
                          int tile_w, int tile_h, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride,
                          const std::string& what, bool skip_to_restart = false);

// NDPI restart-interval tiles (OpenSlide's way, so the pixels are its own): `data` is a JPEG
// header followed by one interval's data and EOI; its frame is taken to be frame_w x frame_h
// whatever the SOF says (a large NDPI level's SOF describes the whole level, or holds 0), and it
// is decoded scaled by 1/scale_denom (1, 2, 4 or 8, libjpeg's DCT scaling) with libjpeg's
// defaults (colour space from the JPEG's markers) into `out`, frame_w/scale x frame_h/scale RGB.
void decode_jpeg_rgb_frame(const uint8_t* data, size_t len, int frame_w, int frame_h, int scale_denom, uint8_t* out,
                           const std::string& what);

}  // namespace ds
