// OpenSlide draws the tiles of a Ventana BIF whose tiles overlap at sub-pixel positions, with cairo
// on a premultiplied ARGB surface: each tile painted with the SATURATE operator (a pixel keeps what
// was painted first; later tiles only fill what is left transparent) and sampled by pixman's
// bilinear filter (16.16 fixed-point positions, 7-bit weights, truncating sums). This paints the
// same way, so the pixels match OpenSlide's up to pixman's rounding, then flattens the canvas over
// white (OpenSlide leaves it transparent where no tile reaches).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ds {

// A w x h premultiplied RGBA canvas, transparent to begin with.
struct SaturateCanvas {
  int width = 0, height = 0;
  std::vector<uint8_t> rgba;  // [height][width][4], premultiplied
  void reset(int w, int h);
};

// A tile painted with its top-left corner at canvas position (x, y), in cairo's 16.16 fixed point.
struct SubpixelPlacement {
  int64_t fx = 0, fy = 0;
};
SubpixelPlacement place_at(double x, double y);

// The tile pixels [x0, x1) x [y0, y1) painting a placement onto a w x h canvas samples, within a
// tile whose opaque part is [0, valid_w) x [0, valid_h) (transparent beyond); empty when the tile
// misses the canvas.
struct SampleRect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool empty() const { return x0 >= x1 || y0 >= y1; }
};
SampleRect sampled_rect(const SaturateCanvas& canvas, SubpixelPlacement at, int valid_w, int valid_h);

// Paints a tile onto the canvas: `pixels` holds the RGB of its part `part` (sampled_rect's, row
// stride `stride` bytes), opaque; the tile is transparent outside [0, valid_w) x [0, valid_h).
void paint_saturate(SaturateCanvas& canvas, SubpixelPlacement at, int valid_w, int valid_h, const SampleRect& part,
                    const uint8_t* pixels, size_t stride);

// Paints a premultiplied RGBA picture (another canvas: a tile cut at a sub-pixel offset, its edges
// partly transparent) the same way, pixel by pixel.
void paint_saturate_rgba(SaturateCanvas& canvas, SubpixelPlacement at, const SaturateCanvas& picture);

// The canvas over white, as RGB rows of `stride` bytes.
void flatten_over_white(const SaturateCanvas& canvas, uint8_t* out, size_t stride);

}  // namespace ds
