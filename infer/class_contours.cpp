// Raster union of grid squares and boundary tracing (see class_contours.h).
#include "infer/class_contours.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "base/error.h"

namespace ds {

namespace {

struct Edge {
  int64_t x0, y0, x1, y1;  // in cells
  Point outside;           // centre of the uncovered cell beside it (to place holes)
};

}  // namespace

int64_t grid_step_of(const std::vector<Square>& squares) {
  int64_t step = 0;
  for (int axis = 0; axis < 2; ++axis) {
    std::vector<int64_t> v;
    for (const Square& q : squares) v.push_back(axis ? q.y : q.x);
    std::sort(v.begin(), v.end());
    for (size_t i = 1; i < v.size(); ++i)
      if (v[i] > v[i - 1] && (step == 0 || v[i] - v[i - 1] < step)) step = v[i] - v[i - 1];
  }
  return step > 0 ? step : squares.empty() ? 1 : squares[0].side;
}

namespace {

using Cells = std::set<std::pair<int64_t, int64_t>>;  // covered grid cells (i, j)

// The cells each square covers (k x k from its corner, rounded to the grid at (ox, oy)), after
// bounding their number: a window side far larger than the grid step (a hand-made predict.json or
// --window-side) must not make this a hang and gigabytes of cells. predict's grids have k = the
// overlap factor, a few at most.
Cells covered_cells(const std::vector<Square>& squares, int64_t cell) {
  const int64_t side = squares[0].side;
  const int64_t k = std::max<int64_t>(1, (side + cell / 2) / cell);
  constexpr int64_t kMaxCellsPerSide = 16, kMaxCellVisits = int64_t{1} << 27;
  DS_CHECK_INPUT(k <= kMaxCellsPerSide && (int64_t)squares.size() * k * k <= kMaxCellVisits,
                 "contours: windows of side " + std::to_string(side) + " on a grid of step " + std::to_string(cell) +
                     " (" + std::to_string(k) + " grid steps a side, at most " + std::to_string(kMaxCellsPerSide) +
                     ") over " + std::to_string(squares.size()) + " windows are too many cells to trace");
  const int64_t ox = squares[0].x, oy = squares[0].y;
  Cells on;
  for (const Square& q : squares) {
    const int64_t i0 = (int64_t)std::floor((double)(q.x - ox) / (double)cell + 0.5);
    const int64_t j0 = (int64_t)std::floor((double)(q.y - oy) / (double)cell + 0.5);
    for (int64_t j = j0; j < j0 + k; ++j)
      for (int64_t i = i0; i < i0 + k; ++i) on.insert({i, j});
  }
  return on;
}

// The boundary: every side of a covered cell whose neighbour is not covered, each cell's sides in
// one turning order (top, right, bottom, left), and the edges by start vertex.
struct Boundary {
  std::vector<Edge> edges;
  std::multimap<std::pair<int64_t, int64_t>, size_t> from;  // start vertex -> edge
};

Boundary boundary_edges(const Cells& on) {
  Boundary b;
  auto covered = [&](int64_t i, int64_t j) { return on.count({i, j}) > 0; };
  auto add = [&](int64_t x0, int64_t y0, int64_t x1, int64_t y1, int64_t ni, int64_t nj) {
    b.from.insert({{x0, y0}, b.edges.size()});
    b.edges.push_back({x0, y0, x1, y1, {ni + 0.5, nj + 0.5}});
  };
  for (const auto& [i, j] : on) {
    if (!covered(i, j - 1)) add(i, j, i + 1, j, i, j - 1);
    if (!covered(i + 1, j)) add(i + 1, j, i + 1, j + 1, i + 1, j);
    if (!covered(i, j + 1)) add(i + 1, j + 1, i, j + 1, i, j + 1);
    if (!covered(i - 1, j)) add(i, j + 1, i, j, i - 1, j);
  }
  return b;
}

// Closed rings of the boundary in pixels, the grid's cell (0, 0) at (ox, oy) (a vertex per corner;
// straight runs add none), each with the centre of an uncovered cell beside its first edge (to
// place holes).
void trace_rings(const Boundary& b, int64_t ox, int64_t oy, int64_t cell, std::vector<Ring>& rings,
                 std::vector<Point>& outside) {
  auto to_px = [&](int64_t cx, int64_t cy) { return Point{(double)(ox + cx * cell), (double)(oy + cy * cell)}; };
  std::vector<bool> used(b.edges.size(), false);
  for (size_t e0 = 0; e0 < b.edges.size(); ++e0) {
    if (used[e0]) continue;
    Ring r;
    size_t e = e0;
    while (!used[e]) {
      used[e] = true;
      const Edge& E = b.edges[e];
      const int64_t dx = E.x1 - E.x0, dy = E.y1 - E.y0;
      // Where two boundaries meet at a corner, take the turn that hugs the cell just left (the
      // positive cross product), so touching corners split into separate rings.
      size_t next = e0;
      int best = -2;
      auto range = b.from.equal_range({E.x1, E.y1});
      for (auto it = range.first; it != range.second; ++it) {
        const Edge& F = b.edges[it->second];
        if (used[it->second] && it->second != e0) continue;
        const int64_t cross = dx * (F.y1 - F.y0) - dy * (F.x1 - F.x0);
        const int rank = cross > 0 ? 1 : cross == 0 ? 0 : -1;
        if (rank > best) best = rank, next = it->second;
      }
      const Edge& N = b.edges[next];
      if (dx * (N.y1 - N.y0) - dy * (N.x1 - N.x0) != 0) r.push_back(to_px(E.x1, E.y1));
      e = next;
    }
    rings.push_back(std::move(r));
    const Point& o = b.edges[e0].outside;
    outside.push_back({ox + o.x * (double)cell, oy + o.y * (double)cell});
  }
}

// Outer rings turn one way, holes the other; each hole goes to the smallest outer ring around it.
std::vector<Polygon> nest_holes(const std::vector<Ring>& rings, const std::vector<Point>& outside) {
  std::vector<Polygon> out;
  std::vector<double> area;
  for (const Ring& r : rings)
    if (ring_signed_area(r) > 0) {
      out.push_back(Polygon{{r}});
      area.push_back(ring_signed_area(r));
    }
  for (size_t h = 0; h < rings.size(); ++h) {
    if (ring_signed_area(rings[h]) > 0) continue;
    size_t best = out.size();
    for (size_t o = 0; o < out.size(); ++o)
      if (point_in_polygon(Polygon{{out[o].rings[0]}}, outside[h]) && (best == out.size() || area[o] < area[best]))
        best = o;
    DS_CHECK(best < out.size(), "a hole outside every outline");
    out[best].rings.push_back(rings[h]);
  }
  return out;
}

}  // namespace

std::vector<Polygon> union_outline(const std::vector<Square>& squares, int64_t step) {
  if (squares.empty()) return {};
  const int64_t side = squares[0].side;
  for (const Square& q : squares) DS_CHECK(q.side == side && side > 0, "squares of different sides");
  DS_CHECK(step > 0, "grid step must be positive");
  std::vector<Ring> rings;
  std::vector<Point> outside;
  trace_rings(boundary_edges(covered_cells(squares, step)), squares[0].x, squares[0].y, step, rings, outside);
  return nest_holes(rings, outside);
}

}  // namespace ds
