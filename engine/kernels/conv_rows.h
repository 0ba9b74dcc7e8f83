// The "rows" convolution scheduler behind conv.cpp's forward and backward-data passes: cuts a
// channels-last convolution into brgemm rows tiles (M output pixels x NV vectors of output
// channels), reduction chunks and work items, and runs one or several such convolutions in one
// parallel region. Every tile is computed by one thread in a fixed order that depends on the
// shapes only, so results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_blocking.h"

namespace ds {

// Vectors per tile in the output-channel direction. More vectors per tile load fewer A values
// per FMA; fewer allow more pixels (or input channels) per tile. The width, first that applies:
// DEEPSLIDE_CONV_NV (benchmarks), `preferred` (1..4, a blocking's choice), else 4 on AVX-512 (2
// with narrow) and 2 on the narrower ISAs; never more vectors than cover cols.
int choose_nv(const BrgemmKernels& k, int64_t cols, bool narrow = false, int preferred = 0);

// Fills panel[row][0, ldp) with columns [n0, n0 + nn) of a convolution's B operand (rows: its
// KH x KW*C reduction), zeros past nn.
using PanelFill = std::function<void(int64_t n0, int64_t nn, float* panel, int64_t ldp)>;

// Where output pixel (n, oh, ow) is stored: out[n][oh*sh + ph][ow*sw + pw] of an image of H x W
// pixels. Backward data writes each stride phase of d_in this way; the default (H = W = 0) is
// out[n][oh][ow] of the OH x OW output itself.
struct OutputMap {
  int64_t sh = 1, sw = 1;  // strides
  int64_t ph = 0, pw = 0;  // offsets
  int64_t H = 0, W = 0;    // the image written into (0: OH x OW)
};

// One "rows" convolution:
//   out[n, oh, ow, :cols] (=|+=) epilogue( sum over kernel rows kh of
//       in[n, oh*sh + kh, ow*sw .. ow*sw + KW, :C] . B[kh] )
// with B [KH][KW*C][ldw] given as wp, or, with fill_panel set (wp unused), each work item's
// output-channel block of it built by fill_panel into a per-thread panel.
struct RowsConv {
  // A, the image: in is [N, Hp, Wp, C] channels-last, already zero-padded (unless tapwise).
  const float* in = nullptr;
  int64_t Hp = 0, Wp = 0, C = 0;
  // B, the weights: wp is [KH, KW*C, ldw], ldw >= cols a whole number of vectors; or, with
  // wp_blocked, in panels of the tiles' output-channel blocks, [block][KH, KW*C][NV vectors]
  // (pack_rows_weights): each block's weights one contiguous stream (ldw unused).
  const float* wp = nullptr;
  int64_t ldw = 0;
  bool wp_blocked = false;
  PanelFill fill_panel = nullptr;
  // The kernel and its strides.
  int64_t KH = 0, KW = 0;
  int64_t sh = 1, sw = 1;
  // C, the output: out is [N, OH, OW, cols] channels-last, or placed by map.
  float* out = nullptr;
  int64_t N = 0, OH = 0, OW = 0, cols = 0;
  ConvEpilogue ep = {};     // applied with the last reduction chunk
  bool accumulate = false;  // out += instead of out =
  OutputMap map = {};
  // Per tap instead of per kernel row, on an unpadded image: in is [N, Hp, Wp, C] and tap (kh,
  // kw) of output pixel (n, oh, ow) reads pixel (oh*sh + kh + off_h, ow*sw + kw + off_w), zeros
  // where that is outside the image. No zero-padded copy of the image is made.
  bool tapwise = false;
  int64_t off_h = 0, off_w = 0;
  // Chunks, groups and superblocks (chunk_k, group_bytes, super_weight_bytes; conv_blocking.h).
  ConvBlocking blocking = {};
};

// The output-channel block width (NV vectors, floats) the rows tiles take for cols output channels,
// and wp_blocked's layout of weights w [rows][OC] (times scale[oc] if set) into dst: blocks of that
// width, [block][rows][width], zeros past OC. dst holds rows_weights_floats(rows, OC) floats.
int64_t rows_block_width(const BrgemmKernels& k, int64_t cols);
int64_t rows_weights_floats(const BrgemmKernels& k, int64_t rows, int64_t OC);
void pack_rows_weights(float* dst, const float* w, const float* scale, int64_t rows, int64_t OC,
                       const BrgemmKernels& k);

// Runs the convolutions in one parallel region. Their outputs must not overlap (backward data's
// stride phases write disjoint positions of d_in), as they run concurrently.
void run_rows_convs(const std::vector<RowsConv>& convs, const BrgemmKernels& k);

}  // namespace ds
