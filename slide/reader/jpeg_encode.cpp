// libjpeg-turbo compression into a growing memory buffer (jpeg_mem_dest). libjpeg reports errors
// through a longjmp to the caller's setjmp, so the body between them holds no C++ objects with
// destructors; the buffer libjpeg allocated is copied out and freed.
#include "slide/reader/jpeg_encode.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <jpeglib.h>

#include "base/error.h"

namespace ds {

namespace {

struct EncodeError {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_encode_error(j_common_ptr c) {
  auto* e = reinterpret_cast<EncodeError*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

// Returns false with err.message set when libjpeg fails; *out / *size are libjpeg's buffer.
bool compress(const RgbImage& img, int quality, EncodeError& err, unsigned char** out, unsigned long* size) {
  jpeg_compress_struct c;
  c.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_encode_error;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&c);
    return false;
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, out, size);
  c.image_width = (JDIMENSION)img.width;
  c.image_height = (JDIMENSION)img.height;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  c.dct_method = JDCT_ISLOW;
  jpeg_start_compress(&c, TRUE);
  const size_t stride = (size_t)img.width * 3;
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.pixels.data() + (size_t)c.next_scanline * stride);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_jpeg_turbo(const RgbImage& img, int quality) {
  DS_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == (size_t)img.width * img.height * 3, "bad image");
  DS_CHECK(quality >= 1 && quality <= 100, "JPEG quality out of range");
  EncodeError err{};
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const bool ok = compress(img, quality, err, &buf, &size);
  std::vector<uint8_t> bytes;
  if (ok) bytes.assign(buf, buf + size);
  std::free(buf);
  if (!ok) throw InternalError(std::string("JPEG encoding failed: ") + err.message);
  return bytes;
}

}  // namespace ds
