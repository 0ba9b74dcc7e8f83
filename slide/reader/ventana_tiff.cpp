// Ventana BIF and Ventana TIFF, read as OpenSlide 3.4.1's ventana driver reads them. Directory
// 0's XMLPacket holds the iScan element (ventana.* properties, Magnification, ScanRes in µm). The
// levels are the directories described "level=N mag=M", in order of N with falling
// magnification (downsample = level 0's magnification / M); "Label Image" is the macro and
// "Thumbnail" the thumbnail. In a BIF, level 0's XMLPacket (EncodeInfo) places the tiles: areas
// of interest in the level-0 tile grid, tiles numbered in a serpentine from the bottom row, and
// the overlap between neighbours. OpenSlide draws each tile at its area's position plus the
// confidence-weighted mean overlap, sub-pixel positions resampled by cairo; we read the layouts
// it draws on whole pixels: no overlap (every joint's mean 0) and areas on the tile grid. There a
// level is its directory's grid, white outside the areas (OpenSlide: transparent), sized to the
// areas' extent, and its tile size not a property (OpenSlide records none). Other BIFs are
// refused, naming the overlap.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <stdexcept>

#include "base/error.h"
#include "slide/reader/tiff_layout.h"
#include "slide/reader/tiff_properties.h"
#include "slide/reader/xml.h"

namespace ds {

namespace {

const XmlElement* iscan_element(const XmlElement& root) {
  if (root.name == "iScan") return &root;
  if (root.name == "Metadata") return root.child("iScan");
  return nullptr;
}

std::unique_ptr<XmlElement> parse_or_throw(const std::string& path, const std::string& xml, const char* what) {
  try {
    return parse_xml(xml);
  } catch (const std::runtime_error& e) {
    throw InputError(path, std::string("Ventana: the ") + what + " XML is broken: " + e.what());
  }
}

// OpenSlide's integer attributes: the whole value a base-10 integer.
int64_t int_attr(const std::string& path, const XmlElement& e, const char* name) {
  const std::string* v = e.attribute(name);
  if (!v) throw InputError(path, std::string("Ventana: EncodeInfo: <") + e.name + "> has no attribute " + name);
  char* end = nullptr;
  errno = 0;
  long long r = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    throw InputError(path,
                     std::string("Ventana: EncodeInfo: ") + name + "=\"" + v->substr(0, 40) + "\" is not an integer");
  return r;
}

double double_attr(const std::string& path, const XmlElement& e, const char* name) {
  const std::string* v = e.attribute(name);
  auto r = v ? parse_openslide_double(*v) : std::nullopt;
  if (!r) throw InputError(path, std::string("Ventana: EncodeInfo: bad or missing ") + name + " on <" + e.name + ">");
  return *r;
}

struct Area {
  int64_t x = 0, y = 0, col0 = 0, row0 = 0, cols = 0, rows = 0;
};

// The scanned areas of level 0's EncodeInfo, with OpenSlide's checks, and the tile advances.
std::vector<Area> read_areas(const std::string& path, const std::string& xml, int64_t tw, int64_t th, double& advance_x,
                             double& advance_y) {
  auto root = parse_or_throw(path, xml, "level-0 EncodeInfo");
  const XmlElement* stitch = root->name == "EncodeInfo" ? root->child("SlideStitchInfo") : nullptr;
  const XmlElement* origin = root->name == "EncodeInfo" ? root->child("AoiOrigin") : nullptr;
  std::vector<const XmlElement*> infos =
      stitch ? stitch->children_named("ImageInfo") : std::vector<const XmlElement*>{};
  if (!stitch || !origin || infos.size() != origin->children.size())
    throw InputError(path, "Ventana: EncodeInfo: missing or inconsistent region metadata (ImageInfo, AoiOrigin)");
  std::vector<Area> areas;
  double off_x = 0, off_y = 0;
  int64_t weight_x = 0, weight_y = 0;
  for (size_t i = 0; i < infos.size(); ++i) {
    const XmlElement& info = *infos[i];
    const XmlElement& aoi = *origin->children[i];
    if (!int_attr(path, info, "AOIScanned")) continue;
    Area a;
    int64_t ox = int_attr(path, aoi, "OriginX"), oy = int_attr(path, aoi, "OriginY");
    if (int_attr(path, info, "Width") != tw || int_attr(path, info, "Height") != th)
      throw InputError(path, "Ventana: EncodeInfo: an area's tile size differs from level 0's " + std::to_string(tw) +
                                 "x" + std::to_string(th));
    if (ox % tw || oy % th) throw InputError(path, "Ventana: EncodeInfo: an area's origin is not on the tile grid");
    a.col0 = ox / tw;
    a.row0 = oy / th;
    a.cols = int_attr(path, info, "NumCols");
    a.rows = int_attr(path, info, "NumRows");
    if (a.cols < 1 || a.rows < 1 || a.cols > (1 << 20) / tw + 1 || a.rows > (1 << 20) / th + 1 || a.col0 < 0 ||
        a.row0 < 0 || a.col0 > (1 << 20) || a.row0 > (1 << 20))
      throw InputError(path, "Ventana: EncodeInfo: an area of " + std::to_string(a.cols) + "x" +
                                 std::to_string(a.rows) + " tiles is empty or too large");
    a.x = (int64_t)double_attr(path, info, "Pos-X");
    a.y = (int64_t)double_attr(path, info, "Pos-Y");
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
      bool right = dir && *dir == "RIGHT", up = dir && *dir == "UP";
      if (!right && !up) throw InputError(path, "Ventana: EncodeInfo: bad tile joint direction");
      if (right ? !(c2 == c1 + 1 && r2 == r1) : !(c2 == c1 && r2 == r1 - 1))
        throw InputError(path, "Ventana: EncodeInfo: unexpected tile joint " + *dir);
      double ox_j = -double_attr(path, *j, "OverlapX"), oy_j = -double_attr(path, *j, "OverlapY");
      int64_t conf = int_attr(path, *j, "Confidence");
      if (up) off_y += (double)conf * oy_j, weight_y += conf;
      else off_x += (double)conf * ox_j, weight_x += conf;
    }
    areas.push_back(a);
  }
  if (!areas.empty() && (weight_x <= 0 || weight_y <= 0))
    throw InputError(path,
                     "Ventana BIF: no tile joints with confidence in one direction (an area one tile wide or "
                     "high), so the tile advance is undefined (OpenSlide computes 0/0 there)");
  advance_x = (double)tw + off_x / (double)weight_x;
  advance_y = (double)th + off_y / (double)weight_y;
  if (areas.empty()) throw InputError(path, "Ventana BIF: EncodeInfo lists no scanned area (AOIScanned=1)");
  if (advance_x != (double)tw || advance_y != (double)th)
    throw InputError(path, "Ventana BIF: tiles overlap (mean tile advance " + std::to_string(advance_x) + " x " +
                               std::to_string(advance_y) + " for " + std::to_string(tw) + "x" + std::to_string(th) +
                               " tiles); OpenSlide resamples such tiles at sub-pixel positions, which this reader "
                               "does not do yet");
  // Pos-Y is the distance from an area's bottom to a line below every area: turn it into the
  // distance from the top.
  int64_t top = 0;
  for (const Area& a : areas) top = std::max<int64_t>(top, a.y + (int64_t)((double)(a.rows - 1) * advance_y + th));
  for (Area& a : areas) {
    a.y = top - a.y - (int64_t)((double)(a.rows - 1) * advance_y + th);
    if (a.x != a.col0 * tw || a.y != a.row0 * th)
      throw InputError(path,
                       "Ventana BIF: an area's position (" + std::to_string(a.x) + ", " + std::to_string(a.y) +
                           ") is not its tile origin; OpenSlide shifts such areas, which this reader does not do yet");
  }
  return areas;
}

}  // namespace

bool is_ventana(const TiffDir& base) { return base.xmp.find("iScan") != std::string::npos; }

TiffLayout ventana_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta) {
  auto root = parse_or_throw(path, dirs[0].xmp, "iScan (XMLPacket of directory 0)");
  const XmlElement* iscan = iscan_element(*root);
  if (!iscan) throw InputError(path, "Ventana: no iScan element in the XMLPacket of directory 0");
  meta.vendor = "ventana";
  for (const auto& [k, v] : iscan->attributes)
    if (!v.empty()) meta.properties["ventana." + k] = v;

  TiffLayout layout;
  std::vector<double> downsample;
  double prev_mag = std::numeric_limits<double>::infinity(), mag0 = 0;
  std::vector<Area> areas;
  double adv_x = 0, adv_y = 0;
  bool bif = false;
  for (size_t i = 0; i < dirs.size(); ++i) {
    const TiffDir& d = dirs[i];
    if (d.main_index < 0 || d.description.empty()) continue;
    const std::string& desc = d.description;
    if (desc.find("level=") != std::string::npos) {
      std::map<std::string, std::string> kv;
      size_t p = 0;
      while (p <= desc.size()) {
        size_t e = desc.find(' ', p);
        std::string pair = desc.substr(p, e == std::string::npos ? std::string::npos : e - p);
        size_t eq = pair.find('=');
        if (eq != std::string::npos) kv[pair.substr(0, eq)] = pair.substr(eq + 1);
        if (e == std::string::npos) break;
        p = e + 1;
      }
      std::string where = "Ventana: directory " + std::to_string(d.main_index) + " ('" + desc.substr(0, 60) + "')";
      if (!kv.count("level") || !kv.count("mag")) throw InputError(path, where + ": missing level or mag field");
      char* end = nullptr;
      long long level = std::strtoll(kv["level"].c_str(), &end, 10);
      auto mag = parse_openslide_double(kv["mag"]);
      if (kv["level"].empty() || *end != '\0') throw InputError(path, where + ": invalid level number");
      if (!mag || !(*mag > 0)) throw InputError(path, where + ": invalid magnification");
      if (level != (long long)layout.level_dirs.size())
        throw InputError(path, where + ": level " + std::to_string(level) + " where level " +
                                   std::to_string(layout.level_dirs.size()) + " was expected (a missing level?)");
      if (*mag >= prev_mag) throw InputError(path, where + ": magnification does not fall with the level");
      prev_mag = *mag;
      if (level == 0) mag0 = *mag;
      if (!d.tiled) throw InputError(path, where + ": a level that is not tiled");
      if (level == 0 && !d.xmp.empty()) {
        areas = read_areas(path, d.xmp, d.tile_w, d.tile_h, adv_x, adv_y);
        bif = true;
      }
      const TiffDir& d0 = dirs[(size_t)(layout.level_dirs.empty() ? (int)i : layout.level_dirs[0])];
      if (d.tile_w != d0.tile_w || d.tile_h != d0.tile_h)
        throw InputError(path, where + ": tile size differs from level 0's");
      layout.level_dirs.push_back((int)i);
      downsample.push_back(mag0 / *mag);
    } else if (desc == "Label Image" || desc == "Label_Image" || desc == "Thumbnail") {
      std::string name = desc == "Thumbnail" ? "thumbnail" : "macro";
      bool replaced = false;
      for (auto& a : layout.associated)
        if (a.first == name) a.second = (int)i, replaced = true;
      if (!replaced) layout.associated.emplace_back(name, (int)i);
    }
  }
  if (layout.level_dirs.empty()) throw InputError(path, "Ventana: no pyramid level (no directory described level=N)");
  // OpenSlide sorts the levels by width; they are in that order already when the magnification
  // falls, so the order of N stands.
  const TiffDir& d0 = dirs[(size_t)layout.level_dirs[0]];
  const int64_t tw = d0.tile_w, th = d0.tile_h;
  for (size_t i = 0; i < layout.level_dirs.size(); ++i) {
    const TiffDir& d = dirs[(size_t)layout.level_dirs[i]];
    SlideLevel L;
    L.width = d.width;
    L.height = d.height;
    L.tile_width = (int)d.tile_w;
    L.tile_height = (int)d.tile_h;
    L.downsample = downsample[i];
    if (bif) {
      // Each level-0 tile is a subtile of tw/ds x th/ds pixels here: whole pixels only.
      double ds = downsample[i];
      if (ds != std::floor(ds) || std::fmod((double)tw, ds) != 0 || std::fmod((double)th, ds) != 0)
        throw InputError(path, "Ventana BIF: level " + std::to_string(i) + "'s downsample " + std::to_string(ds) +
                                   " does not divide the tile size; not supported");
      int64_t right = 0, bottom = 0;
      for (const Area& a : areas) {
        right = std::max<int64_t>(right, (a.col0 + a.cols) * tw);
        bottom = std::max<int64_t>(bottom, (a.row0 + a.rows) * th);
      }
      L.width = right / (int64_t)ds;
      L.height = bottom / (int64_t)ds;
    }
    layout.levels.push_back(L);
  }
  for (const Area& a : areas) layout.areas.push_back({a.col0, a.row0, a.cols, a.rows});
  layout.area_tile_w = (int)tw;
  layout.area_tile_h = (int)th;
  layout.masked = bif;
  layout.tile_size_properties = !bif;

  add_tiff_properties(d0, meta);
  meta.mpp_x.reset();
  meta.mpp_y.reset();
  auto& p = meta.properties;
  for (size_t i = 0; i < areas.size(); ++i) {
    const Area& a = areas[i];
    std::string k = "openslide.region[" + std::to_string(i) + "].";
    p[k + "x"] = std::to_string((int64_t)(adv_x * (double)a.col0));
    p[k + "y"] = std::to_string((int64_t)(adv_y * (double)a.row0));
    p[k + "width"] = std::to_string((int64_t)std::ceil(adv_x * (double)(a.cols - 1) + (double)tw));
    p[k + "height"] = std::to_string((int64_t)std::ceil(adv_y * (double)(a.rows - 1) + (double)th));
  }
  if (auto it = p.find("ventana.Magnification"); it != p.end()) {
    char* end = nullptr;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (*end == '\0') meta.objective_power = (double)v;
  }
  if (auto it = p.find("ventana.ScanRes"); it != p.end()) {
    if (auto v = parse_openslide_double(it->second)) meta.mpp_x = meta.mpp_y = *v;
  }
  return layout;
}

}  // namespace ds
