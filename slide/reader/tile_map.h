// Where OpenSlide 3.4.1 draws the tiles of a Ventana BIF whose tiles overlap (its "tilemap" grid):
// each scanned area's tiles advance by the confidence-weighted mean tile advance from the area's
// position, at sub-pixel positions; a later area's tile replaces an earlier one's at the same
// place in the level-0 tile grid; tiles are drawn from the last row and column back to the first,
// so under SATURATE (subpixel_paint.h) the later ones show where two overlap. Each level draws
// every level-0 tile, shrunk: its directory's tiles hold `subtiles` x `subtiles` of them.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace ds {

struct TileMap {
  struct Area {
    int64_t col0 = 0, row0 = 0, cols = 0, rows = 0;  // in the level-0 tile grid
    double offset_x = 0, offset_y = 0;  // level pixels from the grid position col * advance_x, row * advance_y
  };
  std::vector<Area> areas;
  double advance_x = 0, advance_y = 0;  // level pixels from one tile to the next
  int tile_w = 0, tile_h = 0;           // a drawn tile, level pixels
  int subtiles = 1;                     // level-0 tiles a directory tile holds across (and down)
};

// A tile to draw: its place in the level-0 grid and its top-left corner in level pixels.
struct PlacedTile {
  int64_t col, row;
  double x, y;
};

// The level's width and height as OpenSlide sets them: the ceiling of the tiles' right and bottom.
std::pair<int64_t, int64_t> tile_map_size(const TileMap& map);

// The tiles drawing into level pixels [x0, x1) x [y0, y1), in OpenSlide's drawing order.
std::vector<PlacedTile> tiles_in(const TileMap& map, int64_t x0, int64_t y0, int64_t x1, int64_t y1);

}  // namespace ds
