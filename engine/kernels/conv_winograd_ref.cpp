// The Winograd F(4x4, 3x3) convolution in plain loops (see conv_winograd.h), with the transform
// matrices as written there and every sum in double: the test oracle of the fast path's
// transforms and tiling, and what conv2d_forward_winograd runs in reference mode; and the
// backward-weights twin (conv2d_backward_weights_winograd_ref), the test oracle of that pass.
#include <vector>

#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/tile_sums.h"

namespace ds {

namespace {

// V[(a * 6 + b) * C + c] = (B^T d B)[a][b] of channel c of the input patch under tile (n, th, tw),
// zeros outside the image.
void input_transform_ref(double* V, const float* in, const ConvDims& d, int64_t n, int64_t th, int64_t tw) {
  const int64_t C = d.C;
  for (int64_t c = 0; c < C; ++c) {
    double x[6][6];
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        const int64_t ih = th * 4 - d.pad_h + i, iw = tw * 4 - d.pad_w + j;
        const bool inside = ih >= 0 && ih < d.H && iw >= 0 && iw < d.W;
        x[i][j] = inside ? in[((n * d.H + ih) * d.W + iw) * C + c] : 0.0;
      }
    for (int a = 0; a < 6; ++a)
      for (int b = 0; b < 6; ++b) {
        double s = 0;
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) s += kWinoBT[a][i] * x[i][j] * kWinoBT[b][j];
        V[(size_t)((a * 6 + b) * C + c)] = s;
      }
  }
}

}  // namespace

void conv2d_forward_winograd_ref(float* out, const float* in, const ConvWinogradWeights& w, const ConvDims& d,
                                 const ConvEpilogue& ep) {
  const int64_t TH = (d.OH + 3) / 4, TW = (d.OW + 3) / 4, C = d.C, OC = d.OC;
  std::vector<double> V((size_t)(36 * C));  // one tile's B^T d B, [xi][c]
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t th = 0; th < TH; ++th)
      for (int64_t tw = 0; tw < TW; ++tw) {
        input_transform_ref(V.data(), in, d, n, th, tw);
        for (int64_t oc = 0; oc < OC; ++oc) {
          double m[6][6];  // the element-wise products summed over channels
          for (int xi = 0; xi < 36; ++xi) {
            double s = 0;
            for (int64_t c = 0; c < C; ++c) s += V[(size_t)(xi * C + c)] * w.U[(xi * C + c) * w.ldo + oc];
            m[xi / 6][xi % 6] = s;
          }
          for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) {
              const int64_t oh = th * 4 + a, ow = tw * 4 + b;
              if (oh >= d.OH || ow >= d.OW) continue;
              double s = 0;
              for (int i = 0; i < 6; ++i)
                for (int j = 0; j < 6; ++j) s += kWinoAT[a][i] * m[i][j] * kWinoAT[b][j];
              const int64_t o = ((n * d.OH + oh) * d.OW + ow) * OC + oc;
              float v = (float)s;
              if (ep.bias) v += ep.bias[oc];
              if (ep.residual) v += ep.residual[o];
              if (ep.relu) v = v < 0 ? 0.f : v;
              out[o] = v;
            }
        }
      }
  if (ep.channel_sums) channel_sums_exact(ep.channel_sums, out, d.N * d.OH * d.OW, OC);
}

void conv2d_backward_weights_winograd_ref(float* d_w, const float* d_out, const float* in, const ConvDims& d) {
  const int64_t TH = (d.OH + 3) / 4, TW = (d.OW + 3) / 4, C = d.C, OC = d.OC;
  std::vector<double> V((size_t)(36 * C)), Z((size_t)(36 * OC)), dU((size_t)(36 * C * OC), 0.0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t th = 0; th < TH; ++th)
      for (int64_t tw = 0; tw < TW; ++tw) {
        input_transform_ref(V.data(), in, d, n, th, tw);
        for (int64_t oc = 0; oc < OC; ++oc) {  // Z = A dY A^T, dY zero outside the output
          double g[4][4];
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              const int64_t oh = th * 4 + i, ow = tw * 4 + j;
              g[i][j] = oh < d.OH && ow < d.OW ? d_out[((n * d.OH + oh) * d.OW + ow) * OC + oc] : 0.0;
            }
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b) {
              double s = 0;
              for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) s += kWinoAT[i][a] * g[i][j] * kWinoAT[j][b];
              Z[(size_t)((a * 6 + b) * OC + oc)] = s;
            }
        }
        for (int xi = 0; xi < 36; ++xi)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t oc = 0; oc < OC; ++oc)
              dU[(size_t)((xi * C + c) * OC + oc)] += V[(size_t)(xi * C + c)] * Z[(size_t)(xi * OC + oc)];
      }
  for (int64_t c = 0; c < C; ++c)  // d_w += G^T dU G
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int kh = 0; kh < 3; ++kh)
        for (int kw = 0; kw < 3; ++kw) {
          double s = 0;
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b)
              s += kWinoG[a][kh] * dU[(size_t)(((a * 6 + b) * C + c) * OC + oc)] * kWinoG[b][kw];
          d_w[((kh * 3 + kw) * C + c) * OC + oc] += (float)s;
        }
}

}  // namespace ds
