// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C, with op(A) [M, K] and
// op(B) [K, N]. sgemm is cache-blocked (packed A/B panels, a 6x8 register-blocked micro-kernel
// that g++ -O3 vectorizes at baseline x86-64) and OpenMP-parallel over output tiles; sgemm_ref
// is the naive triple loop it is tested against. Later SIMD paths replace sgemm's body only.
#pragma once
#include <cstdint>

namespace ds {

// A: [M, K] (trans_a: [K, M]) with row stride lda; B: [K, N] (trans_b: [N, K]) with row stride
// ldb; C: [M, N] with row stride ldc. beta == 0 overwrites C (NaNs in C do not propagate).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// Naive reference with double accumulation (same contract as sgemm).
void sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc);

}  // namespace ds
