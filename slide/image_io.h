// 8-bit RGB images in memory and on disk: PNG/JPEG (and anything stb_image reads) in, PNG and
// JPEG out. Grey and grey+alpha are expanded to RGB, alpha is dropped. Writes are atomic.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ds {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height][width][3], row-major
  RgbImage() = default;
  RgbImage(int w, int h, uint8_t fill = 255) : width(w), height(h), pixels((size_t)w * h * 3, fill) {}
  uint8_t* row(int y) { return pixels.data() + (size_t)y * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + (size_t)y * width * 3; }
};

RgbImage load_image(const std::string& path);  // InputError(path, reason) when unreadable
// In-memory encodings (for embedding, e.g. data URIs in the HTML report).
std::vector<uint8_t> encode_png(const RgbImage& img);
std::vector<uint8_t> encode_jpeg(const RgbImage& img, int quality = 90);
void save_png(const std::string& path, const RgbImage& img, bool sync = true);
void save_jpeg(const std::string& path, const RgbImage& img, int quality = 90, bool sync = true);
// Writes to a temporary file in the same folder, fsyncs it (unless sync is false: bulk exports
// of many small files), then renames it over `path`, so readers never see a partial file.
void write_file_atomic(const std::string& path, const void* data, size_t size, bool sync = true);

}  // namespace ds
