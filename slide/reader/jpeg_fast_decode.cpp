// The baseline JPEG fast path (see jpeg_fast_decode.h): the markers parsed and checked as libjpeg
// checks them, the scan's data cut at its restart markers and unstuffed into one buffer, each
// interval's MCUs Huffman-decoded from a 64-bit bit buffer (an 11-bit lookup resolves most codes,
// and for the AC tables most code + value pairs at once), inverse-transformed and converted a row
// of MCUs at a time. With one restart interval per MCU row (NDPI), two rows are decoded side by
// side, block against block: Huffman decoding is one long chain of dependent table lookups per
// interval, and two independent chains keep the core busier than one. Anything irregular makes it
// decline, so libjpeg runs and has the last word.
#include "slide/reader/jpeg_fast_decode.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "slide/reader/jpeg_huffman.h"
#include "slide/reader/jpeg_pixels.h"

namespace ds {

namespace {

constexpr int kFastBits = kHuffLookBits;
// Zero bytes after the unstuffed data: no more than one MCU can read past its interval's end (6
// blocks x 64 codes x 31 bits is under 1.5 KB, a failed block's successors included), which is
// checked after each MCU.
constexpr size_t kPad = 4096;
constexpr int kMaxBlocks = 6;  // Y 2x2, Cb, Cr

// libjpeg's jpeg_natural_order, zigzag index -> row-major position, with its 16 extra entries: a
// run past the block's end writes position 63, as libjpeg does.
constexpr uint8_t kNatural[80] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33,
                                  40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36,
                                  29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
                                  47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63};

// A table with, for AC tables, ac_fast[next kFastBits bits] = (value << 16) | (run << 8) | (code +
// value bits) for codes whose value fits in those bits too, else 0.
struct Huff {
  HuffmanTable t;
  int32_t ac_fast[1 << kFastBits];
};

// The table's lookups for use as a DC or AC table (once per contents).
bool derive(Huff& h, bool dc) {
  if (h.t.derived == (int)dc) return true;  // the same table as in the thread's previous JPEG
  if (!h.t.derive(dc)) return false;
  if (!dc) {
    std::memset(h.ac_fast, 0, sizeof h.ac_fast);
    for (int i = 0; i < (1 << kFastBits); ++i) {
      const int e = h.t.fast[i], l = e >> 8, r = (e >> 4) & 15, s = e & 15;
      if (!e || !s || l + s > kFastBits) continue;
      const uint32_t v = ((uint32_t)i >> (kFastBits - l - s)) & ((1u << s) - 1);
      h.ac_fast[i] = (int32_t)(((uint32_t)huff_extend(v, s) << 16) | (uint32_t)(r << 8) | (uint32_t)(l + s));
    }
  }
  return true;
}

struct Component {
  int id = 0, h = 1, v = 1, tq = 0, td = 0, ta = 0;
};

struct Header {
  int16_t quant[4][64];
  bool quant_defined[4] = {};
  Huff dc[4], ac[4];
  Component comp[3];
  int ncomp = 0, sof_w = 0, sof_h = 0, restart = 0;
  bool sof = false, adobe = false;
  size_t scan = 0;  // first byte of the entropy-coded data

  // For the next JPEG: nothing defined, the Huffman tables' derived lookups kept for reuse.
  void reset() {
    for (int t = 0; t < 4; ++t) quant_defined[t] = dc[t].t.defined = ac[t].t.defined = false;
    ncomp = sof_w = sof_h = restart = 0;
    sof = adobe = false;
    scan = 0;
  }
};

bool parse_dqt(const uint8_t* s, size_t n, Header& hd) {
  for (size_t i = 0; i < n;) {
    const int pq = s[i] >> 4, tq = s[i] & 15;
    ++i;
    if (pq > 1 || tq > 3 || i + (pq ? 128u : 64u) > n) return false;
    for (int k = 0; k < 64; ++k, i += pq ? 2 : 1)  // libjpeg's 16-bit multipliers: int16
      hd.quant[tq][kNatural[k]] = (int16_t)(pq ? be16(s + i) : s[i]);
    hd.quant_defined[tq] = true;
  }
  return true;
}

bool parse_sof(const uint8_t* s, size_t n, Header& hd) {
  if (hd.sof || n < 6 || s[0] != 8) return false;
  hd.sof_h = be16(s + 1), hd.sof_w = be16(s + 3), hd.ncomp = s[5];
  if (hd.ncomp != 3 || n != 6 + 3u * 3 || hd.sof_w == 0 || hd.sof_h == 0) return false;
  for (int c = 0; c < 3; ++c) {
    Component& k = hd.comp[c];
    k.id = s[6 + 3 * c], k.h = s[7 + 3 * c] >> 4, k.v = s[7 + 3 * c] & 15, k.tq = s[8 + 3 * c];
    if (k.tq > 3) return false;
  }
  hd.sof = true;
  return true;
}

bool parse_sos(const uint8_t* s, size_t n, Header& hd) {
  if (!hd.sof || n != 1 + 2u * 3 + 3 || s[0] != 3) return false;
  for (int c = 0; c < 3; ++c) {
    Component& k = hd.comp[c];
    if (s[1 + 2 * c] != k.id) return false;  // the frame's order
    k.td = s[2 + 2 * c] >> 4, k.ta = s[2 + 2 * c] & 15;
    if (k.td > 3 || k.ta > 3) return false;
  }
  return s[7] == 0 && s[8] == 63 && s[9] == 0;  // Ss, Se, Ah/Al: sequential
}

// Markers up to the scan; false for anything outside the fast path. tables_only: a JPEGTables
// stream (TIFF's abbreviated tiles), tables and APPn/COM segments up to its EOI.
bool parse_header(const uint8_t* data, size_t len, Header& hd, bool tables_only = false) {
  if (len < 4 || data[0] != 0xFF || data[1] != 0xD8) return false;
  for (size_t pos = 2;;) {
    if (pos >= len || data[pos] != 0xFF) return false;
    while (pos < len && data[pos] == 0xFF) ++pos;
    if (tables_only && pos < len && data[pos] == 0xD9) return true;
    if (pos + 3 > len) return false;
    const uint8_t m = data[pos++];
    if (tables_only && (m == 0xC0 || m == 0xC1 || m == 0xDD || m == 0xDA)) return false;
    const size_t seg = be16(data + pos);
    if (seg < 2 || pos + seg > len) return false;
    const uint8_t* s = data + pos + 2;
    const size_t n = seg - 2;
    pos += seg;
    bool ok = true;
    if (m == 0xC0 || m == 0xC1) {
      ok = parse_sof(s, n, hd);
    } else if (m == 0xC4) {
      ok = parse_dht(s, n, [&](int tc, int th) -> HuffmanTable& { return tc ? hd.ac[th].t : hd.dc[th].t; });
    } else if (m == 0xDB) {
      ok = parse_dqt(s, n, hd);
    } else if (m == 0xDD) {
      ok = n == 2;
      if (ok) hd.restart = be16(s);
    } else if (m == 0xDA) {
      if (!parse_sos(s, n, hd)) return false;
      hd.scan = pos;
      return true;
    } else if (m == 0xE0) {
      // libjpeg warns (and its callers here refuse the JPEG) about a JFIF version other than 1.x or 2.x.
      ok = !(n >= 14 && std::memcmp(s, "JFIF", 5) == 0 && s[5] != 1 && s[5] != 2);
    } else if (m == 0xEE) {
      hd.adobe = hd.adobe || (n >= 5 && std::memcmp(s, "Adobe", 5) == 0);
    } else if (!((m >= 0xE0 && m <= 0xEF) || m == 0xFE)) {
      return false;  // other frame types, DAC, DNL, standalone markers out of place
    }
    if (!ok) return false;
  }
}

// The scan's data, unstuffed, in `ent`, with where each restart interval starts (and, last,
// where the data ends); false unless the markers are RST0, RST1, ... in turn and then EOI.
bool cut_intervals(const uint8_t* data, size_t len, size_t pos, std::vector<uint8_t>& ent,
                   std::vector<uint32_t>& starts) {
  if (len - pos > (size_t)UINT32_MAX - kPad) return false;
  ent.resize(len - pos + kPad);
  starts.assign(1, 0);
  size_t o = 0;
  int next_rst = 0;
  for (;;) {
    const void* ff = std::memchr(data + pos, 0xFF, len - pos);
    if (!ff) return false;  // no EOI
    const size_t run = (size_t)((const uint8_t*)ff - (data + pos));
    std::memcpy(ent.data() + o, data + pos, run);
    o += run;
    size_t j = pos + run + 1;
    while (j < len && data[j] == 0xFF) ++j;  // fill bytes
    if (j >= len) return false;
    const uint8_t m = data[j];
    pos = j + 1;
    if (m == 0) {
      ent[o++] = 0xFF;
    } else if (m == 0xD0 + next_rst) {
      next_rst = (next_rst + 1) & 7;
      starts.push_back((uint32_t)o);
    } else if (m == 0xD9) {
      break;
    } else {
      return false;
    }
  }
  starts.push_back((uint32_t)o);
  std::memset(ent.data() + o, 0, kPad);
  return true;
}

// One block being decoded: libjpeg's decode_mcu for one block, a step at a time (a step is one
// AC symbol), so that two blocks of independent intervals can be decoded in alternation: their
// bit readers form two dependency chains the CPU runs side by side.
struct BlockDecode {
  BitReader& b;
  const Huff& ac;
  int16_t* blk;
  int k = 1;  // past 1 once an AC coefficient (or a run of 16 zeros) is read
  bool done = false;
  int has_ac() const { return k > 1; }

  // The DC coefficient; false for a code no table has or a prediction out of int range.
  bool dc(const Huff& dc_table, int& pred) {
    if (b.n < 32) b.refill();
    const int s = decode_symbol(b, dc_table.t);
    if (s < 0) return false;
    if (s) {
      const int64_t v = (int64_t)pred + huff_extend(b.take(s), s);
      if (v > INT32_MAX || v < INT32_MIN) return false;  // libjpeg: JERR_BAD_DCT_COEF
      pred = (int)v;
    }
    blk[0] = (int16_t)pred;
    return true;
  }
  // One AC symbol; false for a code no table has.
  inline __attribute__((always_inline)) bool step() {
    if (b.n < 32) b.refill();
    const int32_t f = ac.ac_fast[b.buf >> (64 - kFastBits)];
    if (f) {
      k += (f >> 8) & 15;
      b.skip(f & 255);
      blk[kNatural[k++]] = (int16_t)(f >> 16);
    } else {
      const int sym = decode_symbol(b, ac.t);
      if (sym < 0) return false;
      const int r = sym >> 4, sz = sym & 15;
      if (sz) {
        k += r;
        blk[kNatural[k++]] = (int16_t)huff_extend(b.take(sz), sz);
      } else if (r != 15) {
        done = true;  // end of block
        return true;
      } else {
        k += 16;  // 16 zeros: writes nothing
      }
    }
    done = k >= 64;
    return true;
  }
};

// The tables of one MCU's blocks: block b is of component comp[b].
struct McuTables {
  int nblocks = 0;
  int comp[kMaxBlocks] = {};
  const Huff* dc[kMaxBlocks] = {};
  const Huff* ac[kMaxBlocks] = {};
};

// One MCU's blocks into blk (zeroed), as libjpeg's decode_mcu: res[b] is -1 for a code no table
// has, 0 when block b has only its DC coefficient (its first AC symbol is the end of block), 1
// otherwise. One call per MCU: the bit reader stays in registers from block to block.
__attribute__((noinline)) void decode_mcu(BitReader& br, const McuTables& t, int* pred, int16_t (*blk)[64], int* res) {
  BitReader r = br;  // a local copy: registers, not stores through the reference
  for (int k = 0; k < t.nblocks; ++k) {
    BlockDecode d{r, *t.ac[k], blk[k]};
    bool ok = d.dc(*t.dc[k], pred[t.comp[k]]);
    while (ok && !d.done) ok = d.step();
    res[k] = ok ? d.has_ac() : -1;
  }
  br = r;
}

// One MCU of each of two intervals, block against block in alternation (see BlockDecode); each
// block's result in res as decode_mcu's. One call per MCU pair: the bit readers stay in
// registers from block to block.
__attribute__((noinline)) void decode_two_mcus(BitReader& ba, BitReader& bb, const McuTables& t, int* pred_a,
                                               int* pred_b, int16_t (*blk_a)[64], int16_t (*blk_b)[64], int* res_a,
                                               int* res_b) {
  BitReader ra = ba, rb = bb;  // local copies: registers, not stores through the references
  for (int k = 0; k < t.nblocks; ++k) {
    const int ci = t.comp[k];
    BlockDecode a{ra, *t.ac[k], blk_a[k]}, b{rb, *t.ac[k], blk_b[k]};
    bool ok_a = a.dc(*t.dc[k], pred_a[ci]), ok_b = b.dc(*t.dc[k], pred_b[ci]);
    while (ok_a && ok_b && !a.done && !b.done) {
      ok_a = a.step();
      ok_b = b.step();
    }
    while (ok_a && !a.done) ok_a = a.step();
    while (ok_b && !b.done) ok_b = b.step();
    res_a[k] = ok_a ? a.has_ac() : -1;
    res_b[k] = ok_b ? b.has_ac() : -1;
  }
  ba = ra;
  bb = rb;
}

// The inverse DCT of a block with only a DC coefficient, as JpegPixels::idct computes it (every
// pass leaves a constant: (dc q + 4) >> 3), with the same range answer: the first pass holds
// 4 dc q (within -2^14..2^14-1 from dc q >= -4096), the result must be at most 511 (dc q <= 4091).
bool idct_dc_only(int16_t dc, int16_t q, uint8_t* out, size_t stride) {
  const int32_t d = (int32_t)dc * q;
  if (d < -4096 || d > 4091) return false;
  const int v8 = std::clamp(((d + 4) >> 3) + 128, 0, 255);  // libjpeg's range limit (-512..511 here)
  const uint64_t v = 0x0101010101010101ull * (uint64_t)v8;
  for (int r = 0; r < 8; ++r) std::memcpy(out + (size_t)r * stride, &v, 8);
  return true;
}

struct Scratch {
  Header hd;
  std::vector<uint8_t> ent, planes, up;
  std::vector<uint32_t> starts;
};

// The frame's components, sampling and tables as the fast path handles them (see the header);
// derives the Huffman lookups the scan uses. False: decline.
bool fast_path_applies(Header& hd) {
  const Component* c = hd.comp;
  const int hmax = c[0].h;
  const int vmax = c[0].v;
  if ((hmax != 1 && hmax != 2) || (vmax != 1 && vmax != hmax) || c[1].h != 1 || c[1].v != 1 || c[2].h != 1 ||
      c[2].v != 1)
    return false;
  if (hd.adobe || (c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B')) return false;  // libjpeg: RGB
  for (int k = 0; k < 3; ++k)
    if (!hd.quant_defined[c[k].tq] || !hd.dc[c[k].td].t.defined || !hd.ac[c[k].ta].t.defined) return false;
  for (int t = 0; t < 4; ++t) {
    bool dc_used = false, ac_used = false;
    for (int k = 0; k < 3; ++k) dc_used |= c[k].td == t, ac_used |= c[k].ta == t;
    if ((dc_used && !derive(hd.dc[t], true)) || (ac_used && !derive(hd.ac[t], false))) return false;
  }
  return true;
}

// Decodes one frame's MCUs into RGB rows: the MCU rows the output needs, a row of MCUs at a time
// into one of two plane slots (Y, Cb, Cr), then upsampled and converted into the output.
class FrameDecoder {
 public:
  FrameDecoder(Scratch& sc, int frame_w, int frame_h, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride,
               bool skip_to_restart, bool whole_scan)
      : sc_(sc),
        hd_(sc.hd),
        px_(jpeg_pixels()),
        x0_(x0),
        y0_(y0),
        x1_(x1),
        y1_(y1),
        out_(out),
        stride_(stride),
        skip_(skip_to_restart),
        whole_(whole_scan) {
    hmax_ = hd_.comp[0].h;
    vmax_ = hd_.comp[0].v;
    luma_blocks_ = hmax_ * vmax_;
    nblocks_ = luma_blocks_ + 2;
    tables_.nblocks = nblocks_;
    for (int b = 0; b < nblocks_; ++b) {
      const int ci = comp_of(b);
      tables_.comp[b] = ci;
      tables_.dc[b] = &hd_.dc[hd_.comp[ci].td];
      tables_.ac[b] = &hd_.ac[hd_.comp[ci].ta];
    }
    const int mcu_w = 8 * hmax_;
    mcus_x_ = (frame_w + mcu_w - 1) / mcu_w;
    const int mcu_h = 8 * vmax_;
    mcus_y_ = (frame_h + mcu_h - 1) / mcu_h;
    chroma_w_ = (frame_w + hmax_ - 1) / hmax_;  // libjpeg's downsampled_width and _height
    chroma_h_ = (frame_h + vmax_ - 1) / vmax_;
    ystride_ = (size_t)mcus_x_ * mcu_w + 64;
    cstride_ = (size_t)mcus_x_ * 8 + 64;
    slot_bytes_ = ystride_ * mcu_h + 2 * cstride_ * 8;
    sc.planes.resize((vmax_ == 2 ? 3 : 2) * slot_bytes_);
    sc.up.resize(2 * (size_t)(x1 - x0) + 64);
    // MCU columns whose pixels the output needs (upsampling looks one chroma sample aside).
    mx_lo_ = std::max(0, x0 / hmax_ - 1) / 8;
    mx_hi_ = std::min(mcus_x_ * 8 - 1, (x1 - 1) / hmax_ + 1) / 8;
    first_row_ = y0 / mcu_h;
    last_row_ = std::min(mcus_y_ - 1, (y1 - 1) / mcu_h);
    // h2v2: an output row at the top of an MCU row reads the chroma row above it, one at the
    // bottom the row below (clamped to the image's first and last): decode those MCU rows too.
    decode_first_ = first_row_ - (vmax_ == 2 && first_row_ > 0 && y0 == first_row_ * mcu_h);
    decode_last_ = last_row_ + (vmax_ == 2 && y1 == (last_row_ + 1) * mcu_h && (last_row_ + 1) * 8 < chroma_h_);
  }

  bool run() {
    if (hmax_ == 2 && chroma_w_ <= 2) return false;  // libjpeg replicates instead of interpolating
    if (hd_.restart == 0 && segments() != 1) return false;
    return hd_.restart == mcus_x_ && vmax_ == 1 && !whole_ ? decode_row_pairs() : decode_in_order();
  }

 private:
  size_t segments() const { return sc_.starts.size() - 1; }
  uint64_t seg_bits(size_t seg) const { return (uint64_t)(sc_.starts[seg + 1] - sc_.starts[seg]) * 8; }
  const uint8_t* seg_start(size_t seg) const { return sc_.ent.data() + sc_.starts[seg]; }
  int comp_of(int b) const { return b < luma_blocks_ ? 0 : b - luma_blocks_ + 1; }
  // The plane slot of MCU row `row`: h2v2 keeps three rows (the one emitted and its neighbours).
  int slot_of(int row) const { return vmax_ == 2 ? row % 3 : 0; }

  // One interval per MCU row (NDPI): rows are independent; two are decoded side by side, block
  // against block (decode_two_mcus).
  bool decode_row_pairs() {
    if ((size_t)last_row_ >= segments()) return false;
    for (int row = first_row_; row <= last_row_; row += 2) {
      const int n = row + 1 <= last_row_ ? 2 : 1;
      BitReader br[2];
      const uint8_t* base[2];
      int pred[2][3] = {};
      for (int i = 0; i < n; ++i) br[i].reset(base[i] = seg_start((size_t)(row + i)));
      for (int col = 0; col < mcus_x_; ++col) {
        for (int i = 0; i < n; ++i) std::memset(blocks_[i], 0, sizeof blocks_[i][0] * (size_t)nblocks_);
        if (n == 2) {
          decode_two_mcus(br[0], br[1], tables_, pred[0], pred[1], blocks_[0], blocks_[1], has_ac_[0], has_ac_[1]);
        } else {
          decode_mcu(br[0], tables_, pred[0], blocks_[0], has_ac_[0]);
        }
        for (int i = 0; i < n; ++i) {
          for (int b = 0; b < nblocks_; ++b)
            if (has_ac_[i][b] < 0) return false;
          if (br[i].bits_used(base[i]) > seg_bits((size_t)(row + i))) return false;  // ran out
          if (!idct_mcu(i, i, col)) return false;
        }
      }
      // An interval another needed row follows must end where its MCUs do (libjpeg reads the
      // restart marker next and objects to extraneous data).
      for (int i = 0; i < n; ++i)
        if (!skip_ && row + i < last_row_ && (br[i].bits_used(base[i]) + 7) / 8 * 8 != seg_bits((size_t)(row + i)))
          return false;
      for (int i = 0; i < n; ++i) emit_row(i, row + i);
    }
    return true;
  }

  // Any restart interval (or none): MCU after MCU, rows above the output skipped a whole restart
  // interval at a time. With whole_, the scan's data must end with the frame's last MCU, as
  // libjpeg's jpeg_finish_decompress requires.
  bool decode_in_order() {
    const int64_t total = (int64_t)mcus_x_ * mcus_y_, end = (int64_t)(decode_last_ + 1) * mcus_x_;
    const int64_t ri = hd_.restart ? hd_.restart : total;
    size_t seg = (size_t)(((int64_t)decode_first_ * mcus_x_) / ri);
    if (seg >= segments()) return false;
    int64_t mcu = (int64_t)seg * ri, in_seg = 0;
    BitReader br;
    const uint8_t* base = seg_start(seg);
    br.reset(base);
    int pred[3] = {0, 0, 0};
    for (; mcu < end; ++mcu, ++in_seg) {
      if (in_seg == ri) {  // the next restart interval; extraneous data before its marker: decline
        if (!skip_ && (br.bits_used(base) + 7) / 8 * 8 != seg_bits(seg)) return false;
        if (++seg >= segments()) return false;
        br.reset(base = seg_start(seg));
        pred[0] = pred[1] = pred[2] = 0;
        in_seg = 0;
      }
      std::memset(blocks_[0], 0, sizeof blocks_[0][0] * (size_t)nblocks_);
      decode_mcu(br, tables_, pred, blocks_[0], has_ac_[0]);
      for (int b = 0; b < nblocks_; ++b)
        if (has_ac_[0][b] < 0) return false;
      if (br.bits_used(base) > seg_bits(seg)) return false;  // ran out
      const int row = (int)(mcu / mcus_x_), col = (int)(mcu % mcus_x_);
      if (row < decode_first_) continue;
      if (!idct_mcu(0, slot_of(row), col)) return false;
      if (col == mcus_x_ - 1) row_done(row);
    }
    if (whole_ && (end != total || seg + 1 != segments() || (br.bits_used(base) + 7) / 8 * 8 != seg_bits(seg)))
      return false;
    return true;
  }

  // MCU row `row` is decoded: emit what has its neighbours now (h2v2: the row before it, and
  // this one when no row below is needed).
  void row_done(int row) {
    if (vmax_ == 1) {
      emit_row(0, row);
      return;
    }
    if (row > first_row_ && row - 1 <= last_row_) emit_row_h2v2(row - 1);
    if (row == decode_last_ && row <= last_row_) emit_row_h2v2(row);
  }

  // Block set `set`'s blocks into plane slot `slot` at MCU column col (only those the output
  // needs); false outside the range where libjpeg's builds agree (corrupt data: libjpeg decides).
  bool idct_mcu(int set, int slot, int col) {
    if (col < mx_lo_ || col > mx_hi_) return true;
    uint8_t* const yplane = sc_.planes.data() + (size_t)slot * slot_bytes_;
    int16_t(*blocks)[64] = blocks_[set];
    const int* has_ac = has_ac_[set];
    uint8_t* at[kMaxBlocks];
    size_t st[kMaxBlocks];
    const int16_t* q[kMaxBlocks];
    for (int b = 0; b < nblocks_; ++b) {
      const int ci = comp_of(b);
      at[b] = ci == 0 ? yplane + (size_t)(b / hmax_) * 8 * ystride_ + (size_t)(col * hmax_ + b % hmax_) * 8
                      : chroma_plane(slot, ci - 1) + (size_t)col * 8;
      st[b] = ci == 0 ? ystride_ : cstride_;
      q[b] = hd_.quant[hd_.comp[ci].tq];
    }
    // Blocks with AC coefficients two at a time; DC-only blocks alone.
    bool in_range = true;
    int pending = -1;
    for (int b = 0; b < nblocks_; ++b) {
      if (!has_ac[b]) {
        in_range &= idct_dc_only(blocks[b][0], q[b][0], at[b], st[b]);
      } else if (pending < 0) {
        pending = b;
      } else {
        const int a = pending;
        in_range &= px_.idct2(blocks[a], q[a], at[a], st[a], blocks[b], q[b], at[b], st[b]);
        pending = -1;
      }
    }
    if (pending >= 0) in_range &= px_.idct(blocks[pending], q[pending], at[pending], st[pending]);
    return in_range;
  }

  uint8_t* chroma_plane(int slot, int c) const {
    return sc_.planes.data() + (size_t)slot * slot_bytes_ + ystride_ * 8 * (size_t)vmax_ + (size_t)c * cstride_ * 8;
  }

  // MCU row `row` of an h2v2 frame, rows [y0, y1) of it, to the output: each output row from its
  // chroma row and the one above or below (clamped to the image's, see upsample_h2v2).
  void emit_row_h2v2(int row) {
    const uint8_t* const yplane = sc_.planes.data() + (size_t)slot_of(row) * slot_bytes_;
    uint8_t* const cbu = sc_.up.data();
    uint8_t* const cru = cbu + (x1_ - x0_) + 32;
    auto chroma_row = [&](int c, int g) { return chroma_plane(slot_of(g / 8), c) + (size_t)(g % 8) * cstride_; };
    for (int y = std::max(row * 16, y0_); y < std::min(row * 16 + 16, y1_); ++y) {
      const int r = y - row * 16, g = row * 8 + r / 2;
      const int far = std::clamp(r % 2 ? g + 1 : g - 1, 0, chroma_h_ - 1);
      px_.upsample_h2v2(chroma_row(0, g), chroma_row(0, far), chroma_w_, x0_, x1_, cbu);
      px_.upsample_h2v2(chroma_row(1, g), chroma_row(1, far), chroma_w_, x0_, x1_, cru);
      px_.ycc_rgb(yplane + (size_t)r * ystride_ + x0_, cbu, cru, out_ + (size_t)(y - y0_) * stride_, x1_ - x0_);
    }
  }

  // Slot `slot`'s MCU row (MCU row `row` of the frame, one block high), rows [y0, y1) of it, to
  // the output.
  void emit_row(int slot, int row) {
    const uint8_t* const yplane = sc_.planes.data() + (size_t)slot * slot_bytes_;
    const uint8_t* const cbplane = chroma_plane(slot, 0);
    const uint8_t* const crplane = chroma_plane(slot, 1);
    uint8_t* const cbu = sc_.up.data();
    uint8_t* const cru = cbu + (x1_ - x0_) + 32;
    for (int y = std::max(row * 8, y0_); y < std::min(row * 8 + 8, y1_); ++y) {
      const size_t r = (size_t)(y - row * 8);
      uint8_t* dst = out_ + (size_t)(y - y0_) * stride_;
      if (hmax_ == 2) {
        px_.upsample_h2v1(cbplane + r * cstride_, chroma_w_, x0_, x1_, cbu);
        px_.upsample_h2v1(crplane + r * cstride_, chroma_w_, x0_, x1_, cru);
        px_.ycc_rgb(yplane + r * ystride_ + x0_, cbu, cru, dst, x1_ - x0_);
      } else {
        px_.ycc_rgb(yplane + r * ystride_ + x0_, cbplane + r * cstride_ + x0_, crplane + r * cstride_ + x0_, dst,
                    x1_ - x0_);
      }
    }
  }

  Scratch& sc_;
  const Header& hd_;
  const JpegPixels& px_;
  const int x0_, y0_, x1_, y1_;
  uint8_t* const out_;
  const size_t stride_;
  const bool skip_, whole_;
  McuTables tables_;
  int hmax_, vmax_, luma_blocks_, nblocks_, mcus_x_, mcus_y_, chroma_w_, chroma_h_, mx_lo_, mx_hi_;
  int first_row_, last_row_, decode_first_, decode_last_;  // MCU rows output, and decoded
  size_t ystride_, cstride_, slot_bytes_;
  alignas(64) int16_t blocks_[2][kMaxBlocks][64];
  int has_ac_[2][kMaxBlocks];
};

}  // namespace

namespace {

// The fast path's entry: tables (may be null), then the JPEG; x1 or y1 0: to the frame's edge
// (with frame_from_sof); the frame's size in *got_w, *got_h.
bool decode(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, int frame_w, int frame_h,
            bool frame_from_sof, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride, bool skip_to_restart,
            bool whole_scan, int* got_w, int* got_h) {
  thread_local Scratch sc;
  Header& hd = sc.hd;
  hd.reset();
  if (tables && tables_len > 0 && !parse_header(tables, tables_len, hd, true)) return false;
  if (!parse_header(data, len, hd)) return false;
  if (frame_from_sof) {
    if (hd.sof_w > frame_w || hd.sof_h > frame_h) return false;  // libjpeg's caller refuses it
    frame_w = hd.sof_w, frame_h = hd.sof_h;
  } else if (hd.sof_w != frame_w || hd.sof_h != frame_h) {
    // libjpeg lays out MCUs and chroma widths from the SOF even when its caller then sets
    // another frame size: only the plain case is the fast path's.
    return false;
  }
  if (x1 <= 0) x1 = frame_w;
  if (y1 <= 0) y1 = frame_h;
  if (frame_w <= 0 || frame_h <= 0 || frame_w > 65535 || frame_h > 65535 || x0 < 0 || y0 < 0 || x1 > frame_w ||
      y1 > frame_h || x0 >= x1 || y0 >= y1)
    return false;
  if (!fast_path_applies(hd) || !cut_intervals(data, len, hd.scan, sc.ent, sc.starts)) return false;
  FrameDecoder dec(sc, frame_w, frame_h, x0, y0, x1, y1, out, stride, skip_to_restart, whole_scan);
  if (!dec.run()) return false;
  *got_w = frame_w, *got_h = frame_h;
  return true;
}

}  // namespace

bool fast_decode_jpeg_rgb(const uint8_t* data, size_t len, int frame_w, int frame_h, bool frame_from_sof, int x0,
                          int y0, int x1, int y1, uint8_t* out, size_t stride, bool skip_to_restart) {
  int w, h;
  return decode(nullptr, 0, data, len, frame_w, frame_h, frame_from_sof, x0, y0, x1, y1, out, stride, skip_to_restart,
                false, &w, &h);
}

bool fast_decode_jpeg_rgb_rect(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, int max_w,
                               int max_h, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride) {
  int w, h;
  return decode(tables, tables_len, data, len, max_w, max_h, true, x0, y0, x1, y1, out, stride, false, false, &w, &h);
}

bool fast_decode_jpeg_rgb_tile(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, int max_w,
                               int max_h, uint8_t* out, size_t stride, int* w, int* h) {
  return decode(tables, tables_len, data, len, max_w, max_h, true, 0, 0, 0, 0, out, stride, false, true, w, h);
}

}  // namespace ds
