// A whole-slide image: a pyramid of levels read tile by tile, never a whole level at once.
// Opens pyramidal TIFF (generic, SubIFD, OME-TIFF, Aperio SVS with JPEG or JPEG 2000 tiles,
// Philips TIFF, Ventana BIF/TIFF, Leica SCN, BigTIFF, stripped), Hamamatsu NDPI, DICOM WSI (a file or
// a folder of instances), 3DHistech MIRAX (.mrxs and its folder) and plain PNG/JPEG images
// (one level). read_region follows OpenSlide: x, y in level-0 pixels, 8-bit RGB out, outside the
// slide white. Thread-safe: one Slide may be read from many threads; decoded
// tiles are shared through an LRU cache and the tiles of one region are decoded in parallel.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "slide/reader/image_io.h"
#include "slide/reader/tile_cache.h"

namespace ds {

struct SlideLevel {
  int64_t width = 0, height = 0;
  double downsample = 1.0;  // OpenSlide's: mean of the width and height ratios to level 0
  int tile_width = 0, tile_height = 0;
};

// Metadata a backend fills in when it opens a file.
struct SlideMeta {
  std::string vendor;  // "aperio", "hamamatsu", "philips", "ventana", "leica", "ome-tiff", "generic-tiff", "dicom",
                       // "mirax", "image"
  std::vector<SlideLevel> levels;
  std::map<std::string, std::string> properties;  // OpenSlide-style keys
  std::vector<std::string> associated;            // "thumbnail", "label", "macro", ...
  std::optional<double> mpp_x, mpp_y, objective_power;
  std::vector<uint8_t> icc_profile;  // the slide's ICC colour profile, when the file has one (DICOM)
};

// A backend: decodes one tile of a level, and associated images. Must be callable from many
// threads at once.
class TileSource {
 public:
  virtual ~TileSource() = default;
  // A tile_width x tile_height RGB tile; pixels outside the level may hold anything.
  virtual TilePtr decode_tile(int level, int64_t col, int64_t row) = 0;
  virtual RgbImage read_associated(const std::string& name) = 0;
  // Decodes only [x0, x1) x [y0, y1) of a tile (tile pixels, inside the level) into `out` (row
  // stride `stride` bytes, pointing at (x0, y0)), with the same pixels as decode_tile. False
  // when this source cannot; the caller then decodes and caches the whole tile.
  virtual bool decode_tile_rect(int level, int64_t col, int64_t row, int x0, int y0, int x1, int y1, uint8_t* out,
                                size_t stride) {
    return false;
  }
  // Whether decoding part of a level's tile costs so much less than the whole that it pays to
  // give up caching it while reuse is low (PartialDecode::kAuto). JPEG: a 224 px part of a 256 px
  // tile is about a third of the work. JPEG 2000 (OpenJPEG): the wavelet's inverse at every
  // resolution reaches well past the part, and measured it never paid (bench/compare_openslide.py).
  virtual bool partial_decode_pays(int level) const { return true; }
  // Draws level pixels [x0, x1) x [y0, y1) (inside the level) in one go into `out` (row stride
  // `stride`, pointing at (x0, y0)), the pixels decode_tile gives: decoding only the part shown,
  // or with `whole` copying from whole stored tiles the source decodes once and keeps. False when
  // this source does not (its levels are drawn tile by tile); Slide asks it where it would decode
  // every tile of a region in part (not whole) or whole (whole). Worth it where a tile is itself
  // cut from several stored ones (Leica, overlapping Ventana BIF tiles): each stored one is then
  // cut once per region, and whole reads copy pixels once instead of into a tile and out again.
  virtual bool draw_region(int level, int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint8_t* out, size_t stride,
                           bool whole) {
    return false;
  }
  // The stored bytes of tile (col, row) as one complete baseline YCbCr JPEG that decodes to the
  // pixels decode_tile gives (TIFF JPEG tiles with their JPEGTables spliced in, DICOM JPEG
  // frames), for copying without re-encoding. False when the tile is not stored so.
  virtual bool raw_jpeg_tile(int level, int64_t col, int64_t row, std::vector<uint8_t>& out) { return false; }
};

struct RegionGrid;  // a region's tiles and where they go (slide.cpp)

class Slide {
 public:
  static constexpr size_t kDefaultCacheBytes = 256u << 20;
  // Opens by content (TIFF magic, DICOM's "DICM", PNG, JPEG; a folder of DICOM instances; a
  // .mrxs beside its folder);
  // InputError naming the file and reason otherwise.
  static std::unique_ptr<Slide> open(const std::string& path, size_t cache_bytes = kDefaultCacheBytes);
  // Whether open would try this file: its first bytes are a TIFF, DICOM, PNG or JPEG magic, or it
  // is a .mrxs beside its folder (what
  // `diagnose` looks for in folders). False for unreadable files and folders.
  static bool has_slide_magic(const std::string& path);
  Slide(std::string path, SlideMeta meta, std::unique_ptr<TileSource> source, size_t cache_bytes);

  const std::string& path() const { return path_; }
  const std::string& vendor() const { return meta_.vendor; }
  int level_count() const { return (int)meta_.levels.size(); }
  const SlideLevel& level(int i) const;
  const std::vector<SlideLevel>& levels() const { return meta_.levels; }
  // OpenSlide's rule: the largest level whose downsample is <= the one asked for.
  int best_level_for_downsample(double downsample) const;
  const std::map<std::string, std::string>& properties() const { return meta_.properties; }
  std::optional<double> mpp_x() const { return meta_.mpp_x; }
  std::optional<double> mpp_y() const { return meta_.mpp_y; }
  std::optional<double> objective_power() const { return meta_.objective_power; }
  const std::vector<std::string>& associated_names() const { return meta_.associated; }
  // The ICC profile the pixels are in (empty when the file names none); openslide.icc-size.
  const std::vector<uint8_t>& icc_profile() const { return meta_.icc_profile; }
  RgbImage read_associated(const std::string& name) const;

  // w x h pixels of `level` whose top-left corner is level-0 pixel (x, y). decode_threads: how
  // many threads decode the region's missing tiles (0 = OpenMP default, 1 = this thread only).
  RgbImage read_region(int64_t x, int64_t y, int level, int w, int h, int decode_threads = 0) const;
  // The pixel of `level` that level-0 coordinate v falls in (read_region's corner: rounded down).
  int64_t level_pixel(int64_t v, int level) const {
    return level == 0 ? v : (int64_t)std::floor((double)v / this->level(level).downsample);
  }
  // Same, into a caller buffer of w * h * 3 bytes (row stride w * 3).
  void read_region_into(uint8_t* out, int64_t x, int64_t y, int level, int w, int h, int decode_threads = 0) const;

  // TileSource::raw_jpeg_tile for tile (col, row) of `level` (its tile grid: level().tile_width).
  bool raw_jpeg_tile(int level, int64_t col, int64_t row, std::vector<uint8_t>& out) const {
    this->level(level);  // InputError for a level the slide lacks
    return source_->raw_jpeg_tile(level, col, row, out);
  }

  TileCache& cache() const { return cache_; }
  // TileSource::partial_decode_pays for `level` (PartialDecode::kAuto decodes in part only there).
  bool partial_decode_pays(int level) const { return source_->partial_decode_pays(level); }
  // Which uncached tiles (JPEG, JPEG 2000) get decoded only in the part a region needs, straight
  // into the region and not cached (a tile the region covers whole: all of it, still uncached).
  // kAuto: while the cache's reuse rate is low (random access, where a cached tile would be
  // evicted before anyone read it again), except tiles missed twice in a short while; with high
  // reuse (sliding windows) every tile is decoded whole and cached. Set before reading, not while
  // reading.
  enum class PartialDecode { kAuto, kNever, kAlways };
  void set_partial_decode(PartialDecode mode) { partial_ = mode; }
  uint64_t tiles_decoded_in_part() const { return partial_count_; }

 private:
  // read_region_into's tiles that the cache lacked, decoded (in part into the region, or whole
  // into `tiles` and the cache); false when the source drew the whole region in one go.
  bool decode_missing(const RegionGrid& g, int level, const std::vector<size_t>& missing, int decode_threads,
                      std::vector<TilePtr>& tiles, std::vector<char>& state) const;

  std::string path_;
  SlideMeta meta_;
  std::unique_ptr<TileSource> source_;
  mutable TileCache cache_;
  PartialDecode partial_ = PartialDecode::kAuto;
  mutable std::atomic<uint64_t> partial_count_{0};
};

}  // namespace ds
