// The Winograd F(4x4, 3x3) driver (see conv_winograd.h): the filter transform, the per-layer
// choice, and the forward pass over blocks of tiles (input transform, 36 GEMMs on the brgemm
// rows tiles, output transform with the epilogue), each block run by one thread.
#include "engine/kernels/conv_winograd.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "base/error.h"
#include "base/hash.h"
#include "base/int_math.h"
#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv_1x1.h"
#include "engine/kernels/conv_rows.h"
#include "engine/kernels/conv_tuning.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"
#include "engine/kernels/tile_sums.h"

namespace ds {

ConvWinogradWeights pack_conv_winograd(const float* w, const float* scale, int64_t C, int64_t OC) {
  ConvWinogradWeights p;
  pack_conv_winograd_into(p, w, scale, C, OC);
  return p;
}

void pack_conv_winograd_into(ConvWinogradWeights& p, const float* w, const float* scale, int64_t C, int64_t OC) {
  if (!p.U.defined() || p.C != C || p.OC != OC) {
    p.C = C, p.OC = OC, p.ldo = round_up(OC, 16);
    p.U = Tensor(Shape{36, C, p.ldo});  // zeros past OC, which the transform below never writes
  }
  // Training transforms every forward (layers/conv2d.cpp): in parallel, vectorised (conv_winograd.h).
  winograd_kernels(cpu_isa()).filter(p.U.data(), p.ldo, w, scale, C, OC);
}

bool winograd_applies(const ConvDims& d) {
  return d.KH == 3 && d.KW == 3 && d.stride_h == 1 && d.stride_w == 1 && d.OH > 0 && d.OW > 0;
}

namespace {

std::atomic<int> g_forced_mode{-1};

// Tiles per block at which reading the transformed filters (36 x C x OC floats, once per
// block) costs what the block's V and M traffic does (36 x (C + OC) floats per tile, written
// and read): C*OC / (2 (C + OC)).
int64_t reuse_tiles(const ConvDims& d) { return d.C * d.OC / (2 * (d.C + d.OC)); }

WinogradMode env_mode() {
  const char* e = std::getenv("DEEPSLIDE_WINOGRAD");
  if (!e || !*e) return WinogradMode::aut;
  return parse_conv_algo(e, "DEEPSLIDE_WINOGRAD");
}

}  // namespace

WinogradMode parse_conv_algo(const std::string& v, const std::string& where) {
  if (v == "auto") return WinogradMode::aut;
  if (v == "direct" || v == "0") return WinogradMode::off;
  if (v == "winograd" || v == "1") return WinogradMode::on;
  throw InputError(where, "'" + v + "' is not auto, direct or winograd");
}

const char* conv_algo_name(WinogradMode m) {
  static const char* kNames[] = {"direct", "winograd", "auto"};
  return kNames[(int)m];
}

std::string conv_algo_key() {
  const WinogradMode m = winograd_mode();
  static const char* kKeyNames[] = {"off", "on", "auto"};  // as keys written before --conv-algo have them
  std::string k = kKeyNames[(int)m];
  if (conv_1x1_by_rows() && !reference_kernels()) k += "+1x1:rows";
  if (m != WinogradMode::aut || reference_kernels()) return k;
  const ConvTuningState& s = conv_tuning_state();
  if (s.winograd.empty()) return k;
  uint64_t h = kFnvOffset;  // over the choices that decide something
  for (const WinogradChoice& c : s.winograd) {
    const int64_t v[] = {c.C, c.OC, c.H, c.W, c.pad, c.batch, (int64_t)c.winograd, (int64_t)c.pass};
    h = fnv1a(v, sizeof v, h);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  return k + "+tuned:" + hex;
}

WinogradMode winograd_mode() {
  const int f = g_forced_mode.load(std::memory_order_relaxed);
  if (f >= 0) return (WinogradMode)f;
  static const WinogradMode m = env_mode();
  return m;
}

void force_winograd_mode(WinogradMode m) { g_forced_mode.store((int)m, std::memory_order_relaxed); }

bool winograd_pays(const ConvDims& d) {
  if (const std::optional<bool> t = tuned_winograd(d)) return *t;
  return winograd_rule(d);
}

bool winograd_rule(const ConvDims& d) {
  // Two costs the direct convolution does not have: outputs computed and thrown away where 4
  // does not divide the output side (covered / real pixels: 1.31 on layer3's 14x14 and layer4's
  // 7x7, 4 on a 2x2 map), and the transformed filters, 4x the weights, read once per block of
  // tiles: with fewer tiles than a quarter of WinoPlan's reuse size they dominate (layer4 at
  // batch 1: 4 tiles for 37.7 MB). Both limits from bench_conv's fwd and fwd_winograd figures
  // (BENCHMARKS.md, "Winograd").
  const double covered = (double)round_up(d.OH, 4) * round_up(d.OW, 4);
  const double waste = covered / ((double)d.OH * d.OW);
  const int64_t tiles = d.N * (int64_t)(covered / 16);
  const int64_t reuse = reuse_tiles(d);
  return d.C >= 16 && d.OC >= 16 && waste < 1.5 && tiles >= std::max<int64_t>(16, reuse / 4);
}

bool use_winograd(const ConvDims& d) {
  if (reference_kernels() || !winograd_applies(d)) return false;
  const WinogradMode m = winograd_mode();
  return m == WinogradMode::on || (m == WinogradMode::aut && winograd_pays(d));
}

namespace {

constexpr int64_t kWinoItemsPerThread = 4;

// How the forward pass cuts its work: nblocks blocks of at most Tb consecutive tiles, each cut
// into nparts parts of the output-channel blocks; a work item (block, part) runs on one thread
// from start to end in its own scratch: V [36][Tb][ldv] (the block's transformed inputs) and
// M [36][Tb][ldm] (the GEMMs' outputs, the part's columns). No thread waits for another (on a
// loaded machine a barrier per pass cost more than the passes). A tile's arithmetic does not
// depend on its block or part, so neither do the results.
struct WinoPlan {
  int64_t TH = 0, TW = 0, T = 0;  // tiles per column, per row, in all
  int64_t ldv = 0, ldm = 0;       // floats between tiles in V and in M
  int64_t nblocks = 0, Tb = 0;    // blocks, and tiles in the largest
  int64_t nparts = 1;             // parts of the output channels per block (items: nblocks * nparts)
  int NV = 0, M = 0;              // brgemm tile: M tiles x NV vectors of output channels
  int64_t nvec = 0, nob = 0;      // vectors of ldo, blocks of NV vectors

  WinoPlan(const ConvDims& d, int64_t ldo, const BrgemmKernels& k) {
    TH = ceil_div(d.OH, 4), TW = ceil_div(d.OW, 4), T = d.N * TH * TW;
    // V's and M's rows spaced (spaced_ld, brgemm.h), as backward weights' and the forward's.
    ldv = spaced_ld(round_up(d.C, 16));
    ldm = spaced_ld(ldo);
    NV = choose_nv(k, ldo);
    M = k.max_m[NV];
    nvec = ldo / k.vw;
    nob = ceil_div(nvec, NV);
    // A block's V and M stay in its thread's L2 (768 KB) between the passes; but a block also
    // reads all of U, so blocks are at least reuse_tiles().
    const int64_t per_tile = 4 * 36 * (ldv + ldm);
    const int64_t fit = (int64_t(768) << 10) / per_tile;
    nblocks = ceil_div(T, round_up(std::max({fit, reuse_tiles(d), (int64_t)M}), M));
    // Then as many blocks as it takes, rounded up to a multiple of the threads so they finish
    // together. With fewer blocks than threads (batch 1 on layer3 and layer4), the block's output
    // channels are cut into parts instead (kWinoItemsPerThread per thread), each part reading only
    // its columns of U: two blocks of 8 tiles at batch 1's layer3 each read all 9.4 MB of U.
    const int64_t threads = std::max(1, omp_get_max_threads());
    if (nblocks >= threads) nblocks = round_up(nblocks, threads);
    else nparts = std::clamp<int64_t>(ceil_div(kWinoItemsPerThread * threads, nblocks), 1, nob);
    nblocks = std::min(nblocks, T);
    Tb = ceil_div(T, nblocks);
  }
};

// Where a work item's GEMMs read the transformed filters: the packed weights' U, or the raw
// filters w [3, 3, C, OC], which each work item transforms for its own output channels, one row of
// six positions at a time, just before their GEMMs (conv2d_forward_winograd_per_call).
struct WinoFilters {
  const ConvWinogradWeights* packed = nullptr;
  const float* raw = nullptr;
};

// The GEMM of position xi and output-channel block ob over tiles [0, nt) of the block:
// M[xi][t][oc] = sum_c V[xi][t][c] * U[xi][c][oc], with B = &U[xi][0][the block's first oc] and
// ldb the distance between U's rows. The sums do not depend on where U is or on ldb.
void block_gemm(const WinoPlan& pl, const BrgemmKernels& k, const float* V, float* Mb, int64_t nt, int64_t xi,
                int64_t ob, const float* B, int64_t ldb, int64_t C) {
  static const int64_t zero = 0;
  const int nv = (int)std::min<int64_t>(pl.NV, pl.nvec - ob * pl.NV);
  const int64_t oc0 = ob * pl.NV * k.vw;
  const float* rows[32];
  for (int64_t m0 = 0; m0 < nt; m0 += pl.M) {
    const int mm = (int)std::min<int64_t>(pl.M, nt - m0);
    for (int m = 0; m < mm; ++m) rows[m] = V + (xi * pl.Tb + m0 + m) * pl.ldv;
    const RowsTile rt{.a_rows = rows,
                      .a_off = &zero,
                      .b = B,
                      .b_off = &zero,
                      .ldb = ldb,
                      .taps = 1,
                      .K = C,
                      .c = Mb + (xi * pl.Tb + m0) * pl.ldm + oc0,
                      .ldc = pl.ldm,
                      .N = (int64_t)nv * k.vw};
    k.rows(rt, mm, nv);
  }
}

// A work item's 36 x (its output-channel blocks [ob0, ob1)) GEMMs. From raw filters: the item's
// columns [poc0, poc1) of U, six positions at a time, into its scratch ([6][C][poc1 - poc0]; the
// columns past OC zero), each transformed just before its GEMMs while it is in L2.
void item_gemms(const WinoFilters& f, const ConvDims& d, const WinoPlan& pl, const BrgemmKernels& k,
                const WinogradKernels& wk, const float* V, float* Mb, int64_t nt, int64_t ob0, int64_t ob1) {
  const int64_t vb = pl.NV * k.vw;  // output channels per block
  if (f.packed) {
    const ConvWinogradWeights& w = *f.packed;
    for (int64_t xi = 0; xi < 36; ++xi)
      for (int64_t ob = ob0; ob < ob1; ++ob)
        block_gemm(pl, k, V, Mb, nt, xi, ob, w.U.data() + xi * w.C * w.ldo + ob * vb, w.ldo, w.C);
    return;
  }
  const int64_t poc0 = ob0 * vb, poc1 = std::min(ob1 * vb, pl.nvec * k.vw), pw = poc1 - poc0;
  const int64_t real1 = std::min(poc1, d.OC);
  float* U = scratch(ScratchSlot::winograd_u_rows, 6 * d.C * pw);
  if (real1 < poc1)  // filter_rows never writes these columns: zeroed once for the six rows
    for (int64_t r = 0; r < 6 * d.C; ++r) std::fill(U + r * pw + (real1 - poc0), U + (r + 1) * pw, 0.0f);
  for (int a = 0; a < 6; ++a) {
    wk.filter_rows(U, pw, d.C * pw, f.raw, d.C, d.OC, a, poc0, real1);
    for (int b = 0; b < 6; ++b)
      for (int64_t ob = ob0; ob < ob1; ++ob)
        block_gemm(pl, k, V, Mb, nt, a * 6 + b, ob, U + b * d.C * pw + (ob * vb - poc0), pw, d.C);
  }
}

// The input pass of tiles [t0, t0 + nt): V[xi][t] = B^T d B, the next tile's pixels asked for
// ahead (winograd_prefetch_pixels).
void input_pass(const WinogradKernels& wk, const ConvDims& d, const WinoPlan& pl, const float* in, int64_t t0,
                int64_t nt, float* V) {
  const float* pix[2][36];
  winograd_tile_pixels<6, 4>(d, pl.TH, pl.TW, t0, in, pix[0]);
  for (int64_t t = 0; t < nt; ++t) {
    if (t + 1 < nt) {
      winograd_tile_pixels<6, 4>(d, pl.TH, pl.TW, t0 + t + 1, in, pix[(t + 1) & 1]);
      winograd_prefetch_pixels<6, 4>(pix[(t + 1) & 1], d.C);
    }
    wk.input(V + t * pl.ldv, pl.Tb * pl.ldv, pix[t & 1], d.C);
  }
}

void run_winograd(float* out, const float* in, const WinoFilters& f, const WinoPlan& pl, const ConvDims& d,
                  const ConvEpilogue& ep) {
  const BrgemmKernels& k = brgemm_kernels();
  const WinogradKernels& wk = winograd_kernels(cpu_isa());
  const TileSums sums = ep.channel_sums ? tile_sums(pl.T, d.OC) : TileSums{};
  DS_CHECK(pl.M <= 32, "conv2d_forward_winograd: brgemm tile taller than 32 rows");
  const double flops = 2.0 * 36 * pl.T * d.C * d.OC;
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
    float* V = scratch(ScratchSlot::winograd_v, 36 * pl.Tb * pl.ldv);
    float* Mb = scratch(ScratchSlot::winograd_m, 36 * pl.Tb * pl.ldm);
    int64_t have = -1;  // the block whose inputs this thread's V holds
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < pl.nblocks * pl.nparts; ++it) {
      const int64_t b = it / pl.nparts, part = it % pl.nparts;
      const int64_t b0 = b * pl.T / pl.nblocks, nt = (b + 1) * pl.T / pl.nblocks - b0;
      if (have != b) input_pass(wk, d, pl, in, b0, nt, V);
      have = b;
      const int64_t ob0 = pl.nob * part / pl.nparts, ob1 = pl.nob * (part + 1) / pl.nparts;
      item_gemms(f, d, pl, k, wk, V, Mb, nt, ob0, ob1);
      // The part's output channels [oc0, oc1): its columns of M, output and residual pixels.
      const int64_t oc0 = ob0 * pl.NV * k.vw, oc1 = std::min(d.OC, ob1 * pl.NV * k.vw);
      if (oc1 <= oc0) continue;
      float* o[2][16];
      const float* r[2][16];
      winograd_tile_outputs<4>(d, pl.TH, pl.TW, b0, out, ep.residual, oc0, o[0], r[0]);
      for (int64_t t = 0; t < nt; ++t) {
        if (t + 1 < nt) {  // the next tile's lines asked for ahead (winograd_prefetch_outputs)
          const int nx = (t + 1) & 1;
          winograd_tile_outputs<4>(d, pl.TH, pl.TW, b0 + t + 1, out, ep.residual, oc0, o[nx], r[nx]);
          winograd_prefetch_outputs<4>(o[nx], r[nx], oc1 - oc0);
        }
        wk.output(o[t & 1], Mb + t * pl.ldm + oc0, pl.Tb * pl.ldm, oc1 - oc0, ep.bias ? ep.bias + oc0 : nullptr,
                  ep.residual ? r[t & 1] : nullptr, ep.relu, sums.parts ? sums.row(b0 + t) + oc0 : nullptr, sums.ld);
      }
    }
  }
  if (sums.parts) combine_tile_sums(ep.channel_sums, sums, d.OC);
}

}  // namespace

void conv2d_forward_winograd(float* out, const float* in, const ConvWinogradWeights& w, const ConvDims& d,
                             const ConvEpilogue& ep) {
  DS_CHECK(winograd_applies(d) && w.C == d.C && w.OC == d.OC && !ep.weight_scale && !ep.max_pool,
           "conv2d_forward_winograd: not a 3x3 stride-1 convolution of the packed weights' shape");
  if (reference_kernels() || d.N == 0 || d.OC == 0) return conv2d_forward_winograd_ref(out, in, w, d, ep);
  run_winograd(out, in, WinoFilters{.packed = &w}, WinoPlan(d, w.ldo, brgemm_kernels()), d, ep);
}

namespace {

// The plan when the per-call forward transforms inside its work items (one block of tiles, so
// each transformed filter is read once), else none.
std::optional<WinoPlan> fused_plan(const ConvDims& d) {
  if (reference_kernels() || d.N == 0 || d.OC == 0 || !winograd_applies(d)) return std::nullopt;
  const WinoPlan pl(d, round_up(d.OC, 16), brgemm_kernels());
  if (pl.nblocks > 1) return std::nullopt;
  return pl;
}

}  // namespace

void conv2d_forward_winograd_per_call(float* out, const float* in, const float* w, ConvWinogradWeights& buf,
                                      const ConvDims& d, const ConvEpilogue& ep) {
  DS_CHECK(winograd_applies(d) && !ep.weight_scale && !ep.max_pool,
           "conv2d_forward_winograd_per_call: not a 3x3 stride-1 convolution");
  if (const std::optional<WinoPlan> pl = fused_plan(d)) return run_winograd(out, in, WinoFilters{.raw = w}, *pl, d, ep);
  pack_conv_winograd_into(buf, w, nullptr, d.C, d.OC);
  conv2d_forward_winograd(out, in, buf, d, ep);
}

bool winograd_per_call_fuses(const ConvDims& d) { return fused_plan(d).has_value(); }

}  // namespace ds
