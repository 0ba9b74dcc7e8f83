// 3DHistech MIRAX (.mrxs) slides as OpenSlide 3.4.1 lays them out: S.mrxs beside a folder S/
// holding Slidedat.ini (a key file: the image grid, zoom levels, data files), Index.dat (little-
// endian int32 pointers to pages of image records) and the Data*.dat files the images sit in.
// The camera's photos are cut into D x D images (CameraImageDivisionsPerSide) and overlap their
// neighbours; each photo's level-0 position comes from VIMSLIDE_POSITION_BUFFER (9-byte records: a
// flag, int32 x, int32 y) or its zlib-compressed twin StitchingIntensityLayer, else from the
// nominal grid. Zoom level k's images each hold 2^E x 2^E level-0 images shrunk (E the sum of the
// IMAGE_CONCAT_FACTORs so far); a level draws each photo's part at its position divided by the
// level's factor, at sub-pixel positions, the later of two images at one grid place replacing the
// earlier, and paints from the last row and column back (SATURATE: subpixel_paint.h). This file
// reads the layout; mirax_slide.cpp draws it.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "slide/reader/slide.h"

namespace ds {

// One stored image: `length` bytes at `offset` of data file `file`.
struct MiraxImage {
  int file = 0;
  int64_t offset = 0, length = 0;
};

// A tile a level draws: part of one stored image, placed at (x, y) in level pixels.
struct MiraxTile {
  double x = 0, y = 0;
  int64_t col = 0, row = 0;       // its place in the level's grid: the drawing order
  uint32_t image = 0;             // index into MiraxLevel::images
  int src_x = 0, src_y = 0;       // where the tile starts in its image, rounded down
  double src_fx = 0, src_fy = 0;  // exactly (a fraction where the image's size is not a whole number of tiles)
};

enum class MiraxFormat { kJpeg, kPng, kBmp24 };

struct MiraxLevel {
  int image_w = 0, image_h = 0;   // DIGITIZER_WIDTH x DIGITIZER_HEIGHT: every stored image's size
  double tile_w = 0, tile_h = 0;  // a drawn tile, level pixels (image size / tiles per image)
  int crop_w = 0, crop_h = 0;     // the pixels drawn of a tile: its size rounded up
  MiraxFormat format = MiraxFormat::kJpeg;
  std::vector<MiraxImage> images;
  std::vector<MiraxTile> tiles;
  double bucket = 0;                                 // side of a cell of the spatial index, level pixels
  std::vector<std::pair<uint64_t, uint32_t>> cells;  // (cell, a tile reaching into it), sorted
};

struct MiraxLayout {
  std::vector<std::string> data_files;    // paths
  std::vector<std::string> source_files;  // every file the slide is read from: Slidedat.ini, Index.dat, data files
  std::vector<MiraxLevel> levels;
  std::vector<std::pair<std::string, MiraxImage>> associated;  // "macro", "label", "thumbnail": JPEG
  SlideMeta meta;  // levels, properties (mirax.GROUP.KEY, openslide.*), mpp, objective power
};

// Whether `path` names a MIRAX slide: it ends in .mrxs (any case) and its folder holds Slidedat.ini.
bool is_mirax_path(const std::string& path);
// Reads Slidedat.ini and Index.dat; InputError naming the file at fault and the reason.
MiraxLayout read_mirax_layout(const std::string& path);
// The tiles of `level` that draw into level pixels [x0, x1) x [y0, y1), in OpenSlide's drawing
// order (rows from the last, within a row columns from the last).
std::vector<uint32_t> mirax_tiles_in(const MiraxLevel& level, int64_t x0, int64_t y0, int64_t x1, int64_t y1);

}  // namespace ds
