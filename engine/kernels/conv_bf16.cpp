// bf16 convolution driver (see conv_bf16.h): weight packing, and lowp_conv.h's driver with the
// AMX-BF16 or AVX512-BF16 tiles and the rounding pass.
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
  ConvBf16Weights p;
  static_cast<LowpPacking&>(p) = LowpPacking(KH, KW, C, OC, 2);
  p.packed.assign((size_t)p.size(), 0);
  lowp_pack_each(p, w, scale, [&](int64_t i, float v, int64_t, int64_t) { p.packed[(size_t)i] = to_bf16(v); });
  return p;
}

void conv2d_forward_bf16_on(const ConvBf16Kernels& k, float* out, const float* in, const ConvBf16Weights& w,
                            const ConvDims& d, const ConvEpilogue& ep) {
  check_dims(w, d, ep);
  // A: the input rounded to bf16, zero-padded, channels to Cp.
  lowp_conv_forward<uint16_t, uint16_t>(out, in, d, w, w.packed.data(), nullptr, ep, ScratchSlot::conv_bf16_input,
                                        k.max_m, k.tile, k.round);
}

void conv2d_forward_bf16(float* out, const float* in, const ConvBf16Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep) {  // both sides check the dims
  if (!has_bf16_kernels()) return conv2d_forward_bf16_ref(out, in, w, d, ep);
  conv2d_forward_bf16_on(has_amx_bf16_kernels() ? conv_bf16_kernels_amx() : conv_bf16_kernels_avx512bf16(), out, in, w,
                         d, ep);
}

}  // namespace ds
