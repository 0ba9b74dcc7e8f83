// Batch-reduce GEMM micro-kernels: the register-blocked inner loops every convolution pass (and
// so Linear) runs. Two tile shapes, each an M x (NV vectors) block of accumulators kept in
// registers:
//   rows: C[m][n] = epilogue( sum_t sum_k A_t[m][k] * B[b_off[t] + k*ldb + n] )
//         with row m of tap t, A_t[m], given by pointer (a_rows[m] + a_off[t], or per tap
//         a_taps[t*a_taps_ld + m] + a_off[t]), k contiguous: forward and backward-data
//         convolution, where a row is one output pixel's receptive field in a channels-last image
//         and t a kernel row (or, per tap, one tap's pixel).
//   cols: C[m][n] (+)= sum_r sum_k A[a_row[r] + k*sa + m] * B[b_row[r] + k*sb + n]
//         k strided, m contiguous: backward weights, where k runs over output pixels.
// B rows must be readable to a whole number of vectors (callers pad packed weights); C is stored
// only for n < N. One implementation (brgemm_tiles.inc, GCC vector types) is compiled per ISA
// (brgemm_avx512.cpp, brgemm_avx2.cpp, brgemm_generic.cpp) and picked at run time.
#pragma once
#include <cstdint>

#include "engine/cpu_features.h"

namespace ds {

struct RowsTile {
  // A: row m starts at a_rows[m] + a_off[t] for tap t, or, if a_taps is set, at
  // a_taps[t * a_taps_ld + m] + a_off[t]; each row K floats long, contiguous.
  const float* const* a_rows = nullptr;
  const float* const* a_taps = nullptr;
  int64_t a_taps_ld = 0;
  const int64_t* a_off = nullptr;  // [taps]
  // B: [K, ldb] per tap, at b + b_off[t]; rows readable to NV whole vectors.
  const float* b = nullptr;
  const int64_t* b_off = nullptr;  // [taps]
  int64_t ldb = 0;
  int taps = 1;
  int64_t K = 0;  // reduction length per tap
  // C: [M, ldc] at c, or row m at c_rows[m] if set; columns n < N stored.
  float* c = nullptr;
  int64_t ldc = 0;
  float* const* c_rows = nullptr;
  int64_t N = 0;  // valid columns (<= NV * vector width)
  // Epilogue, in this order: (+ old C if accumulate) (* scale[n]) (+ bias[n]) (+ res[m*ldr + n])
  // (max 0).
  bool accumulate = false;
  const float* scale = nullptr;  // [N] or null
  const float* bias = nullptr;   // [N] or null
  const float* res = nullptr;    // [M, ldr] or null
  int64_t ldr = 0;
  bool relu = false;
  // Then, with sums, the tile's channel sums of the stored C[m][n] in double (tile_sums.h), n < N:
  // sums[n] = the sum over m, sums[ld_sums + n] = the sum of squares; added to them if sums_add.
  double* sums = nullptr;
  int64_t ld_sums = 0;
  bool sums_add = false;
  // With prefetch_b > 0, each step k also asks for B's row k + prefetch_b into L2. For the first
  // tile through a chunk of weights, which streams it from L3 or memory for the tiles after it:
  // the hardware prefetchers alone left that tile waiting (ResNet-18 at batch 1, whose layer4
  // weights are read once per 49 pixels, ran ~8% faster with it on an Intel Xeon).
  int64_t prefetch_b = 0;
  // With prefetch_a, the tile also asks for the rows of A it reads next into L1, one line of each
  // every 16 steps, so that they are there when it starts them: the next tap's, and in its last tap
  // the next tile's first (a_next[m] + a_off[0], if a_next is set). Each row is read by few
  // tiles, mostly once from memory, and at a row's start the hardware prefetchers had not caught
  // up. On Zen 5 at batch 16: ResNet-50's 256-to-64-channel 1x1 went from 70% to 87% of the FMA
  // peak with it (most other 1x1 GEMMs gained 2-8 points), and its 3x3 stride-2 convolutions, whose
  // taps each start 6 new rows of a 26 MB input, from ~77% to ~86%; the stride-1 ones, whose
  // rows the previous output row brought into L2, and batch 1 did not change.
  bool prefetch_a = false;
  const float* const* a_next = nullptr;
};

struct ColsTile {
  // A: element (k, m) of reduction row r at a[a_row[r] + k*sa + m], m contiguous.
  const float* a = nullptr;
  const int64_t* a_row = nullptr;  // [rows]
  int64_t sa = 0;
  // B: element (k, n) of reduction row r at b[b_row[r] + k*sb + n]; readable to whole vectors.
  const float* b = nullptr;
  const int64_t* b_row = nullptr;  // [rows]
  int64_t sb = 0;
  int rows = 0;
  int64_t L = 0;       // k per reduction row
  float* c = nullptr;  // [M, ldc], accumulated into (+=) for n < N, or with set, written (=)
  int64_t ldc = 0;
  int64_t N = 0;
  bool set = false;
  // With prefetch > 0, each step k also asks for B's row and the first line of A's M elements at
  // k + prefetch into L1: backward weights reads both a pixel (0.5-2 KB) apart, a stride the
  // hardware's L1 prefetcher does not follow far enough (on an Intel Xeon, medians of alternating
  // rounds: layer4's 3x3 weight gradient 72.3% -> 77.4% of the FMA peak, layer2.0.downsample's
  // 1x1 59.8 -> 63.8, most of ResNet-50's 1x1s +4 to +8 points).
  int64_t prefetch = 0;
};

// The distance the weight-gradient passes (3x3 and 1x1) give ColsTile::prefetch: 4 measured
// faster than 2 and 8 on layer2-4 of an Intel Xeon.
constexpr int64_t kColsPrefetchSteps = 4;

// One ISA's tiles. M (pixels or rows per tile) may be 1 .. max_m[NV], NV (vectors) 1 .. 4.
struct BrgemmKernels {
  int vw;        // floats per vector
  int max_m[5];  // largest M for NV = 1..4 (index NV): what fits the register file
  void (*rows)(const RowsTile& t, int M, int NV);
  void (*cols)(const ColsTile& t, int M, int NV);
};

const BrgemmKernels& brgemm_kernels(Isa isa);
inline const BrgemmKernels& brgemm_kernels() { return brgemm_kernels(cpu_isa()); }

// Operand rows 1 KB or more apart put the rows a tile reads in a few cache sets (L1 repeats every
// 4 KB; a 2 MB L2 every 128 KB), where they evict each other: on an Intel Xeon the forward pass
// of the 256- and 512-channel 3x3 convolutions ran at ~45% of the FMA peak with its weight rows
// 1-2 KB apart, ~88% spaced. Such rows are spaced by 16 floats more: ld floats apart as packed,
// the distance to store them at. Backward weights' output gradients are spaced only from 512
// floats (from = 512): 256-channel gradients ran slower spaced.
inline int64_t spaced_ld(int64_t ld, int64_t from = 256) { return ld >= from ? ld + 16 : ld; }

// Per-ISA tables (defined in brgemm_<isa>.cpp).
const BrgemmKernels& brgemm_kernels_avx512();
const BrgemmKernels& brgemm_kernels_avx2();
const BrgemmKernels& brgemm_kernels_generic();

}  // namespace ds
