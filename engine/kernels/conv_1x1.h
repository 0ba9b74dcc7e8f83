// 1x1 convolutions without padding (ResNet's downsamples and bottleneck reductions and
// expansions, and Linear, which is one) as plain GEMMs over pixels on the brgemm micro-kernels,
// behind conv.h's kernels (conv.cpp dispatches here when conv_is_1x1). With output pixel
// p = (n, oh, ow) reading input pixel (n, oh*sh, ow*sw):
//   forward          out[p] = epilogue(in[pixel(p)] . W)            W [C, OC], K = C
//   backward data    d_in[pixel(p)] (=|+=) d_out[p] . W^T            K = OC; with set, the input
//                    positions no output pixel reads (stride > 1) are zeroed
//   backward weights d_w += sum over p of in[pixel(p)]^T d_out[p]    K = the pixels
// Why not the rows scheduler (conv_rows.h) that runs every other forward and backward-data
// convolution: a 1x1's reduction is only C long (a 3x3's is 9C), so what that scheduler does
// per work item (each pixel's row pointer from three divisions, per output-channel block; the
// stride phases and their mapped outputs in backward data) is, on paper, of the order of the
// arithmetic. Here a pixel group's row pointers are walked once for all its blocks, the weights
// are packed into contiguous per-block panels once per call (inference packs them once per model:
// conv1x1_forward_packed), and backward weights reads both operands in place, one reduction row
// per output row (stride 2 reads every other pixel, with no gather).
// Results do not depend on the thread count: each output element is one tile's sum, over the
// reduction chunks (forward, backward data: chunk_k) or the pixels (backward weights) in order.
#pragma once
#include "engine/kernels/conv.h"

namespace ds {

// Whether d is a 1x1 convolution without padding: the ones this file runs, unless
// DEEPSLIDE_CONV_1X1=rows sends them to the rows scheduler as before (benchmarks: the same binary
// measured both ways).
bool conv_is_1x1(const ConvDims& d);
// DEEPSLIDE_CONV_1X1=rows is set (another summation order: result keys say so).
bool conv_1x1_by_rows();

// The contracts of conv.h's kernels (backward ones accumulate; d_b is left to the caller).
void conv1x1_forward(float* out, const float* in, const float* w, const ConvDims& d, const ConvEpilogue& ep);
// The forward on weights packed once (pack_conv_forward's blocks, which are the panels).
void conv1x1_forward_packed(float* out, const float* in, const float* panels, const ConvDims& d,
                            const ConvEpilogue& ep);
void conv1x1_backward_data(float* d_in, const float* d_out, const float* w, const ConvDims& d, bool set);
void conv1x1_backward_weights(float* d_w, const float* d_out, const float* in, const ConvDims& d);

}  // namespace ds
