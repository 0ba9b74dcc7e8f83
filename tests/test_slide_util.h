// Helpers for the slide tests: synthetic RGB images with detail at every scale, temporary
// folders, and a tiny hand-rolled TIFF builder for files no well-behaved writer produces.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "scratch_dir.h"
#include "slide/reader/image_io.h"

namespace ds::test {

// Smooth gradients plus random speckle, so tile mix-ups and off-by-one errors show.
inline RgbImage pattern_image(int w, int h, uint32_t seed = 1) {
  RgbImage img(w, h);
  std::mt19937 rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.row(y) + (size_t)x * 3;
      p[0] = (uint8_t)(x * 255 / std::max(1, w - 1));
      p[1] = (uint8_t)(y * 255 / std::max(1, h - 1));
      p[2] = (uint8_t)((x + 2 * y) & 255);
      if ((x * 7 + y * 13) % 29 == 0) p[(x + y) % 3] = (uint8_t)(rng() & 255);
    }
  return img;
}

inline std::string temp_dir(const std::string& name) { return ds::test::scratch_dir(name).string(); }

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), (std::streamsize)bytes.size());
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A classic little-endian TIFF with one IFD: `entries` (tag, type 3=SHORT / 4=LONG, values) and
// `data` placed right after the header at offset 8 (so StripOffsets/TileOffsets = 8 points to it).
struct TiffEntry {
  uint16_t tag, type;
  std::vector<uint32_t> values;
};

inline std::string make_tiff(std::vector<TiffEntry> entries, const std::string& data) {
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.tag < b.tag; });
  std::string out = std::string("II*\0", 4) + std::string(4, '\0') + data;
  if (out.size() % 2) out += '\0';
  uint32_t ifd = (uint32_t)out.size();
  size_t extra = ifd + 2 + entries.size() * 12 + 4;
  std::string ext;
  auto put16 = [](std::string& s, uint16_t v) {
    s += (char)(v & 255);
    s += (char)(v >> 8);
  };
  auto put32 = [](std::string& s, uint32_t v) {
    for (int i = 0; i < 4; ++i) s += (char)((v >> (8 * i)) & 255);
  };
  std::string dir;
  put16(dir, (uint16_t)entries.size());
  for (auto& e : entries) {
    put16(dir, e.tag);
    put16(dir, e.type);
    put32(dir, (uint32_t)e.values.size());
    size_t bytes = e.values.size() * (e.type == 3 ? 2 : 4);
    std::string v;
    for (uint32_t x : e.values) e.type == 3 ? put16(v, (uint16_t)x) : put32(v, x);
    if (bytes <= 4) {
      v.resize(4, '\0');
      dir += v;
    } else {
      put32(dir, (uint32_t)(extra + ext.size()));
      ext += v;
    }
  }
  put32(dir, 0);
  out += dir + ext;
  out[4] = (char)(ifd & 255);
  out[5] = (char)((ifd >> 8) & 255);
  out[6] = (char)((ifd >> 16) & 255);
  out[7] = (char)((ifd >> 24) & 255);
  return out;
}

// Entries for a w x h stripped, uncompressed image of `spp` samples of `bps` bits, one strip.
inline std::vector<TiffEntry> stripped_entries(uint32_t w, uint32_t h, uint16_t spp, uint16_t bps, uint32_t nbytes,
                                               uint16_t photometric = 2) {
  std::vector<uint32_t> bits(spp, bps);
  return {{256, 4, {w}}, {257, 4, {h}},   {258, 3, bits}, {259, 3, {1}},     {262, 3, {photometric}},
          {273, 4, {8}}, {277, 3, {spp}}, {278, 4, {h}},  {279, 4, {nbytes}}};
}

inline void set_entry(std::vector<TiffEntry>& es, TiffEntry e) {
  for (auto& x : es)
    if (x.tag == e.tag) {
      x = e;
      return;
    }
  es.push_back(e);
}

}  // namespace ds::test
