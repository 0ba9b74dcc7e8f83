// Level 0's EncodeInfo XMP in a Ventana BIF, read as OpenSlide 3.4.1's ventana driver reads it:
// the scanned areas of interest in the level-0 tile grid (AoiOrigin), each with its position and
// the joints between neighbouring tiles (tile numbers serpentine from the bottom row, each
// checked against its direction), and the tile advance: the tile size less the
// confidence-weighted mean overlap of every joint in that direction.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "slide/reader/xml.h"

namespace ds {

struct VentanaArea {
  int64_t x = 0, y = 0;  // top-left, level-0 pixels (Pos-X; Pos-Y turned to count from the top)
  int64_t col0 = 0, row0 = 0, cols = 0, rows = 0;
};

struct VentanaStitch {
  std::vector<VentanaArea> areas;  // the scanned ones (AOIScanned=1), in the document's order
  double advance_x = 0, advance_y = 0;
};

// A Ventana XMP document parsed; InputError naming `path` and `what` when it is broken.
std::unique_ptr<XmlElement> parse_ventana_xml(const std::string& path, const std::string& xml, const char* what);

// InputError naming `path` when the XML is broken, an attribute is missing or not a number, a
// joint is out of place, no area was scanned or a direction has no joint with confidence.
VentanaStitch read_encode_info(const std::string& path, const std::string& xml, int64_t tile_w, int64_t tile_h);

}  // namespace ds
