// Baseline JPEG cropping by skip-decoding and bit splicing (see jpeg_crop.h). The skip decoder
// mirrors libjpeg's block loop exactly (k += run + 1 per coefficient, ZRL adds 16, any other
// zero-size symbol ends the block) so it consumes the same bits libjpeg would, corrupt data
// included; anything it cannot follow makes crop_jpeg return false.
#include "slide/reader/jpeg_crop.h"

#include <algorithm>
#include <cstring>

#include "slide/reader/jpeg_huffman.h"

namespace ds {

namespace {

constexpr int kLook = kHuffLookBits;
constexpr int kMulti = 14;       // bits looked up at once to skip several AC symbols
constexpr int kMaxDc = 1 << 16;  // |DC| of an 8-bit JPEG block stays within 2^11
constexpr size_t kPad = 512;     // zero bytes after the entropy data (a block reads < 256 bytes)

// One Huffman table with what the skip decoder and the DC encoder need besides its codes.
struct Huffman {
  HuffmanTable t;
  // AC only: skip[next kLook bits] = (bits consumed incl. the value << 8) | coefficient-index
  // advance, 0 when the code is longer; multi[next kMulti bits] skips every whole symbol in those
  // bits at once (see build_multi), 0 when not even the first fits.
  uint16_t skip[1 << kLook];
  std::vector<uint32_t> multi;
  uint16_t enc_code[16];  // DC only: category -> code (enc_len 0 = the table has no such symbol)
  uint8_t enc_len[16];

  // Derives the table as DC or AC and builds the lookups above (once per contents).
  bool build(bool dc) {
    if (t.derived == (int)dc) return true;
    if (!t.derive(dc)) return false;
    if (dc) {
      std::memset(enc_len, 0, sizeof enc_len);
      for (int i = t.nsymbols - 1; i >= 0; --i) {  // the first code of a repeated symbol wins
        enc_code[t.symbols[i]] = t.code[i];
        enc_len[t.symbols[i]] = t.length[i];
      }
      return true;
    }
    for (int i = 0; i < (1 << kLook); ++i) {
      const int e = t.fast[i], run = (e >> 4) & 15, size = e & 15;
      skip[i] = e ? (uint16_t)(((e >> 8) + size) << 8 | (size ? run + 1 : (run == 15 ? 16 : 64))) : 0;
    }
    build_multi();
    return true;
  }

  // For each kMulti-bit string: the symbols lying wholly inside it, up to an end-of-block. Packs
  // bits of all (4) | bits of the first (4) | advance of all (8) | advance of all but the last (8)
  // | advance of the first (8); advances are capped at 255 (a block ends at 64 anyway).
  void build_multi() {
    multi.resize(1u << kMulti);
    for (uint32_t v = 0; v < (1u << kMulti); ++v) {
      int pos = 0, n = 0, adv_all = 0, adv_prefix = 0, first_bits = 0, first_adv = 0;
      for (;;) {
        uint64_t window = (uint64_t)v << (64 - kMulti) << pos;
        uint16_t e = skip[window >> (64 - kLook)];
        int bits = e >> 8, adv = e & 0xFF;
        if (!e || pos + bits > kMulti) break;
        if (n == 0) {
          first_bits = bits;
          first_adv = adv;
        }
        adv_prefix = adv_all;
        adv_all = std::min(255, adv_all + adv);
        pos += bits;
        ++n;
        if (adv == 64 || adv_all >= 64) break;
      }
      multi[v] = n == 0 ? 0
                        : (uint32_t)pos << 28 | (uint32_t)first_bits << 24 | (uint32_t)adv_all << 16 |
                              (uint32_t)adv_prefix << 8 | (uint32_t)first_adv;
    }
  }
};

struct ScanComp {
  int id = 0, h = 1, v = 1, blocks = 1;
  const Huffman* dc = nullptr;
  const Huffman* ac = nullptr;
};

struct Header {
  Huffman tables[2][4];  // [0 = DC, 1 = AC][id]
  int width = 0, height = 0, ncomp = 0;
  int sof_comp_id[4] = {}, sof_h[4] = {}, sof_v[4] = {};
  size_t sof_at = 0;         // offset of the frame height in the tile data
  size_t entropy_begin = 0;  // first byte after the SOS segment
  int restart = 0;           // restart interval in MCUs (0: none)
  size_t dri_at = 0;         // offset of the restart interval's value in the tile data
  ScanComp scan[4];
  int nscan = 0;
};

// Walks the marker segments of `p`. The tables stream ends at EOI; the tile stream at its SOS.
bool parse_segments(const uint8_t* p, size_t n, Header& s, bool tables_only) {
  if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return false;
  size_t i = 2;
  for (;;) {
    if (i >= n) return tables_only;
    if (p[i] != 0xFF) return false;
    while (i < n && p[i] == 0xFF) ++i;
    if (i >= n) return false;
    int m = p[i++];
    if (m == 0xD9) return tables_only;
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
    if (i + 2 > n) return false;
    size_t len = (size_t)be16(p + i);
    if (len < 2 || i + len > n) return false;
    const uint8_t* q = p + i + 2;
    size_t ql = len - 2;
    if (m == 0xC4) {
      if (!parse_dht(q, ql, [&](int tc, int th) -> HuffmanTable& { return s.tables[tc][th].t; })) return false;
    } else if (m == 0xC0 || m == 0xC1) {
      if (tables_only || ql < 6 || q[0] != 8) return false;
      s.height = be16(q + 1);
      s.width = be16(q + 3);
      s.ncomp = q[5];
      if (s.width == 0 || s.height == 0 || s.ncomp < 1 || s.ncomp > 4 || ql < 6 + 3 * (size_t)s.ncomp) return false;
      for (int c = 0; c < s.ncomp; ++c) {
        s.sof_comp_id[c] = q[6 + 3 * c];
        s.sof_h[c] = q[7 + 3 * c] >> 4;
        s.sof_v[c] = q[7 + 3 * c] & 15;
        if (s.sof_h[c] < 1 || s.sof_h[c] > 4 || s.sof_v[c] < 1 || s.sof_v[c] > 4) return false;
        for (int e = 0; e < c; ++e)
          if (s.sof_comp_id[e] == s.sof_comp_id[c]) return false;  // libjpeg matches them its own way
      }
      s.sof_at = i + 3;
    } else if ((m >= 0xC2 && m <= 0xCF)) {
      return false;  // progressive, lossless, hierarchical or arithmetic coding
    } else if (m == 0xDD) {
      if (ql < 2 || (tables_only && be16(q) != 0)) return false;
      s.restart = be16(q);
      s.dri_at = i + 2;
    } else if (m == 0xDA) {
      if (tables_only || s.ncomp == 0 || ql < 1) return false;
      int ns = q[0];
      if (ns != s.ncomp || ql < 4 + 2 * (size_t)ns) return false;  // one interleaved scan only
      for (int k = 0; k < ns; ++k) {
        int id = q[1 + 2 * k], td = q[2 + 2 * k] >> 4, ta = q[2 + 2 * k] & 15;
        int c = 0;
        while (c < s.ncomp && s.sof_comp_id[c] != id) ++c;
        if (c == s.ncomp || td > 3 || ta > 3) return false;
        ScanComp& sc = s.scan[k];
        sc.id = id;
        sc.h = ns == 1 ? 1 : s.sof_h[c];
        sc.v = ns == 1 ? 1 : s.sof_v[c];
        sc.blocks = sc.h * sc.v;
        Huffman& dc = s.tables[0][td];
        Huffman& ac = s.tables[1][ta];
        if (!dc.t.defined || !ac.t.defined || !dc.build(true) || !ac.build(false)) return false;
        sc.dc = &dc;
        sc.ac = &ac;
      }
      const uint8_t* t = q + 1 + 2 * ns;
      if (t[0] != 0 || t[1] != 63 || t[2] != 0) return false;  // sequential, full spectrum
      s.nscan = ns;
      s.entropy_begin = i + len;
      return true;
    }
    i += len;
  }
}

// Copies the entropy-coded data up to its first marker with the stuffed zero bytes removed, to
// `o` (room for n bytes); returns the bytes written.
size_t unstuff_to(const uint8_t* p, size_t n, uint8_t* const out) {
  uint8_t* o = out;
  size_t i = 0;
  while (i < n) {
    const void* f = std::memchr(p + i, 0xFF, n - i);
    size_t j = f ? (size_t)((const uint8_t*)f - p) : n;
    std::memcpy(o, p + i, j - i);
    o += j - i;
    i = j;
    if (!f || i + 1 >= n || p[i + 1] != 0x00) break;  // a marker ends the data
    *o++ = 0xFF;
    i += 2;
  }
  return (size_t)(o - out);
}

// unstuff_to into `out` (grown only: not zero-filled per call), followed by kPad zero bytes.
size_t unstuff(const uint8_t* p, size_t n, std::vector<uint8_t>& out) {
  if (out.size() < n + kPad) out.resize(n + kPad);
  size_t bytes = unstuff_to(p, n, out.data());
  std::memset(out.data() + bytes, 0, kPad);
  return bytes;
}

// Writes bits MSB first, stuffing a zero byte after every 0xFF.
struct BitWriter {
  uint8_t* o;
  uint64_t acc = 0;
  int n = 0;
  void byte(uint8_t b) {
    *o++ = b;
    if (b == 0xFF) *o++ = 0;
  }
  void put(uint32_t bits, int len) {  // len <= 32
    acc = (acc << len) | bits;
    n += len;
    while (n >= 8) {
      n -= 8;
      byte((uint8_t)(acc >> n));
    }
  }
  void copy(const uint8_t* src, uint64_t from, uint64_t to) {
    while (to - from >= 32) {  // 32 bits at a time; bytes stored at once unless one is 0xFF
      uint32_t v = (uint32_t)((load_be64(src + (from >> 3)) << (from & 7)) >> 32);
      acc = (acc << 32) | v;
      uint32_t bytes = (uint32_t)(acc >> n), inv = ~bytes;
      if (((inv - 0x01010101u) & ~inv & 0x80808080u) == 0) {
        uint32_t be = __builtin_bswap32(bytes);
        std::memcpy(o, &be, 4);
        o += 4;
      } else {
        for (int sh = 24; sh >= 0; sh -= 8) byte((uint8_t)(bytes >> sh));
      }
      from += 32;
    }
    while (from < to) {
      int k = (int)std::min<uint64_t>(32, to - from);
      uint32_t v = (uint32_t)((load_be64(src + (from >> 3)) << (from & 7)) >> (64 - k));
      put(v, k);
      from += (uint64_t)k;
    }
  }
  void finish() {
    if (n > 0) put((1u << (8 - n)) - 1, 8 - n);  // pad with one bits, as encoders do
  }
};

// Where one needed MCU row starts and ends, and its first blocks' DC codes.
struct RowCut {
  uint64_t start = 0, end = 0;
  uint64_t dc_from[4] = {}, dc_to[4] = {};
  int dc_value[4] = {};  // DC of each component's first block
  int last_dc[4] = {};   // DC predictors after the row's last needed MCU
};

// The MCUs a crop keeps (rows rs..re-1, columns cs..ce-1) and the image's MCU grid.
struct Cut {
  int mcu_w, mcu_h, mcus_x, mcus_y, rs, re, cs, ce;
};

// Walks one MCU: each block's DC code (pred[] updated) and AC codes, consuming the bits libjpeg
// would. With `first`, records where each component's first DC code lies and its value (the MCU a
// row's cut starts at). False on a code no table has, an absurd DC, or a read past `limit` bits.
inline bool walk_mcu(const Header& s, BitReader& br, const uint8_t* base, int pred[4], RowCut* first, uint64_t limit) {
  for (int ci = 0; ci < s.nscan; ++ci) {
    const ScanComp& sc = s.scan[ci];
    for (int b = 0; b < sc.blocks; ++b) {
      br.refill();
      if (first && b == 0) first->dc_from[ci] = br.bits_used(base);
      const int size = decode_symbol(br, sc.dc->t);
      if (size < 0) return false;
      if (size) {
        pred[ci] += huff_extend(br.take(size), size);
        if (pred[ci] > kMaxDc || pred[ci] < -kMaxDc) return false;  // no real image; no overflow
      }
      if (first && b == 0) {
        first->dc_to[ci] = br.bits_used(base);
        first->dc_value[ci] = pred[ci];
      }
      const Huffman& ac = *sc.ac;
      for (int k = 1; k < 64;) {
        if (br.n < 32) br.refill();  // not every symbol: keeps the load off the critical path
        uint32_t m = ac.multi[br.buf >> (64 - kMulti)];
        if (m) {
          if (k + (int)((m >> 8) & 0xFF) < 64) {  // every symbol but the last leaves the block open
            br.skip((int)(m >> 28));
            k += (int)((m >> 16) & 0xFF);
          } else {
            br.skip((int)((m >> 24) & 15));
            k += (int)(m & 0xFF);
          }
          continue;
        }
        uint16_t a = ac.skip[br.buf >> (64 - kLook)];
        if (a) {
          br.skip(a >> 8);
          k += a & 0xFF;
        } else {
          const int sym = decode_symbol(br, ac.t);  // a code longer than kLook bits
          if (sym < 0) return false;
          const int run = sym >> 4, sz = sym & 15;
          br.skip(sz);
          k += sz ? run + 1 : (run == 15 ? 16 : 64);
        }
      }
      if (br.bits_used(base) > limit) return false;  // ran past the data: truncated or corrupt
    }
  }
  return true;
}

// Writes one row's kept bits: its first blocks' DC differences re-encoded against `pred` (the
// predictors the decoder holds when the row starts), everything else copied. False when a DC
// table has no code for the new difference.
bool splice_row(const Header& s, const uint8_t* bits, const RowCut& cut, const int pred[4], BitWriter& w) {
  uint64_t from = cut.start;
  for (int ci = 0; ci < s.nscan; ++ci) {
    w.copy(bits, from, cut.dc_from[ci]);
    int diff = cut.dc_value[ci] - pred[ci];
    int mag = diff < 0 ? -diff : diff;
    int size = 0;
    while (mag >> size) ++size;
    const Huffman& dc = *s.scan[ci].dc;
    if (size > 15 || dc.enc_len[size] == 0) return false;  // no code for it in this table
    w.put(dc.enc_code[size], dc.enc_len[size]);
    if (size) w.put((uint32_t)(diff < 0 ? diff - 1 : diff) & ((1u << size) - 1), size);
    from = cut.dc_to[ci];
  }
  w.copy(bits, from, cut.end);
  return true;
}

// The cropped stream's header (the original's up to its scan, resized to the kept MCUs); grows
// `out` to `bound` bytes and returns a writer for the entropy data after it.
BitWriter begin_output(const uint8_t* data, const Header& s, const Cut& c, size_t bound, std::vector<uint8_t>& out) {
  const int w2 = std::min(s.width, c.ce * c.mcu_w) - c.cs * c.mcu_w;
  const int h2 = std::min(s.height, c.re * c.mcu_h) - c.rs * c.mcu_h;
  if (out.size() < bound) out.resize(bound);
  std::memcpy(out.data(), data, s.entropy_begin);
  out[s.sof_at] = (uint8_t)(h2 >> 8);
  out[s.sof_at + 1] = (uint8_t)h2;
  out[s.sof_at + 2] = (uint8_t)(w2 >> 8);
  out[s.sof_at + 3] = (uint8_t)w2;
  return BitWriter{out.data() + s.entropy_begin};
}

// Byte ranges of MCU rows 0..rows-1 of a JPEG whose restart intervals are one MCU row each:
// begin[r] is the row's first byte, end[r] the marker after it (RSTn in turn; EOI or any other
// marker only after the last row of the image). False when the data holds fewer rows.
bool find_rows(const uint8_t* data, size_t len, size_t at, int rows, int mcus_y, std::vector<size_t>& begin,
               std::vector<size_t>& end) {
  begin.resize((size_t)rows);
  end.resize((size_t)rows);
  for (int r = 0; r < rows; ++r) {
    begin[(size_t)r] = at;
    for (;;) {
      const void* f = at < len ? std::memchr(data + at, 0xFF, len - at) : nullptr;
      if (!f) return false;
      const size_t ff = (size_t)((const uint8_t*)f - data);
      size_t k = ff + 1;
      while (k < len && data[k] == 0xFF) ++k;  // fill bytes
      if (k >= len) return false;
      at = k + 1;
      if (data[k] == 0x00) continue;  // a stuffed 0xFF
      end[(size_t)r] = ff;
      if (data[k] == 0xD0 + r % 8) break;
      if (r == mcus_y - 1) break;  // EOI (or any marker) after the last row
      return false;
    }
  }
  return true;
}

// One restart interval per MCU row (NDPI's stacked intervals): each needed row is found by its
// markers and walked only up to its first kept MCU; the crop keeps the restart markers (one per
// row, so DC predictions restart at 0) and each row's data runs on to the end of its interval.
// libjpeg decodes the kept MCUs of a row and skips the rest to the next marker.
bool crop_rows_with_restarts(const uint8_t* data, size_t len, const Header& s, const Cut& c, std::vector<uint8_t>& out,
                             JpegCrop* at) {
  // Walking pays from a couple of MCUs on: below that, copying the row costs what it saves.
  if (s.restart != c.mcus_x || c.cs < 2) return false;
  thread_local std::vector<size_t> begin, end;
  if (!find_rows(data, len, s.entropy_begin, c.re, c.mcus_y, begin, end)) return false;
  size_t stuffed = 0;
  for (int r = c.rs; r < c.re; ++r) stuffed += end[(size_t)r] - begin[(size_t)r];
  thread_local std::vector<uint8_t> bits;
  if (bits.size() < stuffed + kPad) bits.resize(stuffed + kPad);
  thread_local std::vector<RowCut> rows;
  rows.assign((size_t)(c.re - c.rs), RowCut{});
  size_t filled = 0;
  for (int r = c.rs; r < c.re; ++r) {
    RowCut& cut = rows[(size_t)(r - c.rs)];
    const size_t first_byte = filled;
    filled += unstuff_to(data + begin[(size_t)r], end[(size_t)r] - begin[(size_t)r], bits.data() + filled);
    cut.end = (uint64_t)filled * 8;
    std::memset(bits.data() + filled, 0, kPad);  // the walk may look past this row's end
    BitReader br;
    br.reset(bits.data() + first_byte);
    int pred[4] = {0, 0, 0, 0};
    for (int col = 0; col <= c.cs; ++col) {
      if (col == c.cs) cut.start = br.bits_used(bits.data());
      if (!walk_mcu(s, br, bits.data(), pred, col == c.cs ? &cut : nullptr, cut.end)) return false;
    }
  }
  const size_t bound = s.entropy_begin + filled * 2 + rows.size() * (4 * 8 + 4) + 64;
  BitWriter w = begin_output(data, s, c, bound, out);
  const int kept = c.ce - c.cs;
  out[s.dri_at] = (uint8_t)(kept >> 8);
  out[s.dri_at + 1] = (uint8_t)kept;
  const int zero[4] = {0, 0, 0, 0};
  for (size_t k = 0; k < rows.size(); ++k) {
    if (!splice_row(s, bits.data(), rows[k], zero, w)) return false;
    w.finish();
    *w.o++ = 0xFF;
    *w.o++ = k + 1 < rows.size() ? (uint8_t)(0xD0 + k % 8) : 0xD9;
  }
  *at = JpegCrop{c.cs * c.mcu_w, c.rs * c.mcu_h, (size_t)(w.o - out.data()), true};
  return true;
}

// No restart markers: every MCU up to the last kept one is walked, and the kept rows are spliced
// into one scan, each row's first DC differences re-encoded against the row before it.
bool crop_plain(const uint8_t* data, size_t len, const Header& s, Cut c, std::vector<uint8_t>& out, JpegCrop* at) {
  // Cutting columns means walking every MCU up to the last one needed (to find where each row's
  // needed part starts and ends), at about half libjpeg's cost per MCU; it pays when libjpeg is
  // then spared more than half of each row. Otherwise only the rows above are cut: the walk stops
  // at the first needed MCU and everything after it is copied.
  const bool by_rows = (c.ce - c.cs) * 20 > c.mcus_x * 9;
  if (by_rows) {
    if (c.rs == 0) return false;  // nothing above to skip; libjpeg stops after the last row anyway
    c.cs = 0;
    c.ce = c.mcus_x;
  }
  const int walk_rows = by_rows ? c.rs + 1 : c.re, walk_last_cols = by_rows ? 1 : c.ce;

  thread_local std::vector<uint8_t> bits;
  size_t nbytes = unstuff(data + s.entropy_begin, len - s.entropy_begin, bits);
  const uint64_t total_bits = (uint64_t)nbytes * 8;

  thread_local std::vector<RowCut> rows;
  rows.assign((size_t)(walk_rows - c.rs), RowCut{});
  BitReader br;
  br.reset(bits.data());
  int pred[4] = {0, 0, 0, 0};
  for (int r = 0; r < walk_rows; ++r) {
    RowCut* cut = r >= c.rs ? &rows[(size_t)(r - c.rs)] : nullptr;
    const int cols = (r == walk_rows - 1) ? walk_last_cols : c.mcus_x;
    for (int col = 0; col < cols; ++col) {
      const bool first = cut && col == c.cs;
      if (first) cut->start = br.bits_used(bits.data());
      if (!walk_mcu(s, br, bits.data(), pred, first ? cut : nullptr, total_bits)) return false;
      if (cut && col == (by_rows ? 0 : c.ce - 1)) {
        cut->end = br.bits_used(bits.data());
        std::copy(pred, pred + 4, cut->last_dc);
      }
    }
  }
  if (by_rows) {  // the rest of the data, to the end of the image
    rows[0].end = total_bits;
    c.re = c.mcus_y;
  }

  // Splice: header with the new size, then each needed row's bits with its first DCs re-encoded.
  uint64_t copied = 0;
  for (const RowCut& cut : rows) copied += cut.end - cut.start;
  const size_t bound = s.entropy_begin + (size_t)(copied / 8) * 2 + rows.size() * 4 * 8 + 64;
  BitWriter w = begin_output(data, s, c, bound, out);
  int spred[4] = {0, 0, 0, 0};
  for (const RowCut& cut : rows) {
    if (!splice_row(s, bits.data(), cut, spred, w)) return false;
    std::copy(cut.last_dc, cut.last_dc + 4, spred);
  }
  w.finish();
  *w.o++ = 0xFF;
  *w.o++ = 0xD9;
  *at = JpegCrop{c.cs * c.mcu_w, c.rs * c.mcu_h, (size_t)(w.o - out.data()), false};
  return true;
}

}  // namespace

bool crop_jpeg(const uint8_t* tables, size_t tables_len, const uint8_t* data, size_t len, int x0, int y0, int x1,
               int y1, std::vector<uint8_t>& out, JpegCrop* at) {
  thread_local Header s;
  for (auto& row : s.tables)
    for (auto& h : row) h.t.defined = false;
  s.ncomp = s.nscan = 0;
  s.restart = 0;
  if (tables && tables_len > 0 && !parse_segments(tables, tables_len, s, true)) return false;
  if (!parse_segments(data, len, s, false)) return false;
  int hmax = 1, vmax = 1;
  for (int c = 0; c < s.nscan; ++c) {
    hmax = std::max(hmax, s.scan[c].h);
    vmax = std::max(vmax, s.scan[c].v);
  }
  Cut c;
  c.mcu_w = 8 * hmax;
  c.mcu_h = 8 * vmax;
  c.mcus_x = (s.width + c.mcu_w - 1) / c.mcu_w;
  c.mcus_y = (s.height + c.mcu_h - 1) / c.mcu_h;
  if (x0 < 0 || y0 < 0 || x1 > s.width || y1 > s.height || x0 >= x1 || y0 >= y1) return false;
  // One MCU of margin on every side, for fancy upsampling's neighbours.
  c.rs = std::max(0, y0 / c.mcu_h - 1);
  c.re = std::min(c.mcus_y, (y1 - 1) / c.mcu_h + 2);
  c.cs = std::max(0, x0 / c.mcu_w - 1);
  c.ce = std::min(c.mcus_x, (x1 - 1) / c.mcu_w + 2);
  if (s.restart != 0) return crop_rows_with_restarts(data, len, s, c, out, at);
  return crop_plain(data, len, s, c, out, at);
}

}  // namespace ds
