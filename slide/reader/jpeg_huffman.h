// Baseline JPEG Huffman tables and bit reading, shared by the code that walks entropy-coded data
// without libjpeg: jpeg_crop (skips MCUs to cut a JPEG) and jpeg_fast_decode (decodes them). A
// table is kept as DHT defines it and derived as libjpeg derives it (jpeg_make_d_derived_tbl,
// with its checks), so both reject what libjpeg rejects and read the bits libjpeg reads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ds {

constexpr int kHuffLookBits = 11;  // code bits resolved by one table lookup

inline uint16_t be16(const uint8_t* p) { return (uint16_t)((p[0] << 8) | p[1]); }

inline uint64_t load_be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

// One DC or AC table of a JPEG.
struct HuffmanTable {
  bool defined = false;     // by the JPEG being read (reset per JPEG by its reader)
  int derived = -1;         // the lookups below hold counts/symbols derived as a DC (1) or AC (0) table
  uint8_t counts[17] = {};  // codes of each length 1..16
  uint8_t symbols[256] = {};
  int nsymbols = 0;
  // Derived: the canonical code and length of each symbol index; fast[next kHuffLookBits bits] =
  // (length << 8) | symbol, 0 when the code is longer; longer codes by maxcode and valoffset per
  // length (symbol index = code + valoffset).
  uint16_t code[256];
  uint8_t length[256];
  uint16_t fast[1 << kHuffLookBits];
  int32_t maxcode[17];
  int32_t valoffset[17];

  // Takes a DHT entry's counts (for lengths 1..16) and symbols; marks the table defined, and
  // underived when its contents changed (tables repeat from tile to tile: derive once).
  void assign(const uint8_t* counts16, const uint8_t* syms, int n);
  // libjpeg's derivation and checks: false for an over-subscribed code, an all-ones code, or a
  // DC symbol above 15.
  bool derive(bool dc);
  // The symbol of a code longer than kHuffLookBits bits at the top of `buf` (its length in *len),
  // or -1 when no code matches.
  int slow(uint64_t buf, int* len) const {
    for (int l = kHuffLookBits + 1; l <= 16; ++l) {
      const int32_t c = (int32_t)(buf >> (64 - l));
      if (c <= maxcode[l]) {
        const int32_t i = c + valoffset[l];
        if (i < 0 || i >= nsymbols) return -1;
        *len = l;
        return symbols[i];
      }
    }
    return -1;
  }
};

// A DHT segment's payload (after its length), each table into table(class, id), which returns
// the HuffmanTable& to fill (class 0 = DC, 1 = AC; id 0..3). False when malformed.
bool read_dht_entry(const uint8_t* s, size_t n, size_t* at, int* tc, int* th, const uint8_t** counts16,
                    const uint8_t** syms, int* count);
template <class TableAt>
bool parse_dht(const uint8_t* s, size_t n, TableAt&& table) {
  for (size_t i = 0; i < n;) {
    int tc, th, count;
    const uint8_t *counts16, *syms;
    if (!read_dht_entry(s, n, &i, &tc, &th, &counts16, &syms, &count)) return false;
    HuffmanTable& t = table(tc, th);
    t.assign(counts16, syms, count);
  }
  return true;
}

// Reads entropy-coded bits (unstuffed) most significant first from a 64-bit buffer topped up
// without branches; needs 8 readable bytes past any position it reaches.
struct BitReader {
  const uint8_t* p = nullptr;
  uint64_t buf = 0;  // next bits, most significant first
  int n = 0;         // how many of buf's bits are valid

  void reset(const uint8_t* at) { p = at, buf = 0, n = 0; }
  // Tops the buffer up to 56..63 bits with whole bytes; the bits of a partly taken byte below
  // them are loaded again, in the same place, by the next refill.
  void refill() {
    buf |= load_be64(p) >> n;
    p += (63 - n) >> 3;
    n |= 56;
  }
  void skip(int s) {
    buf <<= s;
    n -= s;
  }
  uint32_t take(int s) {  // 1 <= s <= 16
    const uint32_t v = (uint32_t)(buf >> (64 - s));
    skip(s);
    return v;
  }
  uint64_t bits_used(const uint8_t* base) const { return (uint64_t)(p - base) * 8 - (uint64_t)n; }
};

// One Huffman symbol from `b` (at least 16 bits in its buffer), its code's bits consumed; -1 (none
// consumed) for a code the table does not have.
inline int decode_symbol(BitReader& b, const HuffmanTable& h) {
  const int e = h.fast[b.buf >> (64 - kHuffLookBits)];
  if (e) {
    b.skip(e >> 8);
    return e & 255;
  }
  int len;
  const int sym = h.slow(b.buf, &len);
  if (sym >= 0) b.skip(len);
  return sym;
}

// A coefficient's value from its `s` (1..15) magnitude bits, as JPEG's EXTEND.
inline int huff_extend(uint32_t v, int s) { return (int)v - (int)(((v >> (s - 1)) ^ 1u) & 1u) * ((1 << s) - 1); }

}  // namespace ds
