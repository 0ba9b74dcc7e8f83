// The per-tile channel sums of convolution epilogues (see tile_sums.h): buffers and combination.
#include "engine/kernels/tile_sums.h"

#include "base/int_math.h"
#include "engine/kernels/block_sums.h"
#include "engine/kernels/bn_loops.h"

namespace ds {

namespace {
constexpr int64_t kTileBlock = 64;  // tiles per partial row of combine_tile_sums
}

TileSums tile_sums(int64_t tiles, int64_t C) {
  TileSums ts;
  ts.tiles = tiles;
  ts.ld = round_up(C, 16);  // whole vectors of every ISA
  ts.parts = reinterpret_cast<double*>(scratch(ScratchSlot::conv_tile_sums, tiles * 2 * ts.ld * 2));
  return ts;
}

void combine_tile_sums(double* out, const TileSums& ts, int64_t C) {
  const BnLoops& L = bn_loops();
  block_sums(ts.tiles, kTileBlock, (double)ts.tiles * 2.0 * (double)C, 2 * C, out,
             [&](double* s, int64_t t0, int64_t t1) { L.tile_sums(s, s + C, ts.parts, ts.ld, t0, t1, C); });
}

void channel_sums_exact(double* out, const float* y, int64_t P, int64_t C) {
  for (int64_t c = 0; c < 2 * C; ++c) out[c] = 0;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t c = 0; c < C; ++c) {
      const double v = y[p * C + c];
      out[c] += v;
      out[C + c] += v * v;
    }
}

}  // namespace ds
