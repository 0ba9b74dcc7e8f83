// PNG/JPEG load through stb_image, save through stb_image_write (atomically, base/atomic_file.h).
#include "slide/reader/image_io.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/regular_file.h"
#include "slide/reader/jpeg_decode.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
// Only PNG: JPEG goes through libjpeg-turbo, and every other decoder stb carries (GIF, PSD, TGA,
// HDR, PIC, PNM) would be attack surface for formats nobody feeds a slide classifier.
#define STBI_ONLY_PNG
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace ds {

namespace {

// Plain images are decoded whole; the cap keeps a corrupt or huge header from allocating gigabytes.
constexpr int64_t kMaxImagePixels = (int64_t)1 << 28;

// Width and height from a JPEG's start-of-frame marker (0 when none is found).
void jpeg_size(const std::vector<uint8_t>& d, int& w, int& h) {
  w = h = 0;
  size_t i = 2;
  while (i + 4 <= d.size()) {
    if (d[i] != 0xFF) return;
    const uint8_t m = d[i + 1];
    if (m == 0xFF) {
      ++i;
      continue;
    }
    const size_t seg = ((size_t)d[i + 2] << 8) | d[i + 3];
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof && i + 9 <= d.size()) {
      h = (d[i + 5] << 8) | d[i + 6];
      w = (d[i + 7] << 8) | d[i + 8];
      return;
    }
    i += 2 + seg;
  }
}

std::vector<uint8_t> read_all(const std::string& path) {
  require_regular_file(path);  // (/dev/zero would never end, a FIFO would block)
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<uint8_t> buf;
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + n);
  std::fclose(f);
  return buf;
}

// JPEGs go through libjpeg-turbo with the accurate integer IDCT and fancy upsampling — the
// settings PIL uses — so pixels match what DeepSlide (imageio/PIL) sees, bit for bit.
RgbImage load_jpeg(const std::string& path, const std::vector<uint8_t>& data) {
  int w = 0, h = 0;
  jpeg_size(data, w, h);
  if (w <= 0 || h <= 0) throw InputError(path, "JPEG without a frame header (corrupt or truncated)");
  if ((int64_t)w * h > kMaxImagePixels)
    throw InputError(path, "JPEG of " + std::to_string(w) + "x" + std::to_string(h) +
                               " is too large to load whole; convert it to a tiled pyramid "
                               "(vips tiffsave in.jpg out.tif --tile --pyramid --compression jpeg)");
  RgbImage img(w, h);
  decode_jpeg_rgb(nullptr, 0, data.data(), data.size(), JpegColor::kAuto, img.pixels.data(), w, h, path);
  return img;
}

// stb_image trusts PNG chunk lengths and grows its buffer to them before reading: a corrupt
// length of 2 GB would be allocated. Every chunk must fit in the file.
void check_png_chunks(const std::string& path, const std::vector<uint8_t>& d) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (d.size() < 8 || std::memcmp(d.data(), kSignature, 8) != 0)
    throw InputError(path, "not a PNG or JPEG image (the formats read as plain images)");
  size_t i = 8;
  while (i + 12 <= d.size()) {
    uint64_t len = ((uint64_t)d[i] << 24) | ((uint64_t)d[i + 1] << 16) | ((uint64_t)d[i + 2] << 8) | d[i + 3];
    if (len > d.size() - i - 12)
      throw InputError(path, "PNG chunk at byte " + std::to_string(i) +
                                 " runs past the end of the file "
                                 "(truncated or corrupt)");
    if (std::memcmp(d.data() + i + 4, "IEND", 4) == 0) return;
    i += 12 + (size_t)len;
  }
}

}  // namespace

RgbImage load_image(const std::string& path) {
  if (!std::filesystem::exists(path)) throw InputError(path, "no such file");
  if (std::filesystem::is_directory(path)) throw InputError(path, "is a folder, not an image");
  return decode_image_bytes(read_all(path), path);
}

RgbImage decode_image_bytes(const std::vector<uint8_t>& data, const std::string& path) {
  if (data.size() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return load_jpeg(path, data);
  check_png_chunks(path, data);
  int w = 0, h = 0, comp = 0;
  if (data.size() > (size_t)INT32_MAX) throw InputError(path, "image file too large");
  if (stbi_info_from_memory(data.data(), (int)data.size(), &w, &h, &comp) && (int64_t)w * h > kMaxImagePixels)
    throw InputError(path, "image of " + std::to_string(w) + "x" + std::to_string(h) +
                               " is too large to load whole; convert it to a tiled pyramid "
                               "(vips tiffsave in.png out.tif --tile --pyramid --compression jpeg)");
  unsigned char* p = stbi_load_from_memory(data.data(), (int)data.size(), &w, &h, &comp, 3);
  if (!p) throw InputError(path, std::string("cannot decode image (") + stbi_failure_reason() + ")");
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.assign(p, p + (size_t)w * h * 3);
  stbi_image_free(p);
  return img;
}

static void append_bytes(void* ctx, void* data, int size) {
  auto* buf = static_cast<std::vector<uint8_t>*>(ctx);
  auto* d = static_cast<uint8_t*>(data);
  buf->insert(buf->end(), d, d + size);
}

std::vector<uint8_t> encode_png(const RgbImage& img) {
  std::vector<uint8_t> buf;
  if (!stbi_write_png_to_func(append_bytes, &buf, img.width, img.height, 3, img.pixels.data(), img.width * 3))
    throw InternalError("PNG encoding failed");
  return buf;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& img, int quality) {
  std::vector<uint8_t> buf;
  if (!stbi_write_jpg_to_func(append_bytes, &buf, img.width, img.height, 3, img.pixels.data(), quality))
    throw InternalError("JPEG encoding failed");
  return buf;
}

void save_png(const std::string& path, const RgbImage& img, bool sync) {
  std::vector<uint8_t> buf = encode_png(img);
  write_file_atomic(path, buf.data(), buf.size(), sync);
}

void save_jpeg(const std::string& path, const RgbImage& img, int quality, bool sync) {
  std::vector<uint8_t> buf = encode_jpeg(img, quality);
  write_file_atomic(path, buf.data(), buf.size(), sync);
}

namespace {

// The lower-case extension of path ("" when none).
std::string lower_extension(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  for (char& c : e) c = (char)std::tolower((unsigned char)c);
  return e;
}

}  // namespace

bool is_picture_path(const std::string& path) {
  const std::string e = lower_extension(path);
  return e == ".png" || e == ".jpg" || e == ".jpeg";
}

void check_image_path(const std::string& path) {
  if (!is_picture_path(path))
    throw InputError(path, "an image written here must end in .png, .jpg or .jpeg (it says which format)");
}

void save_image(const std::string& path, const RgbImage& img) {
  check_image_path(path);
  if (lower_extension(path) == ".png") save_png(path, img);
  else save_jpeg(path, img);
}

}  // namespace ds
