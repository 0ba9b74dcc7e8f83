// Channels-last convolution drivers (see conv.h): zero-padding copies, weight transposes and
// backward data's stride phases around the rows scheduler (conv_rows.h, forward and backward
// data), and backward weights' own tiling around the brgemm cols tiles. Every tile is computed
// by one thread in a fixed order (the schedule depends on the shapes only), so results do not
// depend on the thread count.
#include "engine/kernels/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"
#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv_1x1.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_rows.h"
#include "engine/kernels/layout.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

namespace {

// Padded convolutions with at least this many input channels run tapwise (RowsConv::tapwise).
// A tap's reduction is only C long, so conv1's 3 channels keep the padded copy and whole kernel
// rows (K = 21). Every other padded convolution of ResNet has 64 or more channels, so the exact
// value does not matter there.
constexpr int64_t kTapwiseMinC = 16;

// dst[n][ip][jp][c] = src[n][ip - top][jp - left][c], zero outside src; src is [N, H, W, C] and
// dst [N, Hp, Wp, ldd]: pixels ldd >= C floats apart, the extra channels zero (ldd = 0 means C).
// A copy is counted as flops against the convolutions' threshold for threads.
void pad_copy(float* dst, const float* src, int64_t N, int64_t H, int64_t W, int64_t C, int64_t Hp, int64_t Wp,
              int64_t top, int64_t left, int64_t ldd = 0) {
  const int64_t rows = N * Hp, dc = ldd ? ldd : C;
#pragma omp parallel for schedule(static) if (use_threads(rows * Wp * dc, kMinParallelFlops))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / Hp, ih = r % Hp - top;
    float* d = dst + r * Wp * dc;
    if (ih < 0 || ih >= H) {
      std::memset(d, 0, sizeof(float) * Wp * dc);
      continue;
    }
    const int64_t j0 = std::clamp<int64_t>(left, 0, Wp);       // first copied column
    const int64_t j1 = std::clamp<int64_t>(left + W, j0, Wp);  // end of copied columns
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

// The input rows (or columns) that `out` output rows read at this stride and kernel size, padding included.
int64_t read_extent(int64_t out, int64_t stride, int64_t k) { return (out - 1) * stride + k; }

// An NHWC image as the tiles read it: data is [N, Hp, Wp, pixel stride].
struct Padded {
  const float* data;
  int64_t Hp, Wp;
};

// The input zero-padded for d (and pixels ldd floats apart, ldd = 0: C) in scratch slot `slot`,
// or the input itself when it needs neither padding nor spacing.
Padded padded_input(ScratchSlot slot, const float* in, const ConvDims& d, int64_t ldd = 0) {
  const int64_t Hp = read_extent(d.OH, d.stride_h, d.KH), Wp = read_extent(d.OW, d.stride_w, d.KW);
  const int64_t dc = ldd ? ldd : d.C;
  if (d.pad_h == 0 && d.pad_w == 0 && Hp <= d.H && Wp <= d.W && dc == d.C) return {.data = in, .Hp = d.H, .Wp = d.W};
  float* buf = scratch(slot, d.N * Hp * Wp * dc);
  pad_copy(buf, in, d.N, d.H, d.W, d.C, Hp, Wp, d.pad_h, d.pad_w, dc);
  return {.data = buf, .Hp = Hp, .Wp = Wp};
}

// The forward pass's B operand, [KH*KW*C, ldw]: w itself when its rows are already so spaced
// (ldw = OC), else a spaced copy in scratch, zeros past OC.
const float* forward_weights(const float* w, const ConvDims& d, int64_t ldw) {
  if (ldw == d.OC) return w;
  const int64_t rows = d.KH * d.KW * d.C;
  float* wp = scratch(ScratchSlot::conv_weights_pad, rows * ldw);
#pragma omp parallel for schedule(static) if (use_threads(rows * ldw * 4, kMinParallelFlops))
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = w + r * d.OC;
    float* dst = wp + r * ldw;
    std::copy(src, src + d.OC, dst);
    std::fill(dst + d.OC, dst + ldw, 0.f);
  }
  return wp;
}

}  // namespace

ConvDims make_conv_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t stride,
                        int64_t pad) {
  ConvDims d;
  d.N = N, d.C = C, d.H = H, d.W = W, d.OC = OC, d.KH = KH, d.KW = KW;
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.OH = conv_out_size(H, KH, stride, pad);
  d.OW = conv_out_size(W, KW, stride, pad);
  return d;
}

// ---- forward: one rows convolution over the input (tapwise) or its padded copy ----

void check_conv_pool(const ConvDims& d, const ConvEpilogue& ep) {
  const PoolDims* p = ep.max_pool;
  DS_CHECK(!p || (p->N == d.N && p->C == d.OC && p->H == d.OH && p->W == d.OW && !ep.residual && !ep.channel_sums),
           "convolution: the fused max pool does not fit the convolution's output");
}

namespace {

// rc's output max-pooled by bands (pooling.h's PoolBand): each band's convolution rows computed
// into the thread's buffer by rc cut to that image and those rows (run_rows_convs inside the
// parallel loop runs on the calling thread), then pooled into out. A pixel's sums do not depend
// on which rows a RowsConv holds, so the result equals the two passes.
// With pad (not tapwise: rc.in is then d's unpadded input), each band zero-pads only the input rows
// it reads, into the thread's buffer, where it stays in cache for the tiles; a padded copy of the
// whole batch (10 MB for ResNet's stem at batch 16) went to memory and back, ~3% of the stem.
void run_rows_conv_pooled(const RowsConv& rc, const PoolDims& pool, float* out, const BrgemmKernels& k,
                          const ConvDims* pad = nullptr) {
  const int64_t bands = pool_bands(pool);
#pragma omp parallel for schedule( \
    dynamic, 1) if (use_threads((double)rc.N * rc.OH * rc.OW * rc.cols * rc.KH * rc.KW * rc.C * 2, kMinParallelFlops))
  for (int64_t i = 0; i < bands; ++i) {
    const PoolBand b = pool_band(pool, i);
    RowsConv band = rc;
    band.N = 1;
    band.OH = b.r1 - b.r0;
    band.out = scratch(ScratchSlot::conv_pool_band, band.OH * rc.OW * rc.cols);
    band.ep.max_pool = nullptr;
    if (rc.tapwise) {  // tap rows are read at oh * sh + kh + off_h of image n
      band.in = rc.in + b.n * rc.Hp * rc.Wp * rc.C;
      band.off_h = rc.off_h + b.r0 * rc.sh;
    } else if (pad) {  // input rows ih0 .. ih0 + Hp of image n, zero outside it
      const ConvDims& d = *pad;
      const int64_t ih0 = b.r0 * d.stride_h - d.pad_h, s0 = std::max<int64_t>(ih0, 0);
      band.Hp = read_extent(band.OH, d.stride_h, d.KH);
      const int64_t s1 = std::min(ih0 + band.Hp, d.H);
      float* buf = scratch(ScratchSlot::conv_pool_input, band.Hp * band.Wp * d.C);
      pad_copy(buf, rc.in + (b.n * d.H + s0) * d.W * d.C, 1, s1 - s0, d.W, d.C, band.Hp, band.Wp, s0 - ih0, d.pad_w);
      band.in = buf;
    } else {  // the padded image's rows from r0 * sh on
      band.in = rc.in + (b.n * rc.Hp + b.r0 * rc.sh) * rc.Wp * rc.C;
      band.Hp = rc.Hp - b.r0 * rc.sh;
    }
    run_rows_convs({band}, k);
    maxpool2d_band(out, band.out, pool, b);
  }
}

}  // namespace

namespace {

// The rows convolution of d on weights wp [KH*KW*C, ldw], unpadded input read per tap (C large
// enough) or a padded copy, the pool fused by bands when ep has one.
void forward_rows(float* out, const float* in, const float* wp, int64_t ldw, bool blocked, const ConvDims& d,
                  const ConvEpilogue& epilogue) {
  const BrgemmKernels& k = brgemm_kernels();
  ConvEpilogue ep = epilogue;
  const bool accumulate = in_place_residual(out, ep);
  DS_CHECK(blocked || (ldw >= d.OC && ldw % k.vw == 0), "forward_rows: weight rows not spaced to whole vectors");
  const bool tapwise = (d.pad_h || d.pad_w) && d.C >= kTapwiseMinC;
  // With a pool (the stem), each band pads its own rows (run_rows_conv_pooled).
  const bool band_pad = ep.max_pool && !tapwise && (d.pad_h || d.pad_w);
  const Padded p = tapwise    ? Padded{.data = in, .Hp = d.H, .Wp = d.W}
                   : band_pad ? Padded{.data = in, .Hp = 0, .Wp = read_extent(d.OW, d.stride_w, d.KW)}  // bands' width
                              : padded_input(ScratchSlot::conv_input_pad, in, d);
  const RowsConv rc{.in = p.data,
                    .Hp = p.Hp,
                    .Wp = p.Wp,
                    .C = d.C,
                    .wp = wp,
                    .ldw = ldw,
                    .wp_blocked = blocked,
                    .KH = d.KH,
                    .KW = d.KW,
                    .sh = d.stride_h,
                    .sw = d.stride_w,
                    .out = out,
                    .N = d.N,
                    .OH = d.OH,
                    .OW = d.OW,
                    .cols = d.OC,
                    .ep = ep,
                    .accumulate = accumulate,
                    .tapwise = tapwise,
                    .off_h = -d.pad_h,
                    .off_w = -d.pad_w,
                    .blocking = conv_blocking(d, ConvPass::forward)};
  if (ep.max_pool) return run_rows_conv_pooled(rc, *ep.max_pool, out, k, band_pad ? &d : nullptr);
  run_rows_convs({rc}, k);
}

}  // namespace

bool in_place_residual(const float* out, ConvEpilogue& ep) {
  if (!ep.residual || ep.residual != out) return false;
  DS_CHECK(!ep.weight_scale && !ep.max_pool && !ep.channel_sums,
           "conv forward: a residual in place with a weight scale, pool or channel sums");
  ep.residual = nullptr;
  return true;
}

int64_t conv_forward_ldw(int64_t OC) { return spaced_ld(round_up(OC, brgemm_kernels().vw)); }

bool conv_forward_prepacks(const ConvDims& d) {
  return !reference_kernels() && (conv_is_1x1(d) || conv_forward_ldw(d.OC) != d.OC);
}

int64_t conv_forward_block_width(int64_t OC) { return rows_block_width(brgemm_kernels(), OC); }

ConvForwardWeights pack_conv_forward(const float* w, const float* scale, const ConvDims& d) {
  const BrgemmKernels& k = brgemm_kernels();
  ConvForwardWeights p;
  p.KH = d.KH, p.KW = d.KW, p.C = d.C, p.OC = d.OC, p.width = rows_block_width(k, d.OC);
  const int64_t rows = d.KH * d.KW * d.C;
  p.w = Tensor::empty(Shape{rows_weights_floats(k, rows, d.OC)});
  pack_rows_weights(p.w.data(), w, scale, rows, d.OC, k);
  return p;
}

void conv2d_forward(float* out, const float* in, const float* w, const ConvDims& d, const ConvEpilogue& ep) {
  check_conv_pool(d, ep);
  // Where the pool is not fused: the twin, and the 1x1 GEMMs (no stem is 1x1).
  if (ep.max_pool && (reference_kernels() || conv_is_1x1(d)))
    return conv_then_pool(out, d, ep, [&](float* o, const ConvEpilogue& e) { conv2d_forward(o, in, w, d, e); });
  if (reference_kernels() || d.N * d.OH * d.OW * d.OC == 0) return conv2d_forward_ref(out, in, w, d, ep);
  if (conv_is_1x1(d)) return conv1x1_forward(out, in, w, d, ep);
  const int64_t ldw = conv_forward_ldw(d.OC);
  forward_rows(out, in, forward_weights(w, d, ldw), ldw, false, d, ep);
}

void conv2d_forward_packed(float* out, const float* in, const ConvForwardWeights& w, const ConvDims& d,
                           const ConvEpilogue& ep) {
  DS_CHECK(w.KH == d.KH && w.KW == d.KW && w.C == d.C && w.OC == d.OC,
           "conv2d_forward_packed: the packed weights are of another shape");
  if (reference_kernels() || d.N * d.OH * d.OW * d.OC == 0 || w.width != conv_forward_block_width(d.OC)) {
    // The twin (or another ISA path than the packing's) reads [KH*KW*C, OC].
    const int64_t rows = d.KH * d.KW * d.C;
    std::vector<float> dense((size_t)(rows * d.OC));
    for (int64_t oc = 0; oc < d.OC; ++oc)
      for (int64_t r = 0; r < rows; ++r)
        dense[(size_t)(r * d.OC + oc)] = w.w[(oc / w.width * rows + r) * w.width + oc % w.width];
    return conv2d_forward(out, in, dense.data(), d, ep);
  }
  check_conv_pool(d, ep);
  if (conv_is_1x1(d)) {  // (the pool unfused, as conv2d_forward runs a 1x1)
    if (ep.max_pool)
      return conv_then_pool(out, d, ep,
                            [&](float* o, const ConvEpilogue& e) { conv1x1_forward_packed(o, in, w.w.data(), d, e); });
    return conv1x1_forward_packed(out, in, w.w.data(), d, ep);
  }
  forward_rows(out, in, w.w.data(), 0, true, d, ep);
}

// ---- backward data: one stride-1 rows convolution per stride phase of d_in ----
//
// d_in is split by the phase of its position modulo the stride: input positions of one phase
// (pa, pb) take exactly the taps kh = pa + pad_h - sh*dh (and likewise kw), each reading output
// row a + dh. So each phase is a small stride-1 convolution of the output gradient (shifted and
// zero-padded per phase) with that phase's taps, run by the forward pass's tiles and accumulated
// straight into d_in at the phase's positions, rather than a scatter of each tap's product, which
// would re-read and re-write a padded gradient once per tap. Stride 1 is one phase with every
// tap, flipped (the classic "transposed convolution").

namespace {

struct Phase {
  int64_t pa, pb;  // d_in positions (pa + sh*a, pb + sw*b) for a < Ha, b < Wb
  int64_t Ha, Wb;
  int64_t dh0, dw0;  // tap jh of the phase (jh < KHp) reads d_out row a + dh0 + jh, likewise jw
  int64_t KHp, KWp;  // its taps: kh = pa + pad_h - sh*(dh0 + jh), kw = pb + pad_w - sw*(dw0 + jw)
};

struct Phases {
  std::vector<Phase> list;  // the phases with at least one position and one tap
  // The rows [top, bottom) and columns [left, right) of d_out they read, beyond its edges where
  // top or left is negative or bottom, right exceed OH, OW.
  int64_t top = 0, left = 0, bottom = 0, right = 0;
};

Phases stride_phases(const ConvDims& d) {
  const int64_t sh = d.stride_h, sw = d.stride_w;
  Phases ph;
  ph.bottom = d.OH;
  ph.right = d.OW;
  for (int64_t pa = 0; pa < sh; ++pa)
    for (int64_t pb = 0; pb < sw; ++pb) {
      Phase f;
      f.pa = pa, f.pb = pb;
      f.Ha = ceil_div(d.H - pa, sh), f.Wb = ceil_div(d.W - pb, sw);
      f.dh0 = floor_div(pa + d.pad_h - (d.KH - 1) + sh - 1, sh);  // kh <= KH - 1
      f.dw0 = floor_div(pb + d.pad_w - (d.KW - 1) + sw - 1, sw);
      f.KHp = floor_div(pa + d.pad_h, sh) - f.dh0 + 1;  // kh >= 0
      f.KWp = floor_div(pb + d.pad_w, sw) - f.dw0 + 1;
      if (f.Ha <= 0 || f.Wb <= 0 || f.KHp <= 0 || f.KWp <= 0) continue;  // no position or no tap
      ph.list.push_back(f);
      ph.top = std::min(ph.top, f.dh0);
      ph.left = std::min(ph.left, f.dw0);
      ph.bottom = std::max(ph.bottom, f.Ha - 1 + f.dh0 + f.KHp);
      ph.right = std::max(ph.right, f.Wb - 1 + f.dw0 + f.KWp);
    }
  return ph;
}

// A phase's B operand, built per thread for its block of input channels [c0, c0 + nc): rows
// (jh*KWp + jw)*OC + oc, B[row][c - c0] = w[kh][kw][c][oc], zeros past nc. Per tap a blocked
// transpose of w's rows (each OC long): reading w row by row keeps the prefetcher streaming,
// where 16-float pieces 2 KB apart would not.
PanelFill phase_panel(const float* w, const ConvDims& d, const Phase& f) {
  return [w, d, f](int64_t c0, int64_t nc, float* panel, int64_t ldp) {
    for (int64_t jh = 0; jh < f.KHp; ++jh)
      for (int64_t jw = 0; jw < f.KWp; ++jw) {
        const int64_t kh = f.pa + d.pad_h - d.stride_h * (f.dh0 + jh);
        const int64_t kw = f.pb + d.pad_w - d.stride_w * (f.dw0 + jw);
        float* dst = panel + (jh * f.KWp + jw) * d.OC * ldp;
        transpose_2d(dst, ldp, w + ((kh * d.KW + kw) * d.C + c0) * d.OC, d.OC, nc, d.OC);
        if (nc < ldp)
          for (int64_t oc = 0; oc < d.OC; ++oc) std::fill(dst + oc * ldp + nc, dst + (oc + 1) * ldp, 0.f);
      }
  };
}

}  // namespace

void conv2d_backward_data(float* d_in, const float* d_out, const float* w, const ConvDims& d, bool set) {
  if (reference_kernels()) return conv2d_backward_data_ref(d_in, d_out, w, d, set);
  if (d.N * d.H * d.W * d.C == 0) return;
  if (d.OH * d.OW == 0) {
    if (set) std::memset(d_in, 0, sizeof(float) * d.N * d.H * d.W * d.C);
    return;
  }
  if (conv_is_1x1(d)) return conv1x1_backward_data(d_in, d_out, w, d, set);
  const Phases ph = stride_phases(d);
  // With set, the phases write their positions; positions no tap reaches are zeroed first.
  if (set && (int64_t)ph.list.size() < d.stride_h * d.stride_w) {
    std::memset(d_in, 0, sizeof(float) * d.N * d.H * d.W * d.C);
    set = false;
  }
  // Each phase reads d_out per tap (tapwise, no copy), or, with few channels, one zero-padded
  // copy of d_out serves every phase: G[n][i][j] = d_out[n][i + top][j + left] (d_out itself
  // when no phase reads outside it, as for 1x1 stride-2 downsamples).
  const bool outside = ph.top != 0 || ph.left != 0 || ph.bottom != d.OH || ph.right != d.OW;
  const bool tapwise = outside && d.OC >= kTapwiseMinC;
  const int64_t Hg = ph.bottom - ph.top, Wg = ph.right - ph.left;
  const float* G = d_out;
  if (outside && !tapwise) {
    float* gp = scratch(ScratchSlot::conv_grad_pad, d.N * Hg * Wg * d.OC);
    pad_copy(gp, d_out, d.N, d.OH, d.OW, d.OC, Hg, Wg, -ph.top, -ph.left);
    G = gp;
  }
  std::vector<RowsConv> convs;  // one per phase, run in one parallel region
  const ConvBlocking blocking = conv_blocking(d, ConvPass::backward_data);
  for (const Phase& f : ph.list) {
    // Row a + jh of this phase's input is d_out row a + dh0 + jh = G row a + (dh0 - top) + jh.
    const float* src = tapwise ? d_out : G + ((f.dh0 - ph.top) * Wg + (f.dw0 - ph.left)) * d.OC;
    convs.push_back(RowsConv{.in = src,
                             .Hp = tapwise ? d.OH : Hg,
                             .Wp = tapwise ? d.OW : Wg,
                             .C = d.OC,
                             .fill_panel = phase_panel(w, d, f),
                             .KH = f.KHp,
                             .KW = f.KWp,
                             .out = d_in,
                             .N = d.N,
                             .OH = f.Ha,
                             .OW = f.Wb,
                             .cols = d.C,
                             .accumulate = !set,
                             .map = {.sh = d.stride_h, .sw = d.stride_w, .ph = f.pa, .pw = f.pb, .H = d.H, .W = d.W},
                             .tapwise = tapwise,
                             .off_h = f.dh0,
                             .off_w = f.dw0,
                             .blocking = blocking});
  }
  run_rows_convs(convs, brgemm_kernels());
}

// ---- backward weights: brgemm cols tiles of d_w, reduced over output pixels ----

namespace {

// The operands as the cols tiles read them. Pixels 1 KB or more apart put successive pixels of
// a tile's operands in the same few L1 sets (layer4's are 2 KB apart: 2 sets for a whole input
// slice), so such operands are copied with 16 floats of slack per pixel: inputs of 256+
// channels and gradients of 512+ (256-channel gradients run slower spaced). Gradient rows must
// also be readable to whole vectors: padded when OC is not a multiple.
struct WgradOperands {
  Padded in;          // A: the input, zero-padded, [N, Hp, Wp, cs]
  int64_t cs;         // distance between input pixels
  const float* grad;  // B: the output gradient, [N * OH * OW, ldg]
  int64_t ldg;        // distance between gradient pixels
};

WgradOperands wgrad_operands(const float* d_out, const float* in, const ConvDims& d, const BrgemmKernels& k) {
  const int64_t ldw = round_up(d.OC, k.vw), pixels = d.N * d.OH * d.OW;
  WgradOperands op;
  op.ldg = spaced_ld(ldw, 512);
  op.cs = spaced_ld(d.C);
  op.grad = d_out;
  if (op.ldg != d.OC) {
    float* gp = scratch(ScratchSlot::wgrad_grad, pixels * op.ldg);
    pad_copy(gp, d_out, 1, pixels, 1, d.OC, pixels, 1, 0, 0, op.ldg);
    op.grad = gp;
  }
  op.in = padded_input(ScratchSlot::wgrad_input, in, d, op.cs);
  return op;
}

// How backward weights cuts its work. d_w, [KH, KW*C, OC], is its own accumulator: tiles of M
// rows (input channels, across taps) x NV vectors of output channels accumulate straight into it.
struct WgradPlan {
  int NV = 0, M = 0;
  int64_t nvec = 0;  // vectors covering the output channels
  int64_t nb = 0;    // output-channel blocks of NV vectors
  int64_t kwc = 0;   // KW * C: rows of d_w per kernel row
  // M-tiles per kernel row: over KW*C as one run (ctk = 0), or ctk per tap when input pixels are
  // spaced apart (a tile then never crosses a tap).
  int64_t ctk = 0;
  int64_t mt = 0;
  int64_t mq = 0;  // M-tiles over all kernel rows: KH * mt
  // Superblocks of d_w: mts M-tiles x nbs output-channel blocks each.
  int64_t mts = 0;
  int64_t nbs = 0;
  int64_t msb = 0;             // superblocks along the M-tiles
  int64_t nsb = 0;             // superblocks along the output-channel blocks
  int64_t supers = 0;          // msb * nsb
  int64_t rows_total = 0;      // output rows, N * OH
  int64_t chunk = 0;           // output rows per pixel chunk
  int64_t nparts = 0;          // pixel parts: 1 or 2
  std::vector<int64_t> a_row;  // [kh][output row]: where the row starts in A for kernel row kh
  std::vector<int64_t> b_row;  // [output row]: where it starts in B

  WgradPlan(const ConvDims& d, const BrgemmKernels& k, const WgradOperands& op, const ConvBlocking& b) {
    plan_tiles(d, k, op, b);
    plan_superblocks(d, k, b);
    plan_pixels(d, k, op, b);
  }

  // The blocking's tile width (wgrad_vectors), or by default (0) narrow tiles (2 vectors of
  // output channels, more input channels) from 128 input channels on, where they ran faster on
  // Zen 5; with fewer channels (layer1, conv1) the wide ones do (AVX-512; AVX2 tiles are 2 wide).
  void plan_tiles(const ConvDims& d, const BrgemmKernels& k, const WgradOperands& op, const ConvBlocking& b) {
    NV = choose_nv(k, d.OC, d.C >= 128, (int)b.wgrad_vectors);
    M = k.max_m[NV];
    nvec = ceil_div(d.OC, k.vw);
    nb = ceil_div(nvec, NV);
    kwc = d.KW * d.C;
    ctk = op.cs != d.C ? ceil_div(d.C, M) : 0;
    mt = ctk ? d.KW * ctk : ceil_div(kwc, M);
    mq = d.KH * mt;
  }

  // Superblocks of d_w of at most ~super_bytes, so a superblock's accumulators stay in the L2
  // caches while every pixel chunk passes through it, instead of a large d_w (9.4 MB on layer4)
  // streaming from L3 once per chunk. Small layers are one superblock. The threads split a
  // superblock's tiles, so the budget (wgrad_super_bytes) is per thread; the tiles and each
  // tile's order of pixel chunks do not depend on it. On Zen 5's 1 MB L2 the derived 768 KB here
  // and 512 KB per pixel chunk (plan_pixels) overfill L2 on paper but are the best of a sweep
  // over 192-1024 KB x 128-1024 KB (bench/compare_conv_builds.sh) on every 3x3 shape.
  void plan_superblocks(const ConvDims& d, const BrgemmKernels& k, const ConvBlocking& b) {
    const int64_t super_bytes = std::max<int64_t>(1, b.wgrad_super_bytes) * std::max(1, omp_get_max_threads());
    nbs = std::min<int64_t>(nb, 4);
    mts = std::clamp<int64_t>(super_bytes / (4 * M * nbs * NV * k.vw), 1, mq);
    msb = ceil_div(mq, mts);
    nsb = ceil_div(nb, nbs);
    supers = msb * nsb;
  }

  // Pixel chunks: output rows whose input and gradient slices for one superblock stay in L2.
  // Pixel parts: a weight gradient of at most wgrad_part_bytes is summed in two parts over
  // disjoint halves of the output rows, part 0 into d_w, part 1 into a zeroed buffer added to d_w
  // at the end. The threads split parts before tiles, so each reads only its part's pixels
  // (with only the tiles split, both threads would read every pixel chunk into their own L2).
  // The parts depend on the shape only, so results do not depend on the thread count.
  void plan_pixels(const ConvDims& d, const BrgemmKernels& k, const WgradOperands& op, const ConvBlocking& b) {
    const int64_t row_bytes = 4 * (d.OW * nbs * NV * k.vw + d.stride_h * op.in.Wp * d.C);
    rows_total = d.N * d.OH;
    chunk = std::clamp<int64_t>(b.wgrad_chunk_bytes / std::max<int64_t>(row_bytes, 1), 1, rows_total);
    nparts = 4 * d.KH * kwc * d.OC <= b.wgrad_part_bytes && rows_total >= 2 ? 2 : 1;
    a_row.resize((size_t)(d.KH * rows_total));
    b_row.resize((size_t)rows_total);
    for (int64_t r = 0; r < rows_total; ++r) {
      const int64_t n = r / d.OH, oh = r % d.OH;
      for (int64_t kh = 0; kh < d.KH; ++kh)
        a_row[(size_t)(kh * rows_total + r)] = (n * op.in.Hp + oh * d.stride_h + kh) * op.in.Wp * op.cs;
      b_row[(size_t)r] = r * d.OW * op.ldg;
    }
  }
};

// Tile q (of mq M-tiles) x output-channel block ob of d_w (or of the part buffer, dst) summed
// over output rows [r0, r0 + nr).
void wgrad_tile(float* dst, const WgradOperands& op, const WgradPlan& pl, const ConvDims& d, const BrgemmKernels& k,
                int64_t q, int64_t ob, int64_t r0, int64_t nr) {
  const int64_t kh = q / pl.mt, mi = q % pl.mt;
  const int nv = (int)std::min<int64_t>(pl.NV, pl.nvec - ob * pl.NV);
  // Tile rows [m0, m1) of d_w's KW*C; A offset kw * cs + c for m = kw * C + c.
  const int64_t ctk = pl.ctk;
  const int64_t m0 = ctk ? mi / ctk * d.C + mi % ctk * d.C / ctk : mi * pl.kwc / pl.mt;
  const int64_t m1 = ctk ? mi / ctk * d.C + (mi % ctk + 1) * d.C / ctk : (mi + 1) * pl.kwc / pl.mt;
  const int64_t kw = m0 / d.C, c0 = m0 % d.C;
  const int64_t oc0 = ob * pl.NV * k.vw;
  const ColsTile ct{.a = op.in.data + kw * op.cs + c0,
                    .a_row = pl.a_row.data() + kh * pl.rows_total + r0,
                    .sa = d.stride_w * op.cs,
                    .b = op.grad + oc0,
                    .b_row = pl.b_row.data() + r0,
                    .sb = op.ldg,
                    .rows = (int)nr,
                    .L = d.OW,
                    .c = dst + (kh * pl.kwc + m0) * d.OC + oc0,
                    .ldc = d.OC,
                    .N = std::min<int64_t>((int64_t)nv * k.vw, d.OC - oc0),
                    .prefetch = kColsPrefetchSteps};
  k.cols(ct, (int)(m1 - m0), nv);
}

// Thread tid's share of every superblock: a run of (part, tile) items, part-major, the same in
// every pixel chunk, so it never waits for the other threads. M-tile outer, channel block inner:
// a thread's consecutive tiles share their input slice.
void wgrad_thread(float* d_w, float* part_buf, const WgradOperands& op, const WgradPlan& pl, const ConvDims& d,
                  const BrgemmKernels& k, int64_t tid, int64_t nthreads) {
  for (int64_t sb = 0; sb < pl.supers; ++sb) {
    const int64_t q0 = sb / pl.nsb * pl.mts, ob0 = sb % pl.nsb * pl.nbs;
    const int64_t nq = std::min(pl.mts, pl.mq - q0), nob = std::min(pl.nbs, pl.nb - ob0);
    const int64_t ntiles = nq * nob;
    const int64_t lo = pl.nparts * ntiles * tid / nthreads;
    const int64_t hi = pl.nparts * ntiles * (tid + 1) / nthreads;
    for (int64_t part = lo / ntiles; part < pl.nparts && part * ntiles < hi; ++part) {
      const int64_t t0 = std::max(lo - part * ntiles, int64_t(0));
      const int64_t t1 = std::min(hi - part * ntiles, ntiles);
      const int64_t pr0 = pl.rows_total * part / pl.nparts;
      const int64_t pr1 = pl.rows_total * (part + 1) / pl.nparts;
      float* dst = part == 0 ? d_w : part_buf;
      for (int64_t r0 = pr0; r0 < pr1; r0 += pl.chunk) {
        const int64_t nr = std::min(pl.chunk, pr1 - r0);
        for (int64_t t = t0; t < t1; ++t) wgrad_tile(dst, op, pl, d, k, q0 + t / nob, ob0 + t % nob, r0, nr);
      }
    }
  }
}

}  // namespace

void conv2d_bias_grad(float* d_b, const float* d_out, int64_t pixels, int64_t OC) {
  for (int64_t oc = 0; oc < OC; ++oc) {
    double s = 0;
    for (int64_t p = 0; p < pixels; ++p) s += d_out[p * OC + oc];
    d_b[oc] += (float)s;
  }
}

void conv2d_backward_weights(float* d_w, float* d_b, const float* d_out, const float* in, const ConvDims& d) {
  if (reference_kernels()) return conv2d_backward_weights_ref(d_w, d_b, d_out, in, d);
  if (d.OC * d.C * d.KH * d.KW == 0) return;
  const int64_t pixels = d.N * d.OH * d.OW;
  if (d_b) conv2d_bias_grad(d_b, d_out, pixels, d.OC);
  if (pixels == 0) return;
  if (conv_is_1x1(d)) return conv1x1_backward_weights(d_w, d_out, in, d);
  const BrgemmKernels& k = brgemm_kernels();
  const WgradOperands op = wgrad_operands(d_out, in, d, k);
  const WgradPlan pl(d, k, op, conv_blocking(d, ConvPass::backward_weights));
  const int64_t wsize = d.KH * d.KW * d.C * d.OC;
  float* part_buf = pl.nparts > 1 ? scratch(ScratchSlot::wgrad_part, wsize) : nullptr;
  if (part_buf) std::memset(part_buf, 0, sizeof(float) * wsize);
  const double flops = 2.0 * pixels * d.OC * d.KH * pl.kwc;
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
    wgrad_thread(d_w, part_buf, op, pl, d, k, omp_get_thread_num(), omp_get_num_threads());
    if (part_buf) {  // the same on every thread, so all of them meet the barrier
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < wsize; ++i) d_w[i] += part_buf[i];
    }
  }
}

}  // namespace ds
