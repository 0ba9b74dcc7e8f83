// int8 inference convolution for `--precision int8` (issue 20): channels-last fp32 activations in
// and out, unsigned 8-bit activations times signed 8-bit weights summed exactly in int32
// (vpdpbusd: AVX512-VNNI, AVX-VNNI, or AMX-INT8's tiles), then scaled back to fp32 in the
// epilogue. Inference only.
//
// Quantization:
//   inputs   per input channel c, a scale s_c and a zero point z_c (the code of 0.0):
//            q_x = clamp(round(x / s_c + z_c), 0, 255) (one fma), values outside saturating.
//            Two ways to choose them (Int8Input):
//            * per tensor, the calibrated range act_min..act_max (weights/calibrate.h) onto 0..255:
//              s_c = (act_max - act_min) / 255 for every c, z = round(-act_min / s), an integer.
//              Inputs that are >= 0 (post-ReLU: every ResNet conv but conv1) have act_min = 0, z = 0;
//            * the image: the input is an 8-bit picture normalized as x = (p / 255 - mean_c) / std_c
//              (conv1's), so s_c = 1 / (255 std_c) and z_c = 255 mean_c (x / s_c + z_c = p)
//              make the code the pixel value p itself: the quantization loses nothing (it rounds
//              away only the float error of x), and no pixel saturates. z_c is then fractional.
//            Padding taps read pad_c = round(z_c) (z_c itself when it is an integer); where that is
//            not z_c, the outputs next to the padding get a bias of their own that subtracts what
//            the padding taps added (int8_edge_bias), so padding stays exactly 0.0;
//   weights  per output channel, with the inputs' relative scales folded in:
//            v = w[k, oc] * scale[oc] * s_c / s (scale: a folded BatchNorm; s = the largest s_c),
//            s_w[oc] = max_k |v| / 127, q_w = round(v / s_w), in -127..127;
//   output   y = fma(float(sum q_x * q_w), s * s_w[oc], bias[oc] - s * s_w[oc] * sum_k q_w z_c)
//            (+ residual, max 0); the bias term is int8_bias (all z_c = 0: bias unchanged).
// Rounding is to nearest even (the CPU's default mode) everywhere; the tiles and the _ref twin
// quantize with the same float operations and sum exactly in int32 (at most 255 * 127 * K, K <
// 2^16 for every ResNet convolution), so their outputs are bit-identical.
//
// Packed weights: [nb][KH][kg][NV * 16][4] int8, nb = ceil(OC / (NV * 16)) blocks of NV vectors
// of 16 output channels (the last block zero-padded), kg = ceil(KW * C / 4) groups per kernel row,
// the innermost four consecutive reduction indices k = kw * C + c, as vpdpbusd reads them. The
// channels are not padded (Cp = C; LowpPacking's pad_channels false): the RGB stem's 7 taps of 3
// channels are 6 groups, the last one reading 3 bytes past the kernel row with zero weights.
// The quantized input is the zero-padded copy [N, Hp, Wp, Cp] uint8 written by one pass, as the
// bf16 convolution's (conv_bf16.h; both run lowp_conv.h's driver: tiles of M output pixels x NV
// vectors, whole work items per thread so results do not depend on the thread count).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernels/conv.h"
#include "engine/kernels/lowp_conv.h"

namespace ds {

// x -> its uint8 code at inverse scale inv (1 / s_x) and zero point z: round to nearest even of
// fma(x, inv, z), clamped to 0..255 (NaN -> 0). The tiles' vector quantizer does the same float
// operations (with z = 0 the fma is the plain product).
inline uint8_t quantize_u8(float x, float inv, float z = 0.0f) {
  float v = std::fma(x, inv, z);
  v = v > 0.0f ? v : 0.0f;  // NaN compares false: 0
  v = v < 255.0f ? v : 255.0f;
  return (uint8_t)std::nearbyint(v);
}

// How a convolution's input is quantized (above): a scale and a zero point per input channel.
struct Int8Input {
  std::vector<float> scale;  // s_c > 0
  std::vector<float> zero;   // z_c, in 0..255
  // Per tensor: the range act_min..act_max (act_max > 0 >= act_min, both finite) for C channels.
  static Int8Input range(int64_t C, float act_max, float act_min = 0.0f);
  // The normalized 8-bit image: codes are the pixel values (x = (p / 255 - mean_c) / std_c).
  static Int8Input image(const std::vector<float>& mean, const std::vector<float>& std);
};

// A convolution's weights in int8, packed for the tiles (layout above), with what the epilogue
// needs: out_scale[oc] = s * s_w[oc] for the input quantization they were packed for.
struct ConvInt8Weights : LowpPacking {  // group 4: kg groups of four per kernel row
  // The input's quantization, per input channel: quantize_u8(x, in_inv[c], zero[c]); padding
  // taps read pad[c]. `uniform`: one in_inv and zero for every
  // channel (per tensor), quantized by the broadcast pass.
  float in_scale = 0;         // s, the largest s_c (per tensor: every s_c)
  std::vector<float> in_inv;  // 1 / s_c
  std::vector<float> zero;    // z_c
  std::vector<uint8_t> pad;   // round(z_c), Cp (= C) entries
  bool uniform = true;
  bool exact_padding = true;  // every pad_c == z_c: padding taps add exactly 0.0 (else int8_edge_bias)
  std::vector<float> inv_pattern, zero_pattern;  // for quantize_channels: C + 15 entries, [j] = [j % C]
  std::vector<float> zero_dot;                   // sum over k of q_w[k, oc] * z_c(k), for the zero points' constant
  std::vector<int32_t> pad_dot;                  // sum over k of q_w[k, oc] * pad_c(k): what the padding taps add
  // When not exact_padding: what each tap's padding code adds beyond 0.0, sum_c q_w (pad_c - z_c),
  // as prefix sums over the kernel, [KH + 1][KW + 1][OC] (the taps < kh, < kw), for int8_edge_bias.
  std::vector<double> pad_excess;
  std::vector<float> w_scale;    // s_w[oc]
  std::vector<float> out_scale;  // s * s_w[oc], padded with zeros to nb * NV * 16
  std::vector<int8_t> packed;    // [nb][KH][kg][NV * 16][4]
  // The int8 weight of (kh, kw, c, oc), c < C, oc < nb * NV * 16.
  int8_t at(int64_t kh, int64_t kw, int64_t c, int64_t oc) const { return packed[(size_t)index(kh, kw, c, oc)]; }
};

// w [KH, KW, C, OC] fp32 (the layers' layout) times scale[oc] (null: 1), quantized per output
// channel, for inputs quantized as `in` (C entries).
ConvInt8Weights pack_conv_int8(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC,
                               const Int8Input& in);
// The same for a per-tensor input range act_min..act_max (Int8Input::range).
ConvInt8Weights pack_conv_int8(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC,
                               float act_max, float act_min = 0.0f);

// The epilogue's bias for output channel oc: bias (null: 0) minus the zero points' constant
// out_scale[oc] * zero_dot[oc]; the tiles and the twin both use it.
float int8_bias(const ConvInt8Weights& w, const float* bias, int64_t oc);

// When the padding code is not exactly z_c (the image's fractional zero points), a padding tap
// adds (pad_c - z_c) s_c times its weight: the biases per output pixel that take that back out,
// from which taps of each output fall in the padding (LowpEdgeBias, width nb * NV * 16; an output
// with no padding tap gets int8_bias). The tiles and the twin both use it, so padding is exact.
LowpEdgeBias int8_edge_bias(const ConvInt8Weights& w, const ConvDims& d, const float* bias);

// out = epilogue(conv(q(in), q(w))) with ep.weight_scale null (fold it into the packing):
// * out_scale[oc] + bias[oc] (one fma), + residual, max(., 0). Runs the AMX-INT8 tiles when
// has_amx_int8_kernels(), else the AVX512-VNNI or AVX-VNNI tiles when has_vnni_kernels()
// (engine/cpu_features.h), else the reference twin (the same numbers, slowly; the CLI refuses
// int8 there instead).
void conv2d_forward_int8(float* out,       // [N, OH, OW, OC] fp32
                         const float* in,  // [N, H, W, C] fp32, quantized on the way in
                         const ConvInt8Weights& w, const ConvDims& d, const ConvEpilogue& ep = {});

// An int8 convolution's input codes: the padded copy [N, Hp, Wp, Cp] uint8 its tiles read
// (lowp_input_layout) and the per-tensor quantization its weights were packed for. A convolution
// that writes them for the next one (Int8Chain::out, in its epilogue) makes exactly the bytes the
// next one's own pass would have made from the fp32 output: chained or not, the outputs are the same.
struct Int8CodesSpec {
  LowpInputLayout layout;
  int64_t H = 0, W = 0;     // the input's size
  float inv = 0, zero = 0;  // code = quantize_u8(x, inv, zero), as w.in_inv[0], w.zero[0]
  float scale = 0;          // what a code stands for: (code - zero) * scale, as w.in_scale
  uint8_t pad = 0;          // the padding's code
  bool operator==(const Int8CodesSpec&) const = default;
  int64_t bytes() const { return layout.elems(); }
  bool same_quantization(const Int8CodesSpec& o) const {
    return H == o.H && W == o.W && inv == o.inv && zero == o.zero && scale == o.scale && pad == o.pad;
  }
};
// The spec of w's input at dims d, when there can be one: per-tensor quantization with exact
// padding (every post-ReLU input); false otherwise (conv1's image input).
bool int8_codes_spec(const ConvInt8Weights& w, const ConvDims& d, Int8CodesSpec* spec);
// Whether a convolution whose own spec is `mine` (dims d) can read `codes`, made for another
// reader of the same input (a block's downsample reading the copy made for its conv1): the same
// quantization, and a copy that holds every tap it reads (lowp_copy_origin).
bool int8_codes_readable(const Int8CodesSpec& codes, const Int8CodesSpec& mine, const ConvDims& d);
// Whether codes can stand for a residual the size of an output [N, OH, OW, OC] (a block's identity,
// added dequantized in the epilogue: code * scale): every pixel held, zero point 0 (post-ReLU).
bool int8_codes_hold_residual(const Int8CodesSpec& codes, int64_t N, int64_t OH, int64_t OW, int64_t OC);
// An activation as its codes stand for it: quantize_u8(x, inv, 0) * scale, for n values. What a
// block's identity is at int8 when no codes were made (the chains off, the reference twin), so
// that the result equals the chained network's bit for bit.
void int8_fake_quantize(float* dst, const float* x, int64_t n, const Int8CodesSpec& codes);

// Inference chains (issue 20: activations converted where they are produced).
struct Int8Chain {
  // The input's codes, made for int8_codes_spec(w, d) or readable by it (int8_codes_readable,
  // in_spec): the fp32 input is not read.
  const uint8_t* in = nullptr;
  Int8CodesSpec in_spec;
  uint8_t* out = nullptr;   // the next convolution's codes (out_spec.bytes()), padding included
  Int8CodesSpec out_spec;   // out_spec.layout.Cp == OC, N the same; of the pool's output with ep.max_pool
  bool store_float = true;  // false: `out` only, no fp32 output
  // The residual as codes (int8_codes_hold_residual; ep.residual null): + code * res_spec.scale.
  const uint8_t* res = nullptr;
  Int8CodesSpec res_spec;
  // Or the residual computed here by a second convolution from its input's codes, tile by tile
  // (LowpResidualConv: ResNet's downsample fused into its block's last convolution; ep.residual
  // null): the values conv2d_forward_int8(res_w, res_d, {bias = res_bias}) would store, bit for bit.
  const ConvInt8Weights* res_w = nullptr;
  ConvDims res_d;
  const float* res_bias = nullptr;  // its folded BatchNorm's bias (or null)
  const uint8_t* res_in = nullptr;  // its input's codes, readable by it (int8_codes_readable)
  Int8CodesSpec res_in_spec;
};
// Whether this CPU's int8 path takes chains: the tiles do, the reference twin does not.
bool int8_chains_supported();
void conv2d_forward_int8(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep, const Int8Chain& chain);

// Checks that d matches w's shape and that ep has no weight_scale (internal error otherwise).
void check_int8_dims(const ConvInt8Weights& w, const ConvDims& d, const ConvEpilogue& ep);

// Direct loops: each input quantized by quantize_u8, products summed in int32 (the taps outside
// the input count as code pad_c, as the tiles' padding), then the same epilogue. The test
// oracle, and what runs without VNNI or in reference mode.
void conv2d_forward_int8_ref(float* out, const float* in, const ConvInt8Weights& w, const ConvDims& d,
                             const ConvEpilogue& ep = {});

// One tile for the VNNI instances (conv_int8_avx512vnni.cpp, conv_int8_avxvnni.cpp): uint8 A, int8 B, kg groups of four
// per kernel row, scale = out_scale.
using Int8Tile = LowpTile<uint8_t, int8_t>;

struct ConvInt8Kernels {
  int max_m[5];                                                                     // pixels per tile for NV = 1..4
  void (*tile)(const Int8Tile& t, int M, int NV);                                   // M == max_m[NV]
  void (*quantize)(uint8_t* dst, const float* src, int64_t n, float inv, float z);  // quantize_u8(src[i], inv, z)
  // Per channel: quantize_u8(src[i], inv[i % C], z[i % C]) for a run starting at channel 0, from
  // patterns of C + 15 entries (inv_pattern[j] = inv[j % C]) the vectors load at any phase.
  void (*quantize_channels)(uint8_t* dst, const float* src, int64_t n, const float* inv_pattern, const float* z_pattern,
                            int64_t C);
};
const ConvInt8Kernels& conv_int8_kernels_avx512vnni();
// AVX-VNNI tiles of 6 pixels x 16 channels on 256-bit registers (conv_int8_avxvnni.cpp; only
// where the CPU has AVX-VNNI, has_avx_vnni_kernels()).
const ConvInt8Kernels& conv_int8_kernels_avxvnni();
// AMX-INT8 tiles of 16 pixels (lowp_amx_tiles.inc): on the hardware (only where
// has_amx_int8_kernels()), and on emulated tile registers (any AVX512-VNNI CPU; for tests, slow).
const ConvInt8Kernels& conv_int8_kernels_amx();
const ConvInt8Kernels& conv_int8_kernels_amx_emulated();
// The tiles conv2d_forward_int8 runs on this CPU and path, by name: AMX-INT8 when chosen, else
// AVX512-VNNI, else AVX-VNNI, else none (kernels null, "reference": the twin).
struct Int8Tiles {
  const ConvInt8Kernels* kernels;
  const char* name;  // "amx_int8", "avx512_vnni", "avx_vnni" or "reference"
};
Int8Tiles int8_tiles();
// conv2d_forward_int8 on the given tiles (tests run each instance this way).
void conv2d_forward_int8_on(const ConvInt8Kernels& k, float* out, const float* in, const ConvInt8Weights& w,
                            const ConvDims& d, const ConvEpilogue& ep = {}, const Int8Chain& chain = {});

}  // namespace ds
