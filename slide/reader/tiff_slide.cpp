// The TIFF backend: decides which IFDs are pyramid levels and which are associated images
// (generic, SubIFD, Aperio here; Philips, Ventana and Leica, described in XML, in their own files
// through tiff_layout.h), checks that their pixel layout is one we decode, and decodes tiles.
// JPEG tiles: raw bytes by pread (no lock at all) + JPEGTables + libjpeg-turbo; Aperio JPEG 2000
// tiles (33003, 33005): raw bytes by pread + OpenJPEG. Other codecs: libtiff's decoder on a
// pooled handle, so threads never share libtiff state.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <set>

#include "base/error.h"
#include "slide/reader/jp2k_decode.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/ome_xml.h"
#include "slide/reader/slide_file.h"
#include "slide/reader/slide_open.h"
#include "slide/reader/subpixel_paint.h"
#include "slide/reader/tiff_dir.h"
#include "slide/reader/tiff_handle_pool.h"
#include "slide/reader/tiff_layout.h"
#include "slide/reader/tiff_properties.h"

namespace ds {

namespace {

constexpr uint64_t kMaxChunkPixels = 64ull << 20;
constexpr uint64_t kMaxAssociatedPixels = 1ull << 28;
constexpr int64_t kMaxDrawnRegionPixels = 1ll << 22;
const char* const kConvertHint = "; convert it with: vips tiffsave in.svs out.tif --tile --pyramid --compression jpeg";

// Whites the part of a w x h RGB buffer outside its top-left cw x ch corner.
void fill_white_outside(uint8_t* out, int w, int h, int cw, int ch) {
  cw = std::min(cw, w);
  ch = std::min(ch, h);
  if (cw < w)
    for (int y = 0; y < ch; ++y) std::memset(out + ((size_t)y * w + cw) * 3, 255, (size_t)(w - cw) * 3);
  if (ch < h) std::memset(out + (size_t)ch * w * 3, 255, (size_t)(h - ch) * w * 3);
}

// Aperio's JPEG 2000 codes: raw J2K codestreams, 33003 YCbCr without MCT, 33005 RGB with MCT.
constexpr uint16_t kAperioJ2kYCbCr = 33003, kAperioJ2kRgb = 33005;
bool is_aperio_j2k(uint16_t c) { return c == kAperioJ2kYCbCr || c == kAperioJ2kRgb; }
// Chunks we read raw with pread and decode ourselves, outside libtiff.
bool decoded_raw(uint16_t c) { return c == COMPRESSION_JPEG || is_aperio_j2k(c); }

// Throws InputError unless `d` holds 8-bit chunky RGB / RGBA / grey we can decode.
void check_supported(const TiffDir& d, const std::string& path, const std::string& what) {
  std::string comp = compression_name(d.compression);
  if (d.compression == 34712)
    throw InputError(path, what + " uses " + comp + " compression, which is not supported" + kConvertHint);
  if (!decoded_raw(d.compression) && !TIFFIsCODECConfigured(d.compression))
    throw InputError(path, what + " uses unsupported " + comp + kConvertHint);
  if (d.bps != 8)
    throw InputError(path, what + " has " + std::to_string(d.bps) +
                               "-bit samples; only 8-bit RGB, RGBA or grey is supported" +
                               "; convert it with: vips cast in.tif out.tif uchar");
  if (d.sample_format != SAMPLEFORMAT_UINT)
    throw InputError(path, what + " has non-integer samples; only 8-bit unsigned is supported");
  if (d.planar == PLANARCONFIG_SEPARATE && d.spp > 1)
    throw InputError(path, what + " stores samples planar-separate (PlanarConfiguration=2)" +
                               ", which is not supported; convert it with: tiffcp -p contig in.tif out.tif");
  if (d.spp < 1 || d.spp > 4) throw InputError(path, what + " has " + std::to_string(d.spp) + " samples per pixel");
  bool ok;
  if (is_aperio_j2k(d.compression)) {
    // The colour space is the codestream's (OpenSlide ignores PhotometricInterpretation here).
    ok = d.spp == 3;
  } else if (d.compression == COMPRESSION_JPEG) {
    ok = ((d.photometric == PHOTOMETRIC_YCBCR || d.photometric == PHOTOMETRIC_RGB) && d.spp == 3) ||
         (d.photometric == PHOTOMETRIC_MINISBLACK && d.spp == 1);
  } else {
    ok = (d.photometric == PHOTOMETRIC_RGB && d.spp >= 3) ||
         ((d.photometric == PHOTOMETRIC_MINISBLACK || d.photometric == PHOTOMETRIC_MINISWHITE) && d.spp <= 2) ||
         (d.photometric == PHOTOMETRIC_PALETTE && d.spp == 1 && !d.palette.empty());
  }
  if (!ok)
    throw InputError(path, what + " has PhotometricInterpretation " + std::to_string(d.photometric) + " with " +
                               std::to_string(d.spp) + " samples under " + comp +
                               " compression, which is not supported" + kConvertHint);
  if ((uint64_t)d.tile_w * d.tile_h > kMaxChunkPixels)
    throw InputError(path, what + " has a " + std::to_string(d.tile_w) + "x" + std::to_string(d.tile_h) +
                               " strip or tile, too large to decode piecewise" + kConvertHint);
}

JpegColor jpeg_color(const TiffDir& d) {
  if (d.photometric == PHOTOMETRIC_RGB) return JpegColor::kRgb;
  if (d.photometric == PHOTOMETRIC_MINISBLACK) return JpegColor::kGrey;
  return JpegColor::kYCbCr;
}

J2kColor j2k_color(const TiffDir& d) { return d.compression == kAperioJ2kYCbCr ? J2kColor::kYCbCr : J2kColor::kRgb; }

class TiffSource : public TileSource {
 public:
  // dir_cache_bytes: the budget for whole directory tiles that composited (Leica) and tile-map
  // (overlapping BIF) levels cut their tiles from.
  TiffSource(std::string path, std::vector<TiffDir> dirs, TiffLayout layout, size_t dir_cache_bytes)
      : path_(std::move(path)),
        dirs_(std::move(dirs)),
        level_dirs_(std::move(layout.level_dirs)),
        associated_(std::move(layout.associated)),
        embedded_(std::move(layout.embedded)),
        areas_(std::move(layout.areas)),
        area_tile_w_(layout.area_tile_w),
        area_tile_h_(layout.area_tile_h),
        masked_(layout.masked),
        composite_(std::move(layout.composite)),
        tile_maps_(std::move(layout.tile_maps)),
        dir_tiles_(dir_cache_bytes),
        pool_(path_),
        file_(path_) {
    for (const auto& L : layout.levels) downsample_.push_back(L.downsample);
  }

  TilePtr decode_tile(int level, int64_t col, int64_t row) override {
    if (!composite_.empty()) return decode_composite(level, col, row);
    const TiffDir& d = dirs_[(size_t)level_dirs_[(size_t)level]];
    auto t = std::make_shared<Tile>((int)d.tile_w, (int)d.tile_h);
    if (!tile_maps_.empty()) {
      draw_tile_map(level, col * d.tile_w, row * d.tile_h, (int)d.tile_w, (int)d.tile_h, t->rgb.get(),
                    (size_t)d.tile_w * 3, /*whole=*/true);
      return t;
    }
    if (col < 0 || row < 0 || (uint64_t)col >= d.cols || (uint64_t)row >= d.rows) {
      // A level whose size comes from the metadata (Philips' pixel spacing, a BIF's areas) may
      // reach past its directory: nothing is drawn there (OpenSlide: transparent).
      std::memset(t->rgb.get(), 255, (size_t)d.tile_w * d.tile_h * 3);
      return t;
    }
    std::string what =
        "level " + std::to_string(level) + " tile (" + std::to_string(col) + ", " + std::to_string(row) + ")";
    decode_chunk(d, (uint64_t)row * d.cols + (uint64_t)col, t->rgb.get(), what);
    if (masked_)
      mask_outside_areas(level, d, col * d.tile_w, row * d.tile_h, d.tile_w, d.tile_h, t->rgb.get(),
                         (size_t)d.tile_w * 3);
    return t;
  }

  bool decode_tile_rect(int level, int64_t col, int64_t row, int x0, int y0, int x1, int y1, uint8_t* out,
                        size_t stride) override {
    if (!composite_.empty()) return decode_composite_rect(level, col, row, x0, y0, x1, y1, out, stride);
    const TiffDir& d = dirs_[(size_t)level_dirs_[(size_t)level]];
    if (!tile_maps_.empty()) {
      draw_tile_map(level, col * d.tile_w + x0, row * d.tile_h + y0, x1 - x0, y1 - y0, out, stride, /*whole=*/false);
      return true;
    }
    if ((uint64_t)col >= d.cols || (uint64_t)row >= d.rows) return false;
    std::string what =
        "level " + std::to_string(level) + " tile (" + std::to_string(col) + ", " + std::to_string(row) + ")";
    if (!decode_chunk_rect(d, (uint64_t)row * d.cols + (uint64_t)col, x0, y0, x1, y1, out, stride, what)) return false;
    if (masked_) mask_outside_areas(level, d, col * d.tile_w + x0, row * d.tile_h + y0, x1 - x0, y1 - y0, out, stride);
    return true;
  }

  bool partial_decode_pays(int level) const override {
    return !is_aperio_j2k(dirs_[(size_t)level_dirs_[(size_t)level]].compression);
  }

  bool draw_region(int level, int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint8_t* out, size_t stride,
                   bool whole) override {
    // Levels cut from several stored tiles only (composites, tile maps), and regions small enough
    // for a tile map's canvas (4 bytes a pixel); larger ones go tile by tile, on every thread.
    if ((x1 - x0) * (y1 - y0) > kMaxDrawnRegionPixels) return false;
    if (!composite_.empty()) return draw_composite(level, x0, y0, x1, y1, out, stride, whole);
    if (tile_maps_.empty()) return false;
    draw_tile_map(level, x0, y0, (int)(x1 - x0), (int)(y1 - y0), out, stride, whole);
    return true;
  }

  bool raw_jpeg_tile(int level, int64_t col, int64_t row, std::vector<uint8_t>& out) override {
    if (!composite_.empty() || !tile_maps_.empty() || masked_) return false;
    const TiffDir& d = dirs_[(size_t)level_dirs_[(size_t)level]];
    if (d.compression != COMPRESSION_JPEG || jpeg_color(d) != JpegColor::kYCbCr || col < 0 || row < 0 ||
        (uint64_t)col >= d.cols || (uint64_t)row >= d.rows)
      return false;
    const uint64_t idx = (uint64_t)row * d.cols + (uint64_t)col;
    if (!raw_readable(d, idx)) return false;
    const uint64_t cnt = d.byte_counts[idx];
    std::vector<uint8_t> raw(cnt);
    file_.read(raw.data(), cnt, d.offsets[idx], "level " + std::to_string(level) + " tile");
    // An abbreviated tile: its tables' segments (without their EOI) go after its SOI.
    const bool tables = d.jpeg_tables.size() > 4;
    if (raw.size() < 4 || raw[0] != 0xFF || raw[1] != 0xD8) return false;
    out.assign(raw.begin(), raw.begin() + 2);
    if (tables) out.insert(out.end(), d.jpeg_tables.begin() + 2, d.jpeg_tables.end() - 2);
    out.insert(out.end(), raw.begin() + 2, raw.end());
    return true;
  }

  RgbImage read_associated(const std::string& name) override {
    for (const auto& [n, jpeg] : embedded_)
      if (n == name) return decode_embedded(name, jpeg);
    const TiffDir* d = nullptr;
    for (const auto& [n, idx] : associated_)
      if (n == name) d = &dirs_[(size_t)idx];
    if (!d) throw InputError(path_, "no associated image '" + name + "'");
    std::string what = "associated image '" + name + "'";
    check_supported(*d, path_, what);
    if ((uint64_t)d->width * d->height > kMaxAssociatedPixels) throw InputError(path_, what + " is too large");
    RgbImage img((int)d->width, (int)d->height);
    std::vector<uint8_t> chunk((size_t)d->tile_w * d->tile_h * 3);  // decode_chunk fills it
    for (uint32_t r = 0; r < d->rows; ++r)
      for (uint32_t c = 0; c < d->cols; ++c) {
        decode_chunk(*d, (uint64_t)r * d->cols + c, chunk.data(), what);
        uint32_t x0 = c * d->tile_w, y0 = r * d->tile_h;
        uint32_t cw = std::min(d->tile_w, d->width - x0), ch = std::min(d->tile_h, d->height - y0);
        for (uint32_t y = 0; y < ch; ++y)
          std::memcpy(img.row((int)(y0 + y)) + (size_t)x0 * 3, chunk.data() + (size_t)y * d->tile_w * 3,
                      (size_t)cw * 3);
      }
    return img;
  }

 private:
  // Chunk `idx` of `d` can be read raw and decoded in part (JPEG, Aperio JPEG 2000) and is there.
  bool raw_readable(const TiffDir& d, uint64_t idx) const {
    if (!decoded_raw(d.compression)) return false;
    uint64_t off = d.offsets[idx], cnt = d.byte_counts[idx];
    return off != 0 && cnt != 0 && file_.contains(off, cnt) && cnt <= (uint64_t)d.tile_w * d.tile_h * 12 + (1u << 20);
  }

  // Decodes only [x0, x1) x [y0, y1) of chunk `idx` of `d` into `out` (row stride `stride`,
  // pointing at (x0, y0)). False, writing nothing, when the chunk is not raw_readable.
  bool decode_chunk_rect(const TiffDir& d, uint64_t idx, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride,
                         const std::string& what) {
    if (!raw_readable(d, idx)) return false;  // decode_tile reports or whitens it
    uint64_t off = d.offsets[idx], cnt = d.byte_counts[idx];
    thread_local std::vector<uint8_t> raw;
    raw.resize(cnt);
    file_.read(raw.data(), cnt, off, what);
    if (is_aperio_j2k(d.compression)) {
      decode_j2k_rgb(raw.data(), cnt, j2k_color(d), (int)d.tile_w, (int)d.tile_h, x0, y0, x1, y1, out, stride,
                     path_ + ": " + what);
      return true;
    }
    decode_jpeg_rgb_rect(d.jpeg_tables.data(), d.jpeg_tables.size(), raw.data(), cnt, jpeg_color(d), (int)d.tile_w,
                         (int)d.tile_h, x0, y0, x1, y1, out, stride, path_ + ": " + what);
    return true;
  }

  // A part of one directory's chunk that a composite tile shows: the chunk, the part (chunk
  // pixels) and where it goes (level pixels).
  struct Piece {
    const TiffDir* d;
    uint64_t idx;
    int x0, y0, x1, y1;
    int64_t lx, ly;
  };

  // The pieces of [x0, x1) x [y0, y1) (level pixels) of a composite level, the last directory's
  // first, so that drawn in order the earlier directories end on top.
  std::vector<Piece> composite_pieces(int level, int64_t x0, int64_t y0, int64_t x1, int64_t y1) const {
    std::vector<Piece> out;
    const auto& placed = composite_[(size_t)level];
    for (auto it = placed.rbegin(); it != placed.rend(); ++it) {
      const TiffDir& d = dirs_[(size_t)it->dir];
      // The rectangle in the directory's pixels, clipped to the directory.
      const int64_t ax0 = std::max<int64_t>(x0 - it->x, 0), ay0 = std::max<int64_t>(y0 - it->y, 0);
      const int64_t ax1 = std::min<int64_t>(x1 - it->x, d.width), ay1 = std::min<int64_t>(y1 - it->y, d.height);
      if (ax0 >= ax1 || ay0 >= ay1) continue;
      for (int64_t r = ay0 / d.tile_h; r <= (ay1 - 1) / d.tile_h; ++r)
        for (int64_t c = ax0 / d.tile_w; c <= (ax1 - 1) / d.tile_w; ++c) {
          const int64_t cx0 = std::max<int64_t>(ax0, c * d.tile_w), cx1 = std::min<int64_t>(ax1, (c + 1) * d.tile_w);
          const int64_t cy0 = std::max<int64_t>(ay0, r * d.tile_h), cy1 = std::min<int64_t>(ay1, (r + 1) * d.tile_h);
          out.push_back(Piece{&d, (uint64_t)r * d.cols + (uint64_t)c, (int)(cx0 - c * d.tile_w),
                              (int)(cy0 - r * d.tile_h), (int)(cx1 - c * d.tile_w), (int)(cy1 - r * d.tile_h),
                              cx0 + it->x, cy0 + it->y});
        }
    }
    return out;
  }

  // Part of a composite tile, each piece decoded only in the part shown; false (nothing written)
  // when a piece cannot be decoded in part.
  bool decode_composite_rect(int level, int64_t col, int64_t row, int x0, int y0, int x1, int y1, uint8_t* out,
                             size_t stride) {
    const TiffDir& first = dirs_[(size_t)composite_[(size_t)level][0].dir];
    const int64_t tx = col * first.tile_w, ty = row * first.tile_h;
    return draw_composite(level, tx + x0, ty + y0, tx + x1, ty + y1, out, stride, /*whole=*/false);
  }

  // Level pixels [x0, x1) x [y0, y1) of a composite level into `out` (row stride `stride`): each
  // piece decoded only in the part shown (false, nothing written, when a piece cannot be), or with
  // `whole` copied from its cached whole directory tile.
  bool draw_composite(int level, int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint8_t* out, size_t stride,
                      bool whole) {
    auto pieces = composite_pieces(level, x0, y0, x1, y1);
    if (!whole)
      for (const Piece& p : pieces)
        if (!raw_readable(*p.d, p.idx)) return false;
    if (!composite_covers(level, x0, y0, x1, y1))
      for (int64_t y = y0; y < y1; ++y) std::memset(out + (size_t)(y - y0) * stride, 255, (size_t)(x1 - x0) * 3);
    for (const Piece& p : pieces) {
      std::string what = "level " + std::to_string(level) + " directory " + std::to_string(p.d->main_index) + " tile " +
                         std::to_string(p.idx);
      decode_chunk_part(*p.d, p.idx, p.x0, p.y0, p.x1, p.y1,
                        out + (size_t)(p.ly - y0) * stride + (size_t)(p.lx - x0) * 3, stride, whole, what);
    }
    return true;
  }

  // Whether one image of a composite level holds all of [x0, x1) x [y0, y1): no white shows.
  bool composite_covers(int level, int64_t x0, int64_t y0, int64_t x1, int64_t y1) const {
    const auto& placed = composite_[(size_t)level];
    return std::any_of(placed.begin(), placed.end(), [&](const TiffLayout::Placed& p) {
      const TiffDir& d = dirs_[(size_t)p.dir];
      return p.x <= x0 && p.y <= y0 && x1 <= p.x + (int64_t)d.width && y1 <= p.y + (int64_t)d.height;
    });
  }

  // Tile (col, row) of a level drawn from several directories (Leica SCN): white, then each
  // directory's pixels that fall in the tile, each clipped to its own size, the last first: where
  // two overlap the earlier one shows, as in OpenSlide (cairo's SATURATE operator keeps the first
  // opaque pixel painted).
  TilePtr decode_composite(int level, int64_t col, int64_t row) {
    const TiffDir& first = dirs_[(size_t)composite_[(size_t)level][0].dir];
    const int64_t tw = first.tile_w, th = first.tile_h, tx = col * tw, ty = row * th;
    const std::vector<Piece> pieces = composite_pieces(level, tx, ty, tx + tw, ty + th);
    // Most of a Leica slide lies outside its images: those tiles are one shared white tile.
    if (pieces.empty()) return white_tile((int)tw, (int)th);
    auto t = std::make_shared<Tile>((int)tw, (int)th);
    if (!composite_covers(level, tx, ty, tx + tw, ty + th)) std::memset(t->rgb.get(), 255, (size_t)tw * th * 3);
    for (const Piece& p : pieces) {
      std::string what = "level " + std::to_string(level) + " directory " + std::to_string(p.d->main_index) + " tile " +
                         std::to_string(p.idx);
      const TilePtr chunk = dir_tile(*p.d, p.idx, what);
      for (int y = p.y0; y < p.y1; ++y)
        std::memcpy(t->rgb.get() + ((size_t)(p.ly + y - p.y0 - ty) * tw + (size_t)(p.lx - tx)) * 3,
                    chunk->rgb.get() + ((size_t)y * p.d->tile_w + (size_t)p.x0) * 3, (size_t)(p.x1 - p.x0) * 3);
    }
    return t;
  }

  // A tile of white pixels, made once per size and shared (tiles are never written once made).
  TilePtr white_tile(int w, int h) {
    std::lock_guard<std::mutex> lock(white_mu_);
    if (!white_ || white_->width != w || white_->height != h) {
      auto t = std::make_shared<Tile>(w, h);
      std::memset(t->rgb.get(), 255, t->bytes());
      white_ = std::move(t);
    }
    return white_;
  }

  // Whole tile `idx` of directory `d`, decoded once and kept while its neighbours need it: a
  // composited or tile-map tile is cut from several directory tiles, each of which feeds the
  // tiles next to it too (OpenSlide caches the directories' tiles likewise).
  TilePtr dir_tile(const TiffDir& d, uint64_t idx, const std::string& what) {
    const uint64_t key = ((uint64_t)(&d - dirs_.data()) << 32) | idx;  // idx < 2^26 (tiff_dir.cpp)
    return dir_tiles_.load(key, [&] {
      auto t = std::make_shared<Tile>((int)d.tile_w, (int)d.tile_h);
      decode_chunk(d, idx, t->rgb.get(), what);
      return TilePtr(std::move(t));
    });
  }

  // [x0, x1) x [y0, y1) of chunk `idx` of `d` into `out` (row stride `stride`): from the cached
  // whole tile when `whole`, else decoded in part where it can be.
  void decode_chunk_part(const TiffDir& d, uint64_t idx, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride,
                         bool whole, const std::string& what) {
    if (!whole && decode_chunk_rect(d, idx, x0, y0, x1, y1, out, stride, what)) return;
    const TilePtr t = dir_tile(d, idx, what);
    for (int y = y0; y < y1; ++y)
      std::memcpy(out + (size_t)(y - y0) * stride, t->rgb.get() + ((size_t)y * d.tile_w + (size_t)x0) * 3,
                  (size_t)(x1 - x0) * 3);
  }

  // Level pixels [x, x + w) x [y, y + h) of a tile-map level (a BIF whose tiles overlap) into
  // `out` (row stride `stride`): the level-0 tiles that reach it, each the part of its directory
  // tile that the level's subtile is (clipped to the directory, as OpenSlide clips), painted as
  // OpenSlide paints them, over white. whole: a whole tile for the cache, cut from cached whole
  // directory tiles; else only the parts of directory tiles it shows are decoded.
  void draw_tile_map(int level, int64_t x, int64_t y, int w, int h, uint8_t* out, size_t stride, bool whole) {
    const TileMap& m = tile_maps_[(size_t)level];
    const TiffDir& d = dirs_[(size_t)level_dirs_[(size_t)level]];
    thread_local SaturateCanvas canvas;
    thread_local std::vector<uint8_t> part;
    canvas.reset(w, h);
    for (const PlacedTile& t : tiles_in(m, x, y, x + w, y + h)) {
      const int64_t dcol = t.col / m.subtiles, drow = t.row / m.subtiles;
      if (dcol >= (int64_t)d.cols || drow >= (int64_t)d.rows) continue;  // no such tile: nothing drawn
      const int sx = (int)(t.col % m.subtiles) * m.tile_w, sy = (int)(t.row % m.subtiles) * m.tile_h;
      const int vw = (int)std::clamp<int64_t>((int64_t)d.width - dcol * d.tile_w - sx, 0, m.tile_w);
      const int vh = (int)std::clamp<int64_t>((int64_t)d.height - drow * d.tile_h - sy, 0, m.tile_h);
      const SubpixelPlacement at = place_at(t.x - (double)x, t.y - (double)y);
      const SampleRect r = sampled_rect(canvas, at, vw, vh);
      if (r.empty()) continue;
      const size_t part_stride = (size_t)(r.x1 - r.x0) * 3;
      part.resize(part_stride * (size_t)(r.y1 - r.y0));
      std::string what =
          "level " + std::to_string(level) + " tile (" + std::to_string(dcol) + ", " + std::to_string(drow) + ")";
      decode_chunk_part(d, (uint64_t)drow * d.cols + (uint64_t)dcol, sx + r.x0, sy + r.y0, sx + r.x1, sy + r.y1,
                        part.data(), part_stride, whole, what);
      paint_saturate(canvas, at, vw, vh, r, part.data(), part_stride);
    }
    flatten_over_white(canvas, out, stride);
  }

  // Whites the pixels of the w x h rectangle at level pixel (lx, ly) of `level`, held in `out` (row
  // stride `stride`), that lie outside the directory or outside every scanned area (Ventana BIF;
  // the level's downsample divides the area tile size).
  void mask_outside_areas(int level, const TiffDir& d, int64_t lx, int64_t ly, int64_t w, int64_t h, uint8_t* out,
                          size_t stride) const {
    const int64_t ds = (int64_t)downsample_[(size_t)level];
    const int64_t sw = area_tile_w_ / ds, sh = area_tile_h_ / ds;  // a level-0 tile, here
    const int64_t right = std::min<int64_t>(lx + w, d.width);
    std::vector<std::pair<int64_t, int64_t>> shown;  // a row's columns inside an area, [from, to)
    for (int64_t y = 0; y < h; ++y) {
      const int64_t ty = (ly + y) / sh;
      shown.clear();
      if (ly + y < (int64_t)d.height)
        for (const auto& a : areas_)
          if (ty >= a.row0 && ty < a.row0 + a.rows) {
            const int64_t from = std::max(a.col0 * sw, lx), to = std::min((a.col0 + a.cols) * sw, right);
            if (from < to) shown.emplace_back(from, to);
          }
      std::sort(shown.begin(), shown.end());
      uint8_t* o = out + (size_t)y * stride;
      int64_t x = lx;  // whitened or shown up to here
      for (const auto& [from, to] : shown) {
        if (from > x) std::memset(o + (x - lx) * 3, 255, (size_t)(from - x) * 3);
        x = std::max(x, to);
      }
      if (x < lx + w) std::memset(o + (x - lx) * 3, 255, (size_t)(lx + w - x) * 3);
    }
  }

  // A complete JPEG kept in the metadata, decoded as OpenSlide decodes it (libjpeg's colour space).
  RgbImage decode_embedded(const std::string& name, const std::vector<uint8_t>& jpeg) {
    std::string what = path_ + ": associated image '" + name + "'";
    auto [w, h] = jpeg_header_size(jpeg.data(), jpeg.size());
    if (w <= 0 || h <= 0 || (uint64_t)w * h > kMaxAssociatedPixels)
      throw InputError(path_, "associated image '" + name + "' has an unreadable or too large JPEG header");
    RgbImage img(w, h);
    decode_jpeg_rgb(nullptr, 0, jpeg.data(), jpeg.size(), JpegColor::kAuto, img.pixels.data(), w, h, what);
    return img;
  }

  // Decodes tile/strip `idx` of `d` into `out` (tile_w x tile_h RGB). Missing chunks are white.
  void decode_chunk(const TiffDir& d, uint64_t idx, uint8_t* out, const std::string& what) {
    size_t out_bytes = (size_t)d.tile_w * d.tile_h * 3;
    uint64_t off = d.offsets[idx], cnt = d.byte_counts[idx];
    if (off == 0 || cnt == 0) {
      std::memset(out, 255, out_bytes);
      return;
    }
    if (!file_.contains(off, cnt)) throw InputError(path_, what + " lies past the end of the file (truncated file?)");
    if (decoded_raw(d.compression)) {
      thread_local std::vector<uint8_t> raw;
      if (cnt > out_bytes * 4 + (1u << 20)) throw InputError(path_, what + " has an absurd byte count");
      raw.resize(cnt);
      file_.read(raw.data(), cnt, off, what);
      if (is_aperio_j2k(d.compression)) {
        decode_j2k_rgb(raw.data(), cnt, j2k_color(d), (int)d.tile_w, (int)d.tile_h, 0, 0, (int)d.tile_w, (int)d.tile_h,
                       out, (size_t)d.tile_w * 3, path_ + ": " + what);
        return;
      }
      auto [jw, jh] = decode_jpeg_rgb(d.jpeg_tables.data(), d.jpeg_tables.size(), raw.data(), cnt, jpeg_color(d), out,
                                      (int)d.tile_w, (int)d.tile_h, path_ + ": " + what);
      fill_white_outside(out, (int)d.tile_w, (int)d.tile_h, jw, jh);
      return;
    }
    size_t px = (size_t)d.tile_w * d.tile_h;
    size_t raw_bytes = px * d.spp;
    thread_local std::vector<uint8_t> raw;
    raw.resize(raw_bytes);
    std::memset(out, 255, out_bytes);
    auto h = pool_.acquire(d);
    h->clear_error();
    tmsize_t got = d.tiled ? TIFFReadEncodedTile(h->get(), (uint32_t)idx, raw.data(), (tmsize_t)raw_bytes)
                           : TIFFReadEncodedStrip(h->get(), (uint32_t)idx, raw.data(), (tmsize_t)raw_bytes);
    if (got < 0 || !h->last_error().empty())
      throw InputError(path_, what + ": cannot decode " + compression_name(d.compression) + " data" +
                                  (h->last_error().empty() ? "" : " (" + h->last_error() + ")"));
    size_t n = std::min<size_t>((size_t)got / d.spp, px);
    const uint8_t* s = raw.data();
    bool invert = d.photometric == PHOTOMETRIC_MINISWHITE;
    const uint8_t* palette = d.palette.empty() ? nullptr : d.palette.data();
    for (size_t i = 0; i < n; ++i, s += d.spp, out += 3) {
      if (palette) {
        std::memcpy(out, palette + (size_t)s[0] * 3, 3);
      } else if (d.spp >= 3) {
        out[0] = s[0];
        out[1] = s[1];
        out[2] = s[2];
      } else {
        uint8_t g = invert ? (uint8_t)(255 - s[0]) : s[0];
        out[0] = out[1] = out[2] = g;
      }
    }
  }

  std::string path_;
  std::vector<TiffDir> dirs_;
  std::vector<int> level_dirs_;
  std::vector<std::pair<std::string, int>> associated_;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> embedded_;
  std::vector<TiffLayout::Area> areas_;
  int area_tile_w_ = 0, area_tile_h_ = 0;
  bool masked_ = false;
  std::vector<double> downsample_;
  std::vector<std::vector<TiffLayout::Placed>> composite_;
  std::mutex white_mu_;
  TilePtr white_;  // white_tile's
  std::vector<TileMap> tile_maps_;
  TileCache dir_tiles_;
  TiffHandlePool pool_;
  SlideFile file_;
};

// Same aspect ratio as the base, smaller: a reduced level from a writer that did not flag it.
// Is `d` a reduction of `base` (a pyramid level of it)? Some downsample must give d's width and
// height from base's, each within a pixel (writers floor, ceil or round each side): the ranges of
// downsample each side allows must meet. A page of another shape (a label, a macro) gives none.
bool ratio_matches(const TiffDir& base, const TiffDir& d) {
  if (d.width >= base.width || d.height >= base.height || d.width == 0 || d.height == 0) return false;
  const double inf = std::numeric_limits<double>::infinity();
  const double bw = (double)base.width, bh = (double)base.height, dw = (double)d.width, dh = (double)d.height;
  const double lo = std::max(bw / (dw + 1), bh / (dh + 1));
  const double hi = std::min(dw > 1 ? bw / (dw - 1) : inf, dh > 1 ? bh / (dh - 1) : inf);
  return lo <= hi;
}

// An Aperio associated image's name as OpenSlide gives it: the first word of its description's
// second line ("Aperio Image Library v10.0.51\nlabel 415x422" -> "label"); "" when there is none
// (the image is left out). One difference: a CRLF ends a line here, where OpenSlide 3.4.1 sees an
// empty second line between CR and LF and leaves the image out.
std::string aperio_associated_name(const std::string& description) {
  const size_t eol = description.find_first_of("\r\n");
  if (eol == std::string::npos) return "";
  const size_t start = description.compare(eol, 2, "\r\n") == 0 ? eol + 2 : eol + 1;
  const size_t end = description.find_first_of("\r\n", start);
  const std::string line = description.substr(start, end == std::string::npos ? std::string::npos : end - start);
  return line.substr(0, line.find(' '));
}

// The generic pyramid's full-resolution page: directory 0, unless it is a reduction of a wider
// page that can be a level (a thumbnail written first); then the widest such page.
size_t generic_top(const std::vector<TiffDir>& dirs, const std::function<bool(const TiffDir&)>& eligible) {
  size_t top = 0;
  for (size_t i = 1; i < dirs.size(); ++i)
    if (dirs[i].main_index >= 0 && eligible(dirs[i]) && dirs[i].width > dirs[top].width &&
        ratio_matches(dirs[i], dirs[0]))
      top = i;
  return top;
}

// The next page of the main chain after dirs[i], or null.
const TiffDir* next_main(const std::vector<TiffDir>& dirs, size_t i) {
  for (size_t j = i + 1; j < dirs.size(); ++j)
    if (dirs[j].main_index >= 0) return &dirs[j];
  return nullptr;
}

// The generic and Aperio layouts: Aperio's by its description's image kinds, a generic pyramid
// by reduced-resolution flags, SubIFDs or size ratios.
TiffLayout generic_layout(const std::string& path, const std::vector<TiffDir>& dirs, bool aperio) {
  TiffLayout layout;
  std::vector<int>& levels = layout.level_dirs;
  if (aperio) {
    // Aperio writes its levels tiled, largest first, and the thumbnail (page 1), label and macro
    // in strips. A copy that tiles every page (`tiffcp`) keeps them apart by what they say they
    // are: a label or macro by its description, the thumbnail by being page 1 and smaller than the
    // level after it (OpenSlide refuses such a copy: its levels are then out of order; a tiled
    // page 1 larger than the next page is a level to both, a true reduction of the slide).
    std::set<std::string> names;
    for (size_t i = 0; i < dirs.size(); ++i) {
      const TiffDir& d = dirs[i];
      if (d.main_index < 0) continue;
      const std::string said = aperio_associated_name(d.description);
      const TiffDir* next = next_main(dirs, i);
      const bool thumbnail = d.main_index == 1 && (!d.tiled || (next && next->tiled && next->width > d.width));
      if (i == 0 || (d.tiled && !thumbnail && said != "label" && said != "macro")) {
        levels.push_back((int)i);
        continue;
      }
      const std::string name = thumbnail ? "thumbnail" : said;
      if (!name.empty() && names.insert(name).second) layout.associated.emplace_back(name, (int)i);
    }
    // Out of order, the levels cannot be told from other pages tiled alike: refused, as OpenSlide
    // does, rather than read a picture of another kind as a level.
    for (size_t k = 1; k < levels.size(); ++k) {
      const TiffDir &a = dirs[(size_t)levels[k - 1]], &b = dirs[(size_t)levels[k]];
      if (b.width >= a.width || b.height >= a.height)
        throw InputError(path, "its tiled pages are not in decreasing size order (page " +
                                   std::to_string(b.main_index) + ", " + std::to_string(b.width) + "x" +
                                   std::to_string(b.height) + ", after " + std::to_string(a.width) + "x" +
                                   std::to_string(a.height) + "), so its levels cannot be told from its other images");
    }
  } else {
    // Beside tiled pages a stripped page other than the full-resolution one is a thumbnail, label
    // or macro, whatever its flags say (a de-identified slide's label must not become a level);
    // a stripped full-resolution page with tiled reductions (GDAL's layout) is level 0.
    bool any_tiled = false;
    for (const TiffDir& d : dirs) any_tiled |= d.tiled && !(d.subfile_type & 4);
    const auto eligible = [&](const TiffDir& d) { return !(d.subfile_type & 4) && (d.tiled || !any_tiled); };
    const size_t top = generic_top(dirs, eligible);
    const TiffDir& base = dirs[top];
    levels.push_back((int)top);
    for (size_t i = 0; i < dirs.size(); ++i) {
      const TiffDir& d = dirs[i];
      if (i == top || !eligible(d)) continue;
      // A page of another shape is not a level, flagged or not (a macro photograph).
      const bool from_subifd = d.main_index < 0 && d.parent == base.main_index;
      const bool reduction = d.main_index >= 0 && base.subifds.empty() && ratio_matches(base, d);
      if (from_subifd || reduction) levels.push_back((int)i);
    }
  }
  std::stable_sort(levels.begin(), levels.end(),
                   [&](int a, int b) { return dirs[(size_t)a].width > dirs[(size_t)b].width; });
  levels.erase(std::unique(levels.begin(), levels.end(),
                           [&](int a, int b) { return dirs[(size_t)a].width == dirs[(size_t)b].width; }),
               levels.end());
  return layout;
}

}  // namespace

std::unique_ptr<Slide> open_tiff_slide(const std::string& path, size_t cache_bytes) {
  std::vector<TiffDir> dirs;
  {
    TiffHandle h(path);
    dirs = read_tiff_dirs(h);
  }
  const TiffDir& base = dirs[0];
  SlideMeta meta;
  TiffLayout layout;
  bool generic = false;
  if (is_philips(base)) {
    layout = philips_layout(path, dirs, meta);
  } else if (is_ventana(base)) {
    layout = ventana_layout(path, dirs, meta);
  } else if (is_leica(base)) {
    layout = leica_layout(path, dirs, meta);
  } else {
    const bool aperio = is_aperio_description(base.description);
    // OME-TIFF: a generic pyramid to OpenSlide 3.4 (which reads its level 0 only); the OME-XML
    // gives its pixel size.
    const bool ome = !aperio && is_ome_xml(base.description);
    meta.vendor = aperio ? "aperio" : ome ? "ome-tiff" : "generic-tiff";
    layout = generic_layout(path, dirs, aperio);
    const TiffDir& top = dirs[(size_t)layout.level_dirs[0]];
    add_tiff_properties(top, meta);
    if (aperio) add_aperio_properties(top.description, meta);
    if (ome) add_ome_properties(base.description, meta);
    generic = true;
  }
  const TiffDir& top = dirs[(size_t)layout.level_dirs[0]];
  for (size_t i = 0; i < layout.level_dirs.size(); ++i) {
    const TiffDir& d = dirs[(size_t)layout.level_dirs[i]];
    check_supported(d, path, "level " + std::to_string(i));
    if (generic) {
      SlideLevel L;
      L.width = d.width;
      L.height = d.height;
      L.tile_width = (int)d.tile_w;
      L.tile_height = (int)d.tile_h;
      L.downsample = ((double)top.height / d.height + (double)top.width / d.width) / 2.0;
      layout.levels.push_back(L);
    }
  }
  for (size_t i = 0; i < layout.composite.size(); ++i)
    for (const auto& p : layout.composite[i]) check_supported(dirs[(size_t)p.dir], path, "level " + std::to_string(i));
  meta.levels = layout.levels;
  for (const auto& a : layout.associated) meta.associated.push_back(a.first);
  for (const auto& a : layout.embedded) meta.associated.push_back(a.first);
  add_standard_properties(meta);
  if (!layout.tile_size_properties)
    for (size_t i = 0; i < meta.levels.size(); ++i)
      for (const char* k : {"].tile-width", "].tile-height"})
        meta.properties.erase("openslide.level[" + std::to_string(i) + k);
  // Composited and tile-map levels keep directory tiles besides the slide's own cache.
  const size_t dir_cache = layout.composite.empty() && layout.tile_maps.empty() ? 0 : cache_bytes / 2;
  auto source = std::make_unique<TiffSource>(path, std::move(dirs), std::move(layout), dir_cache);
  return std::make_unique<Slide>(path, std::move(meta), std::move(source), cache_bytes);
}

}  // namespace ds
