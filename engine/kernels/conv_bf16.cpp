// bf16 convolution driver (see conv_bf16.h): weight packing, and lowp_conv.h's driver with the
// AVX512-BF16 tiles and rounding pass.
#include "engine/kernels/conv_bf16.h"

#include <algorithm>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"

namespace ds {

namespace {

void check_dims(const ConvBf16Weights& w, const ConvDims& d, const ConvEpilogue& ep) {
  DS_CHECK(d.C == w.C && d.KH == w.KH && d.KW == w.KW && d.OC == w.OC,
           "conv2d_forward_bf16: dims differ from the packed weights'");
  DS_CHECK(!ep.weight_scale, "conv2d_forward_bf16: fold weight_scale into pack_conv_bf16");
}

}  // namespace

ConvBf16Weights pack_conv_bf16(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC) {
  const LowpBlocking b(KW, C, OC, 2);
  ConvBf16Weights p;
  p.C = C;
  p.Cp = b.Cp;
  p.KH = KH;
  p.KW = KW;
  p.OC = OC;
  p.NV = b.NV;
  p.nb = b.nb;
  p.k2 = b.kg;
  p.packed.assign((size_t)b.size(KH), 0);
  lowp_pack_each(b, w, scale, KH, KW, C, OC, [&](int64_t i, float v, int64_t) { p.packed[(size_t)i] = to_bf16(v); });
  return p;
}

void conv2d_forward_bf16(float* out, const float* in, const ConvBf16Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep) {
  check_dims(w, d, ep);
  if (!has_bf16_kernels()) return conv2d_forward_bf16_ref(out, in, w, d, ep);
  const ConvBf16Kernels& k = conv_bf16_kernels_avx512bf16();

  // A: the input rounded to bf16, zero-padded, channels to Cp.
  const LowpWeights<uint16_t> lw{w.Cp, w.KH, w.k2, w.NV, w.nb, w.packed.data(), nullptr};
  lowp_conv_forward<uint16_t, uint16_t>(out, in, d, lw, ep, ScratchSlot::conv_bf16_input, k.max_m, k.tile, k.round,
                                        to_bf16);
}

}  // namespace ds
