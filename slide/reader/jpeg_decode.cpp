// libjpeg-turbo decode of TIFF JPEG tiles (see jpeg_decode.h). One decompressor per thread is
// reused; errors leave libjpeg through longjmp and become InputError here.
#include "slide/reader/jpeg_decode.h"

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <jerror.h>
#include <jpeglib.h>

#include "base/error.h"
#include "slide/reader/jpeg_crop.h"
#include "slide/reader/jpeg_fast_decode.h"

namespace ds {

namespace {

constexpr int kRowBatch = 16;   // rows per jpeg_read_scanlines call
constexpr size_t kPage = 4096;  // the span of addresses a load is compared with pending stores in

std::atomic<bool> g_fast{true};

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool warned;
  bool skip_to_restart = false;  // JWRN_EXTRANEOUS_DATA is expected, not a sign of damage
};

void on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* e = reinterpret_cast<ErrorMgr*>(cinfo->err);
  if (e->skip_to_restart && cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA) return;
  if (!e->warned) (*cinfo->err->format_message)(cinfo, e->message);
  e->warned = true;
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  Decoder() { create(); }
  ~Decoder() { jpeg_destroy_decompress(&cinfo); }
  // libjpeg keeps the quantization and Huffman tables of earlier JPEGs in the object (that is how
  // abbreviated streams get theirs): a JPEG that uses a table it does not define would be decoded
  // with another file's. Such a JPEG gets a fresh object, so libjpeg reports the missing
  // quantization table or uses its standard Huffman tables, whatever came before.
  void forget_tables() {
    jpeg_destroy_decompress(&cinfo);
    create();
  }

 private:
  void create() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    jpeg_create_decompress(&cinfo);
  }
};

// Which tables a stream defines and uses, walked from marker to marker (entropy-coded data
// skipped, and not walked at all after a sequential frame's one scan): `ok` while every
// quantization table of the frame's components is defined before the first scan and every
// Huffman table a scan uses (DC when the scan starts at coefficient 0, AC when it goes past it)
// before that scan. One TableUse is carried across streams (JPEGTables first, then the tile).
// Anything unreadable counts as not self-contained.
struct TableUse {
  bool q[4] = {}, dc[4] = {}, ac[4] = {};
  int comp_q[4] = {}, ncomp = 0;
  bool first_scan_seen = false, ok = true;
  bool sequential = false;  // SOF0/1/9: each component in one scan
  bool done = false;        // a sequential frame's scan of every component seen: nothing follows
};

// One marker segment's part in TableUse (its payload s[0..n)): tables defined, the frame's
// quantization tables, a scan's Huffman tables. False when a scan header is cut short.
bool note_segment(uint8_t m, const uint8_t* s, size_t n, TableUse& t) {
  if (m == 0xDB) {
    for (size_t i = 0; i < n; i += 1 + ((s[i] >> 4) ? 128 : 64))
      if ((s[i] & 15) < 4) t.q[s[i] & 15] = true;
  } else if (m == 0xC4) {
    for (size_t i = 0; i + 17 <= n;) {
      const int tc = s[i] >> 4, th = s[i] & 15;
      size_t count = 0;
      for (int l = 1; l <= 16; ++l) count += s[i + l];
      if (th < 4) (tc ? t.ac : t.dc)[th] = true;
      i += 17 + count;
    }
  } else if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && n >= 6) {  // SOFn
    t.sequential = m == 0xC0 || m == 0xC1 || m == 0xC9;
    t.ncomp = std::min<int>(s[5], 4);
    for (int c = 0; c < t.ncomp && 8 + 3u * c < n; ++c) t.comp_q[c] = s[8 + 3 * c] & 3;
  } else if (m == 0xDA && n >= 1) {
    if (!t.first_scan_seen)
      for (int c = 0; c < t.ncomp; ++c) t.ok &= t.q[t.comp_q[c]];
    t.first_scan_seen = true;
    const size_t ns = s[0];
    if (n < 1 + 2 * ns + 3) return false;
    const int ss = s[1 + 2 * ns], se = s[2 + 2 * ns];
    for (size_t c = 0; c < ns; ++c) {
      const int td = s[2 + 2 * c] >> 4, ta = s[2 + 2 * c] & 15;
      if (ss == 0) t.ok &= td < 4 && t.dc[td];
      if (se > 0) t.ok &= ta < 4 && t.ac[ta];
    }
    t.done = t.sequential && (int)ns == t.ncomp;  // so the entropy-coded data need not be walked
  }
  return true;
}

void walk_tables(const uint8_t* d, size_t len, TableUse& t) {
  if (len < 4 || d[0] != 0xFF || d[1] != 0xD8) {
    t.ok = false;
    return;
  }
  for (size_t pos = 2; pos + 1 < len;) {
    if (d[pos] != 0xFF) {  // entropy-coded data: on to the next marker
      const void* ff = std::memchr(d + pos, 0xFF, len - pos);
      if (!ff) return;
      pos = (size_t)((const uint8_t*)ff - d);
      continue;
    }
    const uint8_t m = d[pos + 1];
    if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD8) || m == 0x01) {  // fill, stuffing, RSTn, SOI, TEM
      pos += m == 0xFF ? 1 : 2;
      continue;
    }
    if (m == 0xD9 || pos + 4 > len) return;  // EOI
    const size_t seg = (size_t)((d[pos + 2] << 8) | d[pos + 3]);
    if (seg < 2 || pos + 2 + seg > len || !note_segment(m, d + pos + 4, seg - 2, t)) {
      t.ok = false;
      return;
    }
    if (t.done) return;
    pos += 2 + seg;
  }
}

// Gives `d` a fresh libjpeg object when the JPEG (after its tables) leans on tables it does not
// define (see Decoder::forget_tables).
void isolate(Decoder& d, const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len) {
  TableUse t;
  if (tables && tables_len > 0) walk_tables(tables, tables_len, t);
  t.first_scan_seen = false;
  walk_tables(data, len, t);
  if (!t.ok) d.forget_tables();
}

// Feeds tables and data to libjpeg, reads the header and sets the colour space from the TIFF.
// The header is checked against what the directory declares before libjpeg allocates anything
// in proportion to it (a progressive JPEG buffers coefficients for its whole frame): the frame
// must fit max_w x max_h and its component count must match the colour space. Returns false
// (err.message set) when it does not; libjpeg errors longjmp to the caller's setjmp.
bool start(Decoder& d, const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, JpegColor color,
           int max_w, int max_h) {
  jpeg_decompress_struct* c = &d.cinfo;
  if (tables && tables_len > 0) {
    jpeg_mem_src(c, tables, (unsigned long)tables_len);
    jpeg_read_header(c, FALSE);
  }
  jpeg_mem_src(c, data, (unsigned long)len);
  jpeg_read_header(c, TRUE);
  switch (color) {
    case JpegColor::kYCbCr: c->jpeg_color_space = JCS_YCbCr; break;
    case JpegColor::kRgb: c->jpeg_color_space = JCS_RGB; break;
    case JpegColor::kGrey: c->jpeg_color_space = JCS_GRAYSCALE; break;
    case JpegColor::kAuto: break;
  }
  if (c->num_components != 1 && c->num_components != 3) {
    std::snprintf(d.err.message, sizeof d.err.message, "%d-component JPEG is not supported", c->num_components);
    return false;
  }
  if ((color == JpegColor::kGrey && c->num_components != 1) ||
      ((color == JpegColor::kYCbCr || color == JpegColor::kRgb) && c->num_components != 3)) {
    std::snprintf(d.err.message, sizeof d.err.message, "%d-component JPEG where the directory declares %s",
                  c->num_components, color == JpegColor::kGrey ? "grey" : "RGB/YCbCr");
    return false;
  }
  if ((int64_t)c->image_width > max_w || (int64_t)c->image_height > max_h) {
    std::snprintf(d.err.message, sizeof d.err.message, "JPEG frame of %ux%u is larger than the %dx%d declared",
                  c->image_width, c->image_height, max_w, max_h);
    return false;
  }
  c->out_color_space = JCS_RGB;
  c->dct_method = JDCT_ISLOW;
  c->do_fancy_upsampling = TRUE;
  jpeg_start_decompress(c);
  return true;
}

// Plain C-style body: no objects with destructors live across setjmp. Returns false with
// err.message set on failure.
bool run_decode(Decoder& d, const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, JpegColor color,
                uint8_t* out, int out_w, int out_h, uint8_t* row_buf, size_t row_buf_len, int* done_w, int* done_h) {
  jpeg_decompress_struct* c = &d.cinfo;
  d.err.warned = false;
  d.err.message[0] = 0;
  if (setjmp(d.err.jump)) {
    jpeg_abort_decompress(c);
    return false;
  }
  if (!start(d, tables, tables_len, data, len, color, out_w, out_h)) {
    jpeg_abort_decompress(c);
    return false;
  }
  int jw = (int)c->output_width, jh = (int)c->output_height;
  if ((size_t)jw * 3 > row_buf_len) {
    std::snprintf(d.err.message, sizeof d.err.message, "JPEG width %d exceeds the tile", jw);
    jpeg_abort_decompress(c);
    return false;
  }
  int copy_w = jw < out_w ? jw : out_w;
  *done_w = copy_w;
  *done_h = jh < out_h ? jh : out_h;
  while ((int)c->output_scanline < jh) {
    int y = (int)c->output_scanline;
    if (y < out_h && jw == out_w) {
      JSAMPROW rows[kRowBatch];
      int n = 0;
      for (; n < kRowBatch && y + n < out_h && y + n < jh; ++n) rows[n] = out + (size_t)(y + n) * out_w * 3;
      jpeg_read_scanlines(c, rows, (JDIMENSION)n);
    } else {
      JSAMPROW row = row_buf;
      jpeg_read_scanlines(c, &row, 1);
      if (y < out_h) std::memcpy(out + (size_t)y * out_w * 3, row_buf, (size_t)copy_w * 3);
    }
  }
  jpeg_finish_decompress(c);
  return !d.err.warned;
}

bool run_decode_rect(Decoder& d, const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len,
                     JpegColor color, int max_w, int max_h, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride,
                     uint8_t* row_buf, size_t row_buf_len) {
  jpeg_decompress_struct* c = &d.cinfo;
  d.err.warned = false;
  d.err.message[0] = 0;
  if (setjmp(d.err.jump)) {
    jpeg_abort_decompress(c);
    return false;
  }
  if (!start(d, tables, tables_len, data, len, color, max_w, max_h)) {
    jpeg_abort_decompress(c);
    return false;
  }
  int jw = (int)c->output_width, jh = (int)c->output_height;
  if (x1 > jw || y1 > jh) {
    std::snprintf(d.err.message, sizeof d.err.message, "JPEG of %dx%d is smaller than its tile", jw, jh);
    jpeg_abort_decompress(c);
    return false;
  }
  const int margin = 16;  // one iMCU of 4:2:0
  JDIMENSION cx = (JDIMENSION)std::max(0, x0 - margin);
  JDIMENSION cw = (JDIMENSION)(std::min(jw, x1 + margin) - (int)cx);
  if (cx > 0 || (int)cw < jw) jpeg_crop_scanline(c, &cx, &cw);
  // Rows are read kRowBatch at a time (one libjpeg call per batch, not per row). Each is copied
  // to `out` right after: its rows are laid out so that a row's first byte never lies within a
  // few bytes of one just stored to `out` modulo 4 KiB. Such a load waits for the stores before it
  // (4K aliasing), and with some heap layouts every row's copy did: 15% of a random read's time.
  const size_t row_bytes = (size_t)cw * 3, off = (size_t)(x0 - (int)cx) * 3, n = (size_t)(x1 - x0) * 3;
  const size_t spacing = row_bytes + ((stride % kPage) + kPage - row_bytes % kPage) % kPage;  // = stride mod 4 KiB
  const uintptr_t want = ((uintptr_t)out + kPage / 2 - off - (uintptr_t)row_buf) % kPage;
  uint8_t* const base = row_buf + want;
  if (want + spacing * kRowBatch > row_buf_len) {
    std::snprintf(d.err.message, sizeof d.err.message, "JPEG crop wider than the tile");
    jpeg_abort_decompress(c);
    return false;
  }
  int skip = std::max(0, y0 - margin);
  if (skip > 0) jpeg_skip_scanlines(c, (JDIMENSION)skip);
  JSAMPROW rows[kRowBatch];
  for (int i = 0; i < kRowBatch; ++i) rows[i] = base + (size_t)i * spacing;
  while ((int)c->output_scanline < y1) {
    int y = (int)c->output_scanline;
    int got = (int)jpeg_read_scanlines(c, rows, (JDIMENSION)std::min(kRowBatch, y1 - y));
    if (got <= 0) {  // cannot happen with in-memory data; never loop forever
      std::snprintf(d.err.message, sizeof d.err.message, "JPEG decoder returned no rows");
      jpeg_abort_decompress(c);
      return false;
    }
    for (int i = 0; i < got; ++i)
      if (y + i >= y0) std::memcpy(out + (size_t)(y + i - y0) * stride, rows[i] + off, n);
  }
  jpeg_abort_decompress(c);
  return !d.err.warned;
}

bool run_decode_frame(Decoder& d, const uint8_t* data, size_t len, int frame_w, int frame_h, int scale_denom,
                      uint8_t* out) {
  jpeg_decompress_struct* c = &d.cinfo;
  d.err.warned = false;
  d.err.message[0] = 0;
  if (setjmp(d.err.jump)) {
    jpeg_abort_decompress(c);
    return false;
  }
  jpeg_mem_src(c, data, (unsigned long)len);
  jpeg_read_header(c, TRUE);
  if (c->num_components != 3) {
    std::snprintf(d.err.message, sizeof d.err.message, "%d-component JPEG (expected 3)", c->num_components);
    jpeg_abort_decompress(c);
    return false;
  }
  c->scale_num = 1;
  c->scale_denom = (unsigned)scale_denom;
  c->image_width = (JDIMENSION)frame_w;
  c->image_height = (JDIMENSION)frame_h;
  c->out_color_space = JCS_RGB;
  jpeg_start_decompress(c);
  const int ow = frame_w / scale_denom, oh = frame_h / scale_denom;
  if ((int)c->output_width != ow || (int)c->output_height != oh) {
    std::snprintf(d.err.message, sizeof d.err.message, "JPEG decodes to %ux%u, expected %dx%d", c->output_width,
                  c->output_height, ow, oh);
    jpeg_abort_decompress(c);
    return false;
  }
  while ((int)c->output_scanline < oh) {
    JSAMPROW rows[kRowBatch];
    int y = (int)c->output_scanline, n = 0;
    for (; n < kRowBatch && y + n < oh; ++n) rows[n] = out + (size_t)(y + n) * ow * 3;
    if (jpeg_read_scanlines(c, rows, (JDIMENSION)n) == 0) {
      std::snprintf(d.err.message, sizeof d.err.message, "JPEG decoder returned no rows");
      jpeg_abort_decompress(c);
      return false;
    }
  }
  // Not jpeg_finish_decompress: the input side still expects the rows of the SOF's frame after
  // this interval (OpenSlide stops here too).
  jpeg_abort_decompress(c);
  return !d.err.warned;
}

bool read_size(Decoder& d, const uint8_t* data, size_t len, int* w, int* h) {
  jpeg_decompress_struct* c = &d.cinfo;
  if (setjmp(d.err.jump)) {
    jpeg_abort_decompress(c);
    return false;
  }
  jpeg_mem_src(c, data, (unsigned long)len);
  jpeg_read_header(c, TRUE);
  *w = (int)c->image_width;
  *h = (int)c->image_height;
  jpeg_abort_decompress(c);
  return true;
}

}  // namespace

void set_fast_jpeg_decoder(bool on) { g_fast.store(on); }
bool fast_jpeg_decoder() { return g_fast.load(std::memory_order_relaxed); }

std::pair<int, int> jpeg_header_size(const uint8_t* data, size_t len) {
  if (len < 4) return {0, 0};
  thread_local Decoder decoder;
  int w = 0, h = 0;
  if (!read_size(decoder, data, len, &w, &h)) return {0, 0};
  return {w, h};
}

void decode_jpeg_rgb_rect(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, JpegColor color,
                          int tile_w, int tile_h, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride,
                          const std::string& what, bool skip_to_restart) {
  if (len < 4) throw InputError(what, "empty or truncated JPEG data");
  // One fast attempt: NDPI's shortened intervals (no tables, the JPEG's colour), else any tile
  // whose colour comes from the JPEG or is YCbCr.
  if (fast_jpeg_decoder() &&
      (skip_to_restart
           ? !tables && color == JpegColor::kAuto &&
                 fast_decode_jpeg_rgb(data, len, tile_w, tile_h, true, x0, y0, x1, y1, out, stride, true)
           : (color == JpegColor::kAuto || color == JpegColor::kYCbCr) &&
                 fast_decode_jpeg_rgb_rect(tables, tables_len, data, len, tile_w, tile_h, x0, y0, x1, y1, out, stride)))
    return;
  thread_local Decoder decoder;
  decoder.err.skip_to_restart = skip_to_restart;
  struct Reset {  // the thread's decoder serves other calls too
    Decoder& d;
    ~Reset() { d.err.skip_to_restart = false; }
  } reset{decoder};
  isolate(decoder, tables, tables_len, data, len);
  thread_local std::vector<uint8_t> row_buf;
  size_t need = ((size_t)(x1 + 64) * 3 + kPage) * kRowBatch + kPage;  // see run_decode_rect
  if (row_buf.size() < need) row_buf.resize(need);
  // First the MCUs the rectangle needs, cut out without decoding (jpeg_crop.h); when that is not
  // possible or libjpeg objects to the result, the original, which reports any corruption.
  thread_local std::vector<uint8_t> cropped;
  JpegCrop at;
  if (crop_jpeg(tables, tables_len, data, len, x0, y0, x1, y1, cropped, &at)) {
    decoder.err.skip_to_restart = skip_to_restart || at.restarts;
    if (run_decode_rect(decoder, tables, tables_len, cropped.data(), at.bytes, color, tile_w, tile_h, x0 - at.x,
                        y0 - at.y, x1 - at.x, y1 - at.y, out, stride, row_buf.data(), row_buf.size()))
      return;
    decoder.err.skip_to_restart = skip_to_restart;
  }
  if (!run_decode_rect(decoder, tables, tables_len, data, len, color, tile_w, tile_h, x0, y0, x1, y1, out, stride,
                       row_buf.data(), row_buf.size()))
    throw InputError(what, std::string("corrupt JPEG data (") + decoder.err.message + ")");
}

void decode_jpeg_rgb_frame(const uint8_t* data, size_t len, int frame_w, int frame_h, int scale_denom, uint8_t* out,
                           const std::string& what) {
  if (len < 4) throw InputError(what, "empty or truncated JPEG data");
  if (scale_denom == 1 && fast_jpeg_decoder() &&
      fast_decode_jpeg_rgb(data, len, frame_w, frame_h, false, 0, 0, frame_w, frame_h, out, (size_t)frame_w * 3))
    return;
  thread_local Decoder decoder;
  isolate(decoder, nullptr, 0, data, len);
  if (!run_decode_frame(decoder, data, len, frame_w, frame_h, scale_denom, out))
    throw InputError(what, std::string("corrupt JPEG data (") + decoder.err.message + ")");
}

std::pair<int, int> decode_jpeg_rgb(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len,
                                    JpegColor color, uint8_t* out, int out_w, int out_h, const std::string& what) {
  if (len < 4) throw InputError(what, "empty or truncated JPEG data");
  int done_w = 0, done_h = 0;
  if ((color == JpegColor::kAuto || color == JpegColor::kYCbCr) && fast_jpeg_decoder() &&
      fast_decode_jpeg_rgb_tile(tables, tables_len, data, len, out_w, out_h, out, (size_t)out_w * 3, &done_w, &done_h))
    return {done_w, done_h};
  thread_local Decoder decoder;
  isolate(decoder, tables, tables_len, data, len);
  thread_local std::vector<uint8_t> row_buf;
  size_t need = (size_t)(out_w + 64) * 3 * 4;
  if (row_buf.size() < need) row_buf.resize(need);
  if (!run_decode(decoder, tables, tables_len, data, len, color, out, out_w, out_h, row_buf.data(), row_buf.size(),
                  &done_w, &done_h))
    throw InputError(what, std::string("corrupt JPEG data (") + decoder.err.message + ")");
  return {done_w, done_h};
}

}  // namespace ds
