// Slide: format dispatch by magic bytes, level queries, and region assembly from cached tiles
// (missing tiles decoded in parallel, outside any lock, then copied into the region).
#include "slide/reader/slide.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "slide/reader/dicom_instance.h"
#include "slide/reader/mirax_layout.h"
#include "slide/reader/ndpi_ifd.h"
#include "slide/reader/slide_open.h"

namespace ds {

namespace {

constexpr int64_t kMaxRegionPixels = 1ll << 28;
constexpr int kMaxRegionSide = 1 << 20;
constexpr double kLowReuse = 0.25;  // reuse rate below which tiles are decoded in part, uncached

uint64_t tile_key(int level, int64_t col, int64_t row) {
  return ((uint64_t)level << 56) | ((uint64_t)row << 28) | (uint64_t)col;
}

enum class Magic { none, tiff, image };

// The first bytes decide the backend.
Magic magic_of(const unsigned char* m, std::streamsize n) {
  bool tiff = n >= 4 && ((m[0] == 'I' && m[1] == 'I' && (m[2] == 42 || m[2] == 43) && m[3] == 0) ||
                         (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && (m[3] == 42 || m[3] == 43)));
  if (tiff) return Magic::tiff;
  bool png = n >= 8 && std::memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0;
  bool jpeg = n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF;
  return png || jpeg ? Magic::image : Magic::none;
}

}  // namespace

bool Slide::has_slide_magic(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  if (is_mirax_path(path)) return true;
  std::ifstream f(path, std::ios::binary);
  unsigned char m[8] = {0};
  f.read(reinterpret_cast<char*>(m), 8);
  return (f.gcount() > 0 && magic_of(m, f.gcount()) != Magic::none) || has_dicom_magic(path);
}

std::unique_ptr<Slide> Slide::open(const std::string& path, size_t cache_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such file");
  // A folder is a slide when it holds DICOM instances (dicom_series.h); a MIRAX slide's folder
  // is read through the .mrxs beside it.
  if (std::filesystem::is_directory(path, ec)) {
    std::string folder = path;
    while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
    if (is_mirax_path(folder + ".mrxs"))
      throw InputError(path, "is the folder of the MIRAX slide " + folder + ".mrxs: open that file");
    return open_dicom_slide(path, cache_bytes);
  }
  // A MIRAX .mrxs is known by its name and folder (its own bytes are often a small JPEG).
  if (is_mirax_path(path)) return open_mirax_slide(path, cache_bytes);
  // Opening a FIFO would wait for a writer for ever; a device is no slide either.
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path, "not a regular file (a FIFO or device)");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path, "cannot open for reading");
  unsigned char m[8] = {0};
  f.read(reinterpret_cast<char*>(m), 8);
  std::streamsize n = f.gcount();
  if (n == 0) throw InputError(path, "empty file");
  const Magic magic = magic_of(m, n);
  if (magic == Magic::tiff)
    return is_ndpi(path) ? open_ndpi_slide(path, cache_bytes) : open_tiff_slide(path, cache_bytes);
  if (magic == Magic::image) return open_image_slide(path, cache_bytes);
  if (has_dicom_magic(path)) return open_dicom_slide(path, cache_bytes);
  throw InputError(path, "not a slide: unrecognised format (expected TIFF/SVS, DICOM, PNG or JPEG)");
}

Slide::Slide(std::string path, SlideMeta meta, std::unique_ptr<TileSource> source, size_t cache_bytes)
    : path_(std::move(path)), meta_(std::move(meta)), source_(std::move(source)), cache_(cache_bytes) {}

const SlideLevel& Slide::level(int i) const {
  if (i < 0 || i >= level_count())
    throw InputError(path_, "level " + std::to_string(i) + " does not exist (the slide has " +
                                std::to_string(level_count()) + " levels)");
  return meta_.levels[(size_t)i];
}

int Slide::best_level_for_downsample(double ds) const {
  if (ds < meta_.levels[0].downsample) return 0;
  for (int i = 1; i < level_count(); ++i)
    if (ds < meta_.levels[(size_t)i].downsample) return i - 1;
  return level_count() - 1;
}

RgbImage Slide::read_associated(const std::string& name) const {
  for (const auto& a : meta_.associated)
    if (a == name) return source_->read_associated(name);
  std::string have;
  for (const auto& a : meta_.associated) have += (have.empty() ? "" : ", ") + a;
  throw InputError(path_, "no associated image '" + name + "' (available: " + (have.empty() ? "none" : have) + ")");
}

RgbImage Slide::read_region(int64_t x, int64_t y, int level, int w, int h, int decode_threads) const {
  if (w <= 0 || h <= 0 || w > kMaxRegionSide || h > kMaxRegionSide || (int64_t)w * h > kMaxRegionPixels)
    throw InputError(path_, "region size " + std::to_string(w) + "x" + std::to_string(h) + " is empty or too large");
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize((size_t)w * h * 3);
  read_region_into(img.pixels.data(), x, y, level, w, h, decode_threads);
  return img;
}

// The tiles of a region of a level: the part of each that the region shows (level pixels), and
// where that part goes in the region's buffer.
struct RegionGrid {
  uint8_t* out;
  int64_t lx, ly;  // the region's corner in level pixels (may lie outside the level)
  int w;
  int64_t x0, y0, x1, y1;  // the region's visible part, inside the level
  int64_t tw, th;          // tile size
  int64_t c0, c1, r0, r1;  // tile columns and rows, inclusive

  size_t count() const { return (size_t)((c1 - c0 + 1) * (r1 - r0 + 1)); }
  size_t stride() const { return (size_t)w * 3; }
  uint8_t* at(int64_t x, int64_t y) const { return out + ((size_t)(y - ly) * w + (size_t)(x - lx)) * 3; }
  // Tile i (row-major): its column and row, and the part of it the region shows.
  struct Span {
    int64_t col, row, x0, x1, y0, y1;
  };
  Span span(size_t i) const {
    const int64_t col = c0 + (int64_t)i % (c1 - c0 + 1), row = r0 + (int64_t)i / (c1 - c0 + 1);
    return Span{col,
                row,
                std::max<int64_t>(col * tw, x0),
                std::min<int64_t>((col + 1) * tw, x1),
                std::max<int64_t>(row * th, y0),
                std::min<int64_t>((row + 1) * th, y1)};
  }
};

// Copies each tile's shown part into the region, but those decoded straight into it (state 1).
void copy_tiles(const RegionGrid& g, const std::vector<TilePtr>& tiles, const std::vector<char>& state) {
  for (size_t i = 0; i < g.count(); ++i) {
    if (state[i] == 1) continue;
    const RegionGrid::Span s = g.span(i);
    const Tile& t = *tiles[i];
    DS_CHECK(t.width == g.tw && t.height == g.th, "tile size mismatch");
    const size_t len = (size_t)(s.x1 - s.x0) * 3;
    for (int64_t yy = s.y0; yy < s.y1; ++yy)
      std::memcpy(g.at(s.x0, yy),
                  t.rgb.get() + ((size_t)(yy - s.row * g.th) * t.width + (size_t)(s.x0 - s.col * g.tw)) * 3, len);
  }
}

void Slide::read_region_into(uint8_t* out, int64_t x, int64_t y, int level, int w, int h, int decode_threads) const {
  const SlideLevel& L = this->level(level);
  if (w <= 0 || h <= 0 || w > kMaxRegionSide || h > kMaxRegionSide || (int64_t)w * h > kMaxRegionPixels)
    throw InputError(path_, "region size " + std::to_string(w) + "x" + std::to_string(h) + " is empty or too large");
  const int64_t lx = level_pixel(x, level), ly = level_pixel(y, level);
  // Visible part of the region inside the level; the tiles below write all of it, so only a
  // region reaching outside the level needs the white background first.
  const int64_t x0 = std::max<int64_t>(lx, 0), y0 = std::max<int64_t>(ly, 0);
  const int64_t x1 = std::min<int64_t>(lx + w, L.width), y1 = std::min<int64_t>(ly + h, L.height);
  if (x0 != lx || y0 != ly || x1 != lx + w || y1 != ly + h) std::memset(out, 255, (size_t)w * h * 3);
  if (x0 >= x1 || y0 >= y1) return;
  const int64_t tw = L.tile_width, th = L.tile_height;
  const RegionGrid g{out, lx, ly, w, x0, y0, x1, y1, tw, th, x0 / tw, (x1 - 1) / tw, y0 / th, (y1 - 1) / th};
  const size_t n = g.count();
  std::vector<TilePtr> tiles(n);
  // 1: decoded straight into `out`, partially; 2 (kAuto): missed twice before in a short while,
  // so reads keep coming back to it: decode it whole and cache it. (After one earlier miss it is
  // not worth it: a partial decode costs about a third of a whole one, and in random reads a
  // second visit is usually the last.)
  std::vector<char> state(n, 0);
  std::vector<size_t> missing;
  for (size_t i = 0; i < n; ++i) {
    const RegionGrid::Span t = g.span(i);
    bool often = false;
    tiles[i] = cache_.get(tile_key(level, t.col, t.row), &often);
    if (often && partial_ == PartialDecode::kAuto) state[i] = 2;
    if (!tiles[i]) missing.push_back(i);
  }
  if (!missing.empty() && !decode_missing(g, level, missing, decode_threads, tiles, state)) return;
  copy_tiles(g, tiles, state);
}

bool Slide::decode_missing(const RegionGrid& g, int level, const std::vector<size_t>& missing, int decode_threads,
                           std::vector<TilePtr>& tiles, std::vector<char>& state) const {
  // Decode only in part (see set_partial_decode) or whole and cache?
  const bool partial =
      partial_ == PartialDecode::kAlways ||
      (partial_ == PartialDecode::kAuto && cache_.reuse_rate() < kLowReuse && source_->partial_decode_pays(level));
  // A level the source draws in one go (cut from several stored tiles): in part when reads
  // rarely come back, else from the stored tiles it keeps whole (this cache then holds nothing
  // for the level: its lookups only measure the reuse).
  const bool in_part = partial && std::none_of(state.begin(), state.end(), [](char s) { return s == 2; });
  if (missing.size() == g.count() &&
      source_->draw_region(level, g.x0, g.y0, g.x1, g.y1, g.at(g.x0, g.y0), g.stride(), /*whole=*/!in_part)) {
    if (in_part) partial_count_ += g.count();
    return false;
  }
  auto load_whole = [&](size_t i, bool wait) {
    const RegionGrid::Span t = g.span(i);
    return cache_.load(
        tile_key(level, t.col, t.row), [&] { return source_->decode_tile(level, t.col, t.row); }, wait);
  };
  std::exception_ptr error;
  int threads = decode_threads > 0 ? decode_threads : omp_get_max_threads();
  threads = std::min<int>(threads, (int)missing.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (size_t k = 0; k < missing.size(); ++k) {
    const size_t i = missing[k];
    const RegionGrid::Span t = g.span(i);
    try {
      // A tile the region covers whole too: decoded straight into `out`, it skips a write to a
      // cache buffer long out of the CPU's caches and the copy out of it.
      if (partial && state[i] != 2 &&
          source_->decode_tile_rect(level, t.col, t.row, (int)(t.x0 - t.col * g.tw), (int)(t.y0 - t.row * g.th),
                                    (int)(t.x1 - t.col * g.tw), (int)(t.y1 - t.row * g.th), g.at(t.x0, t.y0),
                                    g.stride())) {
        state[i] = 1;
        ++partial_count_;
        continue;
      }
      // A tile another thread is decoding already is waited for below, after the others.
      tiles[i] = load_whole(i, /*wait=*/false);
    } catch (...) {
#pragma omp critical(ds_slide_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  for (size_t i : missing)
    if (state[i] != 1 && !tiles[i]) tiles[i] = load_whole(i, /*wait=*/true);
  return true;
}

}  // namespace ds
