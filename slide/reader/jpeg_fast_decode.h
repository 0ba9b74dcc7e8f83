// A baseline JPEG decoder for the JPEGs whole-slide scanners write one restart interval after
// another (NDPI levels), faster than libjpeg-turbo and giving its pixels bit for bit: the entropy
// data is first cut at its restart markers and unstuffed, then decoded with a 64-bit bit buffer
// and no marker checks (libjpeg-turbo takes its slow Huffman path for every JPEG with restart
// markers); the IDCT, upsampling and colour conversion are libjpeg's arithmetic (jpeg_pixels.h).
// It declines (returns false) whatever it does not handle or finds the least bit irregular, and
// the caller then runs libjpeg, which decodes or reports it: so the results, errors included, are
// libjpeg's. Handled: 8-bit Huffman sequential (SOF0/SOF1), one interleaved scan of Y, Cb, Cr with
// Y sampled 1x1, 2x1 or 2x2 (4:4:4, 4:2:2, 4:2:0) and chroma 1x1, libjpeg's default colour
// handling (YCbCr; no Adobe marker, component ids not 'R', 'G', 'B'), any restart interval,
// tables from a separate JPEGTables stream (TIFF), output at full scale.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ds {

// Decodes the JPEG `data` (SOI .. EOI) whose SOF must say frame_w x frame_h (or, with
// frame_from_sof, at most that: the SOF's size is then the frame's), writing columns [x0, x1) of rows [y0, y1) as RGB
// to `out` (row stride `stride` bytes; out points at pixel (x0, y0)). skip_to_restart: the data between restart markers
// may hold more MCUs than the restart interval (the caller shortened the interval to cut a row, NDPI); the rest of each
// interval is skipped, as libjpeg skips it. Returns false when it declines; `out` may then hold some rows already,
// which the caller's libjpeg decode overwrites.
bool fast_decode_jpeg_rgb(const uint8_t* data, size_t len, int frame_w, int frame_h, bool frame_from_sof, int x0,
                          int y0, int x1, int y1, uint8_t* out, size_t stride, bool skip_to_restart = false);

// Columns [x0, x1) of rows [y0, y1) of a TIFF tile (`tables` may be null) whose frame is at most
// max_w x max_h, as fast_decode_jpeg_rgb with frame_from_sof.
bool fast_decode_jpeg_rgb_rect(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, int max_w,
                               int max_h, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride);

// A whole TIFF tile: `tables` (JPEGTables, may be null) then `data`, whose frame (at most max_w x
// max_h) is written to `out` (row stride `stride`) and its size to *w, *h. As libjpeg's
// jpeg_finish_decompress, it requires the scan to end with the frame's last MCU (else declines).
bool fast_decode_jpeg_rgb_tile(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, int max_w,
                               int max_h, uint8_t* out, size_t stride, int* w, int* h);

}  // namespace ds
