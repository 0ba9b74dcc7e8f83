// Outlines of the area a set of window squares covers, for GeoJSON contours: the squares lie on
// the prediction grid, so their union is traced on a raster of grid cells (cell = the grid step)
// into polygons with holes. A window covers round(side / step) cells a side, so where the step
// does not divide the side (overlap 3: side 224, step 74) an outline is off by the remainder
// (2 pixels there); corners fall on the grid.
#pragma once
#include <cstdint>
#include <vector>

#include "slide/windows/geometry.h"

namespace ds {

struct Square {
  int64_t x = 0, y = 0, side = 0;  // level-0 top-left corner and side
};

// Polygons (outer ring, then its holes) covering the union of the squares, 4-connected (squares
// meeting only at a corner give separate polygons). Squares must share one side length; `step`
// is the grid step in level-0 pixels (grid_step_of below, over all the slide's windows).
std::vector<Polygon> union_outline(const std::vector<Square>& squares, int64_t step);

// The smallest positive distance between window positions along x or y (the grid step), or
// the side when there is a single window.
int64_t grid_step_of(const std::vector<Square>& squares);

}  // namespace ds
