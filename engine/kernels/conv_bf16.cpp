// bf16 convolution driver (see conv_bf16.h): weight packing, the input's bf16 padded copy, and
// the work items (output-channel block x group of consecutive output pixels) split between the
// threads, each running the AVX512-BF16 tiles over its pixels.
#include "engine/kernels/conv_bf16.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"

namespace ds {

namespace {

// Output pixels per work item, in tiles: 16 tiles of 6 pixels leave layer4 at batch 16 (784
// pixels, 8 blocks of 64 channels) 72 items to share between the threads, and a thread's
// consecutive items of one block reuse its weights from L2. Chosen, not swept.
constexpr int64_t kGroupTiles = 16;

// Row r of dst [N, Hp, Wp, Cp] bf16 = to_bf16(src [N, H, W, C]) placed at (top, left), zeros
// elsewhere (padding rows and columns, channels C..Cp).
void pad_round_row(uint16_t* dst, const float* src, int64_t r, const ConvDims& d, int64_t Hp, int64_t Wp, int64_t Cp,
                   const ConvBf16Kernels& k) {
  const int64_t n = r / Hp, ih = r % Hp - d.pad_h, C = d.C;
  uint16_t* row = dst + r * Wp * Cp;
  if (ih < 0 || ih >= d.H) {
    std::memset(row, 0, 2 * Wp * Cp);
    return;
  }
  const int64_t j0 = std::clamp<int64_t>(d.pad_w, 0, Wp), j1 = std::clamp<int64_t>(d.pad_w + d.W, j0, Wp);
  const float* s = src + ((n * d.H + ih) * d.W + (j0 - d.pad_w)) * C;
  std::memset(row, 0, 2 * j0 * Cp);
  if (Cp == C) {
    k.round(row + j0 * C, s, (j1 - j0) * C);
  } else {
    for (int64_t j = j0; j < j1; ++j, s += C) {
      for (int64_t c = 0; c < C; ++c) row[j * Cp + c] = to_bf16(s[c]);
      for (int64_t c = C; c < Cp; ++c) row[j * Cp + c] = 0;
    }
  }
  std::memset(row + j1 * Cp, 0, 2 * (Wp - j1) * Cp);
}

void check_dims(const ConvBf16Weights& w, const ConvDims& d, const ConvEpilogue& ep) {
  DS_CHECK(d.C == w.C && d.KH == w.KH && d.KW == w.KW && d.OC == w.OC,
           "conv2d_forward_bf16: dims differ from the packed weights'");
  DS_CHECK(!ep.weight_scale, "conv2d_forward_bf16: fold weight_scale into pack_conv_bf16");
}

}  // namespace

ConvBf16Weights pack_conv_bf16(const float* w, const float* scale, int64_t KH, int64_t KW, int64_t C, int64_t OC) {
  ConvBf16Weights p;
  p.C = C;
  p.Cp = round_up(C, 2);
  p.KH = KH;
  p.KW = KW;
  p.OC = OC;
  p.NV = (int)std::min<int64_t>(4, ceil_div(OC, 16));
  const int64_t L = (int64_t)p.NV * 16;
  p.nb = ceil_div(OC, L);
  p.k2 = KW * p.Cp / 2;
  p.packed.assign((size_t)(p.nb * KH * p.k2 * L * 2), 0);
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t oc = 0; oc < OC; ++oc) {
          const int64_t k = kw * p.Cp + c;
          const float v = w[((kh * KW + kw) * C + c) * OC + oc] * (scale ? scale[oc] : 1.0f);
          p.packed[(size_t)((((oc / L * KH + kh) * p.k2 + k / 2) * L + oc % L) * 2 + k % 2)] = to_bf16(v);
        }
  return p;
}

void conv2d_forward_bf16(float* out, const float* in, const ConvBf16Weights& w, const ConvDims& d,
                         const ConvEpilogue& ep) {
  check_dims(w, d, ep);
  if (!has_bf16_kernels()) return conv2d_forward_bf16_ref(out, in, w, d, ep);
  const ConvBf16Kernels& k = conv_bf16_kernels_avx512bf16();

  // A: the input rounded to bf16, zero-padded, channels to Cp.
  const int64_t Hp = (d.OH - 1) * d.stride_h + d.KH, Wp = (d.OW - 1) * d.stride_w + d.KW;
  const int64_t a_elems = d.N * Hp * Wp * w.Cp;
  uint16_t* a = reinterpret_cast<uint16_t*>(scratch(ScratchSlot::conv_bf16_input, (a_elems + 1) / 2));
  const int64_t pad_rows = d.N * Hp;

  const int NV = w.NV, M = k.max_m[NV];
  const int64_t L = (int64_t)NV * 16;
  const int64_t P = d.N * d.OH * d.OW;
  const int64_t group = kGroupTiles * M, ngroups = ceil_div(P, group);
  const int64_t items = w.nb * ngroups;
  const int64_t block = w.KH * w.k2 * L * 2;  // bf16 per packed block
  const double flops = 2.0 * (double)P * (double)d.OC * (double)(d.KH * d.KW * d.C);
#pragma omp parallel if (use_threads(flops, kMinParallelFlops))
  {
    // One parallel region for the rounding pass and the tiles: a barrier between them, but one
    // fork and join per convolution (on a loaded machine each costs the time a descheduled
    // thread takes to come back).
#pragma omp for schedule(static)
    for (int64_t r = 0; r < pad_rows; ++r) pad_round_row(a, in, r, d, Hp, Wp, w.Cp, k);
    const uint16_t* rows[16];
    // Dynamic: items are computed whole by whichever thread takes them, so the results do not
    // depend on the schedule, and a thread the OS preempts (a shared machine) holds up only the
    // item it is on instead of its whole static share.
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t ob = it / ngroups, g = it % ngroups;
      const int64_t p1 = std::min(P, (g + 1) * group);
      Bf16Tile t;
      t.a_rows = rows;
      t.a_ld = Wp * w.Cp;
      t.KH = w.KH;
      t.k2 = w.k2;
      t.b = w.packed.data() + ob * block;
      t.ldc = d.OC;
      t.N = std::min(L, d.OC - ob * L);
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
