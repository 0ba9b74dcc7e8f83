// int8 convolution driver (see conv_int8.h): the input's quantization, per-channel weight
// quantization and packing, and lowp_conv.h's driver with the VNNI or AMX tiles and quantizing pass.
#include "engine/kernels/conv_int8.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"

namespace ds {

Int8Input Int8Input::range(int64_t C, float act_max, float act_min) {
  DS_CHECK(act_max > 0 && std::isfinite(act_max), "Int8Input::range: act_max must be positive and finite");
  DS_CHECK(act_min <= 0 && std::isfinite(act_min), "Int8Input::range: act_min must be <= 0 and finite");
  const float range = act_max - act_min, inv = 255.0f / range;
  Int8Input q;
  q.scale.assign((size_t)C, range / 255.0f);
  q.zero.assign((size_t)C, std::min(255.0f, std::nearbyint(-act_min * inv)));
  return q;
}

Int8Input Int8Input::image(const std::vector<float>& mean, const std::vector<float>& std) {
  DS_CHECK(mean.size() == std.size(), "Int8Input::image: mean and std differ in length");
  Int8Input q;
  for (size_t c = 0; c < mean.size(); ++c) {
    DS_CHECK(std[c] > 0 && std::isfinite(std[c]) && mean[c] >= 0 && mean[c] <= 1,
             "Int8Input::image: std must be positive and finite, mean in 0..1");
    q.scale.push_back(1.0f / (255.0f * std[c]));  // x / s_c = 255 std_c x
    q.zero.push_back(255.0f * mean[c]);
  }
  return q;
}

void check_int8_dims(const ConvInt8Weights& w, const ConvDims& d, const ConvEpilogue& ep) {
  DS_CHECK(d.C == w.C && d.KH == w.KH && d.KW == w.KW && d.OC == w.OC,
           "conv2d_forward_int8: dims differ from the packed weights'");
  DS_CHECK(!ep.weight_scale, "conv2d_forward_int8: fold weight_scale into pack_conv_int8");
}

ConvInt8Weights pack_conv_int8(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC,
                               const Int8Input& in) {
  DS_CHECK((int64_t)in.scale.size() == C && (int64_t)in.zero.size() == C,
           "pack_conv_int8: the input quantization has another channel count");
  ConvInt8Weights p;
  static_cast<LowpPacking&>(p) = LowpPacking(KH, KW, C, OC, 4, /*pad_channels=*/false);
  float s = 0;  // the largest s_c: the others fold into the weights as s_c / s (1 per tensor)
  for (int64_t c = 0; c < C; ++c) {
    DS_CHECK(in.scale[(size_t)c] > 0 && std::isfinite(1.0f / in.scale[(size_t)c]) && in.zero[(size_t)c] >= 0 &&
                 in.zero[(size_t)c] <= 255,
             "pack_conv_int8: input scales must be positive with finite inverses, zero points in 0..255");
    s = std::max(s, in.scale[(size_t)c]);
    p.in_inv.push_back(1.0f / in.scale[(size_t)c]);
    p.zero.push_back(in.zero[(size_t)c]);
    p.uniform = p.uniform && in.scale[(size_t)c] == in.scale[0] && in.zero[(size_t)c] == in.zero[0];
  }
  p.in_scale = s;
  p.pad.assign((size_t)p.Cp, 0);
  for (int64_t c = 0; c < C; ++c) {
    p.pad[(size_t)c] = (uint8_t)std::nearbyint(p.zero[(size_t)c]);
    p.exact_padding = p.exact_padding && (float)p.pad[(size_t)c] == p.zero[(size_t)c];
  }
  for (int64_t j = 0; j < C + 15; ++j) {
    p.inv_pattern.push_back(p.in_inv[(size_t)(j % C)]);
    p.zero_pattern.push_back(p.zero[(size_t)(j % C)]);
  }
  std::vector<float> rel((size_t)C);  // s_c / s: exactly 1 per tensor
  for (int64_t c = 0; c < C; ++c) rel[(size_t)c] = in.scale[(size_t)c] / s;
  // Per output channel: s_w = max |v| / 127, v = w * scale[oc] * s_c / s (an all-zero channel keeps 1).
  p.w_scale.assign((size_t)OC, 0.0f);
  lowp_pack_each(p, w, scale, [&](int64_t, float v, int64_t c, int64_t oc) {
    p.w_scale[(size_t)oc] = std::max(p.w_scale[(size_t)oc], std::fabs(v * rel[(size_t)c]));
  });
  p.out_scale.assign((size_t)(p.nb * p.L), 0.0f);
  for (int64_t oc = 0; oc < OC; ++oc) {
    float& s_w = p.w_scale[(size_t)oc];
    s_w = s_w > 0 && std::isfinite(s_w) ? s_w / 127.0f : 1.0f;
    p.out_scale[(size_t)oc] = s * s_w;
  }
  p.packed.assign((size_t)p.size(), 0);
  std::vector<double> zero_dot((size_t)OC, 0.0);
  p.pad_dot.assign((size_t)OC, 0);
  lowp_pack_each(p, w, scale, [&](int64_t i, float v, int64_t c, int64_t oc) {
    const int8_t q = (int8_t)std::clamp(std::nearbyint(v * rel[(size_t)c] / p.w_scale[(size_t)oc]), -127.0f, 127.0f);
    p.packed[(size_t)i] = q;
    zero_dot[(size_t)oc] += (double)q * p.zero[(size_t)c];
    p.pad_dot[(size_t)oc] += (int32_t)q * p.pad[(size_t)c];
  });
  p.zero_dot.assign(zero_dot.begin(), zero_dot.end());
  if (!p.exact_padding) {  // each class's inside rectangle is then four lookups (int8_edge_bias)
    p.pad_excess.assign((size_t)((KH + 1) * (KW + 1) * OC), 0.0);
    auto at = [&](int64_t kh, int64_t kw) { return p.pad_excess.data() + (kh * (KW + 1) + kw) * OC; };
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw)
        for (int64_t oc = 0; oc < OC; ++oc) {
          double tap = 0;
          for (int64_t c = 0; c < C; ++c)
            tap += (double)p.at(kh, kw, c, oc) * ((double)p.pad[(size_t)c] - (double)p.zero[(size_t)c]);
          at(kh + 1, kw + 1)[oc] = tap + at(kh, kw + 1)[oc] + at(kh + 1, kw)[oc] - at(kh, kw)[oc];
        }
  }
  return p;
}

ConvInt8Weights pack_conv_int8(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC,
                               float act_max, float act_min) {
  return pack_conv_int8(w, scale, KH, KW, C, OC, Int8Input::range(C, act_max, act_min));
}

float int8_bias(const ConvInt8Weights& w, const float* bias, int64_t oc) {
  const float b = bias ? bias[oc] : 0.0f;
  if (w.zero_dot[(size_t)oc] == 0) return b;
  return b - w.out_scale[(size_t)oc] * w.zero_dot[(size_t)oc];
}

namespace {

// The epilogue's biases for w with exact padding: bias itself where no zero point adds a constant,
// else int8_bias of every channel, in storage.
const float* exact_padding_bias(const ConvInt8Weights& w, const float* bias, std::vector<float>& storage) {
  if (std::all_of(w.zero_dot.begin(), w.zero_dot.end(), [](float z) { return z == 0; })) return bias;
  storage.resize((size_t)w.OC);
  for (int64_t oc = 0; oc < w.OC; ++oc) storage[(size_t)oc] = int8_bias(w, bias, oc);
  return storage.data();
}

}  // namespace

LowpEdgeBias int8_edge_bias(const ConvInt8Weights& w, const ConvDims& d, const float* bias) {
  DS_CHECK(!w.pad_excess.empty(), "int8_edge_bias: the padding is exact");
  const int64_t KH = w.KH, KW = w.KW, OC = w.OC;
  auto at = [&](int64_t kh, int64_t kw) { return w.pad_excess.data() + (kh * (KW + 1) + kw) * OC; };
  return lowp_edge_bias(d, w.nb * w.L, [&](LowpTaps rows, LowpTaps cols, float* out) {
    const bool all_inside = rows.k0 == 0 && rows.k1 == KH && cols.k0 == 0 && cols.k1 == KW;
    for (int64_t oc = 0; oc < OC; ++oc) {
      const double inside = rows.k0 >= rows.k1 || cols.k0 >= cols.k1
                                ? 0.0
                                : at(rows.k1, cols.k1)[oc] - at(rows.k0, cols.k1)[oc] - at(rows.k1, cols.k0)[oc] +
                                      at(rows.k0, cols.k0)[oc];
      const double outside = all_inside ? 0.0 : at(KH, KW)[oc] - inside;  // none: exactly int8_bias
      out[oc] = int8_bias(w, bias, oc) - (float)((double)w.out_scale[(size_t)oc] * outside);
    }
  });
}

void conv2d_forward_int8(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep) {  // both sides check the dims
  const Int8Tiles t = int8_tiles();
  if (!t.kernels) return conv2d_forward_int8_ref(out, in, w, d, ep);
  conv2d_forward_int8_on(*t.kernels, out, in, w, d, ep);
}

bool int8_codes_spec(const ConvInt8Weights& w, const ConvDims& d, Int8CodesSpec* spec) {
  if (!w.uniform || !w.exact_padding) return false;
  spec->layout = lowp_input_layout(d, w.Cp);
  spec->H = d.H, spec->W = d.W;
  spec->inv = w.in_inv[0], spec->zero = w.zero[0], spec->pad = w.pad[0];
  spec->scale = w.in_scale;
  return true;
}

bool int8_codes_readable(const Int8CodesSpec& codes, const Int8CodesSpec& mine, const ConvDims& d) {
  if (codes == mine) return true;
  return codes.same_quantization(mine) && lowp_copy_origin(codes.layout, d, mine.layout.Cp).has_value();
}

bool int8_codes_hold_residual(const Int8CodesSpec& codes, int64_t N, int64_t OH, int64_t OW, int64_t OC) {
  const LowpInputLayout& l = codes.layout;
  return !l.subsampled() && l.N == N && codes.H == OH && codes.W == OW && l.Cp == OC && codes.zero == 0 &&
         l.pixel(N - 1, OH - 1, OW - 1) >= 0 && codes.scale > 0;
}

void int8_fake_quantize(float* dst, const float* x, int64_t n, const Int8CodesSpec& codes) {
  for (int64_t i = 0; i < n; ++i) dst[i] = (float)quantize_u8(x[i], codes.inv) * codes.scale;
}

bool int8_chains_supported() { return int8_tiles().kernels != nullptr; }

void conv2d_forward_int8(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep, const Int8Chain& chain) {
  const Int8Tiles t = int8_tiles();
  DS_CHECK(t.kernels, "conv2d_forward_int8: chains need the int8 tiles (int8_chains_supported)");
  conv2d_forward_int8_on(*t.kernels, out, in, w, d, ep, chain);
}

Int8Tiles int8_tiles() {
  if (has_amx_int8_kernels()) return {&conv_int8_kernels_amx(), "amx_int8"};
  if (has_avx512_vnni_kernels()) return {&conv_int8_kernels_avx512vnni(), "avx512_vnni"};
  if (has_avx_vnni_kernels()) return {&conv_int8_kernels_avxvnni(), "avx_vnni"};
  return {nullptr, "reference"};
}

void conv2d_forward_int8_on(const ConvInt8Kernels& k, float* out, const float* in, const ConvInt8Weights& w,
                            const ConvDims& d, const ConvEpilogue& ep, const Int8Chain& chain) {
  check_int8_dims(w, d, ep);
  LowpChain<uint8_t> lc;
  if (chain.in) {
    Int8CodesSpec mine;
    DS_CHECK(int8_codes_spec(w, d, &mine) && int8_codes_readable(chain.in_spec, mine, d),
             "conv2d_forward_int8: codes given that this convolution cannot read");
    lc.in = chain.in;
    lc.in_layout = chain.in_spec.layout;
  }
  if (chain.res) {
    DS_CHECK(!ep.residual && !ep.max_pool && int8_codes_hold_residual(chain.res_spec, d.N, d.OH, d.OW, d.OC),
             "conv2d_forward_int8: residual codes of another shape, or a second residual");
    lc.res = chain.res;
    lc.res_layout = chain.res_spec.layout;
    lc.res_scale = chain.res_spec.scale;
  }
  if (chain.out) {
    const Int8CodesSpec& s = chain.out_spec;
    const int64_t OH = ep.max_pool ? ep.max_pool->OH : d.OH, OW = ep.max_pool ? ep.max_pool->OW : d.OW;
    DS_CHECK(s.H == OH && s.W == OW, "conv2d_forward_int8: the next codes' input size differs from the output's");
    const std::vector<uint8_t> pad((size_t)s.layout.Cp, s.pad);
    lowp_fill_padding(chain.out, s.layout, s.H, s.W, pad.data());
    lc.out = chain.out;
    lc.out_layout = s.layout;
    lc.out_convert = [&k, inv = s.inv, z = s.zero](uint8_t* dst, const float* src, int64_t n) {
      k.quantize(dst, src, n, inv, z);
    };
    lc.out_inv = s.inv;  // what the tiles' epilogue does itself
    lc.out_zero = s.zero;
  }
  lc.store_float = chain.store_float;
  LowpResidualConv<uint8_t, int8_t> rc;
  std::vector<float> res_bias;
  if (chain.res_w) {
    const ConvInt8Weights& rw = *chain.res_w;
    check_int8_dims(rw, chain.res_d, {});
    Int8CodesSpec rspec;
    DS_CHECK(!chain.res && !ep.residual, "conv2d_forward_int8: a residual convolution and a second residual");
    DS_CHECK(chain.res_in && int8_codes_spec(rw, chain.res_d, &rspec) &&
                 int8_codes_readable(chain.res_in_spec, rspec, chain.res_d),
             "conv2d_forward_int8: a residual convolution without input codes it can read");
    rc.d = chain.res_d;
    rc.w = &rw;
    rc.packed = rw.packed.data();
    rc.scale = rw.out_scale.data();
    rc.bias = exact_padding_bias(rw, chain.res_bias, res_bias);  // (codes: exact padding)
    rc.in = chain.res_in;
    rc.in_layout = chain.res_in_spec.layout;
  }
  // A: the input quantized to uint8, padded with the zero points' codes (or given: chain.in).
  ConvEpilogue e = ep;
  std::vector<float> bias;
  // The zero points' constant moves into the bias (into the per-pixel biases when padding is not exact).
  if (w.exact_padding) e.bias = exact_padding_bias(w, ep.bias, bias);
  const bool zero_pad = std::all_of(w.pad.begin(), w.pad.end(), [](uint8_t v) { return v == 0; });
  auto quantize = [&](uint8_t* dst, const float* src, int64_t n) {
    if (w.uniform) k.quantize(dst, src, n, w.in_inv[0], w.zero[0]);
    else k.quantize_channels(dst, src, n, w.inv_pattern.data(), w.zero_pattern.data(), d.C);
  };
  const LowpEdgeBias edge = w.exact_padding ? LowpEdgeBias{} : int8_edge_bias(w, d, ep.bias);
  lowp_conv_forward<uint8_t, int8_t>(
      out, in, d, w, w.packed.data(), w.out_scale.data(), e, ScratchSlot::conv_int8_input, k.max_m, k.tile, quantize,
      zero_pad ? nullptr : w.pad.data(), w.exact_padding ? nullptr : &edge,
      chain.in || chain.out || chain.res || !chain.store_float ? &lc : nullptr, chain.res_w ? &rc : nullptr);
}

}  // namespace ds
