// im2col + sgemm convolution (see conv.h). Images are processed in groups whose column buffer
// stays under kColBudget floats: col is [C*KH*KW, g*OH*OW] (rows = taps, columns = output pixels
// of the g images side by side), so one GEMM covers the whole group:
//   forward          tmp[OC, g*OHW]  = W[OC, CKK] * col
//   backward data    dcol[CKK, g*OHW] = W^T * d_out_group, then col2im adds it into d_in
//   backward weights d_W[OC, CKK]    += d_out_group * col^T  (K = g*OHW: one big reduction)
// A group of one image needs no layout copies ([OC, OHW] is its NCHW slice), and a 1x1,
// stride-1, unpadded convolution of one image uses the image itself as its columns.
#include "engine/kernels/conv.h"

#include <algorithm>

#include "engine/kernels/gemm.h"
#include "engine/kernels/scratch.h"

namespace ds {

namespace {

constexpr int64_t kColBudget = int64_t(1) << 22;  // floats (16 MiB) per column buffer
constexpr int64_t kParallelMin = int64_t(1) << 15;  // elements below which threads do not pay

int64_t group_size(const ConvDims& d) {
  const int64_t per_image = d.C * d.KH * d.KW * d.OH * d.OW;
  return std::clamp<int64_t>(kColBudget / std::max<int64_t>(per_image, 1), 1,
                            std::max<int64_t>(d.N, 1));
}

// col[(c*KH + kh)*KW + kw][gi*OHW + oh*OW + ow] = in[n0+gi][c][ih][iw] or 0 outside.
void im2col(float* col,        // [C*KH*KW, g*OH*OW]
            const float* in,   // [N, C, H, W]
            int64_t n0, int64_t g, const ConvDims& d) {
  const int64_t ohw = d.OH * d.OW, ld = g * ohw, rows = d.C * d.KH * d.KW;
#pragma omp parallel for collapse(2) schedule(static) if (rows * ld > kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t gi = 0; gi < g; ++gi) {
      const int64_t c = row / (d.KH * d.KW), kh = (row / d.KW) % d.KH, kw = row % d.KW;
      const float* src = in + ((n0 + gi) * d.C + c) * d.H * d.W;
      float* dst = col + row * ld + gi * ohw;
      for (int64_t oh = 0; oh < d.OH; ++oh) {
        const int64_t ih = oh * d.stride_h - d.pad_h + kh;
        float* drow = dst + oh * d.OW;
        if (ih < 0 || ih >= d.H) {
          for (int64_t ow = 0; ow < d.OW; ++ow) drow[ow] = 0.f;
          continue;
        }
        const float* srow = src + ih * d.W;
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          const int64_t iw = ow * d.stride_w - d.pad_w + kw;
          drow[ow] = (iw >= 0 && iw < d.W) ? srow[iw] : 0.f;
        }
      }
    }
  }
}

// in[n0+gi][c][ih][iw] += col[...] for every tap that reads it (adjoint of im2col). Parallel
// over (image, channel) so no two threads write the same input plane.
void col2im_add(float* in,         // [N, C, H, W]
                const float* col,  // [C*KH*KW, g*OH*OW]
                int64_t n0, int64_t g, const ConvDims& d) {
  const int64_t ohw = d.OH * d.OW, ld = g * ohw;
  const int64_t work = d.C * d.KH * d.KW * ld;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelMin)
  for (int64_t gi = 0; gi < g; ++gi) {
    for (int64_t c = 0; c < d.C; ++c) {
      float* dst = in + ((n0 + gi) * d.C + c) * d.H * d.W;
      for (int64_t kh = 0; kh < d.KH; ++kh) {
        for (int64_t kw = 0; kw < d.KW; ++kw) {
          const float* src = col + ((c * d.KH + kh) * d.KW + kw) * ld + gi * ohw;
          for (int64_t oh = 0; oh < d.OH; ++oh) {
            const int64_t ih = oh * d.stride_h - d.pad_h + kh;
            if (ih < 0 || ih >= d.H) continue;
            float* drow = dst + ih * d.W;
            const float* srow = src + oh * d.OW;
            for (int64_t ow = 0; ow < d.OW; ++ow) {
              const int64_t iw = ow * d.stride_w - d.pad_w + kw;
              if (iw >= 0 && iw < d.W) drow[iw] += srow[ow];
            }
          }
        }
      }
    }
  }
}

// A 1x1, stride-1, unpadded convolution reads the input as it is: its columns are the image.
bool is_pointwise(const ConvDims& d) {
  return d.KH == 1 && d.KW == 1 && d.stride_h == 1 && d.stride_w == 1 && d.pad_h == 0 &&
         d.pad_w == 0;
}

// The columns of images [n0, n0 + g): the input itself for one pointwise image, else im2col
// into col.
const float* columns(float* col, const float* in, int64_t n0, int64_t g, const ConvDims& d) {
  if (is_pointwise(d) && g == 1) return in + n0 * d.C * d.H * d.W;
  im2col(col, in, n0, g, d);
  return col;
}

// rows [n0, n0 + g) of src [N, R, L] laid out as [R, g * L] (a view when g == 1, else copied
// into dst).
const float* group_rows(float* dst, const float* src, int64_t n0, int64_t g, int64_t R,
                        int64_t L) {
  if (g == 1) return src + n0 * R * L;
#pragma omp parallel for collapse(2) schedule(static) if (g * R * L > kParallelMin)
  for (int64_t gi = 0; gi < g; ++gi) {
    for (int64_t r = 0; r < R; ++r) {
      const float* s = src + ((n0 + gi) * R + r) * L;
      float* t = dst + r * g * L + gi * L;
      for (int64_t i = 0; i < L; ++i) t[i] = s[i];
    }
  }
  return dst;
}

}  // namespace

ConvDims make_conv_dims(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH,
                        int64_t KW, int64_t stride, int64_t pad) {
  ConvDims d;
  d.N = N, d.C = C, d.H = H, d.W = W, d.OC = OC, d.KH = KH, d.KW = KW;
  d.stride_h = d.stride_w = stride;
  d.pad_h = d.pad_w = pad;
  d.OH = conv_out_size(H, KH, stride, pad);
  d.OW = conv_out_size(W, KW, stride, pad);
  return d;
}

void conv2d_forward(float* out, const float* in, const float* w, const float* b,
                    const ConvDims& d) {
  const int64_t ohw = d.OH * d.OW, ckk = d.C * d.KH * d.KW, gmax = group_size(d);
  float* col = scratch(ScratchSlot::conv_col, is_pointwise(d) && gmax == 1 ? 0 : ckk * gmax * ohw);
  float* tmp = scratch(ScratchSlot::conv_tmp, gmax > 1 ? d.OC * gmax * ohw : 0);
  for (int64_t n0 = 0; n0 < d.N; n0 += gmax) {
    const int64_t g = std::min(gmax, d.N - n0), ld = g * ohw;
    const float* cols = columns(col, in, n0, g, d);
    float* y = g == 1 ? out + n0 * d.OC * ohw : tmp;  // one image: its output is [OC, OHW]
    sgemm(false, false, d.OC, ld, ckk, 1.f, w, ckk, cols, ld, 0.f, y, ld);
#pragma omp parallel for collapse(2) schedule(static) if (d.OC * ld > kParallelMin)
    for (int64_t gi = 0; gi < g; ++gi) {
      for (int64_t oc = 0; oc < d.OC; ++oc) {
        const float* src = y + oc * ld + gi * ohw;
        float* dst = out + ((n0 + gi) * d.OC + oc) * ohw;
        const float bias = b ? b[oc] : 0.f;
        if (src == dst) {
          if (b)
            for (int64_t i = 0; i < ohw; ++i) dst[i] += bias;
        } else {
          for (int64_t i = 0; i < ohw; ++i) dst[i] = src[i] + bias;
        }
      }
    }
  }
}

void conv2d_backward_data(float* d_in, const float* d_out, const float* w, const ConvDims& d) {
  const int64_t ohw = d.OH * d.OW, ckk = d.C * d.KH * d.KW, gmax = group_size(d);
  float* col = scratch(ScratchSlot::conv_col, ckk * gmax * ohw);
  float* dy = scratch(ScratchSlot::conv_tmp, gmax > 1 ? d.OC * gmax * ohw : 0);
  for (int64_t n0 = 0; n0 < d.N; n0 += gmax) {
    const int64_t g = std::min(gmax, d.N - n0), ld = g * ohw;
    const float* dys = group_rows(dy, d_out, n0, g, d.OC, ohw);
    if (is_pointwise(d) && g == 1) {  // the columns are the input gradient itself
      sgemm(true, false, ckk, ld, d.OC, 1.f, w, ckk, dys, ld, 1.f, d_in + n0 * d.C * ohw, ld);
      continue;
    }
    sgemm(true, false, ckk, ld, d.OC, 1.f, w, ckk, dys, ld, 0.f, col, ld);
    col2im_add(d_in, col, n0, g, d);
  }
}

void conv2d_backward_weights(float* d_w, float* d_b, const float* d_out, const float* in,
                             const ConvDims& d) {
  const int64_t ohw = d.OH * d.OW, ckk = d.C * d.KH * d.KW, gmax = group_size(d);
  float* col = scratch(ScratchSlot::conv_col, is_pointwise(d) && gmax == 1 ? 0 : ckk * gmax * ohw);
  float* dy = scratch(ScratchSlot::conv_tmp, gmax > 1 ? d.OC * gmax * ohw : 0);
  for (int64_t n0 = 0; n0 < d.N; n0 += gmax) {
    const int64_t g = std::min(gmax, d.N - n0), ld = g * ohw;
    const float* dys = group_rows(dy, d_out, n0, g, d.OC, ohw);
    const float* cols = columns(col, in, n0, g, d);
    sgemm(false, true, d.OC, ckk, ld, 1.f, dys, ld, cols, ld, 1.f, d_w, ckk);
  }
  if (!d_b) return;
#pragma omp parallel for schedule(static) if (d.N * d.OC * ohw > kParallelMin)
  for (int64_t oc = 0; oc < d.OC; ++oc) {
    double s = 0;
    for (int64_t n = 0; n < d.N; ++n) {
      const float* src = d_out + (n * d.OC + oc) * ohw;
      for (int64_t i = 0; i < ohw; ++i) s += src[i];
    }
    d_b[oc] += (float)s;
  }
}

void conv2d_forward_ref(float* out, const float* in, const float* w, const float* b,
                        const ConvDims& d) {
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oc = 0; oc < d.OC; ++oc)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow) {
          double s = b ? b[oc] : 0.0;
          for (int64_t c = 0; c < d.C; ++c)
            for (int64_t kh = 0; kh < d.KH; ++kh)
              for (int64_t kw = 0; kw < d.KW; ++kw) {
                const int64_t ih = oh * d.stride_h - d.pad_h + kh;
                const int64_t iw = ow * d.stride_w - d.pad_w + kw;
                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                s += (double)in[((n * d.C + c) * d.H + ih) * d.W + iw] *
                     w[((oc * d.C + c) * d.KH + kh) * d.KW + kw];
              }
          out[((n * d.OC + oc) * d.OH + oh) * d.OW + ow] = (float)s;
        }
}

void conv2d_backward_data_ref(float* d_in, const float* d_out, const float* w,
                              const ConvDims& d) {
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t ih = 0; ih < d.H; ++ih)
        for (int64_t iw = 0; iw < d.W; ++iw) {
          double s = 0;
          for (int64_t oc = 0; oc < d.OC; ++oc)
            for (int64_t kh = 0; kh < d.KH; ++kh)
              for (int64_t kw = 0; kw < d.KW; ++kw) {
                const int64_t th = ih + d.pad_h - kh, tw = iw + d.pad_w - kw;
                if (th < 0 || tw < 0 || th % d.stride_h || tw % d.stride_w) continue;
                const int64_t oh = th / d.stride_h, ow = tw / d.stride_w;
                if (oh >= d.OH || ow >= d.OW) continue;
                s += (double)d_out[((n * d.OC + oc) * d.OH + oh) * d.OW + ow] *
                     w[((oc * d.C + c) * d.KH + kh) * d.KW + kw];
              }
          d_in[((n * d.C + c) * d.H + ih) * d.W + iw] += (float)s;
        }
}

void conv2d_backward_weights_ref(float* d_w, float* d_b, const float* d_out, const float* in,
                                 const ConvDims& d) {
  for (int64_t oc = 0; oc < d.OC; ++oc) {
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t kh = 0; kh < d.KH; ++kh)
        for (int64_t kw = 0; kw < d.KW; ++kw) {
          double s = 0;
          for (int64_t n = 0; n < d.N; ++n)
            for (int64_t oh = 0; oh < d.OH; ++oh)
              for (int64_t ow = 0; ow < d.OW; ++ow) {
                const int64_t ih = oh * d.stride_h - d.pad_h + kh;
                const int64_t iw = ow * d.stride_w - d.pad_w + kw;
                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                s += (double)d_out[((n * d.OC + oc) * d.OH + oh) * d.OW + ow] *
                     in[((n * d.C + c) * d.H + ih) * d.W + iw];
              }
          d_w[((oc * d.C + c) * d.KH + kh) * d.KW + kw] += (float)s;
        }
    if (d_b) {
      double s = 0;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t i = 0; i < d.OH * d.OW; ++i) s += d_out[(n * d.OC + oc) * d.OH * d.OW + i];
      d_b[oc] += (float)s;
    }
  }
}

}  // namespace ds
