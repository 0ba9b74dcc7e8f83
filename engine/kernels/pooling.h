// Pooling kernels (channels-last NHWC, float32, PyTorch semantics): max pooling with implicit
// -inf padding (floor output size, no dilation) and global average pooling. Max pooling's
// forward has a direct twin (reference mode runs it); its backward and global average pooling
// are plain loops, their own reference. Backward kernels accumulate (max pooling's can also set).
#pragma once
#include <cstdint>
#include <functional>

namespace ds {

struct PoolDims {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t KH = 0, KW = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t OH = 0, OW = 0;
  // Fused into a convolution (below): pooled rows per band; 0 takes pool_band_rows' L2-sized
  // choice (tests set a few rows to cut small images into several bands).
  int64_t band_rows = 0;
};

// Fills OH/OW (floor mode, square kernel, stride and padding).
PoolDims make_pool_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, int64_t stride, int64_t pad);

// out = window max; argmax (if non-null) receives the index ih * W + iw of the first maximum in
// row-major window order (a NaN wins, the last one, as in PyTorch's CPU kernel).
void maxpool2d_forward(float* out,       // [N, OH, OW, C]
                       int32_t* argmax,  // [N, OH, OW, C] or null
                       const float* in,  // [N, H, W, C]
                       const PoolDims& d);

// d_in[argmax] += d_out; with set, d_in = that sum (d_in's old contents ignored).
void maxpool2d_backward(float* d_in,            // [N, H, W, C]
                        const float* d_out,     // [N, OH, OW, C]
                        const int32_t* argmax,  // [N, OH, OW, C]
                        const PoolDims& d, bool set = false);

// A max pool fused into the convolution before it (ResNet's stem; ConvEpilogue::max_pool): the
// pool's output rows are cut into bands of pool_band_rows(d) rows of one image, and a band's
// input rows [r0, r1) (the convolution's output rows it reads) are computed into a small buffer
// that stays in cache and pooled from there, instead of the whole convolution output going to
// memory and back. The band is as tall as lets those rows fill ~80% of a core's L2 (as floats),
// the bands of an image then evened out: on Zen 5's 1 MB, 14 pooled rows read 29 of conv1's
// 112-pixel rows (831 KB at 64 channels), 1 row in 28 computed twice (with 8 rows, 1 in 16: ResNet-18's
// pooled stem inside the network took 12.4 ms against 12.1 at batch 16, 0.90 against 0.80 at batch 1).
// Capped so that a batch has at least two bands per thread: the bands are the stem's only parallel
// work (a 2 MB L2 would otherwise give 2 per image).
int64_t pool_band_rows(const PoolDims& d);
struct PoolBand {
  int64_t n = 0;           // the image
  int64_t ph0 = 0;         // its first pooled row
  int64_t r0 = 0, r1 = 0;  // the input rows the band reads
  PoolDims local;          // the band's pool on its buffer as an image of r1 - r0 rows
};
int64_t pool_bands(const PoolDims& d);  // bands in all: N x ceil(OH / pool_band_rows(d))
PoolBand pool_band(const PoolDims& d, int64_t i);
// Pools band b's buffer (its r1 - r0 input rows, [W, C] each) into out, the whole pool's output.
void maxpool2d_band(float* out, const float* band, const PoolDims& d, const PoolBand& b);
// The same on a band of uint8 codes (an int8 chain), into dst(r, pw): the codes of the band's
// pooled row r, pixel pw (null: not held). The max commutes with a quantization (a non-decreasing
// map), so the pooled codes are the codes of the pooled values.
void maxpool2d_band_codes(const uint8_t* band, const PoolDims& d, const PoolBand& b,
                          const std::function<uint8_t*(int64_t r, int64_t pw)>& dst);

// Direct twin of maxpool2d_forward that rescans every window without the row-clipping of the
// fast path: test oracle, and what reference mode (DEEPSLIDE_ISA=ref) runs.
void maxpool2d_forward_ref(float* out, int32_t* argmax, const float* in, const PoolDims& d);

// out[n, c] = mean of in[n, :, :, c] (accumulated in double).
void global_avg_pool_forward(float* out,       // [N, C]
                             const float* in,  // [N, HW, C]
                             int64_t N, int64_t C, int64_t HW);

// d_in[n, i, c] += d_out[n, c] / HW. Accumulates.
void global_avg_pool_backward(float* d_in,         // [N, HW, C]
                              const float* d_out,  // [N, C]
                              int64_t N, int64_t C, int64_t HW);

}  // namespace ds
