// Channels-last convolution drivers (see conv.h): zero-padding copies, weight transposes and
// backward data's stride phases around the rows scheduler (conv_rows.h, forward and backward
// data), and backward weights' own tiling around the brgemm cols tiles. Every tile is computed
// by one thread in a fixed order (the schedule depends on the shapes only), so results do not
// depend on the thread count.
#include "engine/kernels/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv_rows.h"
#include "engine/kernels/layout.h"
#include "engine/kernels/scratch.h"

namespace ds {

namespace {

// dst[n][ip][jp][c] = src[n][ip - top][jp - left][c], zero outside src; dst is [N, Hp, Wp, ldd]
// (pixels ldd >= C floats apart, the extra channels zero; ldd = 0 means C).
void pad_copy(float* dst, const float* src, int64_t N, int64_t H, int64_t W, int64_t C,
              int64_t Hp, int64_t Wp, int64_t top, int64_t left, int64_t ldd = 0) {
  const int64_t rows = N * Hp, dc = ldd ? ldd : C;
#pragma omp parallel for schedule(static) if (use_threads((double)rows * Wp * dc))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / Hp, ih = r % Hp - top;
    float* d = dst + r * Wp * dc;
    if (ih < 0 || ih >= H) {
      std::memset(d, 0, sizeof(float) * Wp * dc);
      continue;
    }
    const int64_t j0 = std::clamp<int64_t>(left, 0, Wp);             // first copied column
    const int64_t j1 = std::clamp<int64_t>(left + W, j0, Wp);        // end of copied columns
    const float* s = src + ((n * H + ih) * W + (j0 - left)) * C;
    std::memset(d, 0, sizeof(float) * j0 * dc);
    if (dc == C) {
      std::memcpy(d + j0 * C, s, sizeof(float) * (j1 - j0) * C);
    } else {
      for (int64_t j = j0; j < j1; ++j, s += C) {
        std::memcpy(d + j * dc, s, sizeof(float) * C);
        std::memset(d + j * dc + C, 0, sizeof(float) * (dc - C));
      }
    }
    std::memset(d + j1 * dc, 0, sizeof(float) * (Wp - j1) * dc);
  }
}

// A padded copy of an NHWC image with pixels ldd floats apart (ldd = 0: C) when padding or
// spacing is needed (the source itself otherwise).
struct Padded {
  const float* data;
  int64_t Hp, Wp;
};

Padded padded_input(const float* in, const ConvDims& d, int64_t ldd = 0) {
  const int64_t Hp = (d.OH - 1) * d.stride_h + d.KH, Wp = (d.OW - 1) * d.stride_w + d.KW;
  const int64_t dc = ldd ? ldd : d.C;
  if (d.pad_h == 0 && d.pad_w == 0 && Hp <= d.H && Wp <= d.W && dc == d.C) return {in, d.H, d.W};
  float* buf = scratch(ScratchSlot::conv_pad, d.N * Hp * Wp * dc);
  pad_copy(buf, in, d.N, d.H, d.W, d.C, Hp, Wp, d.pad_h, d.pad_w, dc);
  return {buf, Hp, Wp};
}

// Padded convolutions with at least this many input channels run tapwise (RowsConv::tapwise).
// A tap's reduction is only C long, so conv1's 3 channels keep the padded copy and whole kernel
// rows (K = 21). Not swept: every other padded convolution of ResNet has 64 or more channels.
constexpr int64_t kTapwiseMinC = 16;

// Backward weights sums weight gradients up to this size in two pixel parts (see there). Larger
// ones gained nothing (up to 6 MB: layer3 80.4 vs 80.1% of peak, layer3.0.conv1 78.5 vs 78.0,
// layer4.0.conv1 61.9 vs 59.0; 5 rounds).
constexpr int64_t kPartWeightBytes = 768 << 10;

// The forward pass's B operand: w itself ([KH*KW*C][OC] rows) when OC is a whole number of
// vectors, else a copy with rows padded to ldw (zeros).
const float* forward_weights(const float* w, const ConvDims& d, int64_t ldw) {
  if (ldw == d.OC) return w;
  const int64_t rows = d.KH * d.KW * d.C;
  float* wp = scratch(ScratchSlot::conv_wpack, rows * ldw);
#pragma omp parallel for schedule(static) if (use_threads((double)rows * ldw * 4))
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = w + r * d.OC;
    float* dst = wp + r * ldw;
    std::copy(src, src + d.OC, dst);
    std::fill(dst + d.OC, dst + ldw, 0.f);
  }
  return wp;
}

}  // namespace

ConvDims make_conv_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH,
                        int64_t KW, int64_t stride, int64_t pad) {
  ConvDims d;
  d.N = N, d.C = C, d.H = H, d.W = W, d.OC = OC, d.KH = KH, d.KW = KW;
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.OH = conv_out_size(H, KH, stride, pad);
  d.OW = conv_out_size(W, KW, stride, pad);
  return d;
}

void conv2d_forward(float* out, const float* in, const float* w, const ConvDims& d,
                    const ConvEpilogue& ep) {
  if (d.N * d.OH * d.OW * d.OC == 0) return;
  const BrgemmKernels& k = brgemm_kernels();
  const int64_t ldw = ceil_div(d.OC, k.vw) * k.vw;
  const float* wp = forward_weights(w, d, ldw);
  const bool tapwise = (d.pad_h || d.pad_w) && d.C >= kTapwiseMinC;
  const Padded p = tapwise ? Padded{in, d.H, d.W} : padded_input(in, d);
  RowsConv rc{p.data, p.Hp, p.Wp, d.C, wp, ldw, d.KH, d.KW, d.stride_h, d.stride_w, out, d.N, d.OH,
              d.OW, d.OC, ep, false};
  rc.tapwise = tapwise;
  rc.off_h = -d.pad_h;
  rc.off_w = -d.pad_w;
  run_rows_convs({rc}, k);
}

void conv2d_backward_data(float* d_in, const float* d_out, const float* w, const ConvDims& d,
                          bool set) {
  if (d.N * d.H * d.W * d.C == 0) return;
  if (d.OH * d.OW == 0) {
    if (set) std::memset(d_in, 0, sizeof(float) * d.N * d.H * d.W * d.C);
    return;
  }
  const BrgemmKernels& k = brgemm_kernels();
  // d_in split by the phase of its position modulo the stride: input positions of one phase
  // (pa, pb) take exactly the taps kh = pa + pad_h - sh*dh (and likewise kw), each reading output
  // row a + dh. So each phase is a small stride-1 convolution of the output gradient (shifted and
  // zero-padded per phase) with that phase's taps, run by the forward pass's tiles and
  // accumulated straight into d_in at the phase's positions. Stride 1 is one phase with every
  // tap, flipped (the classic "transposed convolution"). (A scatter of each tap's GEMM re-read and
  // re-wrote a padded gradient once per tap.)
  const int64_t sh = d.stride_h, sw = d.stride_w;
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  // Phase (pa, pb): its taps are kh = pa + pad_h - sh*dh for dh in [dh0, dh0 + KHp), likewise kw.
  struct Phase {
    int64_t pa, pb, Ha, Wb, dh0, dw0, KHp, KWp;
  };
  std::vector<Phase> phases;
  int64_t top = 0, left = 0, bottom = d.OH, right = d.OW;  // extent of d_out rows/cols read
  for (int64_t pa = 0; pa < sh; ++pa)
    for (int64_t pb = 0; pb < sw; ++pb) {
      const int64_t Ha = ceil_div(d.H - pa, sh), Wb = ceil_div(d.W - pb, sw);
      const int64_t dh0 = floor_div(pa + d.pad_h - (d.KH - 1) + sh - 1, sh);  // kh <= KH - 1
      const int64_t dw0 = floor_div(pb + d.pad_w - (d.KW - 1) + sw - 1, sw);
      const int64_t KHp = floor_div(pa + d.pad_h, sh) - dh0 + 1;                // kh >= 0
      const int64_t KWp = floor_div(pb + d.pad_w, sw) - dw0 + 1;
      if (Ha <= 0 || Wb <= 0 || KHp <= 0 || KWp <= 0) continue;  // no position or no tap
      phases.push_back({pa, pb, Ha, Wb, dh0, dw0, KHp, KWp});
      top = std::min(top, dh0);
      left = std::min(left, dw0);
      bottom = std::max(bottom, Ha - 1 + dh0 + KHp);
      right = std::max(right, Wb - 1 + dw0 + KWp);
    }
  // With set, the phases write their positions; positions no tap reaches are zeroed first.
  if (set && (int64_t)phases.size() < sh * sw) {
    std::memset(d_in, 0, sizeof(float) * d.N * d.H * d.W * d.C);
    set = false;
  }
  // Each phase reads d_out per tap (tapwise, no copy), or, with few channels, one zero-padded
  // copy of d_out serves every phase: G[n][i][j] = d_out[n][i + top][j + left] (d_out itself
  // when no phase reads outside it, as for 1x1 stride-2 downsamples).
  const bool outside = top != 0 || left != 0 || bottom != d.OH || right != d.OW;
  const bool tapwise = outside && d.OC >= kTapwiseMinC;
  const int64_t Hg = bottom - top, Wg = right - left;
  const float* G = d_out;
  if (outside && !tapwise) {
    float* gp = scratch(ScratchSlot::conv_pad, d.N * Hg * Wg * d.OC);
    pad_copy(gp, d_out, d.N, d.OH, d.OW, d.OC, Hg, Wg, -top, -left);
    G = gp;
  }
  std::vector<RowsConv> convs;  // one per phase, run in one parallel region
  for (const Phase& f : phases) {
    // Phase weights B[(jh*KWp + jw)*OC + oc][c] = w[kh][kw][c][oc], kh = pa + pad_h -
    // sh*(dh0 + jh), kw likewise: per tap a blocked transpose of w's rows [n0, n0 + nn) (each OC
    // long), built per thread for its block of columns c. (Reading w in 16-float pieces 2 KB
    // apart, column block first, defeated the prefetcher and cost as much as a fifth of layer4's
    // backward data.)
    auto fill = [&, f](int64_t n0, int64_t nn, float* panel, int64_t ldp) {
      for (int64_t jh = 0; jh < f.KHp; ++jh)
        for (int64_t jw = 0; jw < f.KWp; ++jw) {
          const int64_t kh = f.pa + d.pad_h - sh * (f.dh0 + jh), kw = f.pb + d.pad_w - sw * (f.dw0 + jw);
          float* dst = panel + (jh * f.KWp + jw) * d.OC * ldp;
          transpose_2d(dst, ldp, w + ((kh * d.KW + kw) * d.C + n0) * d.OC, d.OC, nn, d.OC);
          if (nn < ldp)
            for (int64_t oc = 0; oc < d.OC; ++oc) std::fill(dst + oc * ldp + nn, dst + (oc + 1) * ldp, 0.f);
        }
    };
    // Row a + jh of this phase's input is d_out row a + dh0 + jh = G row a + (dh0 - top) + jh.
    const float* in = tapwise ? d_out : G + ((f.dh0 - top) * Wg + (f.dw0 - left)) * d.OC;
    RowsConv rc{in, tapwise ? d.OH : Hg, tapwise ? d.OW : Wg, d.OC, nullptr, 0, f.KHp, f.KWp, 1, 1,
                d_in, d.N, f.Ha, f.Wb, d.C, {}, !set};
    rc.fill_panel = fill;
    rc.tapwise = tapwise;
    rc.off_h = f.dh0;
    rc.off_w = f.dw0;
    rc.osh = sh;
    rc.osw = sw;
    rc.oph = f.pa;
    rc.opw = f.pb;
    rc.OHo = d.H;
    rc.OWo = d.W;
    convs.push_back(rc);
  }
  run_rows_convs(convs, k);
}

void conv2d_backward_weights(float* d_w, float* d_b, const float* d_out, const float* in,
                             const ConvDims& d) {
  if (d.OC * d.C * d.KH * d.KW == 0) return;
  const BrgemmKernels& k = brgemm_kernels();
  const int64_t ldw = ceil_div(d.OC, k.vw) * k.vw;
  const int64_t pixels = d.N * d.OH * d.OW;
  if (d_b) {
    for (int64_t oc = 0; oc < d.OC; ++oc) {
      double s = 0;
      for (int64_t p = 0; p < pixels; ++p) s += d_out[p * d.OC + oc];
      d_b[oc] += (float)s;
    }
  }
  if (pixels == 0) return;
  // Pixels 1 KB or more apart put successive pixels of a tile's operands in the same few L1 sets
  // (layer4: 2 KB apart, 2 sets for a whole input slice), so such operands are copied with 16
  // floats of slack per pixel: inputs of 256+ channels, gradients of 512+ (measured: +6-9% on
  // layer3/layer4; spacing 256-channel gradients cost 4% on layer3.0.conv1). Gradient rows must
  // also be readable to whole vectors: padded when OC is not a multiple.
  const int64_t ldg = ldw >= 512 ? ldw + 16 : ldw, cs = d.C >= 256 ? d.C + 16 : d.C;
  const float* g = d_out;
  if (ldg != d.OC) {
    float* gp = scratch(ScratchSlot::conv_bpack, pixels * ldg);
    pad_copy(gp, d_out, 1, pixels, 1, d.OC, pixels, 1, 0, 0, ldg);
    g = gp;
  }
  const Padded p = padded_input(in, d, cs);
  // The tiles accumulate straight into d_w, whose [kh][kw*C + c][oc] layout is theirs.
  const int64_t kwc = d.KW * d.C;

  // Narrow tiles (2 vectors of output channels, more input channels) from 128 input channels
  // on: bash bench/compare_conv_builds.sh, 5 rounds, NV 4 -> 2: layer2 76.0 -> 79.0, layer3
  // 72.1 -> 74.1, layer4 65.3 -> 68.9, layer3.0.conv1 67.6 -> 68.6, layer4.0.conv1 56.2 -> 57.4;
  // but layer1 (64 channels) 74.3 -> 72.3 and conv1 66.9 -> 57.3.
  const int NV = choose_nv(k, d.OC, d.C >= 128);
  const int M = k.max_m[NV];
  const int64_t nvec = ldw / k.vw, nb = ceil_div(nvec, NV);
  // M-tiles per kernel row: over KW*C as one run, or per tap when input pixels are spaced apart.
  const int64_t ctk = cs != d.C ? ceil_div(d.C, M) : 0, mt = ctk ? d.KW * ctk : ceil_div(kwc, M);
  // Superblocks: mts M-tiles (counted over kernel rows x KW*C) x nbs output-channel blocks of
  // d_w, at most ~super_bytes, so a superblock's accumulators stay in the L2 caches while every
  // pixel chunk passes through it (a larger d_w, 9.4 MB on layer4, used to stream from L3 once per
  // chunk). Small layers are one superblock. The threads split a superblock's tiles, so the
  // budget is per thread; the tiles and each tile's order of pixel chunks do not depend on it.
  // 768 KB and 512 KB per pixel chunk (below) overfill a 1 MB L2 on paper but measured best of
  // 192-1024 KB x 128-1024 KB (bench/compare_conv_builds.sh, session 4): +2 to +7 points on
  // every 3x3 backward-weights shape against 384 KB x 256 KB.
  const int64_t super_bytes = (int64_t(768) << 10) * std::max(1, omp_get_max_threads());
  const int64_t nbs = std::min<int64_t>(nb, 4), mq = d.KH * mt;
  const int64_t mts = std::clamp<int64_t>(super_bytes / (4 * M * nbs * NV * k.vw), 1, mq);
  const int64_t msb = ceil_div(mq, mts), nsb = ceil_div(nb, nbs), supers = msb * nsb;
  // Output rows per pixel chunk: the chunk's input and gradient slices for one superblock stay in L2.
  const int64_t row_bytes = 4 * (d.OW * nbs * NV * k.vw + d.stride_h * p.Wp * d.C);
  const int64_t rows_total = d.N * d.OH;
  const int64_t chunk = std::clamp<int64_t>((512 << 10) / std::max<int64_t>(row_bytes, 1), 1, rows_total);
  // Where output row r (image n, row oh) starts in the input for kernel row kh, and in g.
  std::vector<int64_t> a_row((size_t)(d.KH * rows_total)), b_row((size_t)rows_total);
  for (int64_t r = 0; r < rows_total; ++r) {
    const int64_t n = r / d.OH, oh = r % d.OH;
    for (int64_t kh = 0; kh < d.KH; ++kh)
      a_row[(size_t)(kh * rows_total + r)] = (n * p.Hp + oh * d.stride_h + kh) * p.Wp * cs;
    b_row[(size_t)r] = r * d.OW * ldg;
  }
  // Pixel parts: a weight gradient of at most kPartWeightBytes is summed in two parts over
  // disjoint halves of the output rows, part 0 into d_w, part 1 into a zeroed buffer added to d_w
  // at the end. The threads split parts before tiles, so each reads only its part's pixels (with
  // only the tiles split, both threads read every pixel chunk into their own L2: layer1 backward
  // weights ran 78% of peak on 2 threads against 87% on 1). The parts depend on the shape only,
  // so results do not depend on the thread count.
  const int64_t wsize = d.KH * kwc * d.OC;
  const int64_t nparts = 4 * wsize <= kPartWeightBytes && rows_total >= 2 ? 2 : 1;
  float* part_buf = nparts > 1 ? scratch(ScratchSlot::conv_wpack, wsize) : nullptr;
  if (part_buf) std::memset(part_buf, 0, sizeof(float) * wsize);
  const double flops = 2.0 * pixels * d.OC * d.KH * kwc;
#pragma omp parallel if (use_threads(flops))
  {
    const int64_t nthreads = omp_get_num_threads(), tid = omp_get_thread_num();
    for (int64_t sb = 0; sb < supers; ++sb) {
      const int64_t q0 = sb / nsb * mts, ob0 = sb % nsb * nbs;
      const int64_t nq = std::min(mts, mq - q0), nob = std::min(nbs, nb - ob0), ntiles = nq * nob;
      // This thread's run of (part, tile) items, part-major: it owns the same tiles in every
      // chunk, so it never waits for the other threads. M-tile outer, channel block inner: a
      // thread's consecutive tiles share their input slice.
      const int64_t lo = nparts * ntiles * tid / nthreads, hi = nparts * ntiles * (tid + 1) / nthreads;
      for (int64_t part = lo / ntiles; part < nparts && part * ntiles < hi; ++part) {
        const int64_t t0 = std::max(lo - part * ntiles, int64_t(0));
        const int64_t t1 = std::min(hi - part * ntiles, ntiles);
        const int64_t pr0 = rows_total * part / nparts, pr1 = rows_total * (part + 1) / nparts;
        float* dst = part == 0 ? d_w : part_buf;
        for (int64_t r0 = pr0; r0 < pr1; r0 += chunk) {
          const int64_t nr = std::min(chunk, pr1 - r0);
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t q = q0 + t / nob, kh = q / mt, mi = q % mt, ob = ob0 + t % nob;
            const int nv = (int)std::min<int64_t>(NV, nvec - ob * NV);
            // Tile rows [m0, m1) of d_w's KW*C; A offset kw * cs + c for m = kw * C + c.
            const int64_t m0 = ctk ? mi / ctk * d.C + mi % ctk * d.C / ctk : mi * kwc / mt;
            const int64_t m1 =
                ctk ? mi / ctk * d.C + (mi % ctk + 1) * d.C / ctk : (mi + 1) * kwc / mt;
            const int64_t kw = m0 / d.C, c0 = m0 % d.C;
            const int64_t oc0 = ob * NV * k.vw;
            ColsTile ct;
            ct.a = p.data + kw * cs + c0;
            ct.a_row = a_row.data() + kh * rows_total + r0;
            ct.sa = d.stride_w * cs;
            ct.b = g + oc0;
            ct.b_row = b_row.data() + r0;
            ct.sb = ldg;
            ct.rows = (int)nr;
            ct.L = d.OW;
            ct.c = dst + (kh * kwc + m0) * d.OC + oc0;
            ct.ldc = d.OC;
            ct.N = std::min<int64_t>((int64_t)nv * k.vw, d.OC - oc0);
            k.cols(ct, (int)(m1 - m0), nv);
          }
        }
      }
    }
    if (part_buf) {  // the same on every thread, so all of them meet the barrier
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < wsize; ++i) d_w[i] += part_buf[i];
    }
  }
}

}  // namespace ds
