// Baseline JPEG Huffman tables (see jpeg_huffman.h): DHT entries and libjpeg's derivation.
#include "slide/reader/jpeg_huffman.h"

namespace ds {

bool read_dht_entry(const uint8_t* s, size_t n, size_t* at, int* tc, int* th, const uint8_t** counts16,
                    const uint8_t** syms, int* count) {
  size_t i = *at;
  if (i + 17 > n) return false;
  *tc = s[i] >> 4, *th = s[i] & 15;
  if (*tc > 1 || *th > 3) return false;
  int total = 0;
  for (int l = 1; l <= 16; ++l) total += s[i + l];
  if (total > 256 || i + 17 + (size_t)total > n) return false;
  *counts16 = s + i + 1;
  *syms = s + i + 17;
  *count = total;
  *at = i + 17 + (size_t)total;
  return true;
}

void HuffmanTable::assign(const uint8_t* counts16, const uint8_t* syms, int n) {
  if (derived < 0 || nsymbols != n || std::memcmp(counts + 1, counts16, 16) != 0 ||
      std::memcmp(symbols, syms, (size_t)n) != 0) {
    counts[0] = 0;
    std::memcpy(counts + 1, counts16, 16);
    std::memcpy(symbols, syms, (size_t)n);
    nsymbols = n;
    derived = -1;
  }
  defined = true;
}

bool HuffmanTable::derive(bool dc) {
  // Canonical codes: consecutive within a length, shifted left by one for the next length; a
  // length's codes must fit in its bits (libjpeg's JERR_BAD_HUFF_TABLE otherwise).
  derived = -1;
  int c = 0, k = 0;
  for (int l = 1; l <= 16; ++l) {
    valoffset[l] = k - c;
    for (int i = 0; i < counts[l]; ++i, ++k, ++c) {
      code[k] = (uint16_t)c;
      length[k] = (uint8_t)l;
    }
    if (c >= (1 << l)) return false;
    maxcode[l] = counts[l] ? c - 1 : -1;
    c <<= 1;
  }
  if (dc)
    for (int i = 0; i < nsymbols; ++i)
      if (symbols[i] > 15) return false;
  std::memset(fast, 0, sizeof fast);
  for (int i = 0; i < nsymbols && length[i] <= kHuffLookBits; ++i) {
    const int fill = 1 << (kHuffLookBits - length[i]);
    for (int j = 0, at = code[i] * fill; j < fill; ++j) fast[at + j] = (uint16_t)((length[i] << 8) | symbols[i]);
  }
  derived = dc;
  return true;
}

}  // namespace ds
