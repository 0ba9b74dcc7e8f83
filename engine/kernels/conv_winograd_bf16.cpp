// The bf16 Winograd F(2x2, 3x3) driver (see conv_winograd_bf16.h): the filter transform and
// packing, the per-layer choice, and the forward pass over blocks of tiles (input transform into
// bf16 V, 16 GEMMs on the bf16 tiles, output transform with the epilogue).
#include "engine/kernels/conv_winograd_bf16.h"

#include <omp.h>

#include <algorithm>
#include <optional>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv_tuning.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

ConvWinogradBf16Weights pack_conv_winograd_bf16(const float* w, const float* scale, int64_t C, int64_t OC) {
  ConvWinogradBf16Weights p;
  static_cast<LowpPacking&>(p) = LowpPacking(1, 1, C, OC, 2);
  p.packed.assign((size_t)(16 * p.size()), 0);  // zeros past C and OC
  // In parallel and vectorised (conv_winograd.h): a model's first bf16 batch packs every layer,
  // and per-filter scalar loops made that ~10x the batch itself.
  uint16_t* U = p.packed.data();
  const int64_t size = p.size();
  winograd_filter_transform(kWino2G, w, scale, C, OC, [&](int xi, int64_t c, int64_t oc, float u) {
    U[xi * size + p.index(0, 0, c, oc)] = to_bf16(u);
  });
  return p;
}

bool winograd_bf16_rule(const ConvDims& d) {
  // From bench_conv (BENCHMARKS.md, "bf16 Winograd"): on ResNet-18's 64..512-channel layers it
  // wins at batch 1 and 16, layer4's 7x7 included (8x8 computed, 1.31x the outputs); narrower
  // layers are bound by the transforms' memory traffic, and 1.5x waste as conv_winograd.cpp's rule.
  const double covered = (double)round_up(d.OH, 2) * round_up(d.OW, 2);
  return d.C >= 64 && d.OC >= 64 && covered / ((double)d.OH * d.OW) < 1.5;
}

bool use_winograd_bf16(const ConvDims& d) {
  if (reference_kernels() || !winograd_applies(d) || !has_bf16_kernels()) return false;
  const WinogradMode m = winograd_mode();
  if (m != WinogradMode::aut) return m == WinogradMode::on;
  if (const std::optional<bool> t = tuned_winograd(d, WinogradPass::bf16)) return *t;  // what `deepslide tune` measured
  return winograd_bf16_rule(d);
}

namespace {

// How the pass cuts its work, as conv_winograd.cpp's WinoPlan: nblocks blocks of at most Tb
// consecutive tiles, each cut into nparts parts of the output-channel blocks; an item (block,
// part) runs on one thread in its scratch: V [16][Tb][ldv] bf16 and M [16][Tb][ldm] fp32.
struct WinoBf16Plan {
  int64_t TH = 0, TW = 0, T = 0;
  int64_t ldv = 0, ldm = 0;  // bf16 values between tiles in V, floats between tiles in M
  int64_t nblocks = 0, Tb = 0, nparts = 1;

  WinoBf16Plan(const ConvDims& d, const ConvWinogradBf16Weights& w) {
    TH = ceil_div(d.OH, 2), TW = ceil_div(d.OW, 2), T = d.N * TH * TW;
    // Rows 1 KB or more apart would share a few L1 sets: spaced by a cache line.
    ldv = w.Cp >= 512 ? w.Cp + 32 : w.Cp;
    ldm = spaced_ld(w.nb * w.L);
    // A block's V and M (per_tile bytes a tile) sized to 1.5x this core's L2: on Zen 5 (1 MB L2)
    // layer1's convolution ran 3.5-3.7 ms at 1.5 MB against 4.0-4.4 ms at 768 KB (fp32
    // Winograd's size), layer2-4 alike (BENCHMARKS.md, "bf16 Winograd"); the block also reads
    // all of U (16 x C x OC bf16): at least the tiles whose V and M traffic matches it.
    const int64_t per_tile = 16 * (2 * ldv + 4 * ldm);
    const int64_t fit = cpu_caches().l2 * 3 / 2 / per_tile;
    const int64_t reuse = d.C * d.OC / (2 * (d.C + 2 * d.OC));
    nblocks = ceil_div(T, std::max<int64_t>({fit, reuse, 16}));
    const int64_t threads = std::max(1, omp_get_max_threads());
    if (nblocks >= threads) nblocks = round_up(nblocks, threads);
    else nparts = std::clamp<int64_t>(ceil_div(4 * threads, nblocks), 1, w.nb);
    nblocks = std::min(nblocks, T);
    Tb = ceil_div(T, nblocks);
  }
};

// The input pass of tiles [t0, t0 + nt): V[xi][t] = bf16(B^T d B), the next tile's pixels asked
// for ahead (winograd_prefetch_pixels).
void input_pass(const WinogradBf16Transforms& tr, const ConvDims& d, const WinoBf16Plan& pl, const float* in,
                int64_t t0, int64_t nt, int64_t Ck, uint16_t* V) {
  const float* pix[2][16];
  winograd_tile_pixels<4, 2>(d, pl.TH, pl.TW, t0, in, pix[0]);
  for (int64_t t = 0; t < nt; ++t) {
    if (t + 1 < nt) {
      winograd_tile_pixels<4, 2>(d, pl.TH, pl.TW, t0 + t + 1, in, pix[(t + 1) & 1]);
      winograd_prefetch_pixels<4, 2>(pix[(t + 1) & 1], d.C);
    }
    tr.input(V + t * pl.ldv, pl.Tb * pl.ldv, pix[t & 1], d.C, Ck);
  }
}

// The 16 GEMMs of nt tiles over output-channel blocks [ob0, ob1): M[xi][t][oc] = V[xi][t] . U[xi]
// on the bf16 tiles, Mt rows at a time (a short last tile repeats its last row).
void gemm_pass(const ConvBf16Kernels& k, const ConvWinogradBf16Weights& w, const ConvDims& d, const WinoBf16Plan& pl,
               const uint16_t* V, int64_t nt, int64_t ob0, int64_t ob1, float* M) {
  const int NV = w.NV, Mt = k.max_m[NV];
  const int64_t block = w.kg * w.L * 2;  // bf16 values per packed block of one position
  Bf16Tile tile;
  tile.a_ld = 0;
  tile.KH = 1;
  tile.kg = w.kg;
  tile.ldc = pl.ldm;
  const uint16_t* rows[16];
  tile.a_rows = rows;
  for (int64_t xi = 0; xi < 16; ++xi)
    for (int64_t ob = ob0; ob < ob1; ++ob) {
      tile.b = w.packed.data() + xi * w.size() + ob * block;
      tile.N = std::min(w.L, d.OC - ob * w.L);
      for (int64_t m0 = 0; m0 < nt; m0 += Mt) {
        tile.rows = (int)std::min<int64_t>(Mt, nt - m0);
        for (int m = 0; m < Mt; ++m) rows[m] = V + (xi * pl.Tb + m0 + std::min(m, tile.rows - 1)) * pl.ldv;
        tile.c = M + (xi * pl.Tb + m0) * pl.ldm + ob * w.L;
        k.tile(tile, Mt, NV);
      }
    }
}

// The output pass of tiles [t0, t0 + nt), output channels [oc0, oc1): A^T M A with the epilogue,
// the next tile's output and residual pixels asked for ahead (winograd_prefetch_outputs).
void output_pass(const WinogradBf16Transforms& tr, const ConvDims& d, const WinoBf16Plan& pl, const ConvEpilogue& ep,
                 const float* M, int64_t t0, int64_t nt, int64_t oc0, int64_t oc1, float* out) {
  float* o[2][4];
  const float* r[2][4];
  winograd_tile_outputs<2>(d, pl.TH, pl.TW, t0, out, ep.residual, oc0, o[0], r[0]);
  for (int64_t t = 0; t < nt; ++t) {
    if (t + 1 < nt) {
      const int nx = (t + 1) & 1;
      winograd_tile_outputs<2>(d, pl.TH, pl.TW, t0 + t + 1, out, ep.residual, oc0, o[nx], r[nx]);
      winograd_prefetch_outputs<2>(o[nx], r[nx], oc1 - oc0);
    }
    tr.output(o[t & 1], M + t * pl.ldm + oc0, pl.Tb * pl.ldm, oc1 - oc0, ep.bias ? ep.bias + oc0 : nullptr,
              ep.residual ? r[t & 1] : nullptr, ep.relu);
  }
}

}  // namespace

void conv2d_forward_winograd_bf16_on(const ConvBf16Kernels& k, float* out, const float* in,
                                     const ConvWinogradBf16Weights& w, const ConvDims& d, const ConvEpilogue& ep) {
  DS_CHECK(winograd_applies(d) && w.C == d.C && w.OC == d.OC && !ep.weight_scale && !ep.max_pool && !ep.channel_sums,
           "conv2d_forward_winograd_bf16: not a 3x3 stride-1 convolution of the packed weights' shape");
  DS_CHECK(has_bf16_kernels(), "conv2d_forward_winograd_bf16: the transforms need AVX512-BF16");
  if (d.N == 0 || d.OC == 0) return;
  const WinogradBf16Transforms& tr = winograd_bf16_transforms_avx512bf16();
  const WinoBf16Plan pl(d, w);
  DS_CHECK(k.max_m[w.NV] <= 16, "conv2d_forward_winograd_bf16: tile taller than 16 rows");
  const double flops = 2.0 * 16 * pl.T * d.C * d.OC;
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
    uint16_t* V = reinterpret_cast<uint16_t*>(scratch(ScratchSlot::winograd_bf16_v, ceil_div(16 * pl.Tb * pl.ldv, 2)));
    float* M = scratch(ScratchSlot::winograd_bf16_m, 16 * pl.Tb * pl.ldm);
    int64_t have = -1;  // the block whose inputs this thread's V holds
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < pl.nblocks * pl.nparts; ++it) {
      const int64_t b = it / pl.nparts, part = it % pl.nparts;
      const int64_t t0 = b * pl.T / pl.nblocks, nt = (b + 1) * pl.T / pl.nblocks - t0;
      if (have != b) input_pass(tr, d, pl, in, t0, nt, w.Cp, V);
      have = b;
      const int64_t ob0 = w.nb * part / pl.nparts, ob1 = w.nb * (part + 1) / pl.nparts;
      gemm_pass(k, w, d, pl, V, nt, ob0, ob1, M);
      const int64_t oc0 = ob0 * w.L, oc1 = std::min(d.OC, ob1 * w.L);
      if (oc1 > oc0) output_pass(tr, d, pl, ep, M, t0, nt, oc0, oc1, out);
    }
  }
}

void conv2d_forward_winograd_bf16(float* out, const float* in, const ConvWinogradBf16Weights& w, const ConvDims& d,
                                  const ConvEpilogue& ep) {
  if (reference_kernels() || !has_bf16_kernels()) return conv2d_forward_winograd_bf16_ref(out, in, w, d, ep);
  conv2d_forward_winograd_bf16_on(has_amx_bf16_kernels() ? conv_bf16_kernels_amx() : conv_bf16_kernels_avx512bf16(),
                                  out, in, w, d, ep);
}

}  // namespace ds
