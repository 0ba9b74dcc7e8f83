// The "rows" convolution scheduler behind conv.cpp's forward and backward-data passes: cuts a
// channels-last convolution into brgemm rows tiles (M output pixels x NV vectors of output
// channels), reduction chunks and work items, and runs one or several such convolutions in one
// parallel region. Every tile is computed by one thread in a fixed order that depends on the
// shapes only, so results do not depend on the thread count.
#pragma once
#include <omp.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/kernels/brgemm.h"
#include "engine/kernels/conv.h"

namespace ds {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Whether a kernel of this many flops is worth a parallel region.
inline bool use_threads(double flops) { return flops > 2e6 && !omp_in_parallel(); }

// Vectors per tile in the output-channel direction. More vectors per tile load fewer A values
// per FMA; fewer allow more pixels (or input channels) per tile. narrow asks for 2 where the
// default would be 4. DEEPSLIDE_CONV_NV overrides (benchmarks).
int choose_nv(const BrgemmKernels& k, int64_t cols, bool narrow = false);

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

// Runs the convolutions in one parallel region. Their outputs must not overlap (backward data's
// stride phases write disjoint positions of d_in), as they run concurrently.
void run_rows_convs(const std::vector<RowsConv>& convs, const BrgemmKernels& k);

}  // namespace ds
