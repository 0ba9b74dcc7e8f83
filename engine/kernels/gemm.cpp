// Cache-blocked, OpenMP-parallel sgemm (see gemm.h). Blocking: the output is cut into tiles of
// at most kMC x nc; each thread takes whole tiles, packs its A block (kMC x kKC, in kMR-row
// micro-panels) and B block (kKC x nc, in kNR-column micro-panels) and runs the kMR x kNR
// register-blocked micro-kernel (GCC vector types, baseline SSE: ~15-20 GFLOP/s per core here).
// Each C element is summed by one thread in a fixed order, so results do not depend on the
// thread count.
#include "engine/kernels/gemm.h"

#include <omp.h>

#include <algorithm>

#include "engine/kernels/scratch.h"

namespace ds {

namespace {

constexpr int64_t kMR = 6;
constexpr int64_t kNR = 8;
constexpr int64_t kMC = 96;    // multiple of kMR
constexpr int64_t kKC = 256;
constexpr int64_t kNCMax = 512;  // multiple of kNR

// Packs op(A)[i0:i0+mc, p0:p0+kc] into micro-panels: ap[panel][k][r], zero-padded rows.
void pack_a(float* ap, bool trans_a, const float* A, int64_t lda, int64_t i0, int64_t mc,
            int64_t p0, int64_t kc) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    int64_t mr = std::min(kMR, mc - ir);
    float* dst = ap + ir * kc;
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < mr; ++r) {
        int64_t i = i0 + ir + r, p = p0 + k;
        dst[k * kMR + r] = trans_a ? A[p * lda + i] : A[i * lda + p];
      }
      for (int64_t r = mr; r < kMR; ++r) dst[k * kMR + r] = 0.f;
    }
  }
}

// Packs op(B)[p0:p0+kc, j0:j0+nc] into micro-panels: bp[panel][k][c], zero-padded columns.
void pack_b(float* bp, bool trans_b, const float* B, int64_t ldb, int64_t p0, int64_t kc,
            int64_t j0, int64_t nc) {
  for (int64_t jr = 0; jr < nc; jr += kNR) {
    int64_t nr = std::min(kNR, nc - jr);
    float* dst = bp + jr * kc;
    if (!trans_b && nr == kNR) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = B + (p0 + k) * ldb + j0 + jr;
        for (int64_t c = 0; c < kNR; ++c) dst[k * kNR + c] = src[c];
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t c = 0; c < nr; ++c) {
        int64_t p = p0 + k, j = j0 + jr + c;
        dst[k * kNR + c] = trans_b ? B[j * ldb + p] : B[p * ldb + j];
      }
      for (int64_t c = nr; c < kNR; ++c) dst[k * kNR + c] = 0.f;
    }
  }
}

// acc[kMR][kNR] = sum_k ap[k][r] * bp[k][c]. GCC vector types (not intrinsics: portable, and
// compiled for whatever ISA the file is built for) keep the 2 * kMR accumulators in registers;
// the plain-loop form of this got SLP-vectorized into shuffles by g++ 12.
using v4f = float __attribute__((vector_size(16)));

inline v4f load4(const float* p) {
  v4f v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                         float* __restrict acc) {
  static_assert(kNR == 8, "two 4-wide vectors per row");
  v4f c0[kMR] = {}, c1[kMR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const v4f b0 = load4(bp + k * kNR), b1 = load4(bp + k * kNR + 4);
    const float* a = ap + k * kMR;
    for (int64_t r = 0; r < kMR; ++r) {
      c0[r] += a[r] * b0;
      c1[r] += a[r] * b1;
    }
  }
  for (int64_t r = 0; r < kMR; ++r) {
    __builtin_memcpy(acc + r * kNR, &c0[r], sizeof(v4f));
    __builtin_memcpy(acc + r * kNR + 4, &c1[r], sizeof(v4f));
  }
}

void scale_rows(float* C, int64_t ldc, int64_t M, int64_t N, float beta, bool parallel) {
  if (beta == 1.f) return;
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.f) {
      for (int64_t j = 0; j < N; ++j) row[j] = 0.f;
    } else {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const bool parallel = (double)M * N * K > 64.0 * 64 * 64 && !omp_in_parallel();
  scale_rows(C, ldc, M, N, beta, parallel);
  if (K <= 0 || alpha == 0.f) return;

  // Shrink the column tile until there are enough tiles to keep every thread busy.
  const int threads = parallel ? omp_get_max_threads() : 1;
  const int64_t m_tiles = (M + kMC - 1) / kMC;
  int64_t nc = std::min(kNCMax, (N + kNR - 1) / kNR * kNR);
  while (nc > 4 * kNR && m_tiles * ((N + nc - 1) / nc) < 2 * threads)
    nc = std::max(4 * kNR, (nc / 2 + kNR - 1) / kNR * kNR);
  const int64_t n_tiles = (N + nc - 1) / nc;
  const int64_t tiles = m_tiles * n_tiles;

#pragma omp parallel if (parallel && tiles > 1)
  {
    float* ap = scratch(ScratchSlot::gemm_a, kMC * kKC);
    float* bp = scratch(ScratchSlot::gemm_b, kKC * nc);
    float acc[kMR * kNR];
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t i0 = (t / n_tiles) * kMC, j0 = (t % n_tiles) * nc;
      const int64_t mc = std::min(kMC, M - i0), ncur = std::min(nc, N - j0);
      for (int64_t p0 = 0; p0 < K; p0 += kKC) {
        const int64_t kc = std::min(kKC, K - p0);
        pack_b(bp, trans_b, B, ldb, p0, kc, j0, ncur);
        pack_a(ap, trans_a, A, lda, i0, mc, p0, kc);
        for (int64_t jr = 0; jr < ncur; jr += kNR) {
          const int64_t nr = std::min(kNR, ncur - jr);
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t mr = std::min(kMR, mc - ir);
            micro_kernel(kc, ap + ir * kc, bp + jr * kc, acc);
            for (int64_t r = 0; r < mr; ++r) {
              float* crow = C + (i0 + ir + r) * ldc + j0 + jr;
              for (int64_t j = 0; j < nr; ++j) crow[j] += alpha * acc[r * kNR + j];
            }
          }
        }
      }
    }
  }
}

void sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < K; ++p) {
        double a = trans_a ? A[p * lda + i] : A[i * lda + p];
        double b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
        s += a * b;
      }
      float& c = C[i * ldc + j];
      c = (float)(alpha * s + (beta == 0.f ? 0.0 : (double)beta * c));
    }
  }
}

}  // namespace ds
