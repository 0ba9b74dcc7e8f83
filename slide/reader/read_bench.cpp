// run_read_bench (see read_bench.h): positions drawn up front from the seed (or laid out row by
// row for raster), then threads take them from an atomic counter; the clock covers only the reads.
#include "slide/reader/read_bench.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/threads.h"

namespace ds {

ReadBenchResult run_read_bench(const Slide& slide, const ReadBenchOptions& opt) {
  const SlideLevel& L = slide.level(opt.level);
  if (opt.count <= 0) throw InputError("bench-read: --count must be positive");
  if (opt.threads <= 0) throw InputError("bench-read: --threads must be positive");
  check_thread_count(opt.threads, "bench-read: --threads");
  bool aligned = opt.pattern == "aligned", raster = opt.pattern == "raster";
  if (!aligned && !raster && opt.pattern != "random")
    throw InputError("bench-read: --pattern must be aligned, random or raster, not '" + opt.pattern + "'");
  int w = aligned ? L.tile_width : opt.size, h = aligned ? L.tile_height : opt.size;
  if (w <= 0 || h <= 0 || w > 8192 || h > 8192) throw InputError("bench-read: --size must be in 1..8192");
  std::mt19937_64 rng(opt.seed);
  std::vector<std::pair<int64_t, int64_t>> pos((size_t)opt.count);
  int64_t cols = (L.width + L.tile_width - 1) / L.tile_width, rows = (L.height + L.tile_height - 1) / L.tile_height;
  int64_t raster_cols = std::max<int64_t>(1, L.width / w), raster_rows = std::max<int64_t>(1, L.height / h);
  for (size_t i = 0; i < pos.size(); ++i) {
    auto& p = pos[i];
    int64_t lx, ly;
    if (raster) {  // row-major sliding window, stride = size, wrapping past the end
      int64_t k = (int64_t)i % (raster_cols * raster_rows);
      lx = k % raster_cols * w;
      ly = k / raster_cols * h;
    } else if (aligned) {
      lx = (int64_t)(rng() % (uint64_t)cols) * L.tile_width;
      ly = (int64_t)(rng() % (uint64_t)rows) * L.tile_height;
    } else {
      lx = (int64_t)(rng() % (uint64_t)std::max<int64_t>(1, L.width - w + 1));
      ly = (int64_t)(rng() % (uint64_t)std::max<int64_t>(1, L.height - h + 1));
    }
    p = {(int64_t)std::llround((double)lx * L.downsample), (int64_t)std::llround((double)ly * L.downsample)};
  }
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> checksum{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto worker = [&] {
    std::vector<uint8_t> buf((size_t)w * h * 3);
    uint64_t sum = 0;
    try {
      for (size_t i; (i = next.fetch_add(1)) < pos.size();) {
        slide.read_region_into(buf.data(), pos[i].first, pos[i].second, opt.level, w, h, 1);
        for (size_t k = 0; k < buf.size(); k += 61) sum += buf[k];
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = pos.size();
    }
    checksum += sum;
  };
  uint64_t hits0 = slide.cache().hits(), misses0 = slide.cache().misses(), part0 = slide.tiles_decoded_in_part();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < opt.threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  auto t1 = std::chrono::steady_clock::now();
  if (error) std::rethrow_exception(error);
  ReadBenchResult r;
  r.regions = opt.count;
  r.region_width = w;
  r.region_height = h;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.regions_per_sec = r.regions / r.seconds;
  r.mb_per_sec = (double)r.regions * w * h * 3 / 1e6 / r.seconds;
  r.tiles_decoded = slide.cache().misses() - misses0;
  r.tiles_from_cache = slide.cache().hits() - hits0;
  r.tiles_decoded_in_part = slide.tiles_decoded_in_part() - part0;
  r.checksum = checksum;
  return r;
}

}  // namespace ds
