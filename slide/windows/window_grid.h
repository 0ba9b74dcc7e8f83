// Sliding-window grids with DeepSlide's overlap semantics. For an image of `height` rows and
// `width` columns, patch P and overlap factor f (1 = no overlap, 3 = windows every P/3):
//   row_steps = int((height - P) / P * f) + 1, col_steps likewise, step = int(P / f),
// windows at (x = col * step, y = row * step), rows outer and columns inner — exactly the
// windows DeepSlide's code visits. Coordinates here are x = column, y = row (OpenSlide's
// convention); DeepSlide's patch file names put the row first.
// A grid is arithmetic, not a list: WindowGrid gives window i on demand, so a slide that declares
// 2^20 px a side (tens of millions of windows) costs nothing until windows are visited, and
// callers walk it in bands (slide_windows.h). window_grid() lists a whole grid, for small ones.
#pragma once
#include <cstdint>
#include <vector>

namespace ds {

struct Window {
  int64_t x = 0, y = 0;  // top-left corner, in the pixels of the grid's image (level 0 unless scaled)
  bool operator==(const Window& o) const { return x == o.x && y == o.y; }
};

struct GridSpec {
  int64_t width = 0, height = 0;  // image size
  int64_t patch = 224;            // window side
  double overlap = 3.0;           // DeepSlide's inverse overlap factor, >= 1
};

int64_t grid_step(int64_t patch, double overlap);
int64_t grid_steps(int64_t extent, int64_t patch, double overlap);

// The windows of a grid by index, in DeepSlide's order (rows outer, columns inner).
struct WindowGrid {
  int64_t rows = 0, cols = 0, step = 1;
  WindowGrid() = default;
  explicit WindowGrid(const GridSpec& spec);  // InputError on a bad patch size or overlap
  int64_t size() const { return rows * cols; }
  Window at(int64_t i) const { return {(i % cols) * step, (i / cols) * step}; }
};

std::vector<Window> window_grid(const GridSpec& spec);  // every window of WindowGrid(spec)

}  // namespace ds
