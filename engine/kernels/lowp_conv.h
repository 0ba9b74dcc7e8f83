// What the reduced-precision inference convolutions (conv_bf16.h, conv_int8.h) share: the tile
// description their SIMD instances run, the driver that converts the fp32 input into the
// zero-padded low-precision copy the tiles read and shares the work items (output-channel block x
// group of consecutive output pixels) between the threads, and the direct loops of their
// reference twins. Both reduce over groups of 4 bytes of A, the 32 bits one broadcast loads:
// 2 bf16 (vdpbf16ps) or 4 uint8 (vpdpbusd).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_caches.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/pooling.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

// One tile: M output pixels x NV vectors of 16 output channels. A elements are the input's (bf16
// bits or uint8), B the packed weights' (bf16 bits or int8).
template <class A, class B>
struct LowpTile {
  // A: pixel m's first kernel row at a_rows[m], KH rows a_ld elements apart, each kg groups long.
  const A* const* a_rows = nullptr;
  int64_t a_ld = 0;
  int64_t KH = 0, kg = 0;
  // B: one packed block, [KH][kg][NV * 16][group].
  const B* b = nullptr;
  // C: row m (m < rows) at c + m * ldc, columns n < N stored.
  float* c = nullptr;
  int64_t ldc = 0;
  int rows = 0;
  int64_t N = 0;
  // Epilogue: sum * scale[n] + bias[n] as one fma (scale null: sum + bias[n]; bias null: 0),
  // + res[m * ldr + n], max 0.
  const float* scale = nullptr;
  const float* bias = nullptr;
  const float* res = nullptr;
  int64_t ldr = 0;
  // Or the residual as uint8 codes (int8 chains: a block's identity): + float(res_codes[m][n]) * res_scale.
  const uint8_t* const* res_codes = nullptr;
  float res_scale = 0;
  bool relu = false;
  // When set, row m's bias is row_bias[m] instead (LowpEdgeBias: outputs next to the padding).
  const float* const* row_bias = nullptr;
  // int8 chains: row m's results also quantized in registers, quantize_u8(x, out_inv, out_zero),
  // into out_codes[m] (null: a pixel the next copy does not hold). c null: no fp32 row stored.
  uint8_t* const* out_codes = nullptr;
  float out_inv = 0, out_zero = 0;
};

// Kernel taps k0..k1 (k1 exclusive) of output o fall inside an input of `in` (stride, pad, k taps).
struct LowpTaps {
  int64_t k0, k1;
  bool operator==(const LowpTaps&) const = default;
};
inline LowpTaps lowp_inside_taps(int64_t o, int64_t in, int64_t k, int64_t stride, int64_t pad) {
  const int64_t first = o * stride - pad;  // input index of tap 0
  return {std::clamp<int64_t>(-first, 0, k), std::clamp<int64_t>(in - first, 0, k)};
}

// A bias vector per output pixel where it depends on which kernel taps fall in the padding (the
// int8 convolution whose padding code stands for a value a little off 0.0, conv_int8.h): output
// rows whose inside taps are the same kernel rows share a row class, likewise columns; each pair
// of classes has its vector of `width` floats.
struct LowpEdgeBias {
  std::vector<int32_t> row_class, col_class;  // per output row, per output column
  std::vector<LowpTaps> rows, cols;           // each class's inside taps
  int64_t width = 0;
  std::vector<float> bias;  // [row class][col class][width]
  const float* at(int64_t oh, int64_t ow) const {
    return bias.data() + ((int64_t)row_class[(size_t)oh] * (int64_t)cols.size() + col_class[(size_t)ow]) * width;
  }
};

// The classes of d's outputs, and fill(rows taps, cols taps, vector of `width`) for each pair.
template <class Fill>
LowpEdgeBias lowp_edge_bias(const ConvDims& d, int64_t width, Fill fill) {
  LowpEdgeBias e;
  e.width = width;
  auto classify = [](int64_t n, std::vector<int32_t>& cls, std::vector<LowpTaps>& taps, auto inside) {
    for (int64_t o = 0; o < n; ++o) {
      const LowpTaps t = inside(o);
      const auto it = std::find(taps.begin(), taps.end(), t);
      cls.push_back((int32_t)(it - taps.begin()));
      if (it == taps.end()) taps.push_back(t);
    }
  };
  classify(d.OH, e.row_class, e.rows, [&](int64_t o) { return lowp_inside_taps(o, d.H, d.KH, d.stride_h, d.pad_h); });
  classify(d.OW, e.col_class, e.cols, [&](int64_t o) { return lowp_inside_taps(o, d.W, d.KW, d.stride_w, d.pad_w); });
  e.bias.resize(e.rows.size() * e.cols.size() * (size_t)width);
  for (size_t r = 0; r < e.rows.size(); ++r)
    for (size_t c = 0; c < e.cols.size(); ++c)
      fill(e.rows[r], e.cols[c], e.bias.data() + (r * e.cols.size() + c) * width);
  return e;
}

// The packing both share: blocks of NV vectors of 16 output channels (NV = 4, fewer for a narrow
// layer; the last block zero-padded), kg groups of `group` reduction indices per kernel row,
// packed [nb][KH][kg][NV * 16][group]. A kernel row's KW * Cp inputs lie contiguous in the padded
// copy; Cp is C padded to whole groups, or with pad_channels false C itself (int8's RGB stem: 3
// channels, 6 groups of 4 per 7-tap row instead of 7 groups of 3 channels and a zero), the last
// group then reading up to group - 1 values past the row, whose weights are zero (an int8 code
// times 0 is 0 whatever the code; a bf16 value could be a NaN, so bf16 pads). Copies the tiles
// read carry kLowpCopySlack elements past their end for that.
struct LowpPacking {
  int64_t C = 0, Cp = 0, KH = 0, KW = 0, OC = 0;
  int NV = 4;         // vectors of 16 output channels per block
  int64_t L = 0;      // NV * 16
  int64_t nb = 0;     // blocks
  int64_t kg = 0;     // groups per kernel row: KW * Cp / group, rounded up
  int64_t group = 0;  // reduction indices per group (2 bf16, 4 int8: 32 bits)
  LowpPacking() = default;
  LowpPacking(int64_t KH_, int64_t KW_, int64_t C_, int64_t OC_, int64_t group_, bool pad_channels = true)
      : C(C_),
        Cp(pad_channels ? round_up(C_, group_) : C_),
        KH(KH_),
        KW(KW_),
        OC(OC_),
        NV((int)std::min<int64_t>(4, ceil_div(OC_, 16))),
        L(16 * (int64_t)NV),
        nb(ceil_div(OC_, L)),
        kg(ceil_div(KW_ * Cp, group_)),
        group(group_) {}
  // Where the weight of (kh, kw, c, oc) goes, c < Cp, oc < nb * L.
  int64_t index(int64_t kh, int64_t kw, int64_t c, int64_t oc) const {
    const int64_t k = kw * Cp + c;
    return (((oc / L * KH + kh) * kg + k / group) * L + oc % L) * group + k % group;
  }
  int64_t size() const { return nb * KH * kg * L * group; }
};

// f(packed index, w[kh, kw, c, oc] * scale[oc], c, oc) for every weight of w [KH, KW, C, OC].
template <class F>
void lowp_pack_each(const LowpPacking& b, const float* w, const float* scale, F f) {
  for (int64_t kh = 0; kh < b.KH; ++kh)
    for (int64_t kw = 0; kw < b.KW; ++kw)
      for (int64_t c = 0; c < b.C; ++c)
        for (int64_t oc = 0; oc < b.OC; ++oc)
          f(b.index(kh, kw, c, oc), w[((kh * b.KW + kw) * b.C + c) * b.OC + oc] * (scale ? scale[oc] : 1.0f), c, oc);
}

// Elements a padded copy carries past its end: what the last kernel row of unpadded channels reads
// beyond it (LowpPacking), and more.
constexpr int64_t kLowpCopySlack = 64;

// Output pixels per work item, in tiles: 16 tiles of 6 pixels leave layer4 at batch 16 (784
// pixels, 8 blocks of 64 channels) 72 items to share between the threads, and a thread's
// consecutive items of one block reuse its weights from L2. Chosen, not swept.
constexpr int64_t kLowpGroupTiles = 16;

// Row r of the padded copy a [N, Hp, Wp, Cp] (lowp_conv_forward's first pass): the input's row
// converted by `convert` and placed at (pad_h, pad_w), `pad` elsewhere (padding rows and columns;
// null: 0), 0 in channels C..Cp (when the packing pads channels: bf16). With in null, only the
// padding is written (the input's pixels are a producing convolution's: lowp_fill_padding).
template <class A, class Convert>
void lowp_pad_row(A* a, int64_t r, const float* in, const ConvDims& d, int64_t Hp, int64_t Wp, int64_t Cp, const A* pad,
                  Convert& convert) {
  auto fill = [&](A* p, int64_t n) {  // n a whole number of pixels
    if (!pad) std::memset(p, 0, sizeof(A) * n);
    else
      for (int64_t i = 0; i < n; i += Cp) std::memcpy(p + i, pad, sizeof(A) * Cp);
  };
  const int64_t n = r / Hp, ih = r % Hp - d.pad_h, C = d.C;
  A* row = a + r * Wp * Cp;
  if (ih < 0 || ih >= d.H) {
    fill(row, Wp * Cp);
    return;
  }
  const int64_t j0 = std::clamp<int64_t>(d.pad_w, 0, Wp), j1 = std::clamp<int64_t>(d.pad_w + d.W, j0, Wp);
  fill(row, j0 * Cp);
  fill(row + j1 * Cp, (Wp - j1) * Cp);
  if (!in) return;
  const float* s = in + ((n * d.H + ih) * d.W + (j0 - d.pad_w)) * C;
  if (Cp == C) {
    convert(row + j0 * C, s, (j1 - j0) * C);
  } else {
    // Channels padded (bf16's conv1: RGB to 4): the row converted whole by the vector pass, then
    // spread to Cp per pixel (converting value by value was ~40% of conv1's time).
    thread_local std::vector<A> tmp;
    tmp.resize((size_t)((j1 - j0) * C));
    convert(tmp.data(), s, (j1 - j0) * C);
    const A* t = tmp.data();
    if (C == 3 && Cp == 4) {  // RGB, the common case: fixed sizes the compiler unrolls
      for (int64_t j = j0; j < j1; ++j, t += 3) {
        std::memcpy(row + j * 4, t, 3 * sizeof(A));
        row[j * 4 + 3] = 0;
      }
    } else {
      for (int64_t j = j0; j < j1; ++j, t += C) {
        std::copy(t, t + C, row + j * Cp);
        std::fill(row + j * Cp + C, row + (j + 1) * Cp, A(0));
      }
    }
  }
}

// Where the padded copy lowp_conv_forward's tiles read holds the input: [N, Hp, Wp, Cp], input
// pixel (ih, iw) at copy pixel ((ih + pad_h) / step_h, (iw + pad_w) / step_w). A 1x1 convolution
// with a stride and no padding (ResNet's downsamples) reads only every stride-th pixel: its copy
// holds just those (step = stride, OH x OW) and the tiles step through it by 1 (converting the
// whole input was 4x the work, most of such a layer's time at int8); otherwise step is 1 and the
// tiles step by the stride.
struct LowpInputLayout {
  int64_t N = 0, Hp = 0, Wp = 0, Cp = 0;
  int64_t pad_h = 0, pad_w = 0;
  int64_t step_h = 1, step_w = 1;
  int64_t sh = 1, sw = 1;  // copy pixels between consecutive output pixels' first taps
  bool operator==(const LowpInputLayout&) const = default;
  int64_t elems() const { return N * Hp * Wp * Cp; }
  bool subsampled() const { return step_h > 1 || step_w > 1; }
  // The copy's pixel index of input pixel (n, ih, iw), or -1 where the copy does not hold it.
  int64_t pixel(int64_t n, int64_t ih, int64_t iw) const {
    int64_t h = ih + pad_h, w = iw + pad_w;
    if (step_h > 1 || step_w > 1) {  // (no divisions per pixel otherwise)
      if (h % step_h || w % step_w) return -1;
      h /= step_h, w /= step_w;
    }
    if (h >= Hp || w >= Wp) return -1;
    return (n * Hp + h) * Wp + w;
  }
};
inline LowpInputLayout lowp_input_layout(const ConvDims& d, int64_t Cp) {
  const bool subsample = d.KH == 1 && d.KW == 1 && d.pad_h == 0 && d.pad_w == 0 && (d.stride_h > 1 || d.stride_w > 1);
  LowpInputLayout l;
  l.N = d.N, l.Cp = Cp;
  l.sh = subsample ? 1 : d.stride_h, l.sw = subsample ? 1 : d.stride_w;
  l.step_h = subsample ? d.stride_h : 1, l.step_w = subsample ? d.stride_w : 1;
  l.pad_h = d.pad_h, l.pad_w = d.pad_w;
  l.Hp = (d.OH - 1) * l.sh + d.KH, l.Wp = (d.OW - 1) * l.sw + d.KW;
  return l;
}

// How the tiles of convolution d address a copy of layout l: output pixel (n, oh, ow)'s first tap
// at copy pixel (n * Hp + oh * sh + oh0) * Wp + ow * sw + ow0. Its own layout (lowp_input_layout,
// origin 0), or one made for another reader of the same input whose copy holds every tap of d's
// and pads at least as far (ResNet's stride-2 downsample reading the copy made for its block's
// conv1): none when l cannot serve d.
struct LowpCopyOrigin {
  int64_t Hp, Wp, sh, sw, oh0, ow0;
};
inline std::optional<LowpCopyOrigin> lowp_copy_origin(const LowpInputLayout& l, const ConvDims& d, int64_t Cp) {
  const LowpInputLayout own = lowp_input_layout(d, Cp);
  if (l == own) return LowpCopyOrigin{l.Hp, l.Wp, l.sh, l.sw, 0, 0};
  const int64_t oh0 = l.pad_h - d.pad_h, ow0 = l.pad_w - d.pad_w;
  if (l.subsampled() || l.Cp != Cp || l.N != d.N || oh0 < 0 || ow0 < 0) return std::nullopt;
  if ((d.OH - 1) * d.stride_h + d.KH + oh0 > l.Hp || (d.OW - 1) * d.stride_w + d.KW + ow0 > l.Wp) return std::nullopt;
  return LowpCopyOrigin{l.Hp, l.Wp, d.stride_h, d.stride_w, oh0, ow0};
}

// Fills the pixels of copy (layout l, of an input H x W) that hold no input pixel, the padding,
// with pad (Cp elements; null: 0): what a convolution writing the next one's copy leaves out.
template <class A>
void lowp_fill_padding(A* copy, const LowpInputLayout& l, int64_t H, int64_t W, const A* pad) {
  if (l.subsampled()) return;  // no padding: every copy pixel is an input pixel
  ConvDims d;                  // what lowp_pad_row reads of the reader's dims
  d.H = H, d.W = W, d.C = l.Cp, d.pad_h = l.pad_h, d.pad_w = l.pad_w;
  auto none = [](A*, const float*, int64_t) {};
  for (int64_t r = 0; r < l.N * l.Hp; ++r) lowp_pad_row(copy, r, (const float*)nullptr, d, l.Hp, l.Wp, l.Cp, pad, none);
}

// Inference chains (the int8 network, issue 20: activations converted where they are produced):
// the input's padded copy already written by the convolution that produced it, and this
// convolution's output converted in its epilogue into the copy the next one reads.
template <class A>
struct LowpChain {
  const A* in = nullptr;  // the input's copy, of layout in_layout (lowp_copy_origin): the conversion pass is skipped
  LowpInputLayout in_layout;   // (its padding must be what this convolution's would be)
  A* out = nullptr;            // the next convolution's copy (its padding already filled): every output
  LowpInputLayout out_layout;  // pixel it holds, out_convert(dst, fp32 row, n); out_layout.Cp == d.OC
  std::function<void(A*, const float*, int64_t)> out_convert;
  // uint8 codes (int8): out_convert is quantize_u8(x, out_inv, out_zero), which the tiles'
  // epilogue then does itself on the results in registers (LowpTile::out_codes) where no pool
  // comes between; 0: out_convert on the stored rows.
  float out_inv = 0, out_zero = 0;
  bool store_float = true;  // false: `out` only, the fp32 output (or the pool's) is not stored
  // The residual as codes of layout res_layout (holding every output pixel, Cp == d.OC), added as
  // code * res_scale, instead of ep.residual.
  const uint8_t* res = nullptr;
  LowpInputLayout res_layout;
  float res_scale = 0;
};

// A second convolution whose output is this one's residual, computed tile by tile into a buffer
// in L1 just before the tile that adds it: ResNet's downsample fused into its block's last
// convolution, so its output (51 MB of fp32 in ResNet-50's layer1 at batch 16) never goes to
// memory. Each residual value is the one the downsample run alone stores (the same tiles on the
// same copy), sum * scale[oc] + bias[oc], added as ep.residual's would be.
template <class A, class B>
struct LowpResidualConv {
  ConvDims d;  // N, OH, OW and OC those of the convolution it is fused into
  const LowpPacking* w = nullptr;
  const B* packed = nullptr;
  const float* scale = nullptr;  // per output channel, padded to nb * L (or null)
  const float* bias = nullptr;   // likewise
  const A* in = nullptr;         // its input's copy, given (lowp_copy_origin(in_layout, d, w->Cp))
  LowpInputLayout in_layout;
};

// out = tiles over the input converted by `convert` (dst, src, n: a contiguous run from a pixel's
// first channel; a row at a time, into a per-thread buffer first when channels need padding),
// padded to [N, Hp, Wp, Cp] (lowp_input_layout) in the scratch slot with pad[c] (the code of 0.0
// per channel, Cp entries; null: 0), channels C..Cp (if padded) 0 (their weights are zero). w: the packing of
// `packed`; scale: per output channel, padded to nb * L (or null). max_m: pixels per tile for NV =
// 1..4; tile(t, M, NV) runs one. edge (or null): biases per output pixel (width nb * L), replacing
// ep.bias. With ep.max_pool (no residual), out is the max pool of that result instead
// (check_conv_pool). chain (or null): the input's copy made already and/or the next one's to make.
// res_conv (or null): the residual computed by a second convolution (no ep.residual, no residual
// codes, no pool).
template <class A, class B, class Convert>
void lowp_conv_forward(float* out, const float* in, const ConvDims& d, const LowpPacking& w, const B* packed,
                       const float* scale, const ConvEpilogue& ep, ScratchSlot slot, const int (&max_m)[5],
                       void (*tile)(const LowpTile<A, B>&, int, int), Convert convert, const A* pad = nullptr,
                       const LowpEdgeBias* edge = nullptr, const LowpChain<A>* chain = nullptr,
                       const LowpResidualConv<A, B>* res_conv = nullptr) {
  constexpr int64_t kGroup = 4 / sizeof(A);  // A elements per reduction group
  check_conv_pool(d, ep);
  DS_CHECK(!ep.channel_sums, "lowp_conv_forward: channel sums are the fp32 convolutions' (training)");
  const PoolDims* pool = ep.max_pool;
  const LowpInputLayout lay = lowp_input_layout(d, w.Cp);
  const A* next_in = chain ? chain->in : nullptr;
  A* next_out = chain ? chain->out : nullptr;
  const uint8_t* res_codes = chain ? chain->res : nullptr;
  // The copy the tiles read: this convolution's own, or the one given (made for another reader).
  const std::optional<LowpCopyOrigin> origin = lowp_copy_origin(next_in ? chain->in_layout : lay, d, w.Cp);
  DS_CHECK(origin.has_value(), "lowp_conv_forward: the input's copy does not hold this convolution's taps");
  const int64_t Hp = origin->Hp, Wp = origin->Wp, Cp = w.Cp, sh = origin->sh, sw = origin->sw;
  DS_CHECK(!res_codes || (!ep.residual && !pool && chain->res_layout.Cp == d.OC && !chain->res_layout.subsampled()),
           "lowp_conv_forward: residual codes of another layout");
  // The residual convolution's copy, as its tiles address it.
  std::optional<LowpCopyOrigin> res_origin;
  const A* res_a = nullptr;
  if (res_conv) {
    const ConvDims& rd = res_conv->d;
    DS_CHECK(!ep.residual && !res_codes && !pool && rd.N == d.N && rd.OH == d.OH && rd.OW == d.OW && rd.OC == d.OC &&
                 res_conv->w->NV == w.NV && res_conv->w->KH == rd.KH && res_conv->in,
             "lowp_conv_forward: a residual convolution of another shape, or a second residual");
    res_origin = lowp_copy_origin(res_conv->in_layout, rd, res_conv->w->Cp);
    DS_CHECK(res_origin.has_value(), "lowp_conv_forward: the residual convolution's copy does not hold its taps");
    res_a = res_conv->in + (res_origin->oh0 * res_origin->Wp + res_origin->ow0) * res_conv->w->Cp;
  }
  // The next copy's code pixels for output pixel (n, oh, ow) of an output OW wide (the pool's when
  // one follows), or null where the copy does not hold it.
  auto next_pixel = [&](int64_t n, int64_t oh, int64_t ow) -> A* {
    const int64_t i = chain->out_layout.pixel(n, oh, ow);
    return i < 0 ? nullptr : next_out + i * d.OC;
  };
  const bool store_float = !chain || chain->store_float;
  // The next copy holds every output pixel (not subsampled: a row's pixels side by side).
  const bool next_dense =
      next_out && !pool && !chain->out_layout.subsampled() && chain->out_layout.pixel(d.N - 1, d.OH - 1, d.OW - 1) >= 0;
  DS_CHECK(!next_out || (chain->out_layout.Cp == d.OC && chain->out_layout.N == d.N && chain->out_convert),
           "lowp_conv_forward: the next copy's layout differs from the output's");
  DS_CHECK(store_float || next_out, "lowp_conv_forward: an output nobody stores");
  // The tiles quantize the next copy's codes themselves (int8), or out_convert reads their rows.
  // With a pool and no fp32 output, they quantize the band it pools and the codes are pooled
  // (maxpool2d_band_codes): a quarter of the data to pool and no fp32 band stored. (After a ReLU:
  // no NaN, which would win the fp32 pool but not the codes'.)
  bool codes_in_tile = false, codes_pool = false;
  if constexpr (std::is_same_v<A, uint8_t>) {
    codes_in_tile = next_out && !pool && chain->out_inv > 0;
    codes_pool = next_out && pool && !store_float && ep.relu && chain->out_inv > 0;
  }
  DS_CHECK(!pool || store_float || codes_pool,
           "lowp_conv_forward: an unstored pool output needs int8 codes after a ReLU");
  // The tiles store fp32 rows: the output, or with a pool the band it pools.
  const bool tiles_store = store_float || (pool && !codes_pool);
  const A* a = next_in ? next_in + (origin->oh0 * Wp + origin->ow0) * Cp : nullptr;
  if (!a) {
    a = reinterpret_cast<A*>(scratch(slot, ceil_div((lay.elems() + kLowpCopySlack) * (int64_t)sizeof(A), 4)));
    std::memset(const_cast<A*>(a) + lay.elems(), 0, sizeof(A) * kLowpCopySlack);  // read, times zero weights
  }
  A* const copy = const_cast<A*>(a);  // written only when not given
  const int64_t pad_rows = next_in ? 0 : d.N * Hp;
  auto pad_row = [&](int64_t r) {
    if (!lay.subsampled()) return lowp_pad_row(copy, r, in, d, Hp, Wp, Cp, pad, convert);
    // Row r = (n, oh): input row oh * stride_h's pixels at every stride_w-th column, each
    // converted in place when no channels need padding, else gathered and converted as a row of
    // OW pixels.
    const float* src = in + (r / d.OH * d.H + r % d.OH * d.stride_h) * d.W * d.C;
    if (Cp == d.C) {
      for (int64_t ow = 0; ow < d.OW; ++ow) convert(copy + (r * Wp + ow) * Cp, src + ow * d.stride_w * d.C, d.C);
      return;
    }
    thread_local std::vector<float> g;
    g.resize((size_t)(d.OW * d.C));
    for (int64_t ow = 0; ow < d.OW; ++ow)
      std::memcpy(g.data() + ow * d.C, src + ow * d.stride_w * d.C, sizeof(float) * d.C);
    ConvDims row = d;
    row.H = 1, row.W = d.OW;
    lowp_pad_row(copy + r * Wp * Cp, 0, g.data(), row, 1, Wp, Cp, pad, convert);
  };

  const int NV = w.NV, M = max_m[NV];
  const int64_t L = (int64_t)NV * 16;
  const int64_t P = d.N * d.OH * d.OW;
  const int64_t block = w.KH * w.kg * L * kGroup;  // B elements per packed block
  // The tiles of output-channel block ob over the consecutive output pixels [p0, p1): pixel p's
  // row at c + (p - p0) * OC, its residual at res likewise (or null); or with codes_band (a pool's
  // band, codes_pool) only its codes, at codes_band + (p - p0) * OC.
  auto run_pixels = [&](const A** rows, const float** row_bias, int64_t ob, int64_t p0, int64_t p1, float* c,
                        const float* res, A* codes_band = nullptr) {
    const uint8_t* res_rows[16] = {};
    LowpTile<A, B> t;
    t.a_rows = rows;
    t.a_ld = Wp * Cp;
    t.KH = w.KH;
    t.kg = w.kg;
    t.b = packed + ob * block;
    t.ldc = tiles_store ? d.OC : L;
    t.N = std::min(L, d.OC - ob * L);
    t.scale = scale ? scale + ob * L : nullptr;
    t.bias = ep.bias ? ep.bias + ob * L : nullptr;
    t.relu = ep.relu;
    t.row_bias = edge ? row_bias : nullptr;
    t.res_codes = res_codes ? res_rows : nullptr;
    t.res_scale = res_codes ? chain->res_scale : 0.0f;
    // Not stored: each tile's rows into this thread's buffer, converted from there.
    thread_local std::vector<float> tile_rows;
    if (!tiles_store && !codes_in_tile && !codes_band) tile_rows.resize((size_t)(M * L));
    // The residual convolution's tile: its rows, into a buffer the tile's epilogue reads.
    LowpTile<A, B> rt;
    const A* res_a_rows[16] = {};
    thread_local std::vector<float> res_tile;
    if (res_conv) {
      const LowpPacking& rw = *res_conv->w;
      res_tile.resize((size_t)(M * L));
      rt.a_rows = res_a_rows;
      rt.a_ld = res_origin->Wp * rw.Cp;
      rt.KH = rw.KH;
      rt.kg = rw.kg;
      rt.b = res_conv->packed + ob * rw.KH * rw.kg * L * kGroup;
      rt.c = res_tile.data();
      rt.ldc = L;
      rt.N = t.N;
      rt.scale = res_conv->scale ? res_conv->scale + ob * L : nullptr;
      rt.bias = res_conv->bias ? res_conv->bias + ob * L : nullptr;
    }
    A* next_rows[16];
    if constexpr (std::is_same_v<A, uint8_t>) {
      if (codes_in_tile || codes_band) {
        t.out_codes = next_rows;
        t.out_inv = chain->out_inv;
        t.out_zero = chain->out_zero;
      }
    }
    // The output pixel (n, oh, ow) of p, stepped one pixel at a time, and where its output row
    // starts in A, the residual's codes and the next copy (when that holds every pixel of the
    // row, next_dense), computed once per output row: per pixel, the index arithmetic was ~19% of
    // a chained 1x1 expansion (64 -> 256 channels) at int8.
    int64_t n = p0 / (d.OH * d.OW), oh = p0 / d.OW % d.OH, ow = p0 % d.OW;
    const A* a_row = nullptr;
    const A* res_a_row = nullptr;
    const uint8_t* res_row = nullptr;
    A* next_row = nullptr;
    auto start_row = [&] {
      a_row = a + (n * Hp + oh * sh) * Wp * Cp;
      if (res_conv) res_a_row = res_a + (n * res_origin->Hp + oh * res_origin->sh) * res_origin->Wp * res_conv->w->Cp;
      if (res_codes) res_row = res_codes + chain->res_layout.pixel(n, oh, 0) * d.OC + ob * L;
      if (next_dense) next_row = next_out + chain->out_layout.pixel(n, oh, 0) * d.OC + ob * L;
    };
    start_row();
    for (int64_t q = p0; q < p1; q += M) {
      t.rows = (int)std::min<int64_t>(M, p1 - q);
      for (int m = 0; m < M; ++m) {
        if (m >= t.rows) {  // a short tile repeats its last pixel
          rows[m] = rows[t.rows - 1];
          row_bias[m] = row_bias[t.rows - 1];
          res_rows[m] = res_rows[t.rows - 1];
          res_a_rows[m] = res_a_rows[t.rows - 1];
          continue;
        }
        rows[m] = a_row + ow * sw * Cp;
        if (res_conv) res_a_rows[m] = res_a_row + ow * res_origin->sw * res_conv->w->Cp;
        row_bias[m] = edge ? edge->at(oh, ow) + ob * L : nullptr;
        if (res_codes) res_rows[m] = res_row + ow * d.OC;
        if (codes_band) {
          next_rows[m] = codes_band + (q - p0 + m) * d.OC + ob * L;
        } else if (next_dense) {
          next_rows[m] = next_row + ow * d.OC;
        } else if (next_out && !pool) {
          next_rows[m] = next_pixel(n, oh, ow);
          if (next_rows[m]) next_rows[m] += ob * L;
        }
        if (++ow == d.OW) {
          ow = 0;
          if (++oh == d.OH) oh = 0, ++n;
          if (n < d.N) start_row();
        }
      }
      t.c = tiles_store ? c + (q - p0) * d.OC + ob * L : codes_in_tile || codes_band ? nullptr : tile_rows.data();
      t.res = res ? res + (q - p0) * d.OC + ob * L : nullptr;
      t.ldr = d.OC;
      if (res_conv) {
        rt.rows = t.rows;
        tile(rt, M, NV);
        t.res = res_tile.data();
        t.ldr = L;
      }
      tile(t, M, NV);
      if (next_out && !pool && !codes_in_tile)
        for (int m = 0; m < t.rows; ++m)
          if (next_rows[m]) chain->out_convert(next_rows[m], t.c + m * t.ldc, t.N);
    }
  };
  // Work items: groups of output pixels x channel blocks, or with a max pool, bands of pooled rows.
  // Blocks outer (a block's weights stay in L2 while the groups pass), unless every block's
  // weights (a residual convolution's included) fit in half the L2 together: then a group's blocks are one item, so its
  // output and residual rows are written and read whole while in cache instead of a 64-channel slice per pass over the
  // whole tensor (ResNet-50's 1x1 expansions at int8 were bound by that traffic).
  const int64_t group = kLowpGroupTiles * M, ngroups = ceil_div(P, group);
  const int64_t weights = w.nb * (block + (res_conv ? res_conv->w->KH * res_conv->w->kg * L * kGroup : 0));
  const bool groups_outer = w.nb > 1 && ngroups >= 8 && weights * (int64_t)sizeof(B) <= cpu_caches().l2 / 2;
  const int64_t items = pool ? pool_bands(*pool) : groups_outer ? ngroups : w.nb * ngroups;
  double flops = 2.0 * (double)P * (double)d.OC * (double)(d.KH * d.KW * d.C);
  if (res_conv) flops += 2.0 * (double)P * (double)d.OC * (double)(res_conv->d.KH * res_conv->d.KW * res_conv->d.C);
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
    // One parallel region for the conversion pass and the tiles: a barrier between them, but one
    // fork and join per convolution (on a loaded machine each costs the time a descheduled
    // thread takes to come back).
#pragma omp for schedule(static)
    for (int64_t r = 0; r < pad_rows; ++r) pad_row(r);
    const A* rows[16];
    const float* row_bias[16];
    // Dynamic: items are computed whole by whichever thread takes them, so the results do not
    // depend on the schedule, and a thread the OS preempts (a shared machine) holds up only the
    // item it is on instead of its whole static share.
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
      if (!pool) {
        const int64_t g = groups_outer ? it : it % ngroups, p0 = g * group, p1 = std::min(P, p0 + group);
        const int64_t ob0 = groups_outer ? 0 : it / ngroups, ob1 = groups_outer ? w.nb : ob0 + 1;
        for (int64_t ob = ob0; ob < ob1; ++ob)
          run_pixels(rows, row_bias, ob, p0, p1, out ? out + p0 * d.OC : nullptr,
                     ep.residual ? ep.residual + p0 * d.OC : nullptr);
        continue;
      }
      // A band of pooled rows (pooling.h): its convolution rows into this thread's buffer, then
      // pooled into out (or as codes, codes_pool, into the next copy).
      const PoolBand pb = pool_band(*pool, it);
      const int64_t p0 = (pb.n * d.OH + pb.r0) * d.OW, p1 = (pb.n * d.OH + pb.r1) * d.OW;
      if constexpr (std::is_same_v<A, uint8_t>) {
        if (codes_pool) {  // the band as codes, pooled into the next copy
          A* cb = reinterpret_cast<A*>(scratch(ScratchSlot::conv_pool_band, ceil_div((p1 - p0) * d.OC, 4)));
          for (int64_t ob = 0; ob < w.nb; ++ob) run_pixels(rows, row_bias, ob, p0, p1, nullptr, nullptr, cb);
          maxpool2d_band_codes(cb, *pool, pb, [&](int64_t r, int64_t pw) { return next_pixel(pb.n, pb.ph0 + r, pw); });
          continue;
        }
      }
      float* band = scratch(ScratchSlot::conv_pool_band, (pb.r1 - pb.r0) * d.OW * d.OC);
      for (int64_t ob = 0; ob < w.nb; ++ob) run_pixels(rows, row_bias, ob, p0, p1, band, nullptr);
      maxpool2d_band(out, band, *pool, pb);
      if (next_out)  // the band's pooled rows, converted while they are in cache
        for (int64_t ph = pb.ph0; ph < pb.ph0 + pb.local.OH; ++ph)
          for (int64_t pw = 0; pw < pool->OW; ++pw)
            if (A* q = next_pixel(pb.n, ph, pw))
              chain->out_convert(q, out + ((pb.n * pool->OH + ph) * pool->OW + pw) * d.OC, d.OC);
    }
  }
}

// The reference twins' direct loops (and with ep.max_pool, the pool after them): for each output, acc = Acc{} then
// tap(acc, x, kh, kw, oc) for every kernel tap inside the input (x: the input pixel's C values), v = finish(acc, oc,
// oh, ow), then + residual and max(., 0) (NaN -> 0, as the tiles).
template <class Acc, class Tap, class Finish>
void lowp_conv_ref_loops(float* out, const float* in, const ConvDims& d, const ConvEpilogue& ep, Tap tap,
                         Finish finish) {
  check_conv_pool(d, ep);
  DS_CHECK(!ep.channel_sums, "lowp_conv_ref_loops: channel sums are the fp32 convolutions' (training)");
  if (ep.max_pool)
    return conv_then_pool(out, d, ep,
                          [&](float* o, const ConvEpilogue& e) { lowp_conv_ref_loops<Acc>(o, in, d, e, tap, finish); });
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oh = 0; oh < d.OH; ++oh)
      for (int64_t ow = 0; ow < d.OW; ++ow)
        for (int64_t oc = 0; oc < d.OC; ++oc) {
          Acc s{};
          for (int64_t kh = 0; kh < d.KH; ++kh) {
            const int64_t ih = oh * d.stride_h + kh - d.pad_h;
            if (ih < 0 || ih >= d.H) continue;
            for (int64_t kw = 0; kw < d.KW; ++kw) {
              const int64_t iw = ow * d.stride_w + kw - d.pad_w;
              if (iw < 0 || iw >= d.W) continue;
              tap(s, in + ((n * d.H + ih) * d.W + iw) * d.C, kh, kw, oc);
            }
          }
          const int64_t o = ((n * d.OH + oh) * d.OW + ow) * d.OC + oc;
          float v = finish(s, oc, oh, ow);
          if (ep.residual) v += ep.residual[o];
          if (ep.relu) v = v > 0.0f ? v : 0.0f;
          out[o] = v;
        }
}

}  // namespace ds
