// Batch-reduce GEMM micro-kernels: the register-blocked inner loops every convolution pass runs.
// Two tile shapes, each an M x (NV vectors) block of accumulators kept in registers:
//   rows: C[m][n] = epilogue( sum_t sum_k A[a_off[t] + m*lda + k] * B[b_off[t] + k*ldb + n] )
//         A rows are strided (m*lda) or given one by one (a_rows[m] + a_off[t] + k, or per tap
//         a_taps[t][m] + a_off[t] + k), k contiguous:
//         forward and backward-data convolution, where a row is one output pixel's receptive
//         field in a channels-last image and t a kernel row (or, per tap, one tap's pixel).
//   cols: C[m][n] (+)= sum_r sum_k A[a_row[r] + k*sa + m] * B[b_row[r] + k*sb + n]
//         k strided, m contiguous: backward-weights, where k runs over output pixels.
// B rows must be readable to a whole number of vectors (callers pad packed weights); C is stored
// only for n < N. One implementation (brgemm_tiles.inc, GCC vector types) is compiled per ISA
// (brgemm_avx512.cpp, brgemm_avx2.cpp, brgemm_generic.cpp) and picked at run time.
#pragma once
#include <cstdint>

#include "engine/cpu_features.h"

namespace ds {

struct RowsTile {
  const float* a = nullptr;       // A base
  const int64_t* a_off = nullptr; // [taps] offsets into A
  int64_t lda = 0;                // distance between consecutive rows m
  const float* const* a_rows = nullptr;  // if set: row m starts at a_rows[m] (a, lda unused)
  const float* const* a_taps = nullptr;  // if set: row m of tap t starts at a_taps[t*a_taps_ld + m]
  int64_t a_taps_ld = 0;
  const float* b = nullptr;       // B base
  const int64_t* b_off = nullptr; // [taps] offsets into B
  int64_t ldb = 0;                // distance between consecutive k
  int taps = 1;
  int64_t K = 0;                  // reduction length per tap
  float* c = nullptr;
  int64_t ldc = 0;
  float* const* c_rows = nullptr; // if set: row m of C starts at c_rows[m] (c, ldc unused)
  int64_t N = 0;                  // valid columns (<= NV * vector width)
  // Epilogue, in this order: (+ old C if accumulate) (* scale[n]) (+ bias[n]) (+ res[m*ldr + n])
  // (max 0).
  bool accumulate = false;
  const float* scale = nullptr;
  const float* bias = nullptr;
  const float* res = nullptr;
  int64_t ldr = 0;
  bool relu = false;
};

struct ColsTile {
  const float* a = nullptr;
  const int64_t* a_row = nullptr;  // [rows] offsets into A
  int64_t sa = 0;                  // distance between consecutive k within a row
  const float* b = nullptr;
  const int64_t* b_row = nullptr;  // [rows] offsets into B
  int64_t sb = 0;
  int rows = 0;
  int64_t L = 0;                   // k per row
  float* c = nullptr;              // accumulated into: C[m*ldc + n] for n < N
  int64_t ldc = 0;
  int64_t N = 0;
};

struct BrgemmKernels {
  Isa isa;
  int vw;                         // floats per vector
  int max_m[5];                   // largest M for NV = 1..4 (index NV)
  void (*rows)(const RowsTile& t, int M, int NV);
  void (*cols)(const ColsTile& t, int M, int NV);
};

const BrgemmKernels& brgemm_kernels(Isa isa);
inline const BrgemmKernels& brgemm_kernels() { return brgemm_kernels(cpu_isa()); }

// Per-ISA tables (defined in brgemm_<isa>.cpp).
const BrgemmKernels& brgemm_kernels_avx512();
const BrgemmKernels& brgemm_kernels_avx2();
const BrgemmKernels& brgemm_kernels_generic();

}  // namespace ds
