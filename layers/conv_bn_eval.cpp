// Inference-time fusion of a convolution with the BatchNorm (and residual add, ReLU) after it:
// w' = w * gamma / sqrt(var + eps) per output channel (applied to each sum in the epilogue),
// b' = beta + (b - mean) * gamma / sqrt(var + eps), and the add and ReLU happen in the
// convolution's epilogue too. Saves the BN pass and its activation tensor on every layer of a
// predict run. At Precision::bf16 the scale is multiplied into the weights before they are
// rounded to bf16 and packed, once per conv (cached in Conv2d::bf16_folded, or for the 3x3
// stride-1 convolutions run by bf16 Winograd, transformed first: Conv2d::winograd_bf16_folded); at Precision::int8
// likewise before quantizing (Conv2d::int8_folded), for the convs with a calibrated input range;
// likewise into the Winograd-transformed weights of the fp32 3x3 stride-1 convolutions
// (Conv2d::winograd_folded); and into the per-block panels of the fp32 direct weights where the
// forward pass would otherwise copy them on every call (Conv2d::direct_folded). The stem's max
// pool can ride along (conv_bn_pool).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/error.h"
#include "base/hash.h"
#include "engine/int8_codes.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/conv_int8.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/conv_winograd_bf16.h"
#include "engine/kernels/pooling.h"
#include "layers/layers.h"

namespace ds {

namespace {

// What the folded weights were computed from: the weights' storage and 256 of its values spread
// over it, and every value of the BN and the conv's bias. Any optimizer step or model load
// changes it (they change every weight); hashing every weight on each forward would cost a few
// percent of a bf16 forward. Few samples, hashed by words (fnv1a_words): 1024 samples hashed byte
// by byte were 18% of an int8 forward's kernel time on 32-px patches, mostly cache misses.
uint64_t fold_fingerprint(const Conv2d& conv, const BatchNorm2d& bn) {
  const Tensor& w = conv.weight.value;
  const float* p = w.data();
  const int64_t n = w.numel(), step = std::max<int64_t>(1, (n + 255) / 256);  // at most 256 samples
  float sample[257];
  int64_t k = 0;
  for (int64_t i = 0; i < n; i += step) sample[k++] = p[i];
  sample[k++] = p[n - 1];
  uint64_t h = fnv1a_words(&p, sizeof p);
  h = fnv1a_words(&n, sizeof n, h);
  h = fnv1a_words(sample, sizeof(float) * (size_t)k, h);
  for (const Tensor* t : {&bn.weight.value, &bn.bias.value, &bn.running_mean.value, &bn.running_var.value})
    h = fnv1a_words(t->data(), sizeof(float) * (size_t)t->numel(), h);
  h = fnv1a_words(&bn.eps, sizeof bn.eps, h);
  if (conv.has_bias) h = fnv1a_words(conv.bias.value.data(), sizeof(float) * (size_t)conv.bias.value.numel(), h);
  return h;
}

// BN folded into per-channel scale and bias: w' = w * scale, b' = beta + (b - mean) * scale.
void fold_bn(const Conv2d& conv, const BatchNorm2d& bn, float* scale, float* bias) {
  for (int64_t oc = 0; oc < conv.OC; ++oc) {
    const double s = (double)bn.weight.value[oc] / std::sqrt((double)bn.running_var.value[oc] + (double)bn.eps);
    scale[oc] = (float)s;
    const double conv_b = conv.has_bias ? conv.bias.value[oc] : 0.0;
    bias[oc] = (float)(bn.bias.value[oc] + (conv_b - bn.running_mean.value[oc]) * s);
  }
}

std::mutex g_fold_mutex;  // guards Conv2d's *_folded caches (forward passes may share a model)

// The cached packing in `slot` if it was made from the same weights (fingerprint), else a new
// one: the BN folded into a scale and the fp32 bias, make(scale) packing the weights with it.
template <class F, class Make>
std::shared_ptr<const F> cached_fold(std::shared_ptr<const F>& slot, const Conv2d& conv, const BatchNorm2d& bn,
                                     uint64_t salt, Make make) {
  std::lock_guard<std::mutex> lock(g_fold_mutex);
  const uint64_t fp = fnv1a(&salt, sizeof salt, fold_fingerprint(conv, bn));
  if (slot && slot->fingerprint == fp) return slot;
  auto f = std::make_shared<F>();
  f->fingerprint = fp;
  std::vector<float> scale((size_t)conv.OC);
  f->bias.resize((size_t)conv.OC);
  fold_bn(conv, bn, scale.data(), f->bias.data());
  f->w = make(scale.data());
  slot = f;
  return f;
}

// The smallest and largest of n values (NaN ignored), merged into conv's calibration range, and
// the positive ones counted in its histogram (Conv2d::calib_hist).
void record_range(Conv2d& conv, const float* x, int64_t n) {
  float lo = conv.calib_seen ? conv.calib_lo : INFINITY, hi = conv.calib_seen ? conv.calib_hi : -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  if (!conv.calib_seen) conv.calib_hist.assign(kCalibBins, 0.0), conv.calib_top = 0;
  conv.calib_lo = lo;
  conv.calib_hi = hi;
  conv.calib_seen = true;
  if (!(hi > 0) || !std::isfinite(hi)) return;
  std::vector<double>& h = conv.calib_hist;
  if (conv.calib_top == 0) conv.calib_top = hi;
  while (conv.calib_top < hi) {  // double the range: bins merge in pairs
    for (int i = 0; i < kCalibBins / 2; ++i) h[(size_t)i] = h[(size_t)(2 * i)] + h[(size_t)(2 * i + 1)];
    std::fill(h.begin() + kCalibBins / 2, h.end(), 0.0);
    conv.calib_top *= 2;
  }
  const float per_bin = (float)kCalibBins / conv.calib_top;
  for (int64_t i = 0; i < n; ++i)
    if (x[i] > 0) h[(size_t)std::min(kCalibBins - 1, (int)(x[i] * per_bin))] += 1;
}

}  // namespace

// A conv's weights packed (bf16, int8) or transformed (Winograd) with its BN's scale folded in,
// and the fp32 bias.
template <class Packed>
struct Folded {
  uint64_t fingerprint = 0;
  Packed w;
  std::vector<float> bias;
};

// Salted with the block width, which depends on the vector width of the ISA in use.
static std::shared_ptr<const Folded<ConvForwardWeights>> folded_direct(Conv2d& conv, const BatchNorm2d& bn,
                                                                       const ConvDims& d) {
  const int64_t width = conv_forward_block_width(conv.OC);
  return cached_fold(conv.direct_folded, conv, bn, fnv1a(&width, sizeof width, 0x2000000000000000ull),
                     [&](const float* scale) { return pack_conv_forward(conv.weight.value.data(), scale, d); });
}

static std::shared_ptr<const Folded<ConvBf16Weights>> folded_bf16(Conv2d& conv, const BatchNorm2d& bn) {
  return cached_fold(conv.bf16_folded, conv, bn, 0, [&](const float* scale) {
    return pack_conv_bf16(conv.weight.value.data(), scale, conv.KH, conv.KW, conv.C, conv.OC);
  });
}

static std::shared_ptr<const Folded<ConvWinogradBf16Weights>> folded_winograd_bf16(Conv2d& conv,
                                                                                   const BatchNorm2d& bn) {
  return cached_fold(conv.winograd_bf16_folded, conv, bn, 0, [&](const float* scale) {
    return pack_conv_winograd_bf16(conv.weight.value.data(), scale, conv.C, conv.OC);
  });
}

static std::shared_ptr<const Folded<ConvWinogradWeights>> folded_winograd(Conv2d& conv, const BatchNorm2d& bn) {
  return cached_fold(conv.winograd_folded, conv, bn, 0, [&](const float* scale) {
    return pack_conv_winograd(conv.weight.value.data(), scale, conv.C, conv.OC);
  });
}

// Packed for the conv's input quantization (part of the fingerprint: recalibrating repacks).
static std::shared_ptr<const Folded<ConvInt8Weights>> folded_int8(Conv2d& conv, const BatchNorm2d& bn) {
  uint64_t salt = fnv1a(&conv.int8_act_max, sizeof(float), 0x1000000000000000ull);
  salt = fnv1a(&conv.int8_act_min, sizeof(float), salt);
  for (const std::vector<float>* v : {&conv.int8_image_mean, &conv.int8_image_std}) {
    const size_t n = v->size();
    salt = fnv1a(v->data(), sizeof(float) * n, fnv1a(&n, sizeof n, salt));
  }
  return cached_fold(conv.int8_folded, conv, bn, salt, [&](const float* scale) {
    const Int8Input in = conv.int8_image_mean.empty() ? Int8Input::range(conv.C, conv.int8_act_max, conv.int8_act_min)
                                                      : Int8Input::image(conv.int8_image_mean, conv.int8_image_std);
    return pack_conv_int8(conv.weight.value.data(), scale, conv.KH, conv.KW, conv.C, conv.OC, in);
  });
}

namespace {

std::atomic<int64_t> g_int8_chain_reads{0}, g_int8_residual_code_reads{0}, g_int8_fused_downsamples{0};
std::atomic<int64_t> g_residuals_written_over{0};

// A block's downsample run inside its last convolution's tiles (conv_bn_downsample): its
// convolution and BN, and its input, whose codes it reads.
struct FusedDownsample {
  Conv2d* conv = nullptr;
  const BatchNorm2d* bn = nullptr;
  VarPtr x;
};

// The codes next reads, for this convolution's epilogue to write (int8 chains), or null where
// there is no chain: no next, a next not at int8, the reference twin, or a next whose input is
// quantized per channel. os: this convolution's output shape, next's input.
std::shared_ptr<Int8Codes> next_codes(const ConvNext& next, const Shape& os) {
  if (!next.conv || next.conv->int8_act_max <= 0 || !int8_chains_supported()) return nullptr;
  Conv2d& nc = *next.conv;
  DS_CHECK(next.bn && nc.C == os[3], "conv_bn_eval: the next convolution does not read this output");
  const ConvDims nd = make_conv_dims(os[0], nc.C, os[1], os[2], nc.OC, nc.KH, nc.KW, nc.stride, nc.pad);
  Int8CodesSpec spec;
  if (!int8_codes_spec(folded_int8(nc, *next.bn)->w, nd, &spec)) return nullptr;
  return std::make_shared<Int8Codes>(spec, os);
}

// The spec conv's input codes have at input shape xs [N, H, W, C] (int8_codes_spec), if any.
std::optional<Int8CodesSpec> own_codes_spec(Conv2d& conv, const BatchNorm2d& bn, const Shape& xs,
                                            ConvDims* dims = nullptr) {
  const Shape os = conv.out_shape(xs);
  const ConvDims d = make_conv_dims(xs[0], conv.C, xs[1], xs[2], conv.OC, conv.KH, conv.KW, conv.stride, conv.pad);
  DS_CHECK(d.OH == os[1] && d.OW == os[2], "own_codes_spec: dims differ from the output shape");
  if (dims) *dims = d;
  Int8CodesSpec spec;
  if (!int8_codes_spec(folded_int8(conv, bn)->w, d, &spec)) return std::nullopt;
  return spec;
}

// Whether conv, reading an input of shape xs, can read codes (its own or another reader's:
// int8_codes_readable).
bool reads_codes(Conv2d& conv, const BatchNorm2d& bn, const Int8CodesSpec& codes, const Shape& xs) {
  ConvDims d;
  const std::optional<Int8CodesSpec> mine = own_codes_spec(conv, bn, xs, &d);
  return mine && int8_codes_readable(codes, *mine, d);
}

// Whether everything besides next.conv that reads a block's output (next.block_input) takes the
// codes made for next.conv instead of its fp32 value: the next block's downsample, when it runs at
// int8 and can read them (int8_codes_readable), or else its identity (int8_identity).
bool others_read_codes(const ConvNext& next, const Int8CodesSpec& codes, const Shape& os) {
  if (!next.block_input) return false;
  if (!next.down) return int8_codes_hold_residual(codes, os[0], os[1], os[2], os[3]);
  return next.down->int8_act_max > 0 && reads_codes(*next.down, *next.down_bn, codes, os);
}

// conv_bn_eval at int8: the input's codes when this convolution can read them, the residual's
// when it has no fp32 value (int8_identity), the next one's written when asked (conv_bn_eval in layers.h).
// started: the caller's conv_log_now().
VarPtr conv_bn_int8(Conv2d& conv, const BatchNorm2d& bn, const VarPtr& x, const VarPtr& residual, const ConvDims& d,
                    const Shape& y_shape, ConvEpilogue ep, const ConvNext& next, const FusedDownsample* down,
                    double started) {
  const std::shared_ptr<const Folded<ConvInt8Weights>> f = folded_int8(conv, bn);
  std::shared_ptr<const Folded<ConvInt8Weights>> fd;  // the fused downsample's (held while it runs)
  ep.bias = f->bias.data();                           // the scales are in the int8 weights' out_scale
  Int8Chain chain;
  Int8CodesSpec mine;
  if (x->int8_codes && int8_codes_spec(f->w, d, &mine) && int8_codes_readable(x->int8_codes->spec, mine, d)) {
    chain.in = x->int8_codes->data();
    chain.in_spec = x->int8_codes->spec;
    g_int8_chain_reads.fetch_add(1, std::memory_order_relaxed);
  }
  DS_CHECK(chain.in || x->value.defined(),
           "conv_bn_eval " + conv.weight.name + ": the input's codes were made for another convolution");
  if (residual && !residual->value.defined()) {
    chain.res = residual->int8_codes->data();
    chain.res_spec = residual->int8_codes->spec;
    g_int8_residual_code_reads.fetch_add(1, std::memory_order_relaxed);
  }
  if (down) {
    fd = folded_int8(*down->conv, *down->bn);
    const Int8Codes& xc = *down->x->int8_codes;
    const Conv2d& dc = *down->conv;
    // (conv_bn_downsample checked that it reads the codes; the kernel checks again.)
    chain.res_d = make_conv_dims(xc.shape[0], dc.C, xc.shape[1], xc.shape[2], dc.OC, dc.KH, dc.KW, dc.stride, dc.pad);
    chain.res_w = &fd->w;
    chain.res_bias = fd->bias.data();
    chain.res_in = xc.data();
    chain.res_in_spec = xc.spec;
    log_conv_algo(*down->conv, chain.res_d, "int8", 0);  // timed within conv's
    g_int8_chain_reads.fetch_add(1, std::memory_order_relaxed);
    g_int8_fused_downsamples.fetch_add(1, std::memory_order_relaxed);
  }
  std::shared_ptr<Int8Codes> codes = next_codes(next, y_shape);
  if (codes) {
    chain.out = codes->data();
    chain.out_spec = codes->spec;
    chain.store_float = next.also_float && !others_read_codes(next, codes->spec, y_shape);
  }
  VarPtr y = make_var(chain.store_float ? Tensor::empty(y_shape) : Tensor());
  y->int8_codes = codes;
  float* out = chain.store_float ? y->value.data() : nullptr;
  const float* in = x->value.defined() ? x->value.data() : nullptr;
  DS_CHECK(!residual || residual->value.defined() || chain.res, "conv_bn_int8: a residual neither fp32 nor codes");
  if (chain.in || chain.out || chain.res || chain.res_w) conv2d_forward_int8(out, in, f->w, d, ep, chain);
  else conv2d_forward_int8(out, in, f->w, d, ep);
  log_conv_algo(conv, d, "int8", started);
  return y;
}

// The fp32 values codes stand for, [N, H, W, C] (code * scale; the residual's codes read where
// the tiles do not).
VarPtr codes_value(const Int8Codes& c) {
  const Shape& s = c.shape;
  DS_CHECK(int8_codes_hold_residual(c.spec, s[0], s[1], s[2], s[3]), "codes_value: codes that do not hold every pixel");
  Tensor t = Tensor::empty(s);
  const int64_t C = s[3];
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t h = 0; h < s[1]; ++h)
      for (int64_t w = 0; w < s[2]; ++w) {
        const uint8_t* q = c.data() + c.spec.layout.pixel(n, h, w) * C;
        float* o = t.data() + ((n * s[1] + h) * s[2] + w) * C;
        for (int64_t i = 0; i < C; ++i) o[i] = (float)q[i] * c.spec.scale;
      }
  return make_var(std::move(t));
}

// conv_bn_eval, and with pool (no residual) the max pool after it: fused into the convolution
// (ConvEpilogue::max_pool: its whole output never goes to memory), a pass of its own after Winograd.
// down (or null): the residual is that downsample's output, computed in the tiles (at int8, with
// chains: conv_bn_downsample checked).
VarPtr conv_bn_pool_eval(Context& ctx, Conv2d& conv, const BatchNorm2d& bn, const VarPtr& x, const VarPtr& residual,
                         bool relu, MaxPool2d* pool, const ConvNext& next = {}, const FusedDownsample* down = nullptr,
                         bool residual_dies = false) {
  DS_CHECK(!ctx.recording() && !ctx.training, "conv_bn_eval is for inference only");
  const double started = conv_log_now();
  DS_CHECK(!pool || !residual, "conv_bn_pool: no residual before a pool");
  // An input whose fp32 value was not stored (an int8 chain) is read through its codes, at int8
  // only, and has their shape.
  const bool int8 = ctx.precision == Precision::int8 && conv.int8_act_max > 0;
  DS_CHECK(x->value.defined() || (x->int8_codes && int8 && !ctx.calibrating),
           "conv_bn_eval " + conv.weight.name + ": an input with codes only, not at int8");
  const Shape& xs = x->value.defined() ? x->value.shape() : x->int8_codes->shape;
  const Shape os = bn.out_shape(conv.out_shape(xs));
  if (residual) {
    const Shape& rs = residual->value.defined() ? residual->value.shape() : residual->int8_codes->shape;
    DS_CHECK_INPUT(rs == os, "conv_bn_eval " + conv.weight.name + ": residual " + rs.str() +
                                 " differs from the output " + os.str());
  }
  // A residual given as codes (int8_identity, which checked that they hold it) is read as such at
  // int8 with the tiles; anywhere else as the fp32 values they stand for.
  const bool res_codes = residual && !residual->value.defined();
  if (res_codes && !(int8 && int8_chains_supported()))
    return conv_bn_pool_eval(ctx, conv, bn, x, codes_value(*residual->int8_codes), relu, pool, next);
  const int64_t OC = conv.OC;
  const ConvDims d = make_conv_dims(os[0], conv.C, xs[1], xs[2], OC, conv.KH, conv.KW, conv.stride, conv.pad);
  ConvEpilogue ep;
  ep.residual = residual && !res_codes ? residual->value.data() : nullptr;
  ep.relu = relu;
  if (ctx.calibrating) record_range(conv, x->value.data(), x->value.numel());
  // Calibration (an int8 run's fp32 passes) stays direct: cached Winograd weights would outlive it
  // and hold ~4x the 3x3 weights (170 MB on ResNet-18) through the whole int8 run.
  const bool winograd = !int8 && ctx.precision != Precision::bf16 && !ctx.calibrating && use_winograd(d);
  // Winograd does not fuse the pool: a pass of its own after the convolution.
  if (pool && winograd) return pool->forward(ctx, conv_bn_pool_eval(ctx, conv, bn, x, nullptr, relu, nullptr));
  PoolDims pd;
  if (pool) {
    pd = make_pool_dims(os[0], OC, os[1], os[2], pool->k, pool->stride, pool->pad);
    ep.max_pool = &pd;
  }
  DS_CHECK(!down || (int8 && ctx.int8_chains && !pool), "conv_bn_eval: a fused downsample outside an int8 chain");
  if (int8)
    return conv_bn_int8(conv, bn, x, residual, d, pool ? pool->out_shape(os) : os, ep,
                        ctx.int8_chains ? next : ConvNext{}, down, started);
  // The output over a residual that dies here, where the kernel can write it so (conv_bn's
  // residual_dies; ConvEpilogue::residual): every bf16 convolution, fp32 Winograd, and the packed
  // fp32 direct forward (not while calibrating, as below).
  const bool over_ok = ctx.precision == Precision::bf16 || winograd || (conv_forward_prepacks(d) && !ctx.calibrating);
  // Never over the convolution's own input (which its tiles still read): a residual held by nothing
  // else can be that input only as the same tensor.
  const bool in_place = residual_dies && ep.residual && over_ok && residual->value.sole_owner() &&
                        !(x->value.defined() && x->value.data() == residual->value.data());
  VarPtr y = make_var(in_place ? residual->value : Tensor::empty(pool ? pool->out_shape(os) : os));
  if (in_place) {
    ep.residual = y->value.data();
    g_residuals_written_over.fetch_add(1, std::memory_order_relaxed);
  }
  if (ctx.precision == Precision::bf16) {
    if (!pool && use_winograd_bf16(d)) {
      const std::shared_ptr<const Folded<ConvWinogradBf16Weights>> f = folded_winograd_bf16(conv, bn);
      ep.bias = f->bias.data();  // the scale is in the transformed weights
      conv2d_forward_winograd_bf16(y->value.data(), x->value.data(), f->w, d, ep);
      log_conv_algo(conv, d, "bf16-winograd", started);
      return y;
    } else {
      const std::shared_ptr<const Folded<ConvBf16Weights>> f = folded_bf16(conv, bn);
      ep.bias = f->bias.data();  // the scale is in the bf16 weights
      conv2d_forward_bf16(y->value.data(), x->value.data(), f->w, d, ep);
    }
    log_conv_algo(conv, d, "bf16", started);
    return y;
  }
  if (winograd) {
    const std::shared_ptr<const Folded<ConvWinogradWeights>> f = folded_winograd(conv, bn);
    ep.bias = f->bias.data();  // the scale is in the transformed weights
    conv2d_forward_winograd(y->value.data(), x->value.data(), f->w, d, ep);
    log_conv_algo(conv, d, "winograd", started);
    return y;
  }
  // Packed once rather than copied (or, a 1x1, packed) on every call. Not while calibrating, for the reason above:
  // those passes copy the weights into scratch (conv2d_forward). int8 bench's peak RSS: 242 MB so,
  // 232 before the rows were spaced, 250 with a copy packed and freed in each call.
  if (conv_forward_prepacks(d) && !ctx.calibrating) {
    const std::shared_ptr<const Folded<ConvForwardWeights>> f = folded_direct(conv, bn, d);
    ep.bias = f->bias.data();  // the scale is in the packed weights
    conv2d_forward_packed(y->value.data(), x->value.data(), f->w, d, ep);
    log_conv_algo(conv, d, "direct", started);
    return y;
  }
  Tensor scale = Tensor::empty(Shape{OC}), b = Tensor::empty(Shape{OC});
  fold_bn(conv, bn, scale.data(), b.data());
  ep.weight_scale = scale.data();  // applied to each sum: no scaled copy of the weights
  ep.bias = b.data();
  conv2d_forward(y->value.data(), x->value.data(), conv.weight.value.data(), d, ep);
  log_conv_algo(conv, d, "direct", started);
  return y;
}

}  // namespace

int64_t int8_chain_reads() { return g_int8_chain_reads.load(std::memory_order_relaxed); }
int64_t int8_residual_code_reads() { return g_int8_residual_code_reads.load(std::memory_order_relaxed); }
int64_t int8_fused_downsamples() { return g_int8_fused_downsamples.load(std::memory_order_relaxed); }
int64_t residuals_written_over() { return g_residuals_written_over.load(std::memory_order_relaxed); }

VarPtr int8_identity(Context& ctx, Conv2d& conv1, const BatchNorm2d& bn1, const VarPtr& x) {
  if (ctx.recording() || ctx.training || ctx.calibrating || ctx.precision != Precision::int8 || conv1.int8_act_max <= 0)
    return x;
  const Shape& xs = x->value.defined() ? x->value.shape() : x->int8_codes->shape;
  const std::optional<Int8CodesSpec> mine = own_codes_spec(conv1, bn1, xs);
  if (!mine || !int8_codes_hold_residual(*mine, xs[0], xs[1], xs[2], xs[3])) return x;
  if (x->int8_codes && x->int8_codes->spec == *mine) {  // chained: the codes themselves, no fp32 copy
    VarPtr r = make_var(Tensor());
    r->int8_codes = x->int8_codes;
    return r;
  }
  DS_CHECK(x->value.defined(), "int8_identity: an input with codes made for another convolution and no value");
  VarPtr r = make_var(Tensor::empty(xs));
  int8_fake_quantize(r->value.data(), x->value.data(), x->value.numel(), *mine);
  return r;
}

VarPtr conv_bn_eval(Context& ctx, Conv2d& conv, const BatchNorm2d& bn, const VarPtr& x, const VarPtr& residual,
                    bool relu, const ConvNext& next, bool residual_dies) {
  return conv_bn_pool_eval(ctx, conv, bn, x, residual, relu, nullptr, next, nullptr, residual_dies);
}

VarPtr conv_bn_downsample(Context& ctx, Conv2d& conv, BatchNorm2d& bn, const VarPtr& y, Conv2d& down,
                          BatchNorm2d& down_bn, const VarPtr& x, const ConvNext& next) {
  const bool chained_int8 = !ctx.recording() && !ctx.training && !ctx.calibrating && ctx.int8_chains &&
                            ctx.precision == Precision::int8 && conv.int8_act_max > 0 && down.int8_act_max > 0 &&
                            int8_chains_supported() && x->int8_codes && conv.OC == down.OC;
  if (chained_int8 && reads_codes(down, down_bn, x->int8_codes->spec, x->int8_codes->shape)) {
    const FusedDownsample fused{&down, &down_bn, x};
    return conv_bn_pool_eval(ctx, conv, bn, y, nullptr, true, nullptr, next, &fused);
  }
  // The downsample's output is the residual alone: it dies with the add.
  return conv_bn(ctx, conv, bn, y, conv_bn(ctx, down, down_bn, x, nullptr, false), true, next, true);
}

VarPtr conv_bn_pool(Context& ctx, Conv2d& conv, BatchNorm2d& bn, MaxPool2d& pool, const VarPtr& x,
                    const ConvNext& next) {
  if (!ctx.recording() && !ctx.training) return conv_bn_pool_eval(ctx, conv, bn, x, nullptr, true, &pool, next);
  return pool.forward(ctx, conv_bn(ctx, conv, bn, x, nullptr, true));
}

VarPtr conv_bn(Context& ctx, Conv2d& conv, BatchNorm2d& bn, const VarPtr& x, const VarPtr& residual, bool relu,
               const ConvNext& next, bool residual_dies) {
  if (!ctx.recording() && !ctx.training) return conv_bn_eval(ctx, conv, bn, x, residual, relu, next, residual_dies);
  if (!ctx.training) return bn.forward(ctx, conv.forward(ctx, x), residual, relu);
  std::vector<double> sums((size_t)(2 * conv.OC));  // BN's statistics, summed as the conv stores its outputs
  VarPtr y = conv.forward(ctx, x, sums.data());
  return bn.forward(ctx, y, residual, relu, sums.data());
}

}  // namespace ds
