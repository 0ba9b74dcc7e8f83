// libjpeg-turbo encoding for the JPEG tests: the options the slide formats use (chroma
// subsampling, grey, optimized tables, progressive, a restart marker every n MCU rows, quality),
// and a busy test image whose blocks carry many AC coefficients.
#pragma once
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

// After <cstdio>: jpeglib.h uses size_t and FILE without including their headers.
#include <jpeglib.h>

#include "base/rgb_image.h"
#include "test_slide_util.h"

namespace ds::test {

struct EncodeOptions {
  int h_samp = 2, v_samp = 2;  // luma sampling factors (chroma 1x1)
  bool grey = false;
  bool optimize = false;
  bool progressive = false;
  int restart_rows = 0;
  int quality = 80;
  int restart_mcus = 0;  // a restart marker every n MCUs (instead of restart_rows)
  bool rgb = false;      // stored as RGB (libjpeg writes an Adobe marker saying so)
};

inline std::vector<uint8_t> encode(const ds::RgbImage& img, const EncodeOptions& o) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = (JDIMENSION)img.width;
  c.image_height = (JDIMENSION)img.height;
  c.input_components = o.grey ? 1 : 3;
  c.in_color_space = o.grey ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, o.quality, TRUE);
  if (!o.grey) {
    c.comp_info[0].h_samp_factor = o.h_samp;
    c.comp_info[0].v_samp_factor = o.v_samp;
  }
  c.optimize_coding = o.optimize ? TRUE : FALSE;
  c.restart_in_rows = o.restart_rows;
  if (o.restart_mcus) c.restart_interval = (unsigned)o.restart_mcus;
  if (o.rgb) jpeg_set_colorspace(&c, JCS_RGB);
  if (o.progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> grey_row((size_t)img.width);
  while (c.next_scanline < c.image_height) {
    const uint8_t* src = img.row((int)c.next_scanline);
    JSAMPROW row = const_cast<uint8_t*>(src);
    if (o.grey) {
      for (int x = 0; x < img.width; ++x) grey_row[(size_t)x] = src[3 * x + 1];
      row = grey_row.data();
    }
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> out(buf, buf + len);
  free(buf);
  jpeg_destroy_compress(&c);
  return out;
}

// Noise on top of the test pattern, so blocks carry many AC coefficients (long codes, big DC steps).
inline ds::RgbImage busy_image(int w, int h, uint32_t seed) {
  ds::RgbImage img = ds::test::pattern_image(w, h, seed);
  std::mt19937 rng(seed);
  for (auto& v : img.pixels) v = (uint8_t)std::min(255, (int)v / 2 + (int)(rng() % 128));
  return img;
}

}  // namespace ds::test
