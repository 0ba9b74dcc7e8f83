// 2-D convolution kernels on channels-last activations (NHWC, float32, PyTorch semantics:
// cross-correlation, zero padding). Weights are [KH, KW, C, OC] (layers hold them so; model files
// keep PyTorch's [OC, C, KH, KW]): the forward pass reads them as they are (a copy with rows
// padded to whole vectors, and spaced at 256+ channels: conv_forward_ldw), backward weights
// accumulates into them in place, and only backward data transposes them per call. The fast
// versions run the brgemm micro-kernels (brgemm.h):
//   forward          tiles of M consecutive output pixels (across row ends) x NV vectors of
//                    output channels, K = kernel rows x KW * C (a kernel row's taps are
//                    contiguous in NHWC, so conv1's 7 x 3 taps pack into K = 21 without an
//                    im2col), or per tap on the unpadded image when C >= 16, cut into chunks
//                    whose weights stay in L2 while a group of pixels passes through them
//                    (conv_rows.h);
//   backward data    per stride phase of the input, a stride-1 convolution of the output gradient
//                    with that phase's (flipped, transposed) taps, by the forward tiles,
//                    accumulated into d_in (stride 1: one phase, every tap);
//   backward weights per (kernel row, KW*C block, OC block) tile, reduced over output pixels
//                    in L2-sized chunks, tiles grouped into superblocks of d_w that stay in L2;
//                    small weight gradients are summed in two halves of the pixels, the threads
//                    split those halves first and then the tiles (never the batch).
// 1x1 convolutions without padding (conv_1x1.h) run all three passes as GEMMs over pixels
// instead: weights packed into per-block panels, row pointers walked once per pixel group, and
// backward weights over packed pixel chunks.
// Every schedule depends on the shapes only, so results do not depend on the thread count.
// The _ref twins are direct loops with double accumulation: test oracles, and what reference mode
// runs.
// Backward kernels accumulate (+=) into their outputs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernels/pooling.h"
#include "engine/tensor.h"

namespace ds {

struct ConvDims {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t OC = 0, KH = 0, KW = 0;      // weights [KH, KW, C, OC]
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t OH = 0, OW = 0;  // output
};

// floor((in + 2 pad - k) / stride) + 1; callers check in + 2 pad >= k first.
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// Fills OH/OW from the other fields (square stride and padding).
ConvDims make_conv_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW, int64_t stride,
                        int64_t pad);

// What the forward pass applies to each output value before storing it, in this order:
// * weight_scale[oc], + bias[oc], + residual[n, oh, ow, oc], max(., 0). All optional. Scaling
// the sum is conv(in, w * scale) up to rounding (a folded BatchNorm, without a scaled copy of
// the weights).
struct ConvEpilogue {
  const float* weight_scale = nullptr;  // [OC]
  const float* bias = nullptr;          // [OC]
  // [N, OH, OW, OC]. May be the output itself for conv2d_forward_packed and
  // conv2d_forward_winograd (without weight_scale), and for the bf16 convolutions (direct and
  // Winograd, which store each output once, from its residual at the same place): each output is
  // then written over its residual (ResNet inference, where a block's input dies with the add),
  // which saves the memory traffic of a separate output (in_place_residual).
  const float* residual = nullptr;
  bool relu = false;
  // Inference's stem (conv1, BN, ReLU, then max pool): conv2d_forward and the bf16 and int8
  // convolutions take the pool too and write its output (out [N, pool OH, pool OW, OC]), in
  // bands whose rows stay in cache (or, on the paths that do not fuse it, after a whole pass).
  const PoolDims* max_pool = nullptr;
  // Training's BatchNorm statistics (tile_sums.h): when set, the fp32 forward convolutions
  // (conv2d_forward, conv2d_forward_winograd and their twins) also write the per-channel sum of
  // the values they store and the sum of their squares, [2 * OC] doubles, taken per tile as the
  // tiles are stored. Not with max_pool.
  double* channel_sums = nullptr;
};

// With ep's residual the output itself (see ConvEpilogue): the tiles that split the reduction
// into chunks store each chunk's partial sums into out, which would overwrite the residual before
// the last chunk added it; so they accumulate onto out, which starts as the residual, instead
// (out = (res + sum) + bias rather than (sum + bias) + res: a rounding apart), and get ep without
// it. Returns whether out is the residual; internal error with a weight scale (it would scale the
// residual too), a pool or channel sums.
bool in_place_residual(const float* out, ConvEpilogue& ep);

// conv(out, ep) without ep's max pool into a buffer, then maxpool2d_forward into out: the
// reference way to a fused pool's result (the twins, the paths that do not fuse it, the tests'
// oracle). Without a pool, conv(out, ep) itself.
template <class Conv>
void conv_then_pool(float* out, const ConvDims& d, const ConvEpilogue& ep, Conv conv);
// ep.max_pool, when set, pools d's output: its N, C, H, W are d's N, OC, OH, OW, and ep has no
// residual (internal error otherwise).
void check_conv_pool(const ConvDims& d, const ConvEpilogue& ep);

// out = epilogue(conv(in, w)).
void conv2d_forward(float* out,       // [N, OH, OW, OC]
                    const float* in,  // [N, H, W, C]
                    const float* w,   // [KH, KW, C, OC]
                    const ConvDims& d, const ConvEpilogue& ep = {});

// The forward pass reads the weights with rows conv_forward_ldw(OC) floats apart: OC rounded up to
// whole vectors, spaced at 256 or more (spaced_ld, brgemm.h: unspaced, the 256- and 512-channel
// 3x3 forwards ran at ~45% of the FMA peak on an Intel Xeon). conv2d_forward copies w so per call
// where that differs from OC. Inference packs the weights once instead, in panels of the tiles'
// output-channel blocks (conv2d_forward_packed), each block one contiguous stream: at batch 1,
// where layer4's 9.4 MB of weights a convolution stream from L3 for 49 pixels, read spaced they
// held its forward to ~52% of the peak.
int64_t conv_forward_ldw(int64_t OC);
// Whether conv2d_forward on d prepares its weights on every call, which inference does once
// instead (conv2d_forward_packed): not in reference mode; the 1x1 GEMMs, which pack panels per
// call (ResNet-50 at batch 1 spent ~20% of its convolution time so: 10% of samples in
// pack_rows_weights against 37% in the tiles, Zen 5), and the others whose rows are spaced.
bool conv_forward_prepacks(const ConvDims& d);

// A convolution's weights as the packed forward pass reads them, times a per-channel scale (a
// folded BatchNorm): [OC / width blocks][KH*KW*C][width], zeros past OC.
struct ConvForwardWeights {
  int64_t KH = 0, KW = 0, C = 0, OC = 0;
  int64_t width = 0;  // output channels per block: the rows tiles' (conv_forward_block_width)
  Tensor w;
};
// The block width pack_conv_forward uses for OC output channels on the ISA path in use.
int64_t conv_forward_block_width(int64_t OC);
// w [KH, KW, C, OC] times scale[oc] (null: 1), in blocks for d.
ConvForwardWeights pack_conv_forward(const float* w, const float* scale, const ConvDims& d);
// conv2d_forward on packed weights (a 1x1 GEMM reads them as its panels), any epilogue (a folded
// BN's scale is best packed into the weights rather than given as weight_scale).
void conv2d_forward_packed(float* out, const float* in, const ConvForwardWeights& w, const ConvDims& d,
                           const ConvEpilogue& ep = {});

// d_in += conv_transpose(d_out, w); with set, d_in = conv_transpose(d_out, w) (d_in's old
// contents ignored).
void conv2d_backward_data(float* d_in,         // [N, H, W, C]
                          const float* d_out,  // [N, OH, OW, OC]
                          const float* w,      // [KH, KW, C, OC]
                          const ConvDims& d, bool set = false);

// d_w += sum over images and pixels of d_out (x) in; d_b += sum of d_out over N, OH, OW (d_b may
// be null). Accumulates.
void conv2d_backward_weights(float* d_w,          // [KH, KW, C, OC]
                             float* d_b,          // [OC] or null
                             const float* d_out,  // [N, OH, OW, OC]
                             const float* in,     // [N, H, W, C]
                             const ConvDims& d);

// d_b[oc] += the sum of d_out [pixels, OC] over its pixels, in double.
void conv2d_bias_grad(float* d_b, const float* d_out, int64_t pixels, int64_t OC);

// Direct-loop twins with double accumulation (same contracts; backward ones accumulate). In
// reference mode (DEEPSLIDE_ISA=ref, engine/cpu_features.h) the kernels above run these.
void conv2d_forward_ref(float* out, const float* in, const float* w, const ConvDims& d, const ConvEpilogue& ep = {});
void conv2d_backward_data_ref(float* d_in, const float* d_out, const float* w, const ConvDims& d, bool set = false);
void conv2d_backward_weights_ref(float* d_w, float* d_b, const float* d_out, const float* in, const ConvDims& d);

template <class Conv>
void conv_then_pool(float* out, const ConvDims& d, const ConvEpilogue& ep, Conv conv) {
  if (!ep.max_pool) return conv(out, ep);
  std::vector<float> full((size_t)(d.N * d.OH * d.OW * d.OC));
  ConvEpilogue e = ep;
  e.max_pool = nullptr;
  conv(full.data(), e);
  maxpool2d_forward(out, nullptr, full.data(), *ep.max_pool);
}

}  // namespace ds
