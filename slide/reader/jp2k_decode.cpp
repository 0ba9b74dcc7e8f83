// OpenJPEG decode of Aperio JPEG 2000 tiles (see jp2k_decode.h). The codestream is read from
// memory; OpenJPEG runs in strict mode, so a truncated tile is an error rather than a silently
// half-decoded one. Errors come back through OpenJPEG's error handler and become InputError.
#include "slide/reader/jp2k_decode.h"

#include <openjpeg.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "base/error.h"

namespace ds {

namespace {

// A J2K tile of an SVS file holds one 240x240 (or so) image; a codestream that splits that into
// more than this many J2K tiles is hostile (OpenJPEG keeps state per J2K tile).
constexpr uint64_t kMaxCodestreamTiles = 1024;

uint32_t be16(const uint8_t* p) { return (uint32_t)p[0] << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

// Checks the main header's SIZ marker (it must follow SOC) against what the directory declares;
// returns the reason it does not fit, or "" when it does.
std::string check_siz(const uint8_t* d, size_t len, int tile_w, int tile_h) {
  if (len < 4 || be16(d) != 0xFF4F) return "not a JPEG 2000 codestream (no SOC marker)";
  if (be16(d + 2) != 0xFF51) return "JPEG 2000 codestream without SIZ after SOC";
  if (len < 4 + 41) return "JPEG 2000 codestream truncated in SIZ";
  const uint8_t* s = d + 4;  // Lsiz
  uint32_t lsiz = be16(s), csiz = be16(s + 36);
  if (lsiz != 38 + 3 * csiz || len < 4 + (size_t)lsiz) return "JPEG 2000 SIZ marker has a bad length";
  uint32_t xsiz = be32(s + 4), ysiz = be32(s + 8), xo = be32(s + 12), yo = be32(s + 16);
  uint32_t xt = be32(s + 20), yt = be32(s + 24), xto = be32(s + 28), yto = be32(s + 32);
  if (xsiz != (uint32_t)tile_w || ysiz != (uint32_t)tile_h || xo != 0 || yo != 0)
    return "JPEG 2000 image of " + std::to_string(xsiz - std::min(xo, xsiz)) + "x" +
           std::to_string(ysiz - std::min(yo, ysiz)) + " at (" + std::to_string(xo) + ", " + std::to_string(yo) +
           ") where the directory declares " + std::to_string(tile_w) + "x" + std::to_string(tile_h) + " tiles";
  if (xt == 0 || yt == 0 || xto != 0 || yto != 0) return "JPEG 2000 SIZ marker has a bad tile grid";
  uint64_t tiles = (uint64_t)((xsiz + xt - 1) / xt) * ((ysiz + yt - 1) / yt);
  if (tiles > kMaxCodestreamTiles) return "JPEG 2000 codestream split into " + std::to_string(tiles) + " tiles";
  if (csiz != 3) return "JPEG 2000 codestream with " + std::to_string(csiz) + " components (expected 3)";
  for (uint32_t c = 0; c < 3; ++c) {
    const uint8_t* p = s + 38 + 3 * c;
    if (p[0] != 7) return "JPEG 2000 component that is not 8-bit unsigned";
    if ((p[1] != 1 && p[1] != 2) || (p[2] != 1 && p[2] != 2))
      return "JPEG 2000 component subsampled " + std::to_string(p[1]) + "x" + std::to_string(p[2]);
  }
  return "";
}

struct MemStream {
  const uint8_t* data;
  size_t len, pos;
};

OPJ_SIZE_T mem_read(void* buf, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<MemStream*>(user);
  if (s->pos >= s->len) return (OPJ_SIZE_T)-1;
  n = std::min<OPJ_SIZE_T>(n, s->len - s->pos);
  std::memcpy(buf, s->data + s->pos, n);
  s->pos += n;
  return n;
}

OPJ_OFF_T mem_skip(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemStream*>(user);
  if (n < 0 ? (size_t)-n > s->pos : (size_t)n > s->len - s->pos) return -1;
  s->pos = (size_t)((OPJ_OFF_T)s->pos + n);
  return n;
}

OPJ_BOOL mem_seek(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemStream*>(user);
  if (n < 0 || (size_t)n > s->len) return OPJ_FALSE;
  s->pos = (size_t)n;
  return OPJ_TRUE;
}

void on_error(const char* msg, void* user) {
  auto* m = static_cast<std::string*>(user);
  if (m->empty()) {
    *m = msg;
    while (!m->empty() && (m->back() == '\n' || m->back() == ' ')) m->pop_back();
  }
}
void on_warning(const char*, void*) {}  // as OpenSlide: warnings are not errors

struct CodecFree {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamFree {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageFree {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

// OpenSlide's YCbCr -> RGB tables (its make-tables.c): JPEG's full-range coefficients, red and
// blue offsets rounded to integers, green's two terms in 16.16 fixed point with the rounding
// half folded into the Cb term, summed and shifted right (floor).
struct YccTables {
  int16_t r_cr[256], b_cb[256];
  int32_t g_cb[256], g_cr[256];
  YccTables() {
    for (int i = 0; i < 256; ++i) {
      r_cr[i] = (int16_t)std::round(1.402 * (i - 128));
      g_cb[i] = (int32_t)std::round((1 << 16) * (0.5 - 0.34414 * (i - 128)));
      g_cr[i] = (int32_t)std::round((1 << 16) * -0.71414 * (i - 128));
      b_cb[i] = (int16_t)std::round(1.772 * (i - 128));
    }
  }
};

uint8_t clamp255(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

// Component samples of pixel rows/columns, as offsets into comps[c].data.
struct Plane {
  const OPJ_INT32* data;
  int shift_x, shift_y;  // log2 of the subsampling
  int64_t x0, y0, w, h;  // decoded part, in component samples
};

void to_rgb(const Plane* p, J2kColor color, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride) {
  static const YccTables t;
  for (int y = y0; y < y1; ++y) {
    const OPJ_INT32* row[3];
    for (int c = 0; c < 3; ++c) row[c] = p[c].data + ((y >> p[c].shift_y) - p[c].y0) * p[c].w - p[c].x0;
    uint8_t* o = out + (size_t)(y - y0) * stride;
    if (color == J2kColor::kRgb) {
      for (int x = x0; x < x1; ++x, o += 3) {
        o[0] = (uint8_t)row[0][x >> p[0].shift_x];
        o[1] = (uint8_t)row[1][x >> p[1].shift_x];
        o[2] = (uint8_t)row[2][x >> p[2].shift_x];
      }
      continue;
    }
    for (int x = x0; x < x1; ++x, o += 3) {
      int Y = (uint8_t)row[0][x >> p[0].shift_x];
      uint8_t cb = (uint8_t)row[1][x >> p[1].shift_x], cr = (uint8_t)row[2][x >> p[2].shift_x];
      int g = (t.g_cb[cb] + t.g_cr[cr]) >> 16;
      o[0] = clamp255(Y + t.r_cr[cr]);
      o[1] = clamp255(Y + g);
      o[2] = clamp255(Y + t.b_cb[cb]);
    }
  }
}

}  // namespace

void decode_j2k_rgb(const uint8_t* data, size_t len, J2kColor color, int tile_w, int tile_h, int x0, int y0, int x1,
                    int y1, uint8_t* out, size_t stride, const std::string& what) {
  std::string bad = check_siz(data, len, tile_w, tile_h);
  if (!bad.empty()) throw InputError(what, bad);
  DS_CHECK(0 <= x0 && x0 < x1 && x1 <= tile_w && 0 <= y0 && y0 < y1 && y1 <= tile_h, "bad J2K rectangle");

  MemStream ms{data, len, 0};
  std::unique_ptr<opj_stream_t, StreamFree> stream(opj_stream_create(std::min<size_t>(len, 1u << 20), OPJ_TRUE));
  if (!stream) throw InternalError("opj_stream_create failed");
  opj_stream_set_user_data(stream.get(), &ms, nullptr);
  opj_stream_set_user_data_length(stream.get(), len);
  opj_stream_set_read_function(stream.get(), mem_read);
  opj_stream_set_skip_function(stream.get(), mem_skip);
  opj_stream_set_seek_function(stream.get(), mem_seek);

  std::unique_ptr<opj_codec_t, CodecFree> codec(opj_create_decompress(OPJ_CODEC_J2K));
  if (!codec) throw InternalError("opj_create_decompress failed");
  std::string message;
  opj_set_error_handler(codec.get(), on_error, &message);
  opj_set_warning_handler(codec.get(), on_warning, nullptr);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(codec.get(), &params)) throw InternalError("opj_setup_decoder failed");
  opj_decoder_set_strict_mode(codec.get(), OPJ_TRUE);

  auto fail = [&](const char* step) {
    throw InputError(what,
                     "corrupt JPEG 2000 data (" + (message.empty() ? std::string(step) + " failed" : message) + ")");
  };
  opj_image_t* raw_image = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw_image)) {
    opj_image_destroy(raw_image);
    fail("reading the header");
  }
  std::unique_ptr<opj_image_t, ImageFree> image(raw_image);
  // The SIZ check above saw the same numbers; OpenJPEG's view is checked again before use.
  if (image->numcomps != 3 || image->x0 != 0 || image->y0 != 0 || image->x1 != (OPJ_UINT32)tile_w ||
      image->y1 != (OPJ_UINT32)tile_h)
    throw InputError(what, "JPEG 2000 header does not match the directory's tile");
  int align_x = 1, align_y = 1;
  for (int c = 0; c < 3; ++c) {
    align_x = std::max<int>(align_x, (int)image->comps[c].dx);
    align_y = std::max<int>(align_y, (int)image->comps[c].dy);
  }
  if (x0 != 0 || y0 != 0 || x1 != tile_w || y1 != tile_h) {
    // Start on a whole chroma sample, so every pixel's subsampled neighbour is decoded too.
    if (!opj_set_decode_area(codec.get(), image.get(), x0 - x0 % align_x, y0 - y0 % align_y, x1, y1))
      fail("setting the decode area");
  }
  if (!opj_decode(codec.get(), stream.get(), image.get())) fail("decoding");

  Plane p[3];
  for (int c = 0; c < 3; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    p[c].shift_x = comp.dx == 2 ? 1 : 0;
    p[c].shift_y = comp.dy == 2 ? 1 : 0;
    p[c].x0 = comp.x0;
    p[c].y0 = comp.y0;
    p[c].w = comp.w;
    p[c].h = comp.h;
    p[c].data = comp.data;
    // Every sample the rectangle reads must have been decoded.
    bool covers = comp.data && comp.prec == 8 && !comp.sgnd && (x0 >> p[c].shift_x) >= p[c].x0 &&
                  (y0 >> p[c].shift_y) >= p[c].y0 && ((x1 - 1) >> p[c].shift_x) < p[c].x0 + p[c].w &&
                  ((y1 - 1) >> p[c].shift_y) < p[c].y0 + p[c].h;
    if (!covers) throw InputError(what, "JPEG 2000 decoder returned a component that does not cover the tile");
  }
  to_rgb(p, color, x0, y0, x1, y1, out, stride);
}

}  // namespace ds
