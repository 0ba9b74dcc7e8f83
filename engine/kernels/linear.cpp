// Linear forward/backward through sgemm (see linear.h).
#include "engine/kernels/linear.h"

#include "engine/kernels/gemm.h"

namespace ds {

void linear_forward(float* out, const float* in, const float* w, const float* b, int64_t N,
                    int64_t IN, int64_t OUT) {
  sgemm(false, true, N, OUT, IN, 1.f, in, IN, w, IN, 0.f, out, OUT);
  if (!b) return;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) out[n * OUT + o] += b[o];
}

void linear_backward(float* d_in, float* d_w, float* d_b, const float* d_out, const float* in,
                     const float* w, int64_t N, int64_t IN, int64_t OUT) {
  if (d_in) sgemm(false, false, N, IN, OUT, 1.f, d_out, OUT, w, IN, 1.f, d_in, IN);
  if (d_w) sgemm(true, false, OUT, IN, N, 1.f, d_out, OUT, in, IN, 1.f, d_w, IN);
  if (d_b) {
    for (int64_t o = 0; o < OUT; ++o) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += d_out[n * OUT + o];
      d_b[o] += (float)s;
    }
  }
}

}  // namespace ds
