// int8 convolution driver (see conv_int8.h): per-channel weight quantization and packing, and
// lowp_conv.h's driver with the AVX512-VNNI tiles and quantizing pass.
#include "engine/kernels/conv_int8.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"

namespace ds {

void check_int8_dims(const ConvInt8Weights& w, const ConvDims& d, const ConvEpilogue& ep) {
  DS_CHECK(d.C == w.C && d.KH == w.KH && d.KW == w.KW && d.OC == w.OC,
           "conv2d_forward_int8: dims differ from the packed weights'");
  DS_CHECK(!ep.weight_scale, "conv2d_forward_int8: fold weight_scale into pack_conv_int8");
}

ConvInt8Weights pack_conv_int8(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC,
                               float act_max, float act_min) {
  DS_CHECK(act_max > 0 && std::isfinite(act_max), "pack_conv_int8: act_max must be positive and finite");
  DS_CHECK(act_min <= 0 && std::isfinite(act_min), "pack_conv_int8: act_min must be <= 0 and finite");
  ConvInt8Weights p;
  static_cast<LowpPacking&>(p) = LowpPacking(KH, KW, C, OC, 4);
  p.act_max = act_max;
  p.act_min = act_min;
  const float range = act_max - act_min;
  p.in_inv = 255.0f / range;
  p.zero = std::min(255.0f, std::nearbyint(-act_min * p.in_inv));
  // Per output channel: s_w = max |w * scale| / 127 (an all-zero channel keeps 1).
  p.w_scale.assign((size_t)OC, 0.0f);
  lowp_pack_each(p, w, scale, [&](int64_t, float v, int64_t oc) {
    p.w_scale[(size_t)oc] = std::max(p.w_scale[(size_t)oc], std::fabs(v));
  });
  p.out_scale.assign((size_t)(p.nb * p.L), 0.0f);
  for (int64_t oc = 0; oc < OC; ++oc) {
    float& s_w = p.w_scale[(size_t)oc];
    s_w = s_w > 0 && std::isfinite(s_w) ? s_w / 127.0f : 1.0f;
    p.out_scale[(size_t)oc] = (range / 255.0f) * s_w;
  }
  p.packed.assign((size_t)p.size(), 0);
  p.w_sum.assign((size_t)OC, 0);
  lowp_pack_each(p, w, scale, [&](int64_t i, float v, int64_t oc) {
    p.packed[(size_t)i] = (int8_t)std::clamp(std::nearbyint(v / p.w_scale[(size_t)oc]), -127.0f, 127.0f);
    p.w_sum[(size_t)oc] += p.packed[(size_t)i];
  });
  return p;
}

float int8_bias(const ConvInt8Weights& w, const float* bias, int64_t oc) {
  const float b = bias ? bias[oc] : 0.0f;
  if (w.zero == 0) return b;
  return b - w.out_scale[(size_t)oc] * (w.zero * (float)w.w_sum[(size_t)oc]);
}

void conv2d_forward_int8(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep) {
  check_int8_dims(w, d, ep);
  if (!has_vnni_kernels()) return conv2d_forward_int8_ref(out, in, w, d, ep);
  const ConvInt8Kernels& k = conv_int8_kernels_avx512vnni();

  // A: the input quantized to uint8, padded with the zero point's code, channels to Cp.
  const float inv = w.in_inv, z = w.zero;
  ConvEpilogue e = ep;
  std::vector<float> bias;
  if (z != 0) {  // the zero point's constant moves into the bias
    bias.resize((size_t)d.OC);
    for (int64_t oc = 0; oc < d.OC; ++oc) bias[(size_t)oc] = int8_bias(w, ep.bias, oc);
    e.bias = bias.data();
  }
  lowp_conv_forward<uint8_t, int8_t>(
      out, in, d, w, w.packed.data(), w.out_scale.data(), e, ScratchSlot::conv_int8_input, k.max_m, k.tile,
      [&](uint8_t* dst, const float* src, int64_t n) { k.quantize(dst, src, n, inv, z); }, (uint8_t)z);
}

}  // namespace ds
