// DeepSlide's window arithmetic, reproduced with the same floating-point expression order.
#include "slide/windows/window_grid.h"

#include <string>

#include "base/error.h"

namespace ds {

int64_t grid_step(int64_t patch, double overlap) {
  DS_CHECK_INPUT(overlap >= 1.0, "overlap factor must be >= 1, got " + std::to_string(overlap));
  DS_CHECK_INPUT(patch > 0, "patch size must be positive, got " + std::to_string(patch));
  int64_t step = (int64_t)((double)patch / overlap);
  DS_CHECK_INPUT(step > 0, "overlap factor " + std::to_string(overlap) + " is larger than the patch");
  return step;
}

int64_t grid_steps(int64_t extent, int64_t patch, double overlap) {
  // Python: int((extent - patch) / patch * overlap) + 1 (int() truncates toward zero).
  return (int64_t)((double)(extent - patch) / (double)patch * overlap) + 1;
}

WindowGrid::WindowGrid(const GridSpec& s) : step(grid_step(s.patch, s.overlap)) {
  if (s.width < s.patch || s.height < s.patch) return;  // no window fits inside the image
  rows = grid_steps(s.height, s.patch, s.overlap);
  cols = grid_steps(s.width, s.patch, s.overlap);
}

std::vector<Window> window_grid(const GridSpec& s) {
  const WindowGrid g(s);
  std::vector<Window> out;
  out.reserve((size_t)g.size());
  for (int64_t i = 0; i < g.size(); ++i) out.push_back(g.at(i));
  return out;
}

}  // namespace ds
