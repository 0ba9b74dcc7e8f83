// Cuts a baseline JPEG down to the MCUs one region needs before libjpeg sees it. Without restart
// markers the only way to reach a block is to entropy-decode every block before it; a fast skip
// decoder here does that (Huffman code lengths only, DC values tracked), then the needed MCUs'
// bits are spliced into a smaller JPEG whose rows each start with a re-encoded DC difference.
// libjpeg decodes just that: in random 224-px reads, most of a tile's blocks are only skipped.
// The region's pixels are the same as a full decode's: one MCU of margin on every side keeps
// fancy upsampling's neighbours, and the caller decodes with the same margins as before.
// JPEGs with one restart interval per MCU row (NDPI's stacked intervals) need no walk to reach a
// row: each needed row is walked only up to the first MCU kept, and the crop keeps the markers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ds {

// Where the cropped JPEG sits in the original, in pixels, and its length in bytes.
struct JpegCrop {
  int x = 0, y = 0;
  size_t bytes = 0;
  // The crop kept restart markers and each row's data runs on past its last kept MCU to the
  // marker: libjpeg skips those bytes and warns about them (JWRN_EXTRANEOUS_DATA), as expected.
  bool restarts = false;
};

// Writes to the start of `out` (grown when too small, never shrunk, so a reused buffer is not
// zero-filled again on every call) a JPEG of at->bytes bytes holding the MCUs that pixels [x0, x1) x [y0, y1) of `data`
// (with optional abbreviated `tables`) need, plus one MCU of margin around them; its pixel (0, 0) is the original's
// (at->x, at->y). Returns false, and the caller decodes the original, when the stream is not a single-scan baseline
// Huffman JPEG without restart markers or with one restart interval per MCU row, when cropping would save nothing, or
// when the data it walks looks corrupt (the full decode then reports it). Damage after the last MCU the region needs is
// not seen: the region's pixels are still right.
bool crop_jpeg(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, int x0, int y0, int x1,
               int y1, std::vector<uint8_t>& out, JpegCrop* at);

}  // namespace ds
