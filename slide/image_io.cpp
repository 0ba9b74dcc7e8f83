// PNG/JPEG load through stb_image, save through stb_image_write, atomic file replacement.
#include "slide/image_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace ds {

RgbImage load_image(const std::string& path) {
  if (!std::filesystem::exists(path)) throw InputError(path, "no such file");
  int w = 0, h = 0, comp = 0;
  unsigned char* p = stbi_load(path.c_str(), &w, &h, &comp, 3);
  if (!p) throw InputError(path, std::string("cannot decode image (") + stbi_failure_reason() + ")");
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.assign(p, p + (size_t)w * h * 3);
  stbi_image_free(p);
  return img;
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError(path, std::string("cannot write: ") + std::strerror(errno));
  const char* p = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw InputError(path, std::string("write failed: ") + std::strerror(e));
    }
    p += n;
    left -= (size_t)n;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw InputError(path, std::string("write failed: ") + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw InputError(path, std::string("cannot rename into place: ") + std::strerror(e));
  }
}

static void append_bytes(void* ctx, void* data, int size) {
  auto* buf = static_cast<std::vector<uint8_t>*>(ctx);
  auto* d = static_cast<uint8_t*>(data);
  buf->insert(buf->end(), d, d + size);
}

void save_png(const std::string& path, const RgbImage& img) {
  std::vector<uint8_t> buf;
  if (!stbi_write_png_to_func(append_bytes, &buf, img.width, img.height, 3, img.pixels.data(),
                              img.width * 3))
    throw InputError(path, "PNG encoding failed");
  write_file_atomic(path, buf.data(), buf.size());
}

void save_jpeg(const std::string& path, const RgbImage& img, int quality) {
  std::vector<uint8_t> buf;
  if (!stbi_write_jpg_to_func(append_bytes, &buf, img.width, img.height, 3, img.pixels.data(),
                              quality))
    throw InputError(path, "JPEG encoding failed");
  write_file_atomic(path, buf.data(), buf.size());
}

}  // namespace ds
