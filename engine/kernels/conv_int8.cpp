// int8 convolution driver (see conv_int8.h): per-channel weight quantization and packing, the
// input's quantized padded copy, and the work items (output-channel block x group of consecutive
// output pixels) shared between the threads, each running the AVX512-VNNI tiles over its pixels.
#include "engine/kernels/conv_int8.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

namespace {

// Output pixels per work item, in tiles (as the bf16 driver's, for the same reasons).
constexpr int64_t kGroupTiles = 16;

// Row r of dst [N, Hp, Wp, Cp] uint8 = quantize_u8(src [N, H, W, C]) placed at (top, left),
// zeros elsewhere (padding rows and columns, channels C..Cp).
void pad_quantize_row(uint8_t* dst, const float* src, int64_t r, const ConvDims& d, int64_t Hp, int64_t Wp, int64_t Cp,
                      float inv, const ConvInt8Kernels& k) {
  const int64_t n = r / Hp, ih = r % Hp - d.pad_h, C = d.C;
  uint8_t* row = dst + r * Wp * Cp;
  if (ih < 0 || ih >= d.H) {
    std::memset(row, 0, Wp * Cp);
    return;
  }
  const int64_t j0 = std::clamp<int64_t>(d.pad_w, 0, Wp), j1 = std::clamp<int64_t>(d.pad_w + d.W, j0, Wp);
  const float* s = src + ((n * d.H + ih) * d.W + (j0 - d.pad_w)) * C;
  std::memset(row, 0, j0 * Cp);
  if (Cp == C) {
    k.quantize(row + j0 * C, s, (j1 - j0) * C, inv);
  } else {
    for (int64_t j = j0; j < j1; ++j, s += C) {
      for (int64_t c = 0; c < C; ++c) row[j * Cp + c] = quantize_u8(s[c], inv);
      for (int64_t c = C; c < Cp; ++c) row[j * Cp + c] = 0;
    }
  }
  std::memset(row + j1 * Cp, 0, (Wp - j1) * Cp);
}

}  // namespace

void check_int8_dims(const ConvInt8Weights& w, const ConvDims& d, const ConvEpilogue& ep) {
  DS_CHECK(d.C == w.C && d.KH == w.KH && d.KW == w.KW && d.OC == w.OC,
           "conv2d_forward_int8: dims differ from the packed weights'");
  DS_CHECK(!ep.weight_scale, "conv2d_forward_int8: fold weight_scale into pack_conv_int8");
}

ConvInt8Weights pack_conv_int8(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC,
                               float act_max) {
  DS_CHECK(act_max > 0 && std::isfinite(act_max), "pack_conv_int8: act_max must be positive and finite");
  ConvInt8Weights p;
  p.C = C;
  p.Cp = round_up(C, 4);
  p.KH = KH;
  p.KW = KW;
  p.OC = OC;
  p.NV = (int)std::min<int64_t>(4, ceil_div(OC, 16));
  const int64_t L = (int64_t)p.NV * 16;
  p.nb = ceil_div(OC, L);
  p.k4 = KW * p.Cp / 4;
  p.act_max = act_max;
  p.in_inv = 255.0f / act_max;
  const float s_x = act_max / 255.0f;
  const int64_t K = KH * KW * C;
  auto wv = [&](int64_t k, int64_t oc) { return w[k * OC + oc] * (scale ? scale[oc] : 1.0f); };
  p.w_scale.assign((size_t)OC, 1.0f);
  p.out_scale.assign((size_t)(p.nb * L), 0.0f);
  for (int64_t oc = 0; oc < OC; ++oc) {
    float m = 0;
    for (int64_t k = 0; k < K; ++k) m = std::max(m, std::fabs(wv(k, oc)));
    if (m > 0 && std::isfinite(m)) p.w_scale[(size_t)oc] = m / 127.0f;  // an all-zero channel keeps 1
    p.out_scale[(size_t)oc] = s_x * p.w_scale[(size_t)oc];
  }
  p.packed.assign((size_t)(p.nb * KH * p.k4 * L * 4), 0);
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t oc = 0; oc < OC; ++oc) {
          const int64_t k = kw * p.Cp + c;
          const float q = std::nearbyint(wv((kh * KW + kw) * C + c, oc) / p.w_scale[(size_t)oc]);
          p.packed[(size_t)((((oc / L * KH + kh) * p.k4 + k / 4) * L + oc % L) * 4 + k % 4)] =
              (int8_t)std::clamp(q, -127.0f, 127.0f);
        }
  return p;
}

void conv2d_forward_int8(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep) {
  check_int8_dims(w, d, ep);
  if (!has_vnni_kernels()) return conv2d_forward_int8_ref(out, in, w, d, ep);
  const ConvInt8Kernels& k = conv_int8_kernels_avx512vnni();

  // A: the input quantized to uint8, zero-padded, channels to Cp.
  const int64_t Hp = (d.OH - 1) * d.stride_h + d.KH, Wp = (d.OW - 1) * d.stride_w + d.KW;
  const int64_t a_bytes = d.N * Hp * Wp * w.Cp;
  uint8_t* a = reinterpret_cast<uint8_t*>(scratch(ScratchSlot::conv_int8_input, (a_bytes + 3) / 4));
  const int64_t pad_rows = d.N * Hp;

  const int NV = w.NV, M = k.max_m[NV];
  const int64_t L = (int64_t)NV * 16;
  const int64_t P = d.N * d.OH * d.OW;
  const int64_t group = kGroupTiles * M, ngroups = ceil_div(P, group);
  const int64_t items = w.nb * ngroups;
  const int64_t block = w.KH * w.k4 * L * 4;  // bytes per packed block
  const double flops = 2.0 * (double)P * (double)d.OC * (double)(d.KH * d.KW * d.C);
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
#pragma omp for schedule(static)
    for (int64_t r = 0; r < pad_rows; ++r) pad_quantize_row(a, in, r, d, Hp, Wp, w.Cp, w.in_inv, k);
    const uint8_t* rows[16];
    // Dynamic, whole items per thread: see conv_bf16.cpp.
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t ob = it / ngroups, g = it % ngroups;
      const int64_t p1 = std::min(P, (g + 1) * group);
      Int8Tile t;
      t.a_rows = rows;
      t.a_ld = Wp * w.Cp;
      t.KH = w.KH;
      t.k4 = w.k4;
      t.b = w.packed.data() + ob * block;
      t.ldc = d.OC;
      t.N = std::min(L, d.OC - ob * L);
      t.scale = w.out_scale.data() + ob * L;
      t.bias = ep.bias ? ep.bias + ob * L : nullptr;
      t.relu = ep.relu;
      for (int64_t p0 = g * group; p0 < p1; p0 += M) {
        t.rows = (int)std::min<int64_t>(M, p1 - p0);
        for (int m = 0; m < M; ++m) {
          const int64_t p = p0 + std::min(m, t.rows - 1);  // a short tile repeats its last pixel
          const int64_t n = p / (d.OH * d.OW), oh = p / d.OW % d.OH, ow = p % d.OW;
          rows[m] = a + ((n * Hp + oh * d.stride_h) * Wp + ow * d.stride_w) * w.Cp;
        }
        t.c = out + p0 * d.OC + ob * L;
        t.res = ep.residual ? ep.residual + p0 * d.OC + ob * L : nullptr;
        k.tile(t, M, NV);
      }
    }
  }
}

}  // namespace ds
