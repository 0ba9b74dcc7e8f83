// Pyramidal TIFF writer on libtiff (see pyramid_writer.h). libtiff's own JPEG codec encodes the
// tiles (YCbCr 4:2:0 with shared JPEGTables, as libvips and scanners write them).
#include "slide/synth/pyramid_writer.h"

#include <tiffio.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/atomic_file.h"
#include "base/error.h"

namespace ds {

namespace {

int capture(TIFF*, void* user, const char*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  auto* s = static_cast<std::string*>(user);
  if (s->empty()) *s = buf;
  return 1;
}

int quiet(TIFF*, void*, const char*, const char*, va_list) { return 1; }

uint16_t compression_code(const std::string& c, const std::string& path) {
  if (c == "jpeg") return COMPRESSION_JPEG;
  if (c == "lzw") return COMPRESSION_LZW;
  if (c == "deflate") return COMPRESSION_ADOBE_DEFLATE;
  if (c == "none") return COMPRESSION_NONE;
  throw InputError(path, "unknown compression '" + c + "' (jpeg, lzw, deflate or none)");
}

class Writer {
 public:
  Writer(const std::string& path, const PyramidWriteOptions& opt) : path_(path), opt_(opt) {
    TIFFOpenOptions* o = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(o, capture, &error_);
    TIFFOpenOptionsSetWarningHandlerExtR(o, quiet, nullptr);
    tif_ = TIFFOpenExt(path.c_str(), opt.bigtiff ? "w8" : "w", o);
    TIFFOpenOptionsFree(o);
    if (!tif_) throw InputError(path, "cannot create TIFF (" + error_ + ")");
  }
  ~Writer() {
    if (tif_) TIFFClose(tif_);
  }
  void close() {
    TIFFClose(tif_);
    tif_ = nullptr;
    check(error_.empty(), "close");
  }

  void common_tags(const RgbImage& img, uint16_t comp, bool rgb_jpeg, const std::string& desc) {
    TIFFSetField(tif_, TIFFTAG_IMAGEWIDTH, (uint32_t)img.width);
    TIFFSetField(tif_, TIFFTAG_IMAGELENGTH, (uint32_t)img.height);
    TIFFSetField(tif_, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)3);
    TIFFSetField(tif_, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(tif_, TIFFTAG_PLANARCONFIG, (uint16_t)PLANARCONFIG_CONTIG);
    TIFFSetField(tif_, TIFFTAG_COMPRESSION, comp);
    if (comp == COMPRESSION_JPEG) {
      TIFFSetField(tif_, TIFFTAG_JPEGQUALITY, opt_.quality);
      if (rgb_jpeg) {
        TIFFSetField(tif_, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_RGB);
      } else {
        TIFFSetField(tif_, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_YCBCR);
        TIFFSetField(tif_, TIFFTAG_YCBCRSUBSAMPLING, (uint16_t)2, (uint16_t)2);
        TIFFSetField(tif_, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
      }
    } else {
      TIFFSetField(tif_, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_RGB);
      if (comp != COMPRESSION_NONE) TIFFSetField(tif_, TIFFTAG_PREDICTOR, (uint16_t)PREDICTOR_HORIZONTAL);
    }
    if (!desc.empty()) TIFFSetField(tif_, TIFFTAG_IMAGEDESCRIPTION, desc.c_str());
    TIFFSetField(tif_, TIFFTAG_SOFTWARE, "deepslide.cpp pyramid writer");
  }

  void write_tiled(const RgbImage& img, bool reduced, const std::string& desc, int n_subifds) {
    uint16_t comp = compression_code(opt_.compression, path_);
    common_tags(img, comp, opt_.jpeg_rgb, desc);
    if (reduced) TIFFSetField(tif_, TIFFTAG_SUBFILETYPE, (uint32_t)FILETYPE_REDUCEDIMAGE);
    if (opt_.mpp > 0) {
      TIFFSetField(tif_, TIFFTAG_RESOLUTIONUNIT, (uint16_t)RESUNIT_CENTIMETER);
      double ds = (double)width0_ / img.width;
      TIFFSetField(tif_, TIFFTAG_XRESOLUTION, (float)(10000.0 / (opt_.mpp * ds)));
      TIFFSetField(tif_, TIFFTAG_YRESOLUTION, (float)(10000.0 / (opt_.mpp * ds)));
    }
    uint32_t ts = (uint32_t)opt_.tile_size;
    TIFFSetField(tif_, TIFFTAG_TILEWIDTH, ts);
    TIFFSetField(tif_, TIFFTAG_TILELENGTH, ts);
    if (n_subifds > 0) {
      std::vector<uint64_t> zeros((size_t)n_subifds, 0);
      TIFFSetField(tif_, TIFFTAG_SUBIFD, (uint16_t)n_subifds, zeros.data());
    }
    std::vector<uint8_t> buf((size_t)ts * ts * 3);
    for (uint32_t ty = 0; ty < (uint32_t)img.height; ty += ts)
      for (uint32_t tx = 0; tx < (uint32_t)img.width; tx += ts) {
        // Edge tiles are padded by repeating the last row/column, as encoders usually do.
        for (uint32_t y = 0; y < ts; ++y) {
          int sy = (int)std::min<uint32_t>(ty + y, (uint32_t)img.height - 1);
          for (uint32_t x = 0; x < ts; ++x) {
            int sx = (int)std::min<uint32_t>(tx + x, (uint32_t)img.width - 1);
            std::memcpy(&buf[((size_t)y * ts + x) * 3], img.row(sy) + (size_t)sx * 3, 3);
          }
        }
        uint32_t idx = TIFFComputeTile(tif_, tx, ty, 0, 0);
        check(TIFFWriteEncodedTile(tif_, idx, buf.data(), (tmsize_t)buf.size()) >= 0, "tile");
      }
    check(TIFFWriteDirectory(tif_) != 0, "directory");
  }

  void write_stripped(const RgbImage& img, uint16_t comp, const std::string& desc) {
    common_tags(img, comp, false, desc);
    uint32_t rps = 16;
    TIFFSetField(tif_, TIFFTAG_ROWSPERSTRIP, rps);
    for (uint32_t s = 0; s * rps < (uint32_t)img.height; ++s) {
      uint32_t rows = std::min<uint32_t>(rps, (uint32_t)img.height - s * rps);
      check(TIFFWriteEncodedStrip(tif_, s, const_cast<uint8_t*>(img.row((int)(s * rps))),
                                  (tmsize_t)rows * img.width * 3) >= 0,
            "strip");
    }
    check(TIFFWriteDirectory(tif_) != 0, "directory");
  }

  int width0_ = 0;

 private:
  void check(bool ok, const char* what) {
    if (!ok || !error_.empty()) throw InputError(path_, std::string("TIFF write failed (") + what + "): " + error_);
  }
  std::string path_;
  const PyramidWriteOptions& opt_;
  std::string error_;
  TIFF* tif_ = nullptr;
};

}  // namespace

RgbImage shrink_box(const RgbImage& src, int f) {
  RgbImage out(std::max(1, src.width / f), std::max(1, src.height / f));
  int fy_max = std::min(f, src.height), fx_max = std::min(f, src.width);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = 0; dy < fy_max; ++dy)
          for (int dx = 0; dx < fx_max; ++dx) sum += src.row(y * f + dy)[(size_t)(x * f + dx) * 3 + c];
        int n = fx_max * fy_max;
        out.row(y)[(size_t)x * 3 + c] = (uint8_t)((sum + n / 2) / n);
      }
  return out;
}

void write_pyramid(const std::string& path, const RgbImage& level0, const PyramidWriteOptions& opt) {
  if (level0.width <= 0 || level0.height <= 0) throw InputError(path, "empty image");
  if (opt.tile_size < 16 || opt.tile_size % 16 != 0 || opt.tile_size > 4096)
    throw InputError(path, "tile size must be a multiple of 16 in 16..4096");
  if (opt.level_factor != 2 && opt.level_factor != 4) throw InputError(path, "level factor must be 2 or 4");
  if (opt.aperio && opt.subifds) throw InputError(path, "Aperio layout has no SubIFDs");
  compression_code(opt.compression, path);
  std::vector<RgbImage> levels;
  levels.push_back(level0);
  while (std::max(levels.back().width, levels.back().height) > opt.tile_size &&
         std::min(levels.back().width, levels.back().height) >= opt.level_factor)
    levels.push_back(shrink_box(levels.back(), opt.level_factor));

  AtomicFile out(path);
  {
    Writer w(out.temp_path(), opt);
    w.width0_ = level0.width;
    std::string desc;
    if (opt.aperio) {
      char head[256];
      std::snprintf(head, sizeof head, "Aperio Image Library deepslide\r\n%dx%d [0,0 %dx%d] (%dx%d) %s Q=%d",
                    level0.width, level0.height, level0.width, level0.height, opt.tile_size, opt.tile_size,
                    opt.compression == "jpeg" ? (opt.jpeg_rgb ? "JPEG/RGB" : "JPEG/YCC") : opt.compression.c_str(),
                    opt.quality);
      desc = head;
      if (opt.app_mag > 0) desc += "|AppMag = " + std::to_string((int)opt.app_mag);
      if (opt.mpp > 0) {
        char m[64];
        std::snprintf(m, sizeof m, "|MPP = %.4f", opt.mpp);
        desc += m;
      }
    }
    int n_sub = opt.subifds ? (int)levels.size() - 1 : 0;
    w.write_tiled(levels[0], false, desc, n_sub);
    const RgbImage* thumb = nullptr;
    for (const auto& [name, img] : opt.associated)
      if (name == "thumbnail") thumb = &img;
    if (opt.aperio && thumb) w.write_stripped(*thumb, COMPRESSION_JPEG, desc);
    for (size_t i = 1; i < levels.size(); ++i) w.write_tiled(levels[i], true, opt.aperio ? desc : "", 0);
    // OpenSlide splits on both \r and \n and reads the name from the second piece, so the
    // associated images use a bare \n as Aperio's own files do.
    if (opt.aperio)
      for (const auto& [name, img] : opt.associated) {
        if (name == "thumbnail") continue;
        std::string d = "Aperio Image Library deepslide\n" + name + " " + std::to_string(img.width) + "x" +
                        std::to_string(img.height);
        w.write_stripped(img, name == "label" ? COMPRESSION_LZW : COMPRESSION_JPEG, d);
      }
    w.close();
  }
  out.commit();
}

}  // namespace ds
