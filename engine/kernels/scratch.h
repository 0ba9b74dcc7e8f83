// Per-thread scratch memory for kernels (padded images, packed weights, panels, partial sums):
// reused across calls so hot loops neither zero-fill nor page-fault fresh allocations every time.
// A slot grows to the largest size requested on that thread and is kept until the thread exits;
// contents are uninitialised. Each slot has exactly one use, named below, so no two uses (nested
// kernel calls, or two buffers of one kernel) ever share memory.
#pragma once
#include <cstdint>

namespace ds {

enum class ScratchSlot {
  conv_input_pad = 0,   // conv2d_forward: zero-padded input (convolutions not run tapwise)
  conv_weights_pad,     // conv2d_forward: weights with rows padded to whole vectors and spaced (conv_forward_ldw)
  conv_grad_pad,        // conv2d_backward_data: zero-padded output gradient (not tapwise)
  conv_panel,           // conv2d_backward_data: a thread's panel of transposed weights
  wgrad_input,          // conv2d_backward_weights: input, zero-padded and pixels spaced apart
  wgrad_grad,           // conv2d_backward_weights: output gradient, rows padded and spaced
  wgrad_part,           // conv2d_backward_weights: the second pixel part's weight gradient
  bn_partials,          // BatchNorm: per-block channel sums (doubles)
  linear_weights,       // linear_forward, linear_backward: W transposed to [IN, OUT]
  linear_wgrad,         // linear_backward: the weight gradient in [IN, OUT]
  conv_bf16_input,      // conv2d_forward_bf16: the input in bf16, zero-padded, even channels
  winograd_v,           // conv2d_forward_winograd: a block's transformed inputs
  winograd_m,           // conv2d_forward_winograd: a block's GEMM outputs
  conv_int8_input,      // conv2d_forward_int8: the input quantized to uint8, zero-padded, channels to 4n
  conv1x1_panels,       // 1x1 forward and backward data (conv_1x1.cpp): weights packed in panels
  conv1x1_wgrad_input,  // 1x1 backward weights, C >= 1024: a thread's input channel tiles of a chunk
  conv1x1_wgrad_grad,   // 1x1 backward weights, OC not a multiple of 16: a thread's gradient blocks of a chunk
  winograd_rotated,     // pack_conv_winograd_backward_data_into: the filters rotated, C and OC swapped
  conv_pool_band,       // a convolution with a fused max pool (pooling.h): a band of its rows before pooling
  conv_pool_input,      // the same: the band's input rows, zero-padded (convolutions not run tapwise)
  winograd_bf16_v,      // conv2d_forward_winograd_bf16: a block's transformed inputs in bf16
  winograd_bf16_m,      // conv2d_forward_winograd_bf16: a block's GEMM outputs
  conv_tile_sums,       // fp32 forward convolutions with ConvEpilogue::channel_sums: per-tile partials (tile_sums.h)
  winograd_u_rows,      // conv2d_forward_winograd_per_call: a work item's six positions of U
  winograd_wgrad_v,     // conv2d_backward_weights_winograd: transformed inputs (a range of tiles, or a chunk)
  winograd_wgrad_z,     // conv2d_backward_weights_winograd: transformed output gradients (the same)
  winograd_wgrad_du,    // conv2d_backward_weights_winograd: the transformed filters' gradient (a group, or parts)
  count
};

float* scratch(ScratchSlot slot, int64_t n);  // at least n floats, 64-byte aligned

}  // namespace ds
