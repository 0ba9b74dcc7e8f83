// Plain PNG/JPEG images (DeepSlide's default input) as one-level slides. The image is decoded
// once, whole, so its size is checked from the header first (at most 2^28 pixels); tiles of
// 512 px are cut from it so the region and cache code is shared with TIFF.
#include <cstring>
#include <fstream>
#include <iterator>
#include <tuple>

#include <stb_image.h>

#include "base/error.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/slide_open.h"
#include "slide/reader/tiff_properties.h"

namespace ds {

namespace {

constexpr int kTile = 512;
constexpr int64_t kMaxPixels = 1ll << 28;

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
  int hw = 0, hh = 0, hc = 0;
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
  bool is_jpeg = bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
  // JPEG headers are read by libjpeg (stb's JPEG header parser indexes out of bounds on some
  // corrupt files, found by tests/fuzz); PNG's fixed IHDR by stb.
  if (is_jpeg) std::tie(hw, hh) = jpeg_header_size(bytes.data(), bytes.size());
  else if (bytes.size() <= (size_t)INT32_MAX) stbi_info_from_memory(bytes.data(), (int)bytes.size(), &hw, &hh, &hc);
  // An unreadable header means decoding would fail too: stop before load_image allocates for
  // whatever size a lenient scan finds.
  if (hw <= 0 || hh <= 0) throw InputError(path, "corrupt or unreadable image header");
  if ((int64_t)hw * hh > kMaxPixels)
    throw InputError(path, "plain image of " + std::to_string(hw) + "x" + std::to_string(hh) +
                               " is too large to open whole; convert it to a tiled pyramid with: "
                               "vips tiffsave in.jpg out.tif --tile --pyramid --compression jpeg");
  RgbImage img = load_image(path);
  if ((int64_t)img.width * img.height > kMaxPixels)
    throw InputError(path, "plain image too large to open whole; convert it to a tiled pyramid");
  SlideMeta meta;
  meta.vendor = "image";
  SlideLevel L;
  L.width = img.width;
  L.height = img.height;
  L.tile_width = L.tile_height = kTile;
  meta.levels.push_back(L);
  add_standard_properties(meta);
  return std::make_unique<Slide>(path, std::move(meta), std::make_unique<ImageSource>(std::move(img)), cache_bytes);
}

}  // namespace ds
