// Backward weights of a 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (conv_winograd.h), in
// three passes over the whole batch:
//   1. every tile's V = B^T d B (the forward's input transform) and Z = A dY A^T, stored per
//      position: V [36][tiles][C], Z [36][tiles][OC];
//   2. per position xi, dU[xi] = V[xi]^T Z[xi] on the brgemm cols tiles (k = tiles, strided; the
//      input channels contiguous), as the direct pass reduces over pixels;
//   3. per input channel, d_w += G^T dU G.
// Each position is one work item that sums its dU over the tiles in tile order, so the results do
// not depend on the thread count.
#include <omp.h>

#include <algorithm>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_rows.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

bool winograd_backward_weights_applies(const ConvDims& d) { return winograd_applies(d); }

bool winograd_backward_weights_rule(const ConvDims& d) {
  // As the forward's rule (conv_winograd.cpp), outputs thrown away where 4 does not divide the
  // output side cost in proportion; and dU (36 x C x OC floats) is written and read whole once per
  // call, which a few tiles' GEMMs do not pay for (layer4 at batch 16, 64 tiles, is 1.4x faster
  // than direct). Fewer than 64 channels: from bench_conv's bwd_weights against
  // bwd_weights_winograd (BENCHMARKS.md).
  const double covered = (double)round_up(d.OH, 4) * round_up(d.OW, 4);
  const double waste = covered / ((double)d.OH * d.OW);
  const int64_t tiles = d.N * (int64_t)(covered / 16);
  return d.C >= 64 && d.OC >= 64 && waste < 1.5 && tiles >= 32;
}

bool use_winograd_backward_weights(const ConvDims& d) {
  if (reference_kernels() || !winograd_backward_weights_applies(d)) return false;
  const WinogradMode m = winograd_mode();
  return m == WinogradMode::on || (m == WinogradMode::aut && winograd_backward_weights_rule(d));
}

namespace {

// How the pass lays out and cuts its work.
struct WgradWinoPlan {
  int64_t TH = 0, TW = 0, T = 0;  // tiles per column and row of an image, in the batch
  // Floats between consecutive tiles in V and in Z. Rows 1 KB or more apart put a cols tile's
  // successive k in the same few L1 sets, so wide ones are spaced by 16 floats, as the direct
  // pass spaces its operands (conv.cpp, WgradOperands).
  int64_t cs = 0, ldz = 0;
  int64_t ldu = 0;  // dU's row length: OC rounded up to 16 floats (whole vectors on every ISA)
  int NV = 0, M = 0;
  int64_t mt = 0, nb = 0;  // input-channel tiles of M, output-channel blocks of NV vectors
  int64_t chunk = 0;       // tiles whose V and Z rows of one position stay in L2 together

  WgradWinoPlan(const ConvDims& d, const BrgemmKernels& k) {
    TH = ceil_div(d.OH, 4), TW = ceil_div(d.OW, 4), T = d.N * TH * TW;
    ldu = round_up(d.OC, 16);
    cs = d.C >= 256 ? d.C + 16 : d.C;
    ldz = ldu >= 512 ? ldu + 16 : ldu;
    NV = choose_nv(k, d.OC, d.C >= 128);
    M = k.max_m[NV];
    mt = ceil_div(d.C, M);
    nb = ceil_div(ceil_div(d.OC, k.vw), NV);
    const int64_t chunk_bytes = conv_blocking(d, ConvPass::backward_weights).wgrad_chunk_bytes;
    chunk = std::clamp<int64_t>(chunk_bytes / (4 * (cs + ldz)), 1, T);
  }
};

// Pass 1 for tile t.
void transform_tile(float* V, float* Z, const WgradWinoPlan& pl, const float* d_out, const float* in, const ConvDims& d,
                    const WinogradKernels& wk, int64_t t) {
  const float* pix[36];
  winograd_tile_pixels<6, 4>(d, pl.TH, pl.TW, t, in, pix);
  wk.input(V + t * pl.cs, pl.T * pl.cs, pix, d.C);
  float* dy[16];
  const float* unused[16];
  winograd_tile_outputs<4>(d, pl.TH, pl.TW, t, const_cast<float*>(d_out), nullptr, 0, dy, unused);
  wk.grad(Z + t * pl.ldz, pl.T * pl.ldz, dy, d.OC);
}

// Pass 2 for position xi: dU[xi] = sum over tiles of V[xi][t]^T Z[xi][t], chunk by chunk of
// tiles, every tile of dU[xi] over one chunk before the next.
void position_gemms(float* dU, const float* V, const float* Z, const WgradWinoPlan& pl, const ConvDims& d,
                    const BrgemmKernels& k, int xi) {
  float* du = dU + xi * d.C * pl.ldu;
  const float* v = V + xi * pl.T * pl.cs;
  const float* z = Z + xi * pl.T * pl.ldz;
  for (int64_t t0 = 0; t0 < pl.T; t0 += pl.chunk) {
    const int64_t a_row = t0 * pl.cs, b_row = t0 * pl.ldz;
    for (int64_t mi = 0; mi < pl.mt; ++mi) {
      const int64_t c0 = mi * d.C / pl.mt, c1 = (mi + 1) * d.C / pl.mt;
      for (int64_t ob = 0; ob < pl.nb; ++ob) {
        const int64_t oc0 = ob * pl.NV * k.vw;
        const int nv = (int)std::min<int64_t>(pl.NV, ceil_div(d.OC - oc0, k.vw));
        const ColsTile ct{.a = v + c0,
                          .a_row = &a_row,
                          .sa = pl.cs,
                          .b = z + oc0,
                          .b_row = &b_row,
                          .sb = pl.ldz,
                          .rows = 1,
                          .L = std::min(pl.chunk, pl.T - t0),
                          .c = du + c0 * pl.ldu + oc0,
                          .ldc = pl.ldu,
                          .N = std::min<int64_t>((int64_t)nv * k.vw, d.OC - oc0),
                          .set = t0 == 0};
        k.cols(ct, (int)(c1 - c0), nv);
      }
    }
  }
}

}  // namespace

void conv2d_backward_weights_winograd(float* d_w, float* d_b, const float* d_out, const float* in, const ConvDims& d) {
  DS_CHECK(winograd_backward_weights_applies(d), "conv2d_backward_weights_winograd: not a 3x3 stride-1 convolution");
  if (d.OC * d.C == 0) return;
  if (d_b) conv2d_bias_grad(d_b, d_out, d.N * d.OH * d.OW, d.OC);
  if (d.N == 0) return;
  if (reference_kernels()) return conv2d_backward_weights_winograd_ref(d_w, d_out, in, d);
  const BrgemmKernels& k = brgemm_kernels();
  const WinogradKernels& wk = winograd_kernels(cpu_isa());
  const WgradWinoPlan pl(d, k);
  float* V = scratch(ScratchSlot::winograd_wgrad_v, 36 * pl.T * pl.cs);
  float* Z = scratch(ScratchSlot::winograd_wgrad_z, 36 * pl.T * pl.ldz);
  float* dU = scratch(ScratchSlot::winograd_wgrad_du, 36 * d.C * pl.ldu);
  const double flops = 2.0 * 36 * pl.T * d.C * d.OC;
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < pl.T; ++t) transform_tile(V, Z, pl, d_out, in, d, wk, t);
#pragma omp for schedule(dynamic, 1)
    for (int xi = 0; xi < 36; ++xi) position_gemms(dU, V, Z, pl, d, k, xi);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < d.C; ++c) wk.wgrad_out(d_w + c * d.OC, d.C * d.OC, dU + c * pl.ldu, d.C * pl.ldu, d.OC);
  }
}

}  // namespace ds
