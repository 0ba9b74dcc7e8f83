// How one TIFF dialect lays a slide out over a file's directories: which directories are the
// pyramid's levels and which are associated images, and what the dialect's metadata says. The
// generic, SubIFD and Aperio layouts are worked out in tiff_slide.cpp; vendors whose layout lives
// in XML (Philips, Ventana, Leica) fill one in their own file; tiff_slide.cpp then checks the
// levels' pixel layout and decodes them all alike.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "slide/reader/slide.h"
#include "slide/reader/tiff_dir.h"
#include "slide/reader/tile_map.h"

namespace ds {

struct TiffLayout {
  std::vector<int> level_dirs;  // indices into the directories, largest level first
  // Level sizes and downsamples when the metadata overrides the directories' (Philips pads its
  // reduced levels to whole tiles); empty: the directories' sizes, downsamples from them.
  std::vector<SlideLevel> levels;
  std::vector<std::pair<std::string, int>> associated;  // name -> directory
  // name -> a complete JPEG kept in the metadata (Philips' base64 label and macro).
  std::vector<std::pair<std::string, std::vector<uint8_t>>> embedded;
  // Ventana BIF: the scanned areas, in level-0 tiles of area_tile_w x area_tile_h; when `masked`,
  // every level reads white outside them and outside its directory.
  struct Area {
    int64_t col0, row0, cols, rows;
  };
  std::vector<Area> areas;
  int area_tile_w = 0, area_tile_h = 0;
  bool masked = false;
  // Leica SCN: level i is several directories (main images), each at its pixel offset on a white
  // slide, an earlier one over a later one; level_dirs[i] is the first. Empty: one directory a level.
  struct Placed {
    int dir;
    int64_t x, y;
  };
  std::vector<std::vector<Placed>> composite;
  // Ventana BIF whose tiles overlap or lie off the tile grid: level i is tile_maps[i], drawn from
  // level_dirs[i]'s tiles at sub-pixel positions. Empty: the levels are their directories' grids.
  std::vector<TileMap> tile_maps;
  bool tile_size_properties = true;  // openslide.level[i].tile-width/-height (OpenSlide omits them for BIF)
};

// Ventana BIF / TIFF (ventana_tiff.cpp): an iScan element in directory 0's XMLPacket.
bool is_ventana(const TiffDir& base);
TiffLayout ventana_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta);

// Leica SCN (leica_tiff.cpp): a tiled directory 0 described by an scn document in Leica's namespace.
bool is_leica(const TiffDir& base);
TiffLayout leica_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta);

// Philips TIFF (philips_tiff.cpp): Software "Philips..." and a DataObject XML description.
bool is_philips(const TiffDir& base);
// The layout from the XML, and meta's vendor, philips.* and tiff.* properties and mpp.
// InputError naming `path` when the XML is broken or disagrees with the directories.
TiffLayout philips_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta);

}  // namespace ds
