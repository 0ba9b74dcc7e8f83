// OpenSlide's tilemap grid for overlapping Ventana BIF tiles (see tile_map.h): positions computed
// with its expressions, in its order, so that the same doubles come out.
#include "slide/reader/tile_map.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ds {

namespace {

double tile_x(const TileMap& m, const TileMap::Area& a, int64_t col) { return (double)col * m.advance_x + a.offset_x; }
double tile_y(const TileMap& m, const TileMap::Area& a, int64_t row) { return (double)row * m.advance_y + a.offset_y; }

// The columns [lo, hi) of an area (or rows, with the y quantities) whose tiles may reach
// [p0, p1): a superset, the caller tests each tile.
void span(int64_t first, int64_t count, double advance, double offset, int size, int64_t p0, int64_t p1, int64_t& lo,
          int64_t& hi) {
  const double a = std::floor(((double)p0 - offset - size) / advance) - 1;
  const double b = std::ceil(((double)p1 - offset) / advance) + 1;
  lo = std::max<int64_t>(first, (int64_t)std::max(a, (double)first - 1));
  hi = std::min<int64_t>(first + count, (int64_t)std::min(b, (double)(first + count) + 1));
}

// The last area holding grid tile (col, row): its tile replaced the earlier ones (OpenSlide
// keeps one tile per grid position).
const TileMap::Area* owner(const TileMap& m, int64_t col, int64_t row) {
  for (auto it = m.areas.rbegin(); it != m.areas.rend(); ++it)
    if (col >= it->col0 && col < it->col0 + it->cols && row >= it->row0 && row < it->row0 + it->rows) return &*it;
  return nullptr;
}

}  // namespace

std::pair<int64_t, int64_t> tile_map_size(const TileMap& m) {
  double left = std::numeric_limits<double>::infinity(), top = left, right = -left, bottom = -left;
  for (const TileMap::Area& a : m.areas) {
    left = std::min(left, tile_x(m, a, a.col0));
    top = std::min(top, tile_y(m, a, a.row0));
    right = std::max(right, tile_x(m, a, a.col0 + a.cols - 1) + m.tile_w);
    bottom = std::max(bottom, tile_y(m, a, a.row0 + a.rows - 1) + m.tile_h);
  }
  if (m.areas.empty()) return {0, 0};
  return {(int64_t)std::ceil(left + (right - left)), (int64_t)std::ceil(top + (bottom - top))};
}

std::vector<PlacedTile> tiles_in(const TileMap& m, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  std::vector<PlacedTile> out;
  for (const TileMap::Area& a : m.areas) {
    int64_t c0, c1, r0, r1;
    span(a.col0, a.cols, m.advance_x, a.offset_x, m.tile_w, x0, x1, c0, c1);
    span(a.row0, a.rows, m.advance_y, a.offset_y, m.tile_h, y0, y1, r0, r1);
    for (int64_t row = r0; row < r1; ++row)
      for (int64_t col = c0; col < c1; ++col) {
        const double x = tile_x(m, a, col), y = tile_y(m, a, row);
        // OpenSlide's test for a tile outside the region.
        if (x + m.tile_w <= (double)x0 || y + m.tile_h <= (double)y0 || x >= (double)x1 || y >= (double)y1) continue;
        if (owner(m, col, row) == &a) out.push_back(PlacedTile{col, row, x, y});
      }
  }
  std::sort(out.begin(), out.end(),
            [](const PlacedTile& p, const PlacedTile& q) { return p.row != q.row ? p.row > q.row : p.col > q.col; });
  return out;
}

}  // namespace ds
