// Per-channel sums of a convolution's outputs taken in its epilogue (ConvEpilogue::channel_sums),
// for the training BatchNorm after it: BN then needs no pass over the activation for its batch
// statistics. Every tile of outputs the kernel stores (M pixels of a rows tile, a 4x4 Winograd
// block) adds to its partial (one per kTilesPerSum rows tiles, one per Winograd block), while its
// values are in cache, the sum of its values per channel and the sum of their squares, in double
// as BN's own passes sum: a float product is exact in double, and float partials would put
// roundings of the values' size into the variance of a channel whose mean is large against its
// spread, and into the mean of one whose mean is small. The partials are numbered by position, so
// they depend on neither the blocking nor the thread count, and combine_tile_sums adds them in
// order.
#pragma once
#include <cstdint>

namespace ds {

// The brgemm rows tiles (M pixels each) add their sums into one partial per kTilesPerSum
// consecutive tiles, which the schedulers keep in one work item (its tiles run in order on one
// thread): an eighth of the partials to write and add up.
constexpr int64_t kTilesPerSum = 8;

struct TileSums {
  double* parts = nullptr;  // [tiles][2][ld]: per tile, the sums, then the sums of squares
  int64_t tiles = 0, ld = 0;
  double* row(int64_t t) const { return parts + t * 2 * ld; }
};

// Partials for `tiles` tiles of C channels, in the calling thread's scratch memory (the tiles
// fill them; one TileSums per convolution call).
TileSums tile_sums(int64_t tiles, int64_t C);

// out[c] = the sum of channel c's values over all tiles, out[C + c] = the sum of their squares.
// In parallel over blocks of tiles, added in order.
void combine_tile_sums(double* out, const TileSums& ts, int64_t C);

// The same sums straight from y [P, C], in double: what the _ref twins give.
void channel_sums_exact(double* out, const float* y, int64_t P, int64_t C);

}  // namespace ds
