// The cache blocking of the fp32 convolutions (conv_rows.cpp for forward and backward data,
// conv.cpp for backward weights): how much of the reduction, of the outputs, of the weights and
// of the pixels each pass keeps in L2 at a time. The kernels ask conv_blocking(d, pass) on every
// call; the answer is, first that applies:
//   1. a test or tuning hook (set_conv_blocking_override),
//   2. DEEPSLIDE_CONV_BLOCKING: "tiny", "huge" (presets that drive every edge path) or
//      "chunk_k=576,group_bytes=98304,..." over the derived values,
//   3. the tuned value of the convolution's shape class from the tuning file
//      (engine/kernels/conv_tuning.h; DEEPSLIDE_TUNING=off ignores it),
//   4. derived_conv_blocking(): sizes proportional to one core's L2.
// Which parameters change the results: chunk_k cuts the reduction into partial sums stored in
// the output between chunks, and wgrad_part_bytes decides whether backward weights sums two
// halves of the pixels separately; both change the float summation order (results differ by
// rounding: tests/test_conv_blocking.cpp bounds it at 1e-5 relative). The others only reorder
// independent tiles and work items: bit-identical results whatever their values.
// 1x1 convolutions without padding (conv_1x1.h) read three of them: chunk_k (their reduction
// chunks, as above), group_bytes (the source rows of one pixel group per chunk) and
// wgrad_chunk_bytes (a packed pixel chunk of backward weights, whose sums stay in pixel order
// whatever its size).
#pragma once
#include <cstdint>
#include <string>

#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"

namespace ds {

enum class ConvPass { forward = 0, backward_data = 1, backward_weights = 2 };
const char* conv_pass_name(ConvPass pass);  // "fwd", "bwd_data", "bwd_weights"

struct ConvBlocking {
  // Forward and backward data (the rows scheduler).
  int64_t chunk_k = 0;             // reduction floats per chunk whose weights stay in L2
  int64_t group_bytes = 0;         // outputs (partial sums) of one work item
  int64_t super_weight_bytes = 0;  // weights of output-channel blocks run as one superblock
  // Backward weights.
  int64_t wgrad_super_bytes = 0;  // d_w accumulators per thread kept in L2 (a superblock)
  int64_t wgrad_chunk_bytes = 0;  // input + gradient slices of one pixel chunk
  int64_t wgrad_part_bytes = 0;   // weight gradients up to this size are summed in two halves
  // Output-channel vectors per tile of the direct backward weights (3x3 and 7x7; not the 1x1
  // GEMMs nor Winograd), 1..4: the tile's rows, input channels, are as many as the registers
  // then hold. 0: choose_nv's rule (AVX-512: 4 below 128 input channels, 2 from 128 on; AVX2: 2).
  int64_t wgrad_vectors = 0;
  bool operator==(const ConvBlocking&) const = default;
};

// The derived defaults, from one core's L2 (L1 and L3 do not enter: every block is sized to
// live in L2 while the tiles stream the rest from L3 or memory), and one from the vendor:
//   chunk_k            = L2 * 9/32 / 256 B  (a 64-float row of weights: 9/32 of L2 per chunk)
//   group_bytes        = L2 * 3/16
//   super_weight_bytes = L2 * 5/8
//   wgrad_super_bytes  = L2 * 3/4
//   wgrad_chunk_bytes  = L2 / 2
//   wgrad_part_bytes   = L2 * 3/4
//   wgrad_vectors      = 4 on Intel with AVX-512, else 0 (the channel rule)
// On Zen 5's 1 MB L2 these are the constants measured there (1152, 192 KB, 640 KB, 768 KB,
// 512 KB, 768 KB); chunk_k is a multiple of 16, at least 64. The tile width is the one choice
// that is not a size: on Zen 5, 14 x 2-vector tiles ran backward weights 2-4 points of the FMA
// peak faster than 6 x 4 from 128 input channels on; on an Intel Xeon (family 6, model 207) the
// 6 x 4 tiles were faster on every 3x3 shape, by 4-7 points on layer3 and layer4 (BENCHMARKS.md).
ConvBlocking derive_conv_blocking(const CpuCaches& caches, const CpuIdentity& id, Isa isa);
// This machine's: derive_conv_blocking(cpu_caches(), cpu_identity(), cpu_isa()).
ConvBlocking derived_conv_blocking();

// The blocking for one convolution pass (see the order above).
ConvBlocking conv_blocking(const ConvDims& d, ConvPass pass);

// The key the tuning file stores a blocking under: pass, kernel, stride and channels, e.g.
// "fwd/k3x3/s1/c64/oc64" (the batch and image size do not enter).
std::string conv_shape_class(const ConvDims& d, ConvPass pass);

// Tests and the tuning run: every pass uses *b until called again with nullptr.
void set_conv_blocking_override(const ConvBlocking* b);

// Parses DEEPSLIDE_CONV_BLOCKING's syntax over `base`; InputError naming `where` if malformed.
ConvBlocking parse_conv_blocking(const std::string& spec, const ConvBlocking& base, const std::string& where);

// Where conv_blocking's answers come from when no override is set: "env", "file" (a valid
// tuning file was loaded), "derived" (no file), "off" (DEEPSLIDE_TUNING=off) or "ignored" (a
// file was there but not trusted; a warning said why).
std::string conv_blocking_source();

}  // namespace ds
