// Plain PNG/JPEG images (DeepSlide's default input) as one-level slides. The image is decoded
// once; tiles of 512 px are cut from it so the region and cache code is shared with TIFF.
#include <cstring>

#include "engine/error.h"
#include "slide/slide_open.h"
#include "slide/tiff_properties.h"

namespace ds {

namespace {

constexpr int kTile = 512;

class ImageSource : public TileSource {
 public:
  explicit ImageSource(RgbImage img) : img_(std::move(img)) {}

  TilePtr decode_tile(int level, int64_t col, int64_t row) override {
    auto t = std::make_shared<Tile>(kTile, kTile);
    std::memset(t->rgb.get(), 255, t->bytes());
    int x0 = (int)col * kTile, y0 = (int)row * kTile;
    int w = std::min(kTile, img_.width - x0), h = std::min(kTile, img_.height - y0);
    for (int y = 0; y < h; ++y)
      std::memcpy(t->rgb.get() + (size_t)y * kTile * 3, img_.row(y0 + y) + (size_t)x0 * 3, (size_t)w * 3);
    return t;
  }

  RgbImage read_associated(const std::string& name) override {
    throw InputError("plain images have no associated image '" + name + "'");
  }

 private:
  RgbImage img_;
};

}  // namespace

std::unique_ptr<Slide> open_image_slide(const std::string& path, size_t cache_bytes) {
  RgbImage img = load_image(path);
  SlideMeta meta;
  meta.vendor = "image";
  SlideLevel L;
  L.width = img.width;
  L.height = img.height;
  L.tile_width = L.tile_height = kTile;
  meta.levels.push_back(L);
  add_standard_properties(meta);
  return std::make_unique<Slide>(path, std::move(meta), std::make_unique<ImageSource>(std::move(img)),
                                 cache_bytes);
}

}  // namespace ds
