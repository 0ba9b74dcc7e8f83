// Channels-last convolution drivers (see conv.h): zero-padding copies, weight transposes, tiling
// and threading around the brgemm micro-kernels. Tiles: M output pixels by NV vectors of output
// channels; every tile is computed by one thread in a fixed order (the schedule depends on the
// shapes only), so results do not depend on the thread count.
#include "engine/kernels/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "engine/kernels/brgemm.h"
#include "engine/kernels/layout.h"
#include "engine/kernels/scratch.h"

namespace ds {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool use_threads(double flops) { return flops > 2e6 && !omp_in_parallel(); }

// Vectors per tile in the output-channel direction. More vectors per tile load fewer A values
// per FMA; fewer allow more pixels (or input channels) per tile. narrow asks for 2 where the
// default would be 4. DEEPSLIDE_CONV_NV overrides (benchmarks).
int choose_nv(const BrgemmKernels& k, int64_t cols, bool narrow = false) {
  static const int forced = [] {
    const char* e = std::getenv("DEEPSLIDE_CONV_NV");
    return e ? std::clamp(std::atoi(e), 0, 4) : 0;
  }();
  const int64_t nvec = ceil_div(cols, k.vw);
  const int nv = forced ? forced : (k.vw == 16 && !narrow ? 4 : 2);
  return (int)std::min<int64_t>(nv, nvec);
}

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

// Fills panel[row][0, ldp) with columns [n0, n0 + nn) of a convolution's B operand (rows: its
// KH x KW*C reduction), zeros past nn.
using PanelFill = std::function<void(int64_t n0, int64_t nn, float* panel, int64_t ldp)>;

// One "rows" convolution: out[n, oh, ow, :cols] (=|+=) epilogue(sum over kh of
// in_pad[n, oh*sh + kh, ow*sw .. + KW, :C] . wp[kh]) with wp [KH][KW*C][ldw], or, with
// fill_panel set (wp unused), each thread's output-channel block of it built by fill_panel.
struct RowsConv {
  const float* in;
  int64_t Hp, Wp, C;
  const float* wp;
  int64_t ldw, KH, KW, sh, sw;
  float* out;
  int64_t N, OH, OW, cols;
  ConvEpilogue ep;
  bool accumulate;
  // Where output pixel (n, oh, ow) goes: out[n][oh*osh + oph][ow*osw + opw] of an image of
  // OHo x OWo pixels (backward data writes one stride phase of d_in). Default: out[n][oh][ow].
  int64_t osh = 1, osw = 1, oph = 0, opw = 0, OHo = 0, OWo = 0;
  PanelFill fill_panel = nullptr;
  // Per tap instead of per kernel row, on an unpadded image: in is [N][Hp][Wp][C] and tap (kh,
  // kw) of output pixel (n, oh, ow) reads pixel (oh*sh + kh + off_h, ow*sw + kw + off_w), zeros
  // where that is outside the image. No zero-padded copy of the image is made.
  bool tapwise = false;
  int64_t off_h = 0, off_w = 0;
};

// Padded convolutions with at least this many input channels run tapwise (RowsConv::tapwise).
// A tap's reduction is only C long, so conv1's 3 channels keep the padded copy and whole kernel
// rows (K = 21). Not swept: every other padded convolution of ResNet has 64 or more channels.
constexpr int64_t kTapwiseMinC = 16;

// Weights of the output-channel blocks one work-item superblock covers (run_rows_conv).
// Measured (bash bench/compare_conv_builds.sh, 5 rounds, against block order): layer2.0.conv1
// forward 60.8 -> 71.1% of peak, layer2.0.downsample 24.2 -> 44.8, layer3.0.downsample 67.2 ->
// 72.5, layer2 81.1 -> 83.8; shapes whose blocks hold more than this keep block order (four
// blocks of layer3 at a time ran it 75 -> 66).
constexpr int64_t kSuperWeightBytes = 640 << 10;

// The reduction (kernel rows x KW*C) is cut into chunks whose weights fit in L2 (whole
// kernel rows while they fit kChunkK, else parts of one row), and each work item (output-channel
// block, group of consecutive output pixels) runs every tile of its group through one chunk
// before the next, so a chunk's weights are read from L2 by all the group's tiles instead of
// streaming from L3 for every output row (layer3/layer4: 1.2 MB per block at C = 512). Tiles take
// M consecutive output pixels, crossing row and image ends (each row of A has its own pointer),
// so narrow maps (7 or 14 wide) still fill whole tiles. Partial sums stay in the output; the
// epilogue (scale, bias, residual, ReLU) goes with the last chunk.
// With fill_panel, a thread builds the B columns of its work item's output-channel block in a
// per-thread panel when the block changes (static schedule, block-major items: about once per
// block), instead of a separate pass writing the whole transposed B to memory for the tiles to
// read back (layer4 backward data then runs within a point of skipping the transpose).
void run_rows_conv(const RowsConv& r, const BrgemmKernels& k) {
  const int NV = choose_nv(k, r.cols);
  constexpr int64_t kChunkK = 1152;            // 1152 x 64 x 4 B = 288 KB of weights per chunk
  constexpr int64_t kGroupBytes = 192 << 10;   // outputs of one work item (their partial sums)
  const int64_t nvec = ceil_div(r.cols, k.vw), nb = ceil_div(nvec, NV);
  const int M = k.max_m[NV];
  const int64_t P = r.N * r.OH * r.OW;
  // Pixel groups of (nearly) equal size, whole tiles each, at most kGroupBytes of outputs.
  const int64_t max_group = std::max<int64_t>(M, kGroupBytes / (4 * NV * k.vw) / M * M);
  const int64_t group = ceil_div(ceil_div(P, ceil_div(P, max_group)), M) * M;
  const int64_t ngroups = ceil_div(P, group);
  // The reduction's rows: kernel rows of KW*C, or taps of C (tapwise); B is [rows][kwc] either way.
  // Chunks: whole rows (as many as fit kChunkK) or, for wide rows, parts of one row. Tapwise
  // chunks follow the kernel rows the same way (whole kernel rows, or KW / ceil(KW*C / kChunkK)
  // taps when a kernel row does not fit), as measured best: chunks of 2 taps on 512 channels
  // (K = 1024) ran layer4 at 76% against 83% with 1 tap, and 4 taps on 256 channels 73%
  // against 76% with 3.
  const int64_t nrows = r.tapwise ? r.KH * r.KW : r.KH, kwc = r.tapwise ? r.C : r.KW * r.C;
  const int64_t per_tap = ceil_div(kwc, kChunkK);
  const int64_t ldp = (int64_t)NV * k.vw, ldb = r.fill_panel ? ldp : r.ldw;
  const int64_t kernel_row = r.KW * r.C;
  const int64_t taps_per =
      per_tap > 1                ? 1
      : !r.tapwise               ? std::max<int64_t>(1, kChunkK / kwc)
      : kernel_row <= kChunkK    ? r.KW * std::max<int64_t>(1, kChunkK / kernel_row)
                                 : std::max<int64_t>(1, r.KW / ceil_div(kernel_row, kChunkK));
  const int64_t nchunks = per_tap > 1 ? nrows * per_tap : ceil_div(nrows, taps_per);
  std::vector<int64_t> a_offs((size_t)(nchunks * nrows)), b_offs((size_t)(nchunks * nrows));
  std::vector<int64_t> chunk_row((size_t)nchunks), chunk_taps((size_t)nchunks), chunk_k((size_t)nchunks);
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int64_t kh0 = per_tap > 1 ? ch / per_tap : ch * taps_per;
    const int64_t part = per_tap > 1 ? ch % per_tap : 0;
    const int64_t k0 = part * kwc / per_tap, k1 = (part + 1) * kwc / per_tap;
    const int64_t nt = per_tap > 1 ? 1 : std::min(taps_per, nrows - kh0);
    chunk_row[(size_t)ch] = kh0;
    chunk_taps[(size_t)ch] = nt;
    chunk_k[(size_t)ch] = k1 - k0;
    for (int64_t j = 0; j < nt; ++j) {
      a_offs[(size_t)(ch * nrows + j)] = r.tapwise ? k0 : (kh0 + j) * r.Wp * r.C + k0;
      b_offs[(size_t)(ch * nrows + j)] = ((kh0 + j) * kwc + k0) * ldb;
    }
  }
  const std::vector<float> zeros(r.tapwise ? (size_t)r.C : 0, 0.f);  // taps outside the image
  const int64_t items = nb * ngroups;
  // Work items in block order, or, when the weights of several blocks fit kSuperWeightBytes
  // together, in superblocks of nbs blocks with the pixel groups outer: the threads then split a
  // superblock's pixel groups, each reading its part of the image once for all nbs blocks,
  // instead of each thread streaming the whole image once per block of its own.
  const int64_t block_bytes = 4 * nrows * kwc * NV * k.vw;
  const int64_t nbs =
      r.fill_panel ? 1 : std::clamp<int64_t>(kSuperWeightBytes / block_bytes, 1, nb);
  const double flops = 2.0 * P * r.cols * nrows * kwc;
  const int64_t OHo = r.OHo ? r.OHo : r.OH, OWo = r.OWo ? r.OWo : r.OW;
  const bool mapped = r.osh != 1 || r.osw != 1 || r.oph != 0 || r.opw != 0 || OHo != r.OH || OWo != r.OW;
#pragma omp parallel if (use_threads(flops))
  {
    std::vector<const float*> base((size_t)(r.tapwise ? nrows * group : group));  // [row][pixel] if tapwise
    std::vector<float*> obase(mapped ? (size_t)group : 0);
    float* panel = r.fill_panel ? scratch(ScratchSlot::conv_wpack, nrows * kwc * ldp) : nullptr;
    int64_t panel_ob = -1;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t sb = it / (nbs * ngroups), in_sb = it % (nbs * ngroups);
      const int64_t nbs_here = std::min(nbs, nb - sb * nbs);
      const int64_t ob = sb * nbs + in_sb % nbs_here, g = in_sb / nbs_here;
      const int64_t p0 = g * group, p1 = std::min(P, p0 + group);
      const int nv = (int)std::min<int64_t>(NV, nvec - ob * NV);
      const int64_t oc0 = ob * NV * k.vw;
      if (panel && ob != panel_ob) {
        r.fill_panel(oc0, std::min(ldp, r.cols - oc0), panel, ldp);
        panel_ob = ob;
      }
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / (r.OH * r.OW), oh = p / r.OW % r.OH, ow = p % r.OW;
        if (r.tapwise) {
          for (int64_t kh = 0; kh < r.KH; ++kh)
            for (int64_t kw = 0; kw < r.KW; ++kw) {
              const int64_t ih = oh * r.sh + kh + r.off_h, iw = ow * r.sw + kw + r.off_w;
              const bool inside = ih >= 0 && ih < r.Hp && iw >= 0 && iw < r.Wp;
              base[(size_t)((kh * r.KW + kw) * group + p - p0)] =
                  inside ? r.in + ((n * r.Hp + ih) * r.Wp + iw) * r.C : zeros.data();
            }
        } else {
          base[(size_t)(p - p0)] = r.in + ((n * r.Hp + oh * r.sh) * r.Wp + ow * r.sw) * r.C;
        }
        if (mapped)
          obase[(size_t)(p - p0)] =
              r.out + ((n * OHo + oh * r.osh + r.oph) * OWo + ow * r.osw + r.opw) * r.cols + oc0;
      }
      for (int64_t ch = 0; ch < nchunks; ++ch) {
        const bool first = ch == 0, last = ch == nchunks - 1;
        RowsTile t;
        t.a_off = &a_offs[(size_t)(ch * nrows)];
        t.b = panel ? panel : r.wp + oc0;
        t.b_off = &b_offs[(size_t)(ch * nrows)];
        t.a_taps_ld = group;
        t.ldb = ldb;
        t.taps = (int)chunk_taps[(size_t)ch];
        t.K = chunk_k[(size_t)ch];
        t.ldc = r.cols;
        t.N = std::min<int64_t>((int64_t)nv * k.vw, r.cols - oc0);
        t.accumulate = first ? r.accumulate : true;
        t.scale = last && r.ep.weight_scale ? r.ep.weight_scale + oc0 : nullptr;
        t.bias = last && r.ep.bias ? r.ep.bias + oc0 : nullptr;
        t.ldr = r.cols;
        t.relu = last && r.ep.relu;
        for (int64_t pt = p0; pt < p1; pt += M) {
          if (r.tapwise)
            t.a_taps = base.data() + chunk_row[(size_t)ch] * group + (pt - p0);
          else
            t.a_rows = base.data() + (pt - p0);
          t.c = r.out + pt * r.cols + oc0;
          if (mapped) t.c_rows = obase.data() + (pt - p0);
          t.res = last && r.ep.residual ? r.ep.residual + pt * r.cols + oc0 : nullptr;
          k.rows(t, (int)std::min<int64_t>(M, p1 - pt), nv);
        }
      }
    }
  }
}

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
  run_rows_conv(rc, k);
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
    run_rows_conv(rc, k);
  }
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
  const double flops = 2.0 * pixels * d.OC * d.KH * kwc;
#pragma omp parallel if (use_threads(flops))
  {
    for (int64_t sb = 0; sb < supers; ++sb) {
      const int64_t q0 = sb / nsb * mts, ob0 = sb % nsb * nbs;
      const int64_t nq = std::min(mts, mq - q0), nob = std::min(nbs, nb - ob0);
      for (int64_t r0 = 0; r0 < rows_total; r0 += chunk) {
        const int64_t nr = std::min(chunk, rows_total - r0);
        // Static and nowait: a thread owns the same tiles in every chunk (same loop, same
        // schedule), so it never waits for the other threads. M-tile outer, channel block inner:
        // a thread's consecutive tiles share their input slice.
#pragma omp for schedule(static) nowait
        for (int64_t t = 0; t < nq * nob; ++t) {
          const int64_t q = q0 + t / nob, kh = q / mt, mi = q % mt, ob = ob0 + t % nob;
          const int nv = (int)std::min<int64_t>(NV, nvec - ob * NV);
          // Tile rows [m0, m1) of d_w's KW*C; A offset kw * cs + c for m = kw * C + c.
          const int64_t m0 = ctk ? mi / ctk * d.C + mi % ctk * d.C / ctk : mi * kwc / mt;
          const int64_t m1 = ctk ? mi / ctk * d.C + (mi % ctk + 1) * d.C / ctk : (mi + 1) * kwc / mt;
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
          ct.c = d_w + (kh * kwc + m0) * d.OC + oc0;
          ct.ldc = d.OC;
          ct.N = std::min<int64_t>((int64_t)nv * k.vw, d.OC - oc0);
          k.cols(ct, (int)(m1 - m0), nv);
        }
      }
    }
  }
}

}  // namespace ds
