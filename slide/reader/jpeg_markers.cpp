// JPEG marker walk up to the first scan (see jpeg_markers.h).
#include "slide/reader/jpeg_markers.h"

#include <algorithm>

namespace ds {

namespace {

bool is_sof(uint8_t m) {
  return (m >= 0xC0 && m <= 0xC3) || (m >= 0xC5 && m <= 0xC7) || (m >= 0xC9 && m <= 0xCB) || (m >= 0xCD && m <= 0xCF);
}

}  // namespace

std::optional<JpegHeader> parse_jpeg_header(const uint8_t* d, size_t len, std::string* reason) {
  auto fail = [&](const std::string& why) -> std::optional<JpegHeader> {
    if (reason) *reason = why;
    return std::nullopt;
  };
  if (len < 4 || d[0] != 0xFF || d[1] != 0xD8) return fail("JPEG data does not start with SOI");
  JpegHeader h;
  bool have_sof = false;
  size_t pos = 2;
  while (true) {
    if (pos + 4 > len) return fail("JPEG header runs past the data");
    if (d[pos] != 0xFF) return fail("JPEG header: expected a marker at byte " + std::to_string(pos));
    uint8_t m = d[pos + 1];
    if (m == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    size_t seg = (size_t)d[pos + 2] << 8 | d[pos + 3];
    if (seg < 2 || pos + 2 + seg > len) return fail("JPEG marker segment runs past the data");
    const uint8_t* s = d + pos + 4;  // segment body
    size_t body = seg - 2;
    if (is_sof(m)) {
      if (body < 6) return fail("JPEG SOF segment too short");
      h.sof_pos = pos;
      h.height = (uint32_t)s[1] << 8 | s[2];
      h.width = (uint32_t)s[3] << 8 | s[4];
      h.components = s[5];
      if (body < 6 + 3 * (size_t)h.components) return fail("JPEG SOF segment too short");
      for (int c = 0; c < h.components; ++c) {
        int hv = s[6 + 3 * c + 1];
        h.max_h = std::max(h.max_h, hv >> 4);
        h.max_v = std::max(h.max_v, hv & 15);
      }
      if (h.max_h > 4 || h.max_v > 4) return fail("JPEG sampling factor above 4");
      have_sof = true;
    } else if (m == 0xDD) {  // DRI
      if (body < 2) return fail("JPEG DRI segment too short");
      h.dri_pos = pos;
      h.restart_interval = (uint32_t)s[0] << 8 | s[1];
    } else if (m == 0xDA) {  // SOS
      if (!have_sof) return fail("JPEG reaches its scan without a frame header (SOF)");
      if (body < 1) return fail("JPEG SOS segment too short");
      h.comps_in_scan = s[0];
      h.header_len = pos + 2 + seg;
      return h;
    } else if (m == 0xD9 || (m >= 0xD0 && m <= 0xD8)) {
      return fail("JPEG header: unexpected marker before the scan");
    }
    pos += 2 + seg;
  }
}

}  // namespace ds
