// Backward weights of a 3x3 stride-1 convolution by Winograd F(4x4, 3x3) (conv_winograd.h):
//   1. every tile's V = B^T d B (the forward's input transform) and Z = A dY A^T, stored per
//      position: V [36][tiles][C], Z [36][tiles][OC];
//   2. per position xi, dU[xi] = V[xi]^T Z[xi] on the brgemm cols tiles (k = tiles, strided; the
//      input channels contiguous), as the direct pass reduces over pixels;
//   3. per input channel, d_w += G^T dU G.
// 1 and 2 run over the whole batch or in parts of it (WgradWinoPlan); the results do not depend on
// the thread count or on the chunk sizes.
#include <omp.h>

#include <algorithm>
#include <atomic>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_caches.h"
#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_rows.h"
#include "engine/kernels/conv_tuning.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

bool winograd_backward_weights_applies(const ConvDims& d) { return winograd_applies(d); }

bool winograd_backward_weights_rule(const ConvDims& d) {
  // As the forward's rule (conv_winograd.cpp), outputs thrown away where 4 does not divide the
  // output side cost in proportion; and dU (36 x C x OC floats) is written and read whole once per
  // call, which a few tiles' GEMMs do not pay for (layer4 at batch 16, 64 tiles, is 1.4x faster
  // than direct; bench_conv, BENCHMARKS.md). The 64-channel and 32-tile limits are set by analogy
  // with the forward's, not measured at the edges; `deepslide tune` measures the shapes it runs.
  const double covered = (double)round_up(d.OH, 4) * round_up(d.OW, 4);
  const double waste = covered / ((double)d.OH * d.OW);
  const int64_t tiles = d.N * (int64_t)(covered / 16);
  return d.C >= 64 && d.OC >= 64 && waste < 1.5 && tiles >= 32;
}

bool use_winograd_backward_weights(const ConvDims& d) {
  if (reference_kernels() || !winograd_backward_weights_applies(d)) return false;
  const WinogradMode m = winograd_mode();
  if (m != WinogradMode::aut) return m == WinogradMode::on;
  if (const std::optional<bool> t = tuned_winograd(d, WinogradPass::wgrad)) return *t;  // `deepslide tune`'s
  return winograd_backward_weights_rule(d);
}

namespace {

// How the pass lays out and cuts its work. Two ways, by the size of dU (36 x C x OC floats) against
// 3/4 of this CPU's L2 (the CPU's, not the tunable blocking's: the two ways sum in different
// orders, and a tuning file must not change results):
//   whole batch (dU larger): every tile's V and Z are stored for the whole batch (in ranges of at
//     most 64 MB), then each position is one work item reducing over all tiles, chunk by chunk;
//     where dU is larger than 4 x wgrad_super_bytes (layer4: 37.7 MB) and the batch is one range,
//     in groups of input channels, each group's dU taken to d_w before the next is made;
//   in parts (dU fits: layer1's 64 x 64 channels, where the whole batch's V and Z, 58 MB, would go
//     to memory and back): the tiles are cut into `parts` runs by the shape alone, each a work item
//     with its own dU, transforming a chunk of tiles (~2 L2s of V and Z) and running all 36
//     positions' GEMMs on it before the next; the parts' dU are summed in order at the end.
// Either way each dU element is summed in one fixed order, whatever the thread count, chunk, range
// and group.
struct WgradWinoPlan {
  int64_t TH = 0, TW = 0, T = 0;  // tiles per column and row of an image, in the batch
  // Floats between consecutive tiles in V and in Z. Rows 1 KB or more apart put a cols tile's
  // successive k in the same few L1 sets, so wide ones are spaced by 16 floats, as the direct
  // pass spaces its operands (conv.cpp, WgradOperands).
  int64_t cs = 0, ldz = 0;
  int64_t ldu = 0;  // dU's row length: OC rounded up to 16 floats (whole vectors on every ISA)
  int NV = 0, M = 0;
  int64_t mt = 0, nb = 0;  // input-channel tiles of M, output-channel blocks of NV vectors
  int64_t parts = 0;       // 0: the whole batch at once; else the tile runs, each with its own dU
  int64_t groups = 1;      // whole batch: groups of the mt input-channel tiles, one dU at a time
  int64_t chunk = 0;       // tiles per GEMM call: whole batch, one position's V and Z rows of
                           // them stay in L2; in parts, the tiles transformed at a time

  WgradWinoPlan(const ConvDims& d, const BrgemmKernels& k) {
    TH = ceil_div(d.OH, 4), TW = ceil_div(d.OW, 4), T = d.N * TH * TW;
    ldu = round_up(d.OC, 16);
    cs = spaced_ld(d.C);
    ldz = spaced_ld(ldu, 512);
    NV = choose_nv(k, d.OC, d.C >= 128);
    M = k.max_m[NV];
    mt = ceil_div(d.C, M);
    nb = ceil_div(ceil_div(d.OC, k.vw), NV);
    const ConvBlocking b = conv_blocking(d, ConvPass::backward_weights);
    const int64_t tile_bytes = 4 * (cs + ldz);
    if (4 * 36 * d.C * ldu <= cpu_caches().l2 * 3 / 4) {
      parts = std::clamp<int64_t>(T / 64, 1, 8);
      chunk = std::clamp<int64_t>(4 * b.wgrad_chunk_bytes / (36 * tile_bytes), 1, ceil_div(T, parts));
    } else {
      chunk = std::clamp<int64_t>(b.wgrad_chunk_bytes / tile_bytes, 1, T);
      groups = std::clamp<int64_t>(ceil_div(4 * 36 * d.C * ldu, 4 * std::max<int64_t>(b.wgrad_super_bytes, 1)), 1, mt);
    }
  }
  int64_t c_at(const ConvDims& d, int64_t mi) const { return mi * d.C / mt; }  // input-channel tile mi's first
};

// Tile t's V and Z into slot s of buffers holding `rows` tiles per position.
void transform_tile(float* V, float* Z, int64_t rows, int64_t s, const WgradWinoPlan& pl, const float* d_out,
                    const float* in, const ConvDims& d, const WinogradKernels& wk, int64_t t) {
  if (t + 1 < pl.T) {  // the next tile's lines asked for ahead, as the forward passes do
    const float* next[36];
    winograd_tile_pixels<6, 4>(d, pl.TH, pl.TW, t + 1, in, next);
    winograd_prefetch_pixels<6, 4>(next, d.C);
    float* next_dy[16];
    const float* none[16];
    winograd_tile_outputs<4>(d, pl.TH, pl.TW, t + 1, const_cast<float*>(d_out), nullptr, 0, next_dy, none);
    winograd_prefetch_outputs<4>(next_dy, none, d.OC);
  }
  const float* pix[36];
  winograd_tile_pixels<6, 4>(d, pl.TH, pl.TW, t, in, pix);
  wk.input(V + s * pl.cs, rows * pl.cs, pix, d.C);
  float* dy[16];
  const float* unused[16];
  winograd_tile_outputs<4>(d, pl.TH, pl.TW, t, const_cast<float*>(d_out), nullptr, 0, dy, unused);
  wk.grad(Z + s * pl.ldz, rows * pl.ldz, dy, d.OC);
}

// One position's dU rows of input-channel tiles [mi0, mi1) (+)= sum over tiles [s0, s0 + n) of
// v[s]^T z[s], v and z that position's rows of V and Z, row c at du + (c - c_at(mi0)) * ldu; with
// set, written instead of added to.
void tiles_gemm(float* du, int64_t mi0, int64_t mi1, const float* v, const float* z, int64_t s0, int64_t n, bool set,
                const WgradWinoPlan& pl, const ConvDims& d, const BrgemmKernels& k) {
  const int64_t a_row = s0 * pl.cs, b_row = s0 * pl.ldz, base = pl.c_at(d, mi0);
  for (int64_t mi = mi0; mi < mi1; ++mi) {
    const int64_t c0 = pl.c_at(d, mi), c1 = pl.c_at(d, mi + 1);
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
                        .L = n,
                        .c = du + (c0 - base) * pl.ldu + oc0,
                        .ldc = pl.ldu,
                        .N = std::min<int64_t>((int64_t)nv * k.vw, d.OC - oc0),
                        .set = set};
      k.cols(ct, (int)(c1 - c0), nv);
    }
  }
}

// Whole batch: every tile transformed, then position xi's GEMMs over all tiles, chunk by chunk;
// in ranges of at most kWholeBytes of V and Z when the batch is larger (scratch is kept per thread
// for the process's life), which changes no sum: each dU element still adds its tiles in order.
constexpr int64_t kWholeBytes = int64_t(64) << 20;
std::atomic<int64_t> g_whole_bytes{kWholeBytes};

void whole_batch(float* d_w, const WgradWinoPlan& pl, const float* d_out, const float* in, const ConvDims& d,
                 const BrgemmKernels& k, const WinogradKernels& wk) {
  const int64_t range = std::clamp<int64_t>(g_whole_bytes.load() / (36 * 4 * (pl.cs + pl.ldz)), 1, pl.T);
  const int64_t groups = range >= pl.T ? pl.groups : 1;  // several ranges add into the whole dU
  float* V = scratch(ScratchSlot::winograd_wgrad_v, 36 * range * pl.cs);
  float* Z = scratch(ScratchSlot::winograd_wgrad_z, 36 * range * pl.ldz);
  float* dU = scratch(ScratchSlot::winograd_wgrad_du, 36 * ceil_div(pl.mt, groups) * pl.M * pl.ldu);  // a group's rows
  for (int64_t r0 = 0; r0 < pl.T; r0 += range) {
    const int64_t rows = std::min(range, pl.T - r0);
#pragma omp parallel if (use_threads(2.0 * 36 * rows * d.C * d.OC, kMinParallelFlops))
    {
#pragma omp for schedule(static)
      for (int64_t s = 0; s < rows; ++s) transform_tile(V, Z, rows, s, pl, d_out, in, d, wk, r0 + s);
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t mi0 = g * pl.mt / groups, mi1 = (g + 1) * pl.mt / groups;
        const int64_t cb = pl.c_at(d, mi0), cg = pl.c_at(d, mi1) - cb;
#pragma omp for schedule(dynamic, 1)
        for (int xi = 0; xi < 36; ++xi)
          for (int64_t s0 = 0; s0 < rows; s0 += pl.chunk)
            tiles_gemm(dU + xi * cg * pl.ldu, mi0, mi1, V + xi * rows * pl.cs, Z + xi * rows * pl.ldz, s0,
                       std::min(pl.chunk, rows - s0), r0 == 0 && s0 == 0, pl, d, k);
        if (r0 + rows < pl.T) continue;  // the same on every thread
#pragma omp for schedule(static)
        for (int64_t c = cb; c < cb + cg; ++c)
          wk.wgrad_out(d_w + c * d.OC, d.C * d.OC, dU + (c - cb) * pl.ldu, cg * pl.ldu, d.OC);
      }
    }
  }
}

// In parts: part p's tiles, chunk by chunk, into its own dU (dU + p * 36 * C * ldu); then
// d_w += G^T dU G per input channel, the parts' dU added in order first.
void in_parts(float* d_w, const WgradWinoPlan& pl, const float* d_out, const float* in, const ConvDims& d,
              const BrgemmKernels& k, const WinogradKernels& wk) {
  const int64_t du_size = 36 * d.C * pl.ldu;
  float* dU = scratch(ScratchSlot::winograd_wgrad_du, du_size * pl.parts);
#pragma omp parallel if (use_threads(2.0 * 36 * pl.T * d.C * d.OC, kMinParallelFlops))
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t p = 0; p < pl.parts; ++p) {
      float* V = scratch(ScratchSlot::winograd_wgrad_v, 36 * pl.chunk * pl.cs);  // this thread's chunk
      float* Z = scratch(ScratchSlot::winograd_wgrad_z, 36 * pl.chunk * pl.ldz);
      float* du = dU + p * du_size;
      const int64_t t1 = pl.T * (p + 1) / pl.parts;
      for (int64_t t0 = pl.T * p / pl.parts; t0 < t1; t0 += pl.chunk) {
        const int64_t n = std::min(pl.chunk, t1 - t0);
        for (int64_t s = 0; s < n; ++s) transform_tile(V, Z, pl.chunk, s, pl, d_out, in, d, wk, t0 + s);
        for (int xi = 0; xi < 36; ++xi)
          tiles_gemm(du + xi * d.C * pl.ldu, 0, pl.mt, V + xi * pl.chunk * pl.cs, Z + xi * pl.chunk * pl.ldz, 0, n,
                     t0 == pl.T * p / pl.parts, pl, d, k);
      }
    }
#pragma omp for schedule(static)
    for (int64_t c = 0; c < d.C; ++c) {
      float* du = dU + c * pl.ldu;
      for (int64_t p = 1; p < pl.parts; ++p)
        for (int xi = 0; xi < 36; ++xi) {
          float* dst = du + xi * d.C * pl.ldu;
          const float* src = dst + p * du_size;
          for (int64_t oc = 0; oc < d.OC; ++oc) dst[oc] += src[oc];
        }
      wk.wgrad_out(d_w + c * d.OC, d.C * d.OC, du, d.C * pl.ldu, d.OC);
    }
  }
}

}  // namespace

void set_winograd_wgrad_range_bytes(int64_t bytes) { g_whole_bytes.store(bytes > 0 ? bytes : kWholeBytes); }

void conv2d_backward_weights_winograd(float* d_w, float* d_b, const float* d_out, const float* in, const ConvDims& d) {
  DS_CHECK(winograd_backward_weights_applies(d), "conv2d_backward_weights_winograd: not a 3x3 stride-1 convolution");
  if (d.OC * d.C == 0) return;
  if (d_b) conv2d_bias_grad(d_b, d_out, d.N * d.OH * d.OW, d.OC);
  if (d.N == 0) return;
  if (reference_kernels()) return conv2d_backward_weights_winograd_ref(d_w, d_out, in, d);
  const BrgemmKernels& k = brgemm_kernels();
  const WinogradKernels& wk = winograd_kernels(cpu_isa());
  const WgradWinoPlan pl(d, k);
  if (pl.parts) in_parts(d_w, pl, d_out, in, d, k, wk);
  else whole_batch(d_w, pl, d_out, in, d, k, wk);
}

}  // namespace ds
