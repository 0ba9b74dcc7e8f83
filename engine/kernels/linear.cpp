// Linear forward/backward as 1x1 convolutions (see linear.h), and their direct-loop twins.
#include "engine/kernels/linear.h"

#include <cstring>

#include "engine/cpu_features.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/layout.h"
#include "engine/kernels/scratch.h"

namespace ds {

namespace {

// N images of 1 x 1 pixel with IN channels, convolved to OUT channels.
ConvDims as_conv(int64_t N, int64_t IN, int64_t OUT) { return make_conv_dims(N, IN, 1, 1, OUT, 1, 1, 1, 0); }

// W [OUT, IN] transposed to the convolutions' weight layout [1, 1, IN, OUT].
const float* conv_weights(const float* w, int64_t IN, int64_t OUT) {
  float* wt = scratch(ScratchSlot::linear_weights, IN * OUT);
  transpose_2d(wt, OUT, w, IN, OUT, IN);
  return wt;
}

}  // namespace

void linear_forward(float* out, const float* in, const float* w, const float* b, int64_t N, int64_t IN, int64_t OUT) {
  if (reference_kernels()) return linear_forward_ref(out, in, w, b, N, IN, OUT);
  ConvEpilogue ep;
  ep.bias = b;
  conv2d_forward(out, in, conv_weights(w, IN, OUT), as_conv(N, IN, OUT), ep);
}

void linear_backward(float* d_in, float* d_w, float* d_b, const float* d_out, const float* in, const float* w,
                     int64_t N, int64_t IN, int64_t OUT) {
  if (reference_kernels()) return linear_backward_ref(d_in, d_w, d_b, d_out, in, w, N, IN, OUT);
  const ConvDims d = as_conv(N, IN, OUT);
  if (d_in) conv2d_backward_data(d_in, d_out, conv_weights(w, IN, OUT), d);
  // The convolution sums d_w^T [IN, OUT]; it is added into d_w [OUT, IN] transposed.
  float* dwt = scratch(ScratchSlot::linear_wgrad, IN * OUT);
  std::memset(dwt, 0, sizeof(float) * IN * OUT);
  conv2d_backward_weights(dwt, d_b, d_out, in, d);
  transpose_2d(d_w, IN, dwt, OUT, IN, OUT, /*accumulate=*/true);
}

void linear_forward_ref(float* out, const float* in, const float* w, const float* b, int64_t N, int64_t IN,
                        int64_t OUT) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      double s = b ? b[o] : 0.0;
      for (int64_t i = 0; i < IN; ++i) s += (double)in[n * IN + i] * w[o * IN + i];
      out[n * OUT + o] = (float)s;
    }
}

void linear_backward_ref(float* d_in, float* d_w, float* d_b, const float* d_out, const float* in, const float* w,
                         int64_t N, int64_t IN, int64_t OUT) {
  for (int64_t i = 0; i < IN; ++i) {
    for (int64_t n = 0; d_in && n < N; ++n) {
      double s = 0;
      for (int64_t o = 0; o < OUT; ++o) s += (double)d_out[n * OUT + o] * w[o * IN + i];
      d_in[n * IN + i] += (float)s;
    }
    for (int64_t o = 0; o < OUT; ++o) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += (double)d_out[n * OUT + o] * in[n * IN + i];
      d_w[o * IN + i] += (float)s;
    }
  }
  for (int64_t o = 0; d_b && o < OUT; ++o) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += d_out[n * OUT + o];
    d_b[o] += (float)s;
  }
}

}  // namespace ds
