// 1x1 convolutions as GEMMs over pixels (see conv_1x1.h): forward and backward data share one
// driver (run_pixel_gemm) on the brgemm rows tiles; backward weights runs the cols tiles over the
// operands in place, chunk by chunk of output rows.
#include "engine/kernels/conv_1x1.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_rows.h"
#include "engine/kernels/layout.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"
#include "engine/kernels/tile_sums.h"
#include "engine/kernels/work_runs.h"

namespace ds {

bool conv_1x1_by_rows() {
  static const bool rows = [] {
    const char* e = std::getenv("DEEPSLIDE_CONV_1X1");
    if (!e || !*e || std::string(e) == "gemm") return false;
    if (std::string(e) == "rows") return true;
    throw InputError("DEEPSLIDE_CONV_1X1", "'" + std::string(e) + "' is not gemm or rows");
  }();
  return rows;
}

bool conv_is_1x1(const ConvDims& d) {
  return !conv_1x1_by_rows() && d.KH == 1 && d.KW == 1 && d.pad_h == 0 && d.pad_w == 0;
}

namespace {

// N x OH x OW output pixels placed in an image of H x W pixels at (oh*sh, ow*sw), pixels ld
// floats apart.
struct Grid {
  int64_t N = 0, OH = 0, OW = 0;
  int64_t H = 0, W = 0, sh = 1, sw = 1;
  int64_t ld = 0;
};

// ptr[i] = base + where pixel p0 + i of the grid starts, i < count: walked, one division per
// call rather than three per pixel.
template <class T>
void grid_rows(T** ptr, T* base, const Grid& g, int64_t p0, int64_t count) {
  int64_t n = p0 / (g.OH * g.OW), i = p0 / g.OW % g.OH, j = p0 % g.OW;
  for (int64_t q = 0; q < count; ++q) {
    ptr[q] = base + ((n * g.H + i * g.sh) * g.W + j * g.sw) * g.ld;
    if (++j == g.OW) {
      j = 0;
      if (++i == g.OH) i = 0, ++n;
    }
  }
}

// dst rows (dst + grid(p)) (=|+=) epilogue(src rows (src + grid(p)) . B), B [K, cols] packed as
// nb panels [K][ldp] (output-channel block ob: columns ob*ldp .. +ldp, zeros past cols).
struct PixelGemm {
  const float* src = nullptr;
  Grid sg;  // src pixels, K floats each (sg.ld = K)
  float* dst = nullptr;
  Grid dg;  // dst pixels (dg.ld = cols); a plain [P, cols] when dg.H == OH, dg.W == OW, strides 1
  int64_t K = 0, cols = 0;
  const float* bp = nullptr;
  int NV = 0;
  ConvEpilogue ep;  // residual [P, cols]
  bool accumulate = false;
};

bool plain(const Grid& g) { return g.H == g.OH && g.W == g.OW && g.sh == 1 && g.sw == 1; }

int64_t gemm_pixels(const PixelGemm& g) { return g.sg.N * g.sg.OH * g.sg.OW; }

// The output columns as the tiles cover them: nb blocks of NV vectors of vw floats (ldp floats
// each, the last one partial); M pixels (or channels) per tile.
struct ColumnBlocks {
  int M = 0, NV = 0;
  int64_t vw = 0, ldp = 0, nvec = 0, nb = 0;
  ColumnBlocks(const BrgemmKernels& k, int nv, int64_t cols)
      : M(k.max_m[nv]), NV(nv), vw(k.vw), ldp((int64_t)nv * k.vw), nvec(ceil_div(cols, k.vw)), nb(ceil_div(nvec, nv)) {}
};

// Work items per thread the blocks are split for: a thread done with its run steals whole items,
// so the last one can leave the others idle for up to one item. ResNet-50's 512-to-2048-channel
// 1x1 at 7 x 7 (batch 16) had 9 items, 48 pixels x 32 blocks each, and ran at ~84% of the FMA
// peak on Zen 5; split to 64 it ran at ~90%, and the 256-to-1024 one at 14 x 14 (17 items) went
// from ~83% to ~87%.
constexpr int64_t kMinItemsPerThread = 32;

// The work of a pixel GEMM: reduction chunks (chunk_k, which decides the summation order) and
// pixel groups whose source rows for one chunk stay in L2 (group_bytes of them) while every
// output-channel block passes through them; with fewer groups than kMinItemsPerThread per thread
// (batch 1, 7 x 7 maps, wide outputs) a group's blocks are split too, into consecutive items (the
// same thread's, mostly, so the group's rows stay in its L2).
struct PixelPlan : ColumnBlocks {
  int64_t P = 0, nk = 0, group = 0, ngroups = 0, obparts = 0, items = 0;
  std::vector<int64_t> k0;  // [nk + 1]: chunk boundaries

  PixelPlan(const PixelGemm& g, const BrgemmKernels& k, const ConvBlocking& b, int threads)
      : ColumnBlocks(k, g.NV, g.cols) {
    P = gemm_pixels(g);
    nk = ceil_div(g.K, std::max<int64_t>(1, b.chunk_k));
    for (int64_t c = 0; c <= nk; ++c) k0.push_back(g.K * c / nk);
    const int64_t kc = ceil_div(g.K, nk);
    const int64_t unit = g.ep.channel_sums ? M * kTilesPerSum : M;  // whole runs sharing a sums partial
    const int64_t max_group = std::max<int64_t>(1, b.group_bytes / (4 * kc) / unit) * unit;
    group = round_up(ceil_div(P, ceil_div(P, max_group)), unit);
    ngroups = ceil_div(P, group);
    obparts = std::clamp<int64_t>(ceil_div(kMinItemsPerThread * threads, ngroups), 1, nb);
    obparts = ceil_div(nb, ceil_div(nb, obparts));  // parts of as many blocks, within one
    items = ngroups * obparts;
  }
};

// Item it of the plan: pixel group it / obparts, its share it % obparts of the blocks.
// sums: with g.ep.channel_sums, the partials (partial i = pixels [i, i + 1) * M * kTilesPerSum).
void pixel_item(const PixelGemm& g, const PixelPlan& pl, const BrgemmKernels& k, int64_t it, const TileSums& sums,
                std::vector<const float*>& arow, std::vector<float*>& cbase, std::vector<float*>& crow) {
  const int64_t grp = it / pl.obparts, part = it % pl.obparts;
  const int64_t p0 = grp * pl.group, np = std::min(pl.group, pl.P - p0);
  const bool mapped = !plain(g.dg);
  grid_rows(arow.data(), g.src, g.sg, p0, np);
  if (mapped) grid_rows(cbase.data(), g.dst, g.dg, p0, np);
  for (int64_t ob = pl.nb * part / pl.obparts; ob < pl.nb * (part + 1) / pl.obparts; ++ob) {
    const int64_t oc0 = ob * pl.ldp;
    const int nv = (int)std::min<int64_t>(pl.NV, pl.nvec - ob * pl.NV);
    if (mapped)
      for (int64_t i = 0; i < np; ++i) crow[(size_t)i] = cbase[(size_t)i] + oc0;
    for (int64_t ch = 0; ch < pl.nk; ++ch) {
      const bool last = ch == pl.nk - 1;
      const int64_t a_off = pl.k0[(size_t)ch], b_off = pl.k0[(size_t)ch] * pl.ldp;
      RowsTile t;
      t.a_off = &a_off;
      t.b = g.bp + ob * g.K * pl.ldp;
      t.b_off = &b_off;
      t.ldb = pl.ldp;
      t.K = pl.k0[(size_t)ch + 1] - a_off;
      t.ldc = g.cols;
      t.N = std::min<int64_t>(pl.ldp, g.cols - oc0);
      t.accumulate = ch > 0 || g.accumulate;
      t.scale = last && g.ep.weight_scale ? g.ep.weight_scale + oc0 : nullptr;
      t.bias = last && g.ep.bias ? g.ep.bias + oc0 : nullptr;
      t.ldr = g.cols;
      t.relu = last && g.ep.relu;
      t.ld_sums = sums.ld;
      for (int64_t i = 0; i < np; i += pl.M) {
        t.sums = last && sums.parts ? sums.row((p0 + i) / pl.M / kTilesPerSum) + oc0 : nullptr;
        t.sums_add = (p0 + i) / pl.M % kTilesPerSum != 0;
        t.a_rows = arow.data() + i;
        t.a_next = i + 2 * pl.M <= np ? arow.data() + i + pl.M : nullptr;  // a whole next tile
        t.prefetch_a = t.a_next != nullptr;
        if (mapped) t.c_rows = crow.data() + i;
        else t.c = g.dst + (p0 + i) * g.cols + oc0;
        t.res = last && g.ep.residual ? g.ep.residual + (p0 + i) * g.cols + oc0 : nullptr;
        k.rows(t, (int)std::min<int64_t>(pl.M, np - i), nv);
      }
    }
  }
}

// The items are split between the threads in contiguous runs of equal count (every item but the
// last group's costs the same); a thread done with its run steals from another's (work_runs.h).
void run_pixel_gemm(const PixelGemm& g, const BrgemmKernels& k, const ConvBlocking& b) {
  const double flops = 2.0 * (double)gemm_pixels(g) * (double)g.K * (double)g.cols;
  const bool threads = use_threads(flops, kMinParallelFlops);
  const int nt = threads ? omp_get_max_threads() : 1;
  const PixelPlan pl(g, k, b, nt);
  WorkRuns runs(nt, [&](int t) { return pl.items * (t + 1) / nt; });
  TileSums sums;
  if (g.ep.channel_sums) {
    DS_CHECK(plain(g.dg), "run_pixel_gemm: channel sums of a plain output only");
    sums = tile_sums(ceil_div(pl.P, pl.M * kTilesPerSum), g.cols);
  }
#pragma omp parallel if (threads)
  {
    std::vector<const float*> arow((size_t)pl.group);
    std::vector<float*> cbase((size_t)pl.group), crow((size_t)pl.group);
    for (int64_t it; runs.next(omp_get_thread_num(), it);) pixel_item(g, pl, k, it, sums, arow, cbase, crow);
  }
  if (sums.parts) combine_tile_sums(g.ep.channel_sums, sums, g.cols);
}

// Panels of B [K, cols] for the rows tiles: nb blocks [K][ldp], block ob holding columns
// ob*ldp .. +ldp (zeros past cols), so a tile's weights are one contiguous run instead of rows
// OC floats apart (which for OC >= 256 fall into a few L1 sets): the layout of the packed direct
// weights (pack_rows_weights). transposed: B is w^T, w [cols, K] (backward data: B[oc][c] =
// w[c][oc]).
const float* pack_panels(const float* w, int64_t K, int64_t cols, int64_t ldp, bool transposed) {
  const BrgemmKernels& k = brgemm_kernels();
  DS_CHECK(ldp == rows_block_width(k, cols), "pack_panels: panels are the rows tiles' blocks");
  const int64_t nb = ceil_div(cols, ldp);
  float* bp = scratch(ScratchSlot::conv1x1_panels, nb * K * ldp);
  if (!transposed) {
    pack_rows_weights(bp, w, nullptr, K, cols, k);
    return bp;
  }
#pragma omp parallel for schedule(static) if (use_threads(nb * K * ldp * 4.0, kMinParallelFlops))
  for (int64_t ob = 0; ob < nb; ++ob) {
    float* dst = bp + ob * K * ldp;
    const int64_t n0 = ob * ldp, nn = std::min(ldp, cols - n0);
    transpose_2d(dst, ldp, w + n0 * K, K, nn, K);
    if (nn < ldp)
      for (int64_t r = 0; r < K; ++r) std::fill(dst + r * ldp + nn, dst + (r + 1) * ldp, 0.f);
  }
  return bp;
}

Grid output_grid(const ConvDims& d, int64_t ld) {
  return {.N = d.N, .OH = d.OH, .OW = d.OW, .H = d.OH, .W = d.OW, .sh = 1, .sw = 1, .ld = ld};
}
Grid input_grid(const ConvDims& d, int64_t ld) {
  return {.N = d.N, .OH = d.OH, .OW = d.OW, .H = d.H, .W = d.W, .sh = d.stride_h, .sw = d.stride_w, .ld = ld};
}

// Zeroes the input positions no output pixel reads (rows and columns off the stride grid, and
// any beyond the last one read).
void zero_off_grid(float* d_in, const ConvDims& d) {
  const int64_t rows = d.N * d.H, C = d.C;
#pragma omp parallel for schedule(static) if (use_threads(rows * d.W * C, kMinParallelElements))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ih = r % d.H;
    float* row = d_in + r * d.W * C;
    if (ih % d.stride_h != 0 || ih / d.stride_h >= d.OH) {
      std::memset(row, 0, sizeof(float) * d.W * C);
      continue;
    }
    for (int64_t iw = 0; iw < d.W; ++iw)
      if (iw % d.stride_w != 0 || iw / d.stride_w >= d.OW) std::memset(row + iw * C, 0, sizeof(float) * C);
  }
}

}  // namespace

void conv1x1_forward_packed(float* out, const float* in, const float* panels, const ConvDims& d,
                            const ConvEpilogue& epilogue) {
  const BrgemmKernels& k = brgemm_kernels();
  ConvEpilogue ep = epilogue;
  const bool accumulate = in_place_residual(out, ep);
  const PixelGemm g{.src = in,
                    .sg = input_grid(d, d.C),
                    .dst = out,
                    .dg = output_grid(d, d.OC),
                    .K = d.C,
                    .cols = d.OC,
                    .bp = panels,
                    .NV = choose_nv(k, d.OC),
                    .ep = ep,
                    .accumulate = accumulate};
  run_pixel_gemm(g, k, conv_blocking(d, ConvPass::forward));
}

void conv1x1_forward(float* out, const float* in, const float* w, const ConvDims& d, const ConvEpilogue& ep) {
  const BrgemmKernels& k = brgemm_kernels();
  conv1x1_forward_packed(out, in, pack_panels(w, d.C, d.OC, rows_block_width(k, d.OC), false), d, ep);
}

// The forward GEMM with the roles swapped: d_out's pixels (K = OC) times w^T into d_in's grid.
void conv1x1_backward_data(float* d_in, const float* d_out, const float* w, const ConvDims& d, bool set) {
  const BrgemmKernels& k = brgemm_kernels();
  if (set && !plain(input_grid(d, d.C))) zero_off_grid(d_in, d);
  const int NV = choose_nv(k, d.C);
  const PixelGemm g{.src = d_out,
                    .sg = output_grid(d, d.OC),
                    .dst = d_in,
                    .dg = input_grid(d, d.C),
                    .K = d.OC,
                    .cols = d.C,
                    .bp = pack_panels(w, d.OC, d.C, (int64_t)NV * k.vw, true),
                    .NV = NV,
                    .ep = {},
                    .accumulate = !set};
  run_pixel_gemm(g, k, conv_blocking(d, ConvPass::backward_data));
}

// ---- backward weights: d_w [C, OC] += X^T dY, the reduction over pixel chunks ----
//
// The cols tiles read both operands where they lie: the input's channels from each output row's
// input pixels (sw * C floats apart; one reduction row of the tile per output row, so strided
// convolutions need no gather) and the output gradient's channels from [P, OC] (OC floats apart).
// Copies only where reading in place costs more: the gradient into [block][pixel][ldp] panels
// when OC is not a multiple of 16 (a tile reads whole vectors), and the input into
// [channel tile][pixel][M] panels when C >= 1024: pixels 4 KB or more apart all fall in one L1
// set, and each tile re-reads the lines the previous one left (measured: ResNet-50's layer4
// downsample 10-30% slower in place, its 64-256-channel layers 15-35% faster).
// Work goes in chunks of whole output rows (the chunk's
// operands stay in L2 while every tile passes over them). The threads split the tiles
// (output-channel blocks, or channel tiles when there is one block), never the pixels, and every
// tile adds its pixels to d_w in pixel order: the results do not depend on the thread count or
// the chunk size.

namespace {

struct WgradPlan1x1 : ColumnBlocks {
  int64_t mt = 0;
  int64_t P = 0, chunk_rows = 0;  // output rows of OW pixels per chunk
  bool split_blocks = true;       // threads split the output-channel blocks (else the channel tiles)
  bool pack_grad = false;         // OC not a multiple of 16: the gradient goes through panels
  bool pack_input = false;        // C >= 1024: the input goes through panels

  WgradPlan1x1(const ConvDims& d, const BrgemmKernels& k, const ConvBlocking& b)
      : ColumnBlocks(k, choose_nv(k, d.OC), d.OC) {
    mt = ceil_div(d.C, M);
    P = d.N * d.OH * d.OW;
    // A chunk's operands (C + OC floats per pixel) fit wgrad_chunk_bytes; at least 64 pixels, so
    // each tile's loads and stores of its d_w accumulators stay rare.
    const int64_t pixels = std::clamp<int64_t>(b.wgrad_chunk_bytes / (4 * (d.C + nb * ldp)), 64, 4096);
    chunk_rows = std::clamp<int64_t>(pixels / d.OW, 1, d.N * d.OH);
    split_blocks = nb >= 2;
    pack_grad = d.OC % 16 != 0;
    pack_input = d.C >= 1024;
  }
};

// Thread tid's tiles over output rows [r0, r0 + nr): its blocks [ob0, ob1) x channel tiles
// [m0, m1). a_row, b_row: nr offsets each.
void wgrad_chunk(float* d_w, const float* d_out, const float* in, const ConvDims& d, const WgradPlan1x1& pl,
                 const BrgemmKernels& k, int64_t r0, int64_t nr, int64_t ob0, int64_t ob1, int64_t m0, int64_t m1,
                 float* ap, float* bp, int64_t* a_row, int64_t* b_row) {
  const int64_t np = nr * d.OW;
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t n = (r0 + r) / d.OH, i = (r0 + r) % d.OH;
    a_row[r] = (n * d.H + i * d.stride_h) * d.W * d.C;
    b_row[r] = pl.pack_grad ? r * d.OW * pl.ldp : (r0 + r) * d.OW * d.OC;
  }
  if (pl.pack_input) {  // [tile][pixel][M], channels past C zero; then rows are OW * M apart
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t j = 0; j < d.OW; ++j) {
        const float* x = in + a_row[r] + j * d.stride_w * d.C;
        for (int64_t t = m0; t < m1; ++t) {
          const int64_t c0 = t * pl.M, nc = std::min<int64_t>(pl.M, d.C - c0);
          float* dst = ap + ((t - m0) * np + r * d.OW + j) * pl.M;
          std::copy(x + c0, x + c0 + nc, dst);
          std::fill(dst + nc, dst + pl.M, 0.f);
        }
      }
    for (int64_t r = 0; r < nr; ++r) a_row[r] = r * d.OW * pl.M;
  }
  if (pl.pack_grad)  // [block][pixel][ldp], output channels past OC zero
    for (int64_t ob = ob0; ob < ob1; ++ob) {
      const int64_t n0 = ob * pl.ldp, nn = std::min(pl.ldp, d.OC - n0);
      float* dst = bp + (ob - ob0) * np * pl.ldp;
      for (int64_t p = 0; p < np; ++p) {
        const float* g = d_out + (r0 * d.OW + p) * d.OC + n0;
        std::copy(g, g + nn, dst + p * pl.ldp);
        std::fill(dst + p * pl.ldp + nn, dst + (p + 1) * pl.ldp, 0.f);
      }
    }
  for (int64_t ob = ob0; ob < ob1; ++ob) {
    const int nv = (int)std::min<int64_t>(pl.NV, pl.nvec - ob * pl.NV);
    const int64_t n0 = ob * pl.ldp;
    for (int64_t t = m0; t < m1; ++t) {
      const int64_t c0 = t * pl.M;
      const ColsTile ct{.a = pl.pack_input ? ap + (t - m0) * np * pl.M : in + c0,
                        .a_row = a_row,
                        .sa = pl.pack_input ? pl.M : d.stride_w * d.C,
                        .b = pl.pack_grad ? bp + (ob - ob0) * np * pl.ldp : d_out + n0,
                        .b_row = b_row,
                        .sb = pl.pack_grad ? pl.ldp : d.OC,
                        .rows = (int)nr,
                        .L = d.OW,
                        .c = d_w + c0 * d.OC + n0,
                        .ldc = d.OC,
                        .N = std::min(pl.ldp, d.OC - n0),
                        .prefetch = kColsPrefetchSteps};
      k.cols(ct, (int)std::min<int64_t>(pl.M, d.C - c0), nv);
    }
  }
}

}  // namespace

void conv1x1_backward_weights(float* d_w, const float* d_out, const float* in, const ConvDims& d) {
  const BrgemmKernels& k = brgemm_kernels();
  const WgradPlan1x1 pl(d, k, conv_blocking(d, ConvPass::backward_weights));
  const double flops = 2.0 * (double)pl.P * (double)d.C * (double)d.OC;
  const int64_t rows = d.N * d.OH;
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
    const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t units = pl.split_blocks ? pl.nb : pl.mt;
    const int64_t u0 = units * tid / nt, u1 = units * (tid + 1) / nt;
    const int64_t ob0 = pl.split_blocks ? u0 : 0, ob1 = pl.split_blocks ? u1 : pl.nb;
    const int64_t m0 = pl.split_blocks ? 0 : u0, m1 = pl.split_blocks ? pl.mt : u1;
    if (u1 > u0) {
      float* ap =
          pl.pack_input ? scratch(ScratchSlot::conv1x1_wgrad_input, (m1 - m0) * pl.chunk_rows * d.OW * pl.M) : nullptr;
      float* bp = pl.pack_grad ? scratch(ScratchSlot::conv1x1_wgrad_grad, (ob1 - ob0) * pl.chunk_rows * d.OW * pl.ldp)
                               : nullptr;
      std::vector<int64_t> a_row((size_t)pl.chunk_rows), b_row((size_t)pl.chunk_rows);
      for (int64_t r0 = 0; r0 < rows; r0 += pl.chunk_rows)
        wgrad_chunk(d_w, d_out, in, d, pl, k, r0, std::min(pl.chunk_rows, rows - r0), ob0, ob1, m0, m1, ap, bp,
                    a_row.data(), b_row.data());
    }
  }
}

}  // namespace ds
