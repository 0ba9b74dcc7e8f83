// Plane geometry for annotations: polygons with holes in level-0 pixel coordinates, whether a
// point lies inside one, and how much of a window square a polygon (or a set of them) covers.
// Written here rather than linked from GEOS: three functions of a few dozen lines each, readable
// next to the code that uses them, with no library to carry to an air-gapped site; shapely
// (GEOS) is their test oracle (tests/test_annotations.py).
#pragma once
#include <vector>

namespace ds {

struct Point {
  double x = 0, y = 0;
};
using Ring = std::vector<Point>;  // open: the first vertex is not repeated at the end

// A simple polygon: rings[0] the outer boundary, the others holes inside it (either orientation).
struct Polygon {
  std::vector<Ring> rings;
};

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool intersects(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

double ring_signed_area(const Ring& r);  // shoelace; positive when counter-clockwise (y up)
double polygon_area(const Polygon& p);   // outer area minus the holes'
Box polygon_box(const Polygon& p);       // bounding box of the outer ring

// Even-odd rule over every ring, so a point in a hole is outside. Points exactly on an edge
// may fall either way.
bool point_in_polygon(const Polygon& p, Point q);

// Exact area of polygon ∩ square [x, x+side) x [y, y+side): each ring is clipped to the square
// (Sutherland-Hodgman; against a convex clip window the clipped ring's signed area is the
// exact area of the intersection even for a concave ring), outer minus holes.
double square_overlap(const Polygon& p, double x, double y, double side);

// Fraction (0..1) of the square covered by the union of `polys`. Exact (sum of square_overlap)
// when the bounding boxes of the polygons touching the square do not overlap one another, so
// they cannot overlap; otherwise the union is estimated by the centres of a 64 x 64 grid of
// cells (error at most the share of cells a boundary crosses: about 2 x boundary length inside
// the square / (64 x side), i.e. under 3% for one edge crossing the square).
double covered_fraction(const std::vector<const Polygon*>& polys, double x, double y, double side);

}  // namespace ds
