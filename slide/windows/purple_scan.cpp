// The chunked purple scan: chunks of neighbouring windows read once, tested from a summed-area table.
#include "slide/windows/purple_scan.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include "base/error.h"
#include "base/parallel.h"

namespace ds {

namespace {

constexpr int kChunkSide = 1536;  // level pixels a chunk spans at most (unless one window is larger)

// A rectangle of grid cells; members are those whose index lies in the band.
struct Chunk {
  int64_t r0, r1, c0, c1;  // rows [r0, r1), columns [c0, c1)
};

// A chunk's pixels and their table (tens of MB), handed from chunk to chunk rather than
// allocated for each.
struct ChunkBuffers {
  RgbImage pixels;
  RgbIntegral table;
};

class BufferPool {
 public:
  std::unique_ptr<ChunkBuffers> take() {
    std::lock_guard<std::mutex> lk(mu_);
    if (free_.empty()) return std::make_unique<ChunkBuffers>();
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::unique_ptr<ChunkBuffers> b) {
    std::lock_guard<std::mutex> lk(mu_);
    free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<ChunkBuffers>> free_;
};

}  // namespace

bool chunked_purple_applies(const ReadGeometry& g) { return g.region == g.patch && g.region <= 4096; }

void chunked_purple_band(const Slide& slide, const ReadGeometry& g, const CandidateGrid& grid, int64_t b0, int64_t n,
                         const PurpleParams& params, int threads, std::vector<uint8_t>& keep,
                         const std::function<bool(const Window&)>& one_window,
                         const std::function<void(int64_t)>& on_checked) {
  DS_CHECK(chunked_purple_applies(g), "chunked purple scan on a resized window");
  const WindowGrid& wg = grid.grid;
  const int64_t per = std::max<int64_t>(1, (kChunkSide - g.region) / std::max<int64_t>(1, wg.step) + 1);
  const int64_t first_row = b0 / wg.cols, last_row = (b0 + n - 1) / wg.cols;
  std::vector<Chunk> chunks;
  for (int64_t r = first_row - first_row % per; r <= last_row; r += per)
    for (int64_t c = 0; c < wg.cols; c += per)
      chunks.push_back({std::max(r, first_row), std::min(r + per, last_row + 1), c, std::min(c + per, wg.cols)});
  // Window corners in the read level's pixels, as read_region places them.
  auto level_x = [&](int64_t col) { return slide.level_pixel(grid.at(col).x, g.level); };
  auto level_y = [&](int64_t row) { return slide.level_pixel(grid.at(row * wg.cols).y, g.level); };
  BufferPool pool;
  parallel_for((int64_t)chunks.size(), threads, [&](int64_t ci) {
    const Chunk& ch = chunks[(size_t)ci];
    std::vector<int64_t> members;
    for (int64_t r = ch.r0; r < ch.r1; ++r)
      for (int64_t c = ch.c0; c < ch.c1; ++c)
        if (const int64_t i = r * wg.cols + c; i >= b0 && i < b0 + n) members.push_back(i);
    if (members.empty()) return;
    // The members' bounding box: the band's first and last rows may hold part of the chunk only.
    int64_t rmin = members.front() / wg.cols, rmax = members.back() / wg.cols, cmin = ch.c1, cmax = ch.c0;
    for (int64_t i : members) {
      cmin = std::min(cmin, i % wg.cols);
      cmax = std::max(cmax, i % wg.cols);
    }
    const int64_t x0 = level_x(cmin), y0 = level_y(rmin);
    const int w = (int)(level_x(cmax) - x0 + g.region), h = (int)(level_y(rmax) - y0 + g.region);
    std::unique_ptr<ChunkBuffers> buf = pool.take();
    RgbImage& px = buf->pixels;
    px.width = w;
    px.height = h;
    px.pixels.resize((size_t)w * h * 3);
    bool readable = true;
    try {
      slide.read_region_into(px.pixels.data(), grid.at(cmin).x, grid.at(rmin * wg.cols).y, g.level, w, h, 1);
      buf->table.build(px);
    } catch (const InputError&) {
      readable = false;  // a tile that cannot be read: the windows alone, each judged (and named) as it would be
    }
    for (int64_t i : members)
      keep[(size_t)(i - b0)] =
          readable ? purple_block_count(buf->table, (int)(level_x(i % wg.cols) - x0), (int)(level_y(i / wg.cols) - y0),
                                        g.region, params.scale) > params.threshold
                   : one_window(grid.at(i));
    pool.give(std::move(buf));
    if (on_checked) on_checked((int64_t)members.size());
  });
}

}  // namespace ds
