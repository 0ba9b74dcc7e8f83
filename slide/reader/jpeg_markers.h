// The header of a baseline or progressive JPEG up to its first scan, parsed without libjpeg:
// where the frame header (SOF) is, where the entropy-coded data starts, the frame's size and
// sampling, and the restart interval. NDPI levels need this to cut one JPEG into restart-interval
// tiles before libjpeg sees any of it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ds {

struct JpegHeader {
  size_t sof_pos = 0;              // offset of the SOF marker (0xFF byte)
  size_t dri_pos = 0;              // offset of the DRI marker, 0 when there is none
  size_t header_len = 0;           // offset just past the first SOS segment: entropy-coded data starts here
  uint32_t width = 0, height = 0;  // as the SOF says (0 or anything when the image is larger than JPEG allows)
  int components = 0, comps_in_scan = 0;
  int max_h = 1, max_v = 1;       // largest sampling factors
  uint32_t restart_interval = 0;  // MCUs per restart interval, 0 when there are no restart markers
  // MCU size in pixels: 8x8 for a single-component scan, else 8 x the largest sampling factors.
  int mcu_width() const { return comps_in_scan > 1 ? 8 * max_h : 8; }
  int mcu_height() const { return comps_in_scan > 1 ? 8 * max_v : 8; }
};

// Parses `data` (the start of a JPEG) up to the end of its first SOS segment. Returns the reason
// when it cannot (no SOI, a marker segment running past `len`, no SOF before SOS, ...).
std::optional<JpegHeader> parse_jpeg_header(const uint8_t* data, size_t len, std::string* reason);

}  // namespace ds
