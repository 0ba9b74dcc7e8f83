// MIRAX slides (mirax_layout.h): each level drawn as OpenSlide 3.4.1 draws it, the stored images
// that reach a region painted at their sub-pixel positions (subpixel_paint.h) over white. Stored
// images are decoded whole and kept in a cache of their own, since one image feeds the drawn
// tiles around it; JPEG by the reader's JPEG path, PNG by stb_image, BMP24 here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

#include "base/error.h"
#include "slide/reader/image_io.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/mirax_layout.h"
#include "slide/reader/slide_file.h"
#include "slide/reader/slide_open.h"
#include "slide/reader/subpixel_paint.h"

namespace ds {

namespace {

constexpr int kDrawnTile = 512;  // the slide's tiles: drawn from the stored images, then cached

uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

uint32_t le32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// An uncompressed 24-bit Windows bitmap (BITMAPINFOHEADER or later), rows bottom-up or top-down.
void decode_bmp24(const std::vector<uint8_t>& d, int w, int h, uint8_t* out, const std::string& what) {
  if (d.size() < 54 || d[0] != 'B' || d[1] != 'M') throw InputError(what + ": not a BMP image");
  const uint32_t data_at = le32(&d[10]), header = le32(&d[14]);
  const int32_t bw = (int32_t)le32(&d[18]), bh = (int32_t)le32(&d[22]);
  const uint16_t bits = (uint16_t)(d[28] | d[29] << 8);
  const uint32_t compression = le32(&d[30]);
  if (header < 40 || bits != 24 || compression != 0) throw InputError(what + ": not an uncompressed 24-bit BMP");
  if (bw != w || (bh != h && bh != -h))
    throw InputError(what + ": a BMP of " + std::to_string(bw) + "x" + std::to_string(std::abs((int64_t)bh)) +
                     " where the slide says " + std::to_string(w) + "x" + std::to_string(h));
  const size_t row = ((size_t)w * 3 + 3) & ~(size_t)3;
  if (data_at > d.size() || row * (size_t)h > d.size() - data_at)
    throw InputError(what + ": BMP pixels past the end of its bytes (truncated?)");
  for (int y = 0; y < h; ++y) {
    const uint8_t* src = d.data() + data_at + row * (size_t)(bh > 0 ? h - 1 - y : y);
    uint8_t* dst = out + (size_t)y * w * 3;
    for (int x = 0; x < w; ++x) {
      dst[3 * x] = src[3 * x + 2];
      dst[3 * x + 1] = src[3 * x + 1];
      dst[3 * x + 2] = src[3 * x];
    }
  }
}

class MiraxSource : public TileSource {
 public:
  MiraxSource(std::string path, MiraxLayout layout, size_t image_cache_bytes)
      : path_(std::move(path)),
        layout_(std::move(layout)),
        images_(image_cache_bytes),
        files_(layout_.data_files.size()) {}

  TilePtr decode_tile(int level, int64_t col, int64_t row) override {
    auto t = std::make_shared<Tile>(kDrawnTile, kDrawnTile);
    draw(level, col * kDrawnTile, row * kDrawnTile, kDrawnTile, kDrawnTile, t->rgb.get(), (size_t)kDrawnTile * 3,
         /*whole=*/true);
    return t;
  }

  bool draw_region(int level, int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint8_t* out, size_t stride,
                   bool whole) override {
    draw(level, x0, y0, (int)(x1 - x0), (int)(y1 - y0), out, stride, whole);
    return true;
  }

  RgbImage read_associated(const std::string& name) override {
    for (const auto& [n, m] : layout_.associated) {
      if (n != name) continue;
      const std::string what = "associated image '" + name + "'";
      return decode_image_bytes(read_bytes(m, what), layout_.data_files[(size_t)m.file] + ": " + what);
    }
    throw InputError(path_, "has no associated image '" + name + "'");
  }

 private:
  // Level pixels [x, x + w) x [y, y + h) into `out`: the tiles reaching it painted as OpenSlide
  // paints them, over white. whole: from stored images decoded whole and kept (reads that come
  // back); else a JPEG image not kept already is decoded only in the part painted (random reads).
  void draw(int level, int64_t x, int64_t y, int w, int h, uint8_t* out, size_t stride, bool whole) {
    const MiraxLevel& L = layout_.levels[(size_t)level];
    const std::vector<uint32_t> tiles = mirax_tiles_in(L, x, y, x + w, y + h);
    // Whole images first: those no other thread is decoding, then those it is (threads reading
    // neighbouring windows want the same images at once: each decodes some instead of one all).
    std::vector<TilePtr> kept(tiles.size());
    // (Not when they would not fit in the cache together: images stacked at one place, then
    // each is decoded when painted.)
    std::vector<uint32_t> images(tiles.size());
    for (size_t k = 0; k < tiles.size(); ++k) images[k] = L.tiles[tiles[k]].image;
    std::sort(images.begin(), images.end());
    const size_t distinct = (size_t)(std::unique(images.begin(), images.end()) - images.begin());
    const bool ahead = distinct * (size_t)L.image_w * (size_t)L.image_h * 3 <= images_.budget() / 2;
    if ((whole || L.format != MiraxFormat::kJpeg) && ahead) {
      for (int wait = 0; wait < 2; ++wait)
        for (size_t k = 0; k < tiles.size(); ++k)
          if (!kept[k]) kept[k] = stored_image(level, L.tiles[tiles[k]].image, wait == 1);
    } else if (!whole && L.format == MiraxFormat::kJpeg) {
      for (size_t k = 0; k < tiles.size(); ++k) kept[k] = images_.get(key(level, L.tiles[tiles[k]].image));
    }
    const bool each_whole = (whole || L.format != MiraxFormat::kJpeg) && !ahead;
    std::vector<SubpixelPlacement> at(tiles.size());
    bool whole_pixels = true;
    for (size_t k = 0; k < tiles.size(); ++k) {
      at[k] = place_at(L.tiles[tiles[k]].x - (double)x, L.tiles[tiles[k]].y - (double)y);
      const MiraxTile& t = L.tiles[tiles[k]];
      whole_pixels = whole_pixels && at[k].fx % 65536 == 0 && at[k].fy % 65536 == 0 && !cut_between_pixels(t);
    }
    if (whole_pixels) {
      // Opaque tiles on whole pixels: under SATURATE the first one drawn keeps a pixel, which is
      // the last one copied when they are copied in the reverse order (no canvas, no blending).
      for (int j = 0; j < h; ++j) std::memset(out + (size_t)j * stride, 255, (size_t)w * 3);
      for (size_t k = tiles.size(); k-- > 0;) {
        const MiraxTile& t = L.tiles[tiles[k]];
        const int64_t tx = at[k].fx / 65536, ty = at[k].fy / 65536;  // in the region
        const int vw = std::min(L.crop_w, L.image_w - t.src_x), vh = std::min(L.crop_h, L.image_h - t.src_y);
        SampleRect r;  // the tile's pixels inside the region
        r.x0 = (int)std::max<int64_t>(0, -tx), r.y0 = (int)std::max<int64_t>(0, -ty);
        r.x1 = (int)std::min<int64_t>(vw, w - tx), r.y1 = (int)std::min<int64_t>(vh, h - ty);
        if (r.empty()) continue;
        if (each_whole) kept[k] = stored_image(level, t.image, true);
        auto [src, src_stride] = source(level, L, t, kept[k], r);
        for (int j = r.y0; j < r.y1; ++j)
          std::memcpy(out + (size_t)(ty + j) * stride + (size_t)(tx + r.x0) * 3, src + (size_t)(j - r.y0) * src_stride,
                      (size_t)(r.x1 - r.x0) * 3);
        kept[k].reset();  // (each_whole: one image held at a time)
      }
      return;
    }
    thread_local SaturateCanvas canvas;
    canvas.reset(w, h);
    for (size_t k = 0; k < tiles.size(); ++k) {
      const MiraxTile& t = L.tiles[tiles[k]];
      const int vw = std::min(L.crop_w, L.image_w - t.src_x), vh = std::min(L.crop_h, L.image_h - t.src_y);
      if (cut_between_pixels(t)) {
        // OpenSlide cuts such a tile out of its image at the fraction (bilinear: a picture whose
        // edges past the image are partly transparent), then paints that as any tile.
        thread_local SaturateCanvas cut;
        cut.reset(L.crop_w, L.crop_h);
        if (!kept[k]) kept[k] = stored_image(level, t.image, true);
        const SubpixelPlacement from = place_at(-t.src_fx, -t.src_fy);
        const SampleRect r = sampled_rect(cut, from, L.image_w, L.image_h);
        if (!r.empty())
          paint_saturate(cut, from, L.image_w, L.image_h, r,
                         kept[k]->rgb.get() + ((size_t)r.y0 * L.image_w + (size_t)r.x0) * 3, (size_t)L.image_w * 3);
        paint_saturate_rgba(canvas, at[k], cut);
        kept[k].reset();
        continue;
      }
      const SampleRect r = sampled_rect(canvas, at[k], vw, vh);
      if (r.empty()) continue;
      if (each_whole) kept[k] = stored_image(level, t.image, true);
      auto [src, src_stride] = source(level, L, t, kept[k], r);
      paint_saturate(canvas, at[k], vw, vh, r, src, src_stride);
      kept[k].reset();
    }
    flatten_over_white(canvas, out, stride);
  }

  // The pixels [r.x0, r.x1) x [r.y0, r.y1) of tile t (tile coordinates) and their row stride: in
  // its image `kept` whole, or without one decoded in part into a buffer of this thread's (valid
  // until the next call).
  std::pair<const uint8_t*, size_t> source(int level, const MiraxLevel& L, const MiraxTile& t, const TilePtr& kept,
                                           const SampleRect& r) {
    thread_local std::vector<uint8_t> part;
    if (kept) {
      const size_t img_stride = (size_t)L.image_w * 3;
      return {kept->rgb.get() + (size_t)(t.src_y + r.y0) * img_stride + (size_t)(t.src_x + r.x0) * 3, img_stride};
    }
    const size_t part_stride = (size_t)(r.x1 - r.x0) * 3;
    part.resize(part_stride * (size_t)(r.y1 - r.y0));
    const MiraxImage& m = L.images[t.image];
    const std::string what = "level " + std::to_string(level) + " image " + std::to_string(t.image);
    const std::vector<uint8_t> bytes = read_bytes(m, what);
    const std::string where = layout_.data_files[(size_t)m.file] + ": " + what;
    check_jpeg_size(bytes, L, where);
    decode_jpeg_rgb_rect(nullptr, 0, bytes.data(), bytes.size(), JpegColor::kAuto, L.image_w, L.image_h, t.src_x + r.x0,
                         t.src_y + r.y0, t.src_x + r.x1, t.src_y + r.y1, part.data(), part_stride, where);
    return {part.data(), part_stride};
  }

  static bool cut_between_pixels(const MiraxTile& t) { return t.src_fx != t.src_x || t.src_fy != t.src_y; }

  static uint64_t key(int level, uint32_t image) { return ((uint64_t)level << 40) | image; }

  // A stored JPEG must be the size the slide gives its level (OpenSlide: "Dimensional mismatch").
  static void check_jpeg_size(const std::vector<uint8_t>& bytes, const MiraxLevel& L, const std::string& where) {
    auto [jw, jh] = jpeg_header_size(bytes.data(), bytes.size());
    if (jw != L.image_w || jh != L.image_h)
      throw InputError(where + ": a JPEG of " + std::to_string(jw) + "x" + std::to_string(jh) +
                       " where the slide says " + std::to_string(L.image_w) + "x" + std::to_string(L.image_h));
  }

  // Image `image` of `level` decoded whole, from the cache or decoded and kept; nullptr when
  // another thread is decoding it and `wait` is false.
  TilePtr stored_image(int level, uint32_t image, bool wait) {
    return images_.load(
        key(level, image),
        [&] {
          const MiraxLevel& L = layout_.levels[(size_t)level];
          const MiraxImage& m = L.images[image];
          const std::string what = "level " + std::to_string(level) + " image " + std::to_string(image);
          const std::vector<uint8_t> bytes = read_bytes(m, what);
          const std::string where = layout_.data_files[(size_t)m.file] + ": " + what;
          auto t = std::make_shared<Tile>(L.image_w, L.image_h);
          if (L.format == MiraxFormat::kJpeg) {
            check_jpeg_size(bytes, L, where);
            decode_jpeg_rgb(nullptr, 0, bytes.data(), bytes.size(), JpegColor::kAuto, t->rgb.get(), L.image_w,
                            L.image_h, where);
          } else if (L.format == MiraxFormat::kPng) {
            // The size from the header first: a PNG level holds PNGs of the slide's size, nothing else.
            static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
            if (bytes.size() < 24 || std::memcmp(bytes.data(), kPng, 8) != 0) throw InputError(where + ": not a PNG");
            if ((int64_t)be32(&bytes[16]) != L.image_w || (int64_t)be32(&bytes[20]) != L.image_h)
              throw InputError(where + ": a PNG of " + std::to_string(be32(&bytes[16])) + "x" +
                               std::to_string(be32(&bytes[20])) + " where the slide says " + std::to_string(L.image_w) +
                               "x" + std::to_string(L.image_h));
            const RgbImage img = decode_image_bytes(bytes, where);
            if (img.width != L.image_w || img.height != L.image_h)
              throw InputError(where + ": a PNG of " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                               " where the slide says " + std::to_string(L.image_w) + "x" + std::to_string(L.image_h));
            std::memcpy(t->rgb.get(), img.pixels.data(), t->bytes());
          } else {
            decode_bmp24(bytes, L.image_w, L.image_h, t->rgb.get(), where);
          }
          return TilePtr(std::move(t));
        },
        wait);
  }

  std::vector<uint8_t> read_bytes(const MiraxImage& m, const std::string& what) {
    const SlideFile& f = file(m.file);
    std::vector<uint8_t> bytes((size_t)m.length);
    f.read(bytes.data(), (uint64_t)m.length, (uint64_t)m.offset, what);
    return bytes;
  }

  // Data files are opened when first read: a slide may have many more than it needs at once.
  const SlideFile& file(int i) {
    std::lock_guard<std::mutex> lock(files_mu_);
    auto& f = files_[(size_t)i];
    if (!f) f = std::make_unique<SlideFile>(layout_.data_files[(size_t)i]);
    return *f;
  }

  std::string path_;
  MiraxLayout layout_;
  TileCache images_;
  std::mutex files_mu_;
  std::vector<std::unique_ptr<SlideFile>> files_;
};

}  // namespace

std::unique_ptr<Slide> open_mirax_slide(const std::string& path, size_t cache_bytes) {
  MiraxLayout layout = read_mirax_layout(path);
  SlideMeta meta = layout.meta;
  auto source = std::make_unique<MiraxSource>(path, std::move(layout), cache_bytes / 2);
  return std::make_unique<Slide>(path, std::move(meta), std::move(source), cache_bytes);
}

}  // namespace ds
