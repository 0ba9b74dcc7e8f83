// Slide-read throughput measurement behind `deepslide bench-read`: N regions read from one
// level by T threads (each region decoded on its reading thread, so T is the whole budget).
#pragma once
#include <cstdint>
#include <string>

#include "slide/reader/slide.h"

namespace ds {

struct ReadBenchOptions {
  // "aligned": one whole tile per region; "random": size x size anywhere; "raster": size x size
  // windows side by side, row by row from the top-left (a sliding window without overlap)
  std::string pattern = "random";
  int size = 224;
  int count = 1000;
  int threads = 1;
  int level = 0;
  uint64_t seed = 0;
};

struct ReadBenchResult {
  int regions = 0;
  int region_width = 0, region_height = 0;
  double seconds = 0, regions_per_sec = 0, mb_per_sec = 0;
  uint64_t tiles_decoded = 0, tiles_from_cache = 0, tiles_decoded_in_part = 0;  // in part: not cached
  uint64_t checksum = 0;  // sum of every 61st byte read, so the reads cannot be skipped
};

ReadBenchResult run_read_bench(const Slide& slide, const ReadBenchOptions& opt);

}  // namespace ds
