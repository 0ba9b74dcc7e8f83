// Ventana BIF EncodeInfo: scanned areas, tile joints and the mean tile advance (see
// ventana_encode_info.h), with OpenSlide's checks and bounds of our own on what a file may claim.
#include "slide/reader/ventana_encode_info.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "base/error.h"
#include "slide/reader/tiff_properties.h"
#include "slide/reader/xml.h"

namespace ds {

namespace {

constexpr int64_t kMaxSide = 1 << 20;  // level-0 pixels an area may reach, across and down
// Scanned areas a file may list: scanners write a handful, and every tile drawn looks through
// them for the last one holding it.
constexpr size_t kMaxAreas = 4096;

int64_t int_attr(const std::string& path, const XmlElement& e, const char* name) {
  const std::string* v = e.attribute(name);
  if (!v) throw InputError(path, std::string("Ventana: EncodeInfo: <") + e.name + "> has no attribute " + name);
  if (auto r = parse_openslide_int(*v)) return *r;
  throw InputError(path,
                   std::string("Ventana: EncodeInfo: ") + name + "=\"" + v->substr(0, 40) + "\" is not an integer");
}

double double_attr(const std::string& path, const XmlElement& e, const char* name) {
  const std::string* v = e.attribute(name);
  auto r = v ? parse_openslide_double(*v) : std::nullopt;
  if (!r) throw InputError(path, std::string("Ventana: EncodeInfo: bad or missing ") + name + " on <" + e.name + ">");
  return *r;
}

// Confidence-weighted sums of the joints' offsets (minus their overlaps), per direction.
struct JointSums {
  double offset_x = 0, offset_y = 0;
  int64_t weight_x = 0, weight_y = 0;
};

// An area from its ImageInfo and AoiOrigin elements, Pos-Y still from the bottom.
VentanaArea read_area(const std::string& path, const XmlElement& info, const XmlElement& aoi, int64_t tw, int64_t th) {
  VentanaArea a;
  const int64_t ox = int_attr(path, aoi, "OriginX"), oy = int_attr(path, aoi, "OriginY");
  if (int_attr(path, info, "Width") != tw || int_attr(path, info, "Height") != th)
    throw InputError(path, "Ventana: EncodeInfo: an area's tile size differs from level 0's " + std::to_string(tw) +
                               "x" + std::to_string(th));
  if (ox % tw || oy % th) throw InputError(path, "Ventana: EncodeInfo: an area's origin is not on the tile grid");
  a.col0 = ox / tw;
  a.row0 = oy / th;
  a.cols = int_attr(path, info, "NumCols");
  a.rows = int_attr(path, info, "NumRows");
  if (a.cols < 1 || a.rows < 1 || a.cols > kMaxSide / tw + 1 || a.rows > kMaxSide / th + 1 || a.col0 < 0 ||
      a.row0 < 0 || a.col0 > kMaxSide || a.row0 > kMaxSide)
    throw InputError(path, "Ventana: EncodeInfo: an area of " + std::to_string(a.cols) + "x" + std::to_string(a.rows) +
                               " tiles is empty or too large");
  const double x = double_attr(path, info, "Pos-X"), y = double_attr(path, info, "Pos-Y");
  if (!(std::abs(x) <= (double)kMaxSide * 4 && std::abs(y) <= (double)kMaxSide * 4))
    throw InputError(path, "Ventana: EncodeInfo: an area's position is out of range");
  a.x = (int64_t)x;
  a.y = (int64_t)y;
  return a;
}

// Adds the joints of one area's ImageInfo to the sums, each checked against its direction.
void add_joints(const std::string& path, const XmlElement& info, const VentanaArea& a, JointSums& sums) {
  const int64_t count = a.cols * a.rows;
  // Tile numbers are 1-based, serpentine from the bottom row: rows numbered upwards, every
  // second one from the right.
  auto coords = [&](const XmlElement& j, const char* name, int64_t& col, int64_t& row) {
    int64_t t = int_attr(path, j, name);
    if (t < 1 || t > count)
      throw InputError(path, "Ventana: EncodeInfo: tile number out of bounds: " + std::to_string(t));
    --t;
    col = t % a.cols;
    row = t / a.cols;
    if (row % 2) col = a.cols - col - 1;
    row = a.rows - row - 1;
  };
  for (const XmlElement* j : info.children_named("TileJointInfo")) {
    int64_t c1, r1, c2, r2;
    coords(*j, "Tile1", c1, r1);
    coords(*j, "Tile2", c2, r2);
    const std::string* dir = j->attribute("Direction");
    const bool right = dir && *dir == "RIGHT", up = dir && *dir == "UP";
    if (!right && !up) throw InputError(path, "Ventana: EncodeInfo: bad tile joint direction");
    if (right ? !(c2 == c1 + 1 && r2 == r1) : !(c2 == c1 && r2 == r1 - 1))
      throw InputError(path, "Ventana: EncodeInfo: unexpected tile joint " + *dir);
    const double ox = -double_attr(path, *j, "OverlapX"), oy = -double_attr(path, *j, "OverlapY");
    const int64_t conf = int_attr(path, *j, "Confidence");
    if (conf < 0 || conf > (1 << 20))
      throw InputError(path, "Ventana: EncodeInfo: a joint's confidence is out of range");
    if (up) sums.offset_y += (double)conf * oy, sums.weight_y += conf;
    else sums.offset_x += (double)conf * ox, sums.weight_x += conf;
  }
}

}  // namespace

std::unique_ptr<XmlElement> parse_ventana_xml(const std::string& path, const std::string& xml, const char* what) {
  try {
    return parse_xml(xml);
  } catch (const std::runtime_error& e) {
    throw InputError(path, std::string("Ventana: the ") + what + " XML is broken: " + e.what());
  }
}

VentanaStitch read_encode_info(const std::string& path, const std::string& xml, int64_t tw, int64_t th) {
  auto root = parse_ventana_xml(path, xml, "level-0 EncodeInfo");
  const XmlElement* stitch = root->name == "EncodeInfo" ? root->child("SlideStitchInfo") : nullptr;
  const XmlElement* origin = root->name == "EncodeInfo" ? root->child("AoiOrigin") : nullptr;
  std::vector<const XmlElement*> infos =
      stitch ? stitch->children_named("ImageInfo") : std::vector<const XmlElement*>{};
  if (!stitch || !origin || infos.size() != origin->children.size())
    throw InputError(path, "Ventana: EncodeInfo: missing or inconsistent region metadata (ImageInfo, AoiOrigin)");
  VentanaStitch s;
  JointSums sums;
  for (size_t i = 0; i < infos.size(); ++i) {
    if (!int_attr(path, *infos[i], "AOIScanned")) continue;
    if (s.areas.size() == kMaxAreas)
      throw InputError(path, "Ventana BIF: EncodeInfo lists more than " + std::to_string(kMaxAreas) + " scanned areas");
    s.areas.push_back(read_area(path, *infos[i], *origin->children[i], tw, th));
    add_joints(path, *infos[i], s.areas.back(), sums);
  }
  if (s.areas.empty()) throw InputError(path, "Ventana BIF: EncodeInfo lists no scanned area (AOIScanned=1)");
  if (sums.weight_x <= 0 || sums.weight_y <= 0)
    throw InputError(path,
                     "Ventana BIF: no tile joints with confidence in one direction (an area one tile wide or "
                     "high), so the tile advance is undefined (OpenSlide computes 0/0 there)");
  s.advance_x = (double)tw + sums.offset_x / (double)sums.weight_x;
  s.advance_y = (double)th + sums.offset_y / (double)sums.weight_y;
  // Tiles overlapping by more than half, or parted by more than a tile, are no scanner's: and a
  // tiny advance would stack thousands of tiles on every pixel.
  if (!(s.advance_x >= (double)tw / 2 && s.advance_x <= 2.0 * (double)tw && s.advance_y >= (double)th / 2 &&
        s.advance_y <= 2.0 * (double)th))
    throw InputError(path, "Ventana BIF: mean tile advance " + std::to_string(s.advance_x) + " x " +
                               std::to_string(s.advance_y) + " for " + std::to_string(tw) + "x" + std::to_string(th) +
                               " tiles is not between half a tile and two tiles");
  // Pos-Y is the distance from an area's bottom to a line below every area: turn it into the
  // distance from the top.
  auto height = [&](const VentanaArea& a) { return (int64_t)((double)(a.rows - 1) * s.advance_y + (double)th); };
  int64_t top = 0;
  for (const VentanaArea& a : s.areas) top = std::max<int64_t>(top, a.y + height(a));
  for (VentanaArea& a : s.areas) a.y = top - a.y - height(a);
  return s;
}

}  // namespace ds
