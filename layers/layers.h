// The layers ResNet needs, each a thin struct over free kernels (engine/kernels/), with
// PyTorch semantics. forward() checks shapes, computes the output and, when ctx.tape is set,
// saves what backward needs and pushes one backward node; the node accumulates (+=) into the
// input's Var::grad and the parameters' Param::grad. Activations are channels-last: images are
// [N, H, W, C] (to_channels_last / to_channels_first convert at the network's edges); parameters
// keep PyTorch's layouts except convolution weights, held [KH, KW, C, OC] and converted to
// PyTorch's [OC, C, KH, KW] at file I/O (ParamLayout::conv_hwio).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "layers/module.h"

namespace ds {

// A convolution's weights packed for one inference kernel with its BatchNorm folded in, and the
// fingerprint of what they were made from (layers/conv_bn_eval.cpp).
template <class Packed>
struct Folded;
struct ConvForwardWeights;       // engine/kernels/conv.h
struct ConvBf16Weights;          // engine/kernels/conv_bf16.h
struct ConvWinogradWeights;      // engine/kernels/conv_winograd.h
struct ConvWinogradBf16Weights;  // engine/kernels/conv_winograd_bf16.h
struct ConvInt8Weights;          // engine/kernels/conv_int8.h
constexpr int kCalibBins = 2048;

struct Conv2d {
  int64_t C = 0, OC = 0, KH = 0, KW = 0, stride = 1, pad = 0;
  bool has_bias = false;
  Param weight;  // [KH, KW, C, OC] ([OC, C, KH, KW] in files: ParamLayout::conv_hwio)
  Param bias;    // [OC] when has_bias
  // conv_bn_eval's fp32 direct weights, BN folded in, in per-block panels (pack_conv_forward), for
  // the convolutions whose forward pass would prepare them on every call (conv_forward_prepacks);
  // refreshed like bf16_folded.
  std::shared_ptr<const Folded<ConvForwardWeights>> direct_folded;
  // conv_bn_eval's bf16 weights, BN folded in: packed on first use at Precision::bf16 and again
  // whenever a fingerprint of the weights and the BN (layers/conv_bn_eval.cpp) changes.
  std::shared_ptr<const Folded<ConvBf16Weights>> bf16_folded;
  // conv_bn_eval's Winograd-transformed fp32 weights, BN folded in, for the 3x3 stride-1
  // convolutions it runs by Winograd (use_winograd, engine/kernels/conv_winograd.h); refreshed
  // like bf16_folded.
  std::shared_ptr<const Folded<ConvWinogradWeights>> winograd_folded;
  // Likewise at Precision::bf16: the F(2x2, 3x3) filters in bf16 (use_winograd_bf16,
  // engine/kernels/conv_winograd_bf16.h), instead of bf16_folded for those convolutions.
  std::shared_ptr<const Folded<ConvWinogradBf16Weights>> winograd_bf16_folded;
  // int8 (weights/calibrate.h): the smallest and largest input seen by forward passes with
  // ctx.calibrating, and the range the input is quantized to at Precision::int8
  // (int8_act_min..int8_act_max, int8_act_min <= 0 and 0 unless the input is signed, as conv1's;
  // int8_act_max 0 means not calibrated: the conv stays fp32). int8_folded as bf16_folded.
  float calib_lo = 0, calib_hi = 0;
  bool calib_seen = false;
  // The positive inputs seen, counted in kCalibBins equal bins over [0, calib_top) (calib_top
  // doubles, merging bins in pairs, when a larger input arrives): what finish_calibration picks
  // the range from.
  std::vector<double> calib_hist;
  float calib_top = 0;
  float int8_act_max = 0, int8_act_min = 0;
  // When set (conv1's, by weights/calibrate.cpp from the model's normalization): the input is the
  // normalized 8-bit image, quantized per channel so that each code is the pixel value
  // (Int8Input::image, engine/kernels/conv_int8.h) rather than by the range above.
  std::vector<float> int8_image_mean, int8_image_std;
  std::shared_ptr<const Folded<ConvInt8Weights>> int8_folded;
  Conv2d() = default;
  Conv2d(const std::string& name, int64_t C, int64_t OC, int64_t k, int64_t stride, int64_t pad, bool bias);
  Shape out_shape(const Shape& in) const;  // throws InputError naming both shapes on mismatch
  // The training (and train-mode) forward: by Winograd when use_winograd() picks the shape at
  // this batch (engine/kernels/conv_winograd.h; the filters transformed on every call, as the
  // weights change every step), else the direct convolution. Backward: weight and data gradients
  // by Winograd where use_winograd_backward_weights() / _data() pick the shape, else direct.
  // channel_sums (or null): [2 * OC], the output's per-channel sums (ConvEpilogue::channel_sums).
  VarPtr forward(Context& ctx, const VarPtr& x, double* channel_sums = nullptr);
  void collect(ParamSet& ps);
};

struct BatchNorm2d;
// Inference only (no tape, evaluation mode): relu(bn(conv(x)) + residual) in one pass, with the
// BN's running statistics folded into the convolution's weights and bias (residual may be null,
// relu optional). Equal to the unfused layers up to rounding. At ctx.precision bf16 the folded
// weights are packed in bf16 once (cached in conv.bf16_folded) and the convolution runs
// conv2d_forward_bf16, or for the 3x3 stride-1 ones use_winograd_bf16() picks, the bf16 Winograd
// (conv.winograd_bf16_folded, conv2d_forward_winograd_bf16); at int8, when conv.int8_act_max > 0, in int8
// (conv.int8_folded, conv2d_forward_int8). In fp32, a 3x3 stride-1 convolution use_winograd() picks runs
// conv2d_forward_winograd on weights transformed once (cached in conv.winograd_folded), and a direct
// one whose forward would prepare its weights per call (conv_forward_prepacks: spaced rows, 1x1
// panels) runs conv2d_forward_packed on weights packed once (conv.direct_folded).
// ctx.calibrating widens conv.calib_lo/hi to the input's range.
//
// At int8, chains (issue 20): when `next` names the convolution that reads the output next and
// both run the int8 tiles, this one's epilogue also writes next's input codes (Var::int8_codes,
// engine/int8_codes.h), and when nothing else reads the output's fp32 value (no also_float, or a
// block's input whose other reader takes the codes too: block_input below), no fp32 output at
// all (value undefined). A convolution whose input carries codes it can read (made for it, or
// for another reader of the same input whose copy holds its taps: a block's downsample reading
// its conv1's) reads those and skips its quantizing pass. A residual with no value stands for its
// codes (int8_identity), added dequantized in the epilogue. The outputs are the same bit for bit,
// chained or not.
struct ConvNext {
  Conv2d* conv = nullptr;
  const BatchNorm2d* bn = nullptr;  // its BN (the codes follow its folded int8 packing)
  bool also_float = true;
  // The output is a block's input (conv its conv1): its other reader is that block's downsample
  // (down), or without one its identity. When that reader takes the codes too, no fp32 output.
  bool block_input = false;
  Conv2d* down = nullptr;
  const BatchNorm2d* down_bn = nullptr;
};
VarPtr conv_bn_eval(Context& ctx, Conv2d& conv, const BatchNorm2d& bn, const VarPtr& x, const VarPtr& residual,
                    bool relu, const ConvNext& next = {}, bool residual_dies = false);
// A residual block's identity x as the int8 network adds it: at int8, when conv1 (the block's
// first convolution, reading x) quantizes x per tensor with zero point 0 (post-ReLU), the values
// x's codes stand for, quantize_u8(x) * scale, as PyTorch's quantized ResNets add them; that lets
// the block's input be stored only as 8-bit codes. A Var with no value and x's codes when x carries
// conv1's codes (chains), else a fake-quantized copy (the same numbers). x itself otherwise (fp32,
// bf16, training, calibrating, conv1 not at int8).
VarPtr int8_identity(Context& ctx, Conv2d& conv1, const BatchNorm2d& bn1, const VarPtr& x);
// How many int8 convolutions have read their input's codes instead of quantizing it, in this
// process (tests check that chains happen).
int64_t int8_chain_reads();
// How many int8 convolutions have added their residual from its codes (int8_identity), likewise.
int64_t int8_residual_code_reads();
// How many downsamples have run inside their block's last convolution (conv_bn_downsample), likewise.
int64_t int8_fused_downsamples();
// How many inference convolutions have written their output over their residual (conv_bn's residual_dies), likewise.
int64_t residuals_written_over();
// While a log is set, conv_bn_eval and Conv2d::forward append which algorithm each convolution's
// forward ran, in order: "direct", "winograd", "bf16", "bf16-winograd" or "int8", and Conv2d's backward node which
// one its weight-gradient and backward-data passes ran ("direct" or "winograd", the layer named
// "<layer>/bwd_weights" and "<layer>/bwd_data"), with the pass's wall time;
// `deepslide bench` reports them. Null stops logging (layers/conv_algo_log.cpp).
struct ConvDims;  // engine/kernels/conv.h
struct ConvAlgoUse {
  std::string layer;  // the weight's name without ".weight", e.g. "layer1.0.conv1", + pass
  std::string algo;
  // The convolution's shape (Conv2d's kernels are square).
  int64_t c = 0, oc = 0, k = 0, stride = 1, out_h = 0, out_w = 0;
  // The pass's wall time in milliseconds, from conv_log_now() at its start to the log: the kernel
  // with its output's allocation and epilogue (an inference convolution's folded weights once
  // packed). 0 for a downsample run inside its block's last convolution (int8 chains): its time is that one's.
  double ms = 0;
  // The pass's flops per image as a direct convolution does them, 2 x OH x OW x OC x C x K x K
  // (either backward pass: the same), whatever the algorithm: what `bench` counts against the FMA peak.
  double flops_per_image() const {
    return 2.0 * (double)out_h * (double)out_w * (double)oc * (double)c * (double)(k * k);
  }
};
void set_conv_algo_log(std::vector<ConvAlgoUse>* log);
// A pass's start for log_conv_algo: the steady clock in seconds while a log is set, else 0 (no clock read).
double conv_log_now();
// Appends {layer name + pass, algo, d's shape, ms since started (0: none)} when a log is set.
void log_conv_algo(const Conv2d& conv, const ConvDims& d, const char* algo, double started, const char* pass = "");

// relu(bn(conv(x)) + residual) as a ResNet block runs it: folded by conv_bn_eval in inference,
// the two layers (BN fusing the add and ReLU) when recording or training; in training the
// convolution's epilogue sums its outputs per channel for BN's batch statistics.
// next: as conv_bn_eval's (inference only). residual_dies: nothing reads the residual after this
// call (the caller drops it, held nowhere else), so inference may write the output over it where
// its fp32 kernel can (ConvEpilogue::residual) and no other tensor shares its storage: one
// activation less in memory and no separate output stream (one of ResNet-50's 56 x 56 expanding
// 1x1s at batch 16, alone in a loop, ran at 66% of the FMA peak with the residual read beside the
// output, 85% over it; inside the network 61-63% -> 77%; Zen 5).
VarPtr conv_bn(Context& ctx, Conv2d& conv, BatchNorm2d& bn, const VarPtr& x, const VarPtr& residual, bool relu,
               const ConvNext& next = {}, bool residual_dies = false);
// relu(bn(conv(y)) + down_bn(down(x))), a block's last convolution with its downsample: conv_bn of
// each, except in an int8 chain where the downsample reads x's codes, where it runs inside conv's
// tiles (Int8Chain::res_w) and its output is never stored; the same numbers either way.
VarPtr conv_bn_downsample(Context& ctx, Conv2d& conv, BatchNorm2d& bn, const VarPtr& y, Conv2d& down,
                          BatchNorm2d& down_bn, const VarPtr& x, const ConvNext& next = {});

struct BatchNorm2d {
  int64_t C = 0;
  float momentum = 0.1f, eps = 1e-5f;
  Param weight, bias;                // [C], init 1 and 0
  Buffer running_mean, running_var;  // [C], init 0 and 1; running_var uses the unbiased variance
  BatchNorm2d() = default;
  BatchNorm2d(const std::string& name, int64_t C);
  Shape out_shape(const Shape& in) const;
  // training: batch stats + running update. Optionally fused with what follows BN in a ResNet
  // block: relu(bn(x) + residual) (residual same shape as x, or null). in_sums (training): x's
  // per-channel sums as the convolution before took them (Conv2d::forward), instead of two passes.
  VarPtr forward(Context& ctx, const VarPtr& x, const VarPtr& residual = nullptr, bool relu = false,
                 const double* in_sums = nullptr);
  void collect(ParamSet& ps);
};

struct MaxPool2d {
  int64_t k = 3, stride = 2, pad = 1;
  Shape out_shape(const Shape& in) const;
  VarPtr forward(Context& ctx, const VarPtr& x);  // gradient goes to the first max (PyTorch)
};

// pool(relu(bn(conv(x)))), ResNet's stem: in inference the pool runs inside the convolution
// (ConvEpilogue::max_pool: bands of rows pooled while in cache; the same numbers as the layers
// one after another; after the whole convolution when it runs Winograd), in training conv_bn
// then pool.forward.
// next: as conv_bn_eval's (the codes of the pool's output).
VarPtr conv_bn_pool(Context& ctx, Conv2d& conv, BatchNorm2d& bn, MaxPool2d& pool, const VarPtr& x,
                    const ConvNext& next = {});

struct Linear {
  int64_t in = 0, out = 0;
  Param weight;  // [out, in]
  Param bias;    // [out]
  Linear() = default;
  Linear(const std::string& name, int64_t in, int64_t out);
  Shape out_shape(const Shape& in) const;
  VarPtr forward(Context& ctx, const VarPtr& x);  // x: [N, in] -> [N, out]
  void collect(ParamSet& ps);
};

VarPtr relu(Context& ctx, const VarPtr& x);
VarPtr add(Context& ctx, const VarPtr& a, const VarPtr& b);  // residual add, same shapes
VarPtr global_avg_pool(Context& ctx, const VarPtr& x);       // AdaptiveAvgPool2d(1)+flatten: [N,H,W,C] -> [N,C]
VarPtr to_channels_last(Context& ctx, const VarPtr& x);      // [N,C,H,W] -> [N,H,W,C]
VarPtr to_channels_first(Context& ctx, const VarPtr& x);     // [N,H,W,C] -> [N,C,H,W]
// Mean softmax cross-entropy over the batch: logits [N, K], labels in [0, K). Returns a [1]
// scalar. If probs is non-null it receives the softmax probabilities [N, K].
VarPtr softmax_cross_entropy(Context& ctx, const VarPtr& logits, const std::vector<int>& labels,
                             Tensor* probs = nullptr);
// Row-wise softmax (inference).
Tensor softmax(const Tensor& logits);

}  // namespace ds
