// Point-in-polygon, ring clipping to a square, and the covered share of a window (see geometry.h).
#include "slide/windows/geometry.h"

#include <algorithm>
#include <cmath>

namespace ds {

double ring_signed_area(const Ring& r) {
  double a = 0;
  for (size_t i = 0, n = r.size(); i < n; ++i) {
    const Point& p = r[i];
    const Point& q = r[(i + 1) % n];
    a += p.x * q.y - q.x * p.y;
  }
  return a / 2;
}

double polygon_area(const Polygon& p) {
  double a = 0;
  for (size_t i = 0; i < p.rings.size(); ++i) a += (i == 0 ? 1 : -1) * std::fabs(ring_signed_area(p.rings[i]));
  return a;
}

Box polygon_box(const Polygon& p) {
  Box b{INFINITY, INFINITY, -INFINITY, -INFINITY};
  if (p.rings.empty()) return b;
  for (const Point& q : p.rings[0]) {
    b.x0 = std::min(b.x0, q.x);
    b.y0 = std::min(b.y0, q.y);
    b.x1 = std::max(b.x1, q.x);
    b.y1 = std::max(b.y1, q.y);
  }
  return b;
}

bool point_in_polygon(const Polygon& p, Point q) {
  bool inside = false;
  for (const Ring& r : p.rings)
    for (size_t i = 0, n = r.size(), j = n - 1; i < n; j = i++) {
      const Point& a = r[i];
      const Point& b = r[j];
      if ((a.y > q.y) != (b.y > q.y) && q.x < (b.x - a.x) * (q.y - a.y) / (b.y - a.y) + a.x) inside = !inside;
    }
  return inside;
}

namespace {

// Keeps the part of `in` on the inner side of one edge of the square: coord(axis) >= v when
// keep_above, else <= v.
Ring clip_half_plane(const Ring& in, bool axis_y, double v, bool keep_above) {
  Ring out;
  const size_t n = in.size();
  auto c = [&](const Point& p) { return axis_y ? p.y : p.x; };
  auto inside = [&](const Point& p) { return keep_above ? c(p) >= v : c(p) <= v; };
  for (size_t i = 0; i < n; ++i) {
    const Point& cur = in[i];
    const Point& prev = in[(i + n - 1) % n];
    const bool ci = inside(cur), pi = inside(prev);
    if (ci != pi) {  // the edge crosses the line: add the crossing point
      const double t = (v - c(prev)) / (c(cur) - c(prev));
      Point x{prev.x + t * (cur.x - prev.x), prev.y + t * (cur.y - prev.y)};
      (axis_y ? x.y : x.x) = v;
      out.push_back(x);
    }
    if (ci) out.push_back(cur);
  }
  return out;
}

double ring_overlap(const Ring& r, double x, double y, double side) {
  Ring c = clip_half_plane(r, false, x, true);
  c = clip_half_plane(c, false, x + side, false);
  c = clip_half_plane(c, true, y, true);
  c = clip_half_plane(c, true, y + side, false);
  return c.size() < 3 ? 0.0 : std::fabs(ring_signed_area(c));
}

}  // namespace

double square_overlap(const Polygon& p, double x, double y, double side) {
  double a = 0;
  for (size_t i = 0; i < p.rings.size(); ++i) a += (i == 0 ? 1 : -1) * ring_overlap(p.rings[i], x, y, side);
  return std::max(a, 0.0);
}

double covered_fraction(const std::vector<const Polygon*>& polys, double x, double y, double side) {
  if (side <= 0) return 0;
  const Box sq{x, y, x + side, y + side};
  std::vector<const Polygon*> touching;
  std::vector<Box> boxes;
  for (const Polygon* p : polys) {
    const Box b = polygon_box(*p);
    if (b.intersects(sq)) {
      touching.push_back(p);
      boxes.push_back(b);
    }
  }
  bool disjoint = true;
  for (size_t i = 0; i < boxes.size() && disjoint; ++i)
    for (size_t j = i + 1; j < boxes.size() && disjoint; ++j) disjoint = !boxes[i].intersects(boxes[j]);
  if (disjoint) {
    double a = 0;
    for (const Polygon* p : touching) a += square_overlap(*p, x, y, side);
    return std::min(a / (side * side), 1.0);
  }
  constexpr int kGrid = 64;
  int hits = 0;
  for (int gy = 0; gy < kGrid; ++gy)
    for (int gx = 0; gx < kGrid; ++gx) {
      const Point q{x + (gx + 0.5) * side / kGrid, y + (gy + 0.5) * side / kGrid};
      for (const Polygon* p : touching)
        if (point_in_polygon(*p, q)) {
          ++hits;
          break;
        }
    }
  return (double)hits / (kGrid * kGrid);
}

}  // namespace ds
