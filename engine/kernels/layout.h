// Layout conversion between channels-first (NCHW, the model's input and Grad-CAM's view) and
// channels-last (NHWC, what the network runs on), and between PyTorch's convolution weight
// layout [OC, C, KH, KW] and the kernels' [KH, KW, C, OC]. All are one blocked transpose
// (transpose_2d, 32 x 32 blocks so both sides stay in cache): their own reference.
#pragma once
#include <cstdint>

namespace ds {

// dst[j*ldd + i] (=|+=) src[i*lds + j] for i < rows, j < cols: a rows x cols matrix (rows lds
// apart) transposed into a cols x rows one (rows ldd apart), single-threaded.
void transpose_2d(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t cols,
                  bool accumulate = false);

// out[n][i][c] (=|+=) in[n][c][i], i over H*W. accumulate adds instead of storing.
void nchw_to_nhwc(float* out,       // [N, HW, C]
                  const float* in,  // [N, C, HW]
                  int64_t N, int64_t C, int64_t HW, bool accumulate = false);
// out[n][c][i] (=|+=) in[n][i][c].
void nhwc_to_nchw(float* out,       // [N, C, HW]
                  const float* in,  // [N, HW, C]
                  int64_t N, int64_t C, int64_t HW, bool accumulate = false);

// out[kh][kw][c][oc] = in[oc][c][kh][kw] and back (model and checkpoint I/O, not per step).
void oihw_to_hwio(float* out,       // [KH, KW, C, OC]
                  const float* in,  // [OC, C, KH, KW]
                  int64_t OC, int64_t C, int64_t KH, int64_t KW);
void hwio_to_oihw(float* out,       // [OC, C, KH, KW]
                  const float* in,  // [KH, KW, C, OC]
                  int64_t OC, int64_t C, int64_t KH, int64_t KW);

}  // namespace ds
