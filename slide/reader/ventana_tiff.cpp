// Ventana BIF and Ventana TIFF, read as OpenSlide 3.4.1's ventana driver reads them. Directory
// 0's XMLPacket holds the iScan element (ventana.* properties, Magnification, ScanRes in µm). The
// levels are the directories described "level=N mag=M", in order of N with falling
// magnification (downsample = level 0's magnification / M); "Label Image" is the macro and
// "Thumbnail" the thumbnail. In a BIF, level 0's XMLPacket (EncodeInfo, ventana_encode_info.h)
// places the tiles: areas of interest in the level-0 tile grid and the mean tile advance. Where
// every tile then lies on its grid position (no overlap, areas on the grid), a level is its
// directory's grid, white outside the areas (OpenSlide: transparent); otherwise each level is
// OpenSlide's tilemap (tile_map.h): every level-0 tile drawn at its sub-pixel position, shrunk
// by the level's downsample, resampled as cairo does (subpixel_paint.h). Either way a level is
// sized to the areas' extent and its tile size is no property (OpenSlide records none).
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>

#include "base/error.h"
#include "slide/reader/tiff_layout.h"
#include "slide/reader/tiff_properties.h"
#include "slide/reader/ventana_encode_info.h"

namespace ds {

namespace {

constexpr int64_t kMaxLevelSide = 1 << 22;

const XmlElement* iscan_element(const XmlElement& root) {
  if (root.name == "iScan") return &root;
  if (root.name == "Metadata") return root.child("iScan");
  return nullptr;
}

// The key=value fields of a description "level=N mag=M quality=Q", split on spaces.
std::map<std::string, std::string> description_fields(const std::string& desc) {
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
  return kv;
}

// What the directory walk finds besides the layout's directories.
struct Walk {
  std::vector<double> downsample;
  double prev_mag = std::numeric_limits<double>::infinity(), mag0 = 0;
  std::optional<VentanaStitch> stitch;  // a BIF's, from level 0's EncodeInfo
};

// Directory i, described "level=N mag=M": checked in OpenSlide's order and appended as level N.
void add_level(const std::string& path, const std::vector<TiffDir>& dirs, size_t i, TiffLayout& layout, Walk& w) {
  const TiffDir& d = dirs[i];
  auto kv = description_fields(d.description);
  std::string where = "Ventana: directory " + std::to_string(d.main_index) + " ('" + d.description.substr(0, 60) + "')";
  if (!kv.count("level") || !kv.count("mag")) throw InputError(path, where + ": missing level or mag field");
  char* end = nullptr;
  long long level = std::strtoll(kv["level"].c_str(), &end, 10);
  auto mag = parse_openslide_double(kv["mag"]);
  if (kv["level"].empty() || *end != '\0') throw InputError(path, where + ": invalid level number");
  if (!mag || !(*mag > 0)) throw InputError(path, where + ": invalid magnification");
  if (level != (long long)layout.level_dirs.size())
    throw InputError(path, where + ": level " + std::to_string(level) + " where level " +
                               std::to_string(layout.level_dirs.size()) + " was expected (a missing level?)");
  if (*mag >= w.prev_mag) throw InputError(path, where + ": magnification does not fall with the level");
  w.prev_mag = *mag;
  if (level == 0) w.mag0 = *mag;
  if (!d.tiled) throw InputError(path, where + ": a level that is not tiled");
  if (level == 0 && !d.xmp.empty()) w.stitch = read_encode_info(path, d.xmp, d.tile_w, d.tile_h);
  const TiffDir& d0 = dirs[(size_t)(layout.level_dirs.empty() ? (int)i : layout.level_dirs[0])];
  if (d.tile_w != d0.tile_w || d.tile_h != d0.tile_h)
    throw InputError(path, where + ": tile size differs from level 0's");
  layout.level_dirs.push_back((int)i);
  w.downsample.push_back(w.mag0 / *mag);
}

// Levels, macro and thumbnail from the directories' descriptions.
Walk walk_directories(const std::string& path, const std::vector<TiffDir>& dirs, TiffLayout& layout) {
  Walk w;
  for (size_t i = 0; i < dirs.size(); ++i) {
    const TiffDir& d = dirs[i];
    if (d.main_index < 0 || d.description.empty()) continue;
    const std::string& desc = d.description;
    if (desc.find("level=") != std::string::npos) {
      add_level(path, dirs, i, layout, w);
    } else if (desc == "Label Image" || desc == "Label_Image" || desc == "Thumbnail") {
      std::string name = desc == "Thumbnail" ? "thumbnail" : "macro";
      bool replaced = false;
      for (auto& a : layout.associated)
        if (a.first == name) a.second = (int)i, replaced = true;
      if (!replaced) layout.associated.emplace_back(name, (int)i);
    }
  }
  if (layout.level_dirs.empty()) throw InputError(path, "Ventana: no pyramid level (no directory described level=N)");
  return w;
}

// Every tile at its place in the level-0 tile grid: no overlap and areas on the grid.
bool on_grid(const VentanaStitch& s, int64_t tw, int64_t th) {
  if (s.advance_x != (double)tw || s.advance_y != (double)th) return false;
  for (const VentanaArea& a : s.areas)
    if (a.x != a.col0 * tw || a.y != a.row0 * th) return false;
  return true;
}

// Level i's downsample as a whole number of pixels that divides the tile size (each level-0 tile
// is a subtile of tw/ds x th/ds pixels there).
int64_t subtile_downsample(const std::string& path, size_t i, double ds, int64_t tw, int64_t th) {
  if (ds != std::floor(ds) || ds > (double)tw || std::fmod((double)tw, ds) != 0 || std::fmod((double)th, ds) != 0)
    throw InputError(path, "Ventana BIF: level " + std::to_string(i) + "'s downsample " + std::to_string(ds) +
                               " does not divide the tile size; not supported");
  return (int64_t)ds;
}

// A BIF whose tiles lie on the grid: each level its directory's grid, sized to the areas, masked.
void grid_levels(const std::string& path, const VentanaStitch& s, int64_t tw, int64_t th, TiffLayout& layout) {
  int64_t right = 0, bottom = 0;
  for (const VentanaArea& a : s.areas) {
    right = std::max<int64_t>(right, (a.col0 + a.cols) * tw);
    bottom = std::max<int64_t>(bottom, (a.row0 + a.rows) * th);
    layout.areas.push_back({a.col0, a.row0, a.cols, a.rows});
  }
  for (size_t i = 0; i < layout.levels.size(); ++i) {
    const int64_t ds = subtile_downsample(path, i, layout.levels[i].downsample, tw, th);
    layout.levels[i].width = right / ds;
    layout.levels[i].height = bottom / ds;
  }
  layout.area_tile_w = (int)tw;
  layout.area_tile_h = (int)th;
  layout.masked = true;
}

// A BIF whose tiles overlap or lie off the grid: each level OpenSlide's tilemap, sized by it.
void tile_map_levels(const std::string& path, const VentanaStitch& s, int64_t tw, int64_t th, TiffLayout& layout) {
  for (size_t i = 0; i < layout.levels.size(); ++i) {
    const double ds = (double)subtile_downsample(path, i, layout.levels[i].downsample, tw, th);
    TileMap m;
    m.advance_x = s.advance_x / ds;
    m.advance_y = s.advance_y / ds;
    m.tile_w = (int)(tw / (int64_t)ds);
    m.tile_h = (int)(th / (int64_t)ds);
    m.subtiles = (int)ds;
    for (const VentanaArea& a : s.areas)
      m.areas.push_back({a.col0, a.row0, a.cols, a.rows, ((double)a.x - (double)a.col0 * s.advance_x) / ds,
                         ((double)a.y - (double)a.row0 * s.advance_y) / ds});
    auto [w, h] = tile_map_size(m);
    if (w < 1 || h < 1 || w > kMaxLevelSide || h > kMaxLevelSide)
      throw InputError(path, "Ventana BIF: level " + std::to_string(i) + " would be " + std::to_string(w) + " x " +
                                 std::to_string(h) + " pixels");
    layout.levels[i].width = w;
    layout.levels[i].height = h;
    layout.tile_maps.push_back(std::move(m));
  }
}

// openslide.region[i].* of a BIF, objective power and mpp from the iScan attributes.
void add_ventana_properties(const std::optional<VentanaStitch>& stitch, int64_t tw, int64_t th, SlideMeta& meta) {
  meta.mpp_x.reset();
  meta.mpp_y.reset();
  auto& p = meta.properties;
  for (size_t i = 0; stitch && i < stitch->areas.size(); ++i) {
    const VentanaArea& a = stitch->areas[i];
    const double ax = stitch->advance_x, ay = stitch->advance_y;
    std::string k = "openslide.region[" + std::to_string(i) + "].";
    p[k + "x"] = std::to_string((int64_t)(ax * (double)a.col0));
    p[k + "y"] = std::to_string((int64_t)(ay * (double)a.row0));
    p[k + "width"] = std::to_string((int64_t)std::ceil(ax * (double)(a.cols - 1) + (double)tw));
    p[k + "height"] = std::to_string((int64_t)std::ceil(ay * (double)(a.rows - 1) + (double)th));
  }
  if (auto it = p.find("ventana.Magnification"); it != p.end()) {
    char* end = nullptr;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (*end == '\0') meta.objective_power = (double)v;
  }
  if (auto it = p.find("ventana.ScanRes"); it != p.end()) {
    if (auto v = parse_openslide_double(it->second)) meta.mpp_x = meta.mpp_y = *v;
  }
}

}  // namespace

bool is_ventana(const TiffDir& base) { return base.xmp.find("iScan") != std::string::npos; }

TiffLayout ventana_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta) {
  auto root = parse_ventana_xml(path, dirs[0].xmp, "iScan (XMLPacket of directory 0)");
  const XmlElement* iscan = iscan_element(*root);
  if (!iscan) throw InputError(path, "Ventana: no iScan element in the XMLPacket of directory 0");
  meta.vendor = "ventana";
  for (const auto& [k, v] : iscan->attributes)
    if (!v.empty()) meta.properties["ventana." + k] = v;

  TiffLayout layout;
  const Walk w = walk_directories(path, dirs, layout);
  // OpenSlide sorts the levels by width; they are in that order already when the magnification
  // falls, so the order of N stands.
  const TiffDir& d0 = dirs[(size_t)layout.level_dirs[0]];
  const int64_t tw = d0.tile_w, th = d0.tile_h;
  for (size_t i = 0; i < layout.level_dirs.size(); ++i) {
    const TiffDir& d = dirs[(size_t)layout.level_dirs[i]];
    layout.levels.push_back(SlideLevel{d.width, d.height, w.downsample[i], (int)d.tile_w, (int)d.tile_h});
  }
  if (w.stitch && on_grid(*w.stitch, tw, th)) grid_levels(path, *w.stitch, tw, th, layout);
  else if (w.stitch) tile_map_levels(path, *w.stitch, tw, th, layout);
  layout.tile_size_properties = !w.stitch;

  add_tiff_properties(d0, meta);
  add_ventana_properties(w.stitch, tw, th, meta);
  return layout;
}

}  // namespace ds
