// Timing candidate blockings per convolution shape class (see conv_tune.h).
#include "engine/kernels/conv_tune.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "base/median.h"
#include "base/rng.h"
#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_1x1.h"
#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/conv_winograd_bf16.h"
#include "engine/tensor.h"

namespace ds {

std::vector<ConvTuneShape> resnet18_conv_shapes(int64_t batch, int64_t size) {
  const int64_t s1 = conv_out_size(size, 7, 2, 3);  // conv1's output
  const int64_t s2 = conv_out_size(s1, 3, 2, 1);    // after the max pool: layer1
  const int64_t s3 = conv_out_size(s2, 3, 2, 1), s4 = conv_out_size(s3, 3, 2, 1);
  auto conv = [&](const char* name, int64_t C, int64_t H, int64_t OC, int64_t k, int64_t stride, int64_t pad) {
    return ConvTuneShape{name, make_conv_dims(batch, C, H, H, OC, k, k, stride, pad)};
  };
  return {conv("conv1", 3, size, 64, 7, 2, 3),
          conv("layer1.conv", 64, s2, 64, 3, 1, 1),
          conv("layer2.0.conv1", 64, s2, 128, 3, 2, 1),
          conv("layer2.conv", 128, s3, 128, 3, 1, 1),
          conv("layer2.0.downsample", 64, s2, 128, 1, 2, 0),
          conv("layer3.0.conv1", 128, s3, 256, 3, 2, 1),
          conv("layer3.conv", 256, s4, 256, 3, 1, 1),
          conv("layer3.0.downsample", 128, s3, 256, 1, 2, 0),
          conv("layer4.0.conv1", 256, s4, 512, 3, 2, 1),
          conv("layer4.conv", 512, conv_out_size(s4, 3, 2, 1), 512, 3, 1, 1),
          conv("layer4.0.downsample", 256, s4, 512, 1, 2, 0)};
}

namespace {

// The parameters a pass reads, as pointers into a blocking (the 1x1 GEMMs' weight gradient has
// tiles of its own width).
std::vector<int64_t ConvBlocking::*> pass_params(ConvPass pass, const ConvDims& d) {
  if (pass == ConvPass::backward_weights && conv_is_1x1(d))
    return {&ConvBlocking::wgrad_super_bytes, &ConvBlocking::wgrad_chunk_bytes, &ConvBlocking::wgrad_part_bytes};
  if (pass == ConvPass::backward_weights)
    return {&ConvBlocking::wgrad_super_bytes, &ConvBlocking::wgrad_chunk_bytes, &ConvBlocking::wgrad_part_bytes,
            &ConvBlocking::wgrad_vectors};
  return {&ConvBlocking::chunk_k, &ConvBlocking::group_bytes, &ConvBlocking::super_weight_bytes};
}

struct Operands {
  Tensor x, w, dy, y, dx, dw;
};

Operands make_operands(const ConvDims& d) {
  Rng rng(1);
  auto randn = [&](int64_t n) {
    Tensor t = Tensor::empty(Shape{n});
    for (int64_t i = 0; i < n; ++i) t[i] = rng.normal();
    return t;
  };
  Operands o{randn(d.N * d.H * d.W * d.C),    randn(d.KH * d.KW * d.C * d.OC),
             randn(d.N * d.OH * d.OW * d.OC), Tensor::empty(Shape{d.N * d.OH * d.OW * d.OC}),
             randn(d.N * d.H * d.W * d.C),    randn(d.KH * d.KW * d.C * d.OC)};
  return o;
}

template <class Run>
double elapsed_ms(Run run) {
  const auto t0 = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double time_pass(const ConvDims& d, ConvPass pass, Operands& o) {
  return elapsed_ms([&] {
    switch (pass) {
      case ConvPass::forward: conv2d_forward(o.y.data(), o.x.data(), o.w.data(), d); break;
      case ConvPass::backward_data: conv2d_backward_data(o.dx.data(), o.dy.data(), o.w.data(), d, true); break;
      case ConvPass::backward_weights: conv2d_backward_weights(o.dw.data(), nullptr, o.dy.data(), o.x.data(), d); break;
    }
  });
}

// Median ms of each candidate, timed in alternating rounds after one untimed call each.
std::vector<double> time_candidates(const ConvDims& d, ConvPass pass, Operands& o,
                                    const std::vector<ConvBlocking>& cands, int rounds) {
  std::vector<std::vector<double>> t(cands.size());
  for (int r = -1; r < rounds; ++r)
    for (size_t i = 0; i < cands.size(); ++i) {
      set_conv_blocking_override(&cands[i]);
      const double ms = time_pass(d, pass, o);
      if (r >= 0) t[i].push_back(ms);
    }
  set_conv_blocking_override(nullptr);
  std::vector<double> med;
  for (auto& v : t) med.push_back(median(v));
  return med;
}

// The values tried for parameter p besides the derived one: sizes halved and doubled (a
// threshold of 0 too, for the pixel parts); the weight-gradient tiles 2 and 4 vectors wide (the
// widths AVX-512's channel rule picks between; one of them may time the derived tiles again).
std::vector<int64_t> candidate_values(int64_t ConvBlocking::*p, const ConvBlocking& base) {
  if (p == &ConvBlocking::wgrad_vectors) {
    std::vector<int64_t> v;
    for (int64_t w : {2, 4})
      if (w != base.wgrad_vectors) v.push_back(w);
    return v;
  }
  std::vector<int64_t> v = {base.*p / 2, base.*p * 2};
  if (p == &ConvBlocking::wgrad_part_bytes) v.push_back(0);
  if (p == &ConvBlocking::chunk_k)
    for (int64_t& x : v) x = std::max<int64_t>(x, 16);
  return v;
}

// One class: the derived blocking, each parameter's candidate values, then the per-parameter
// winners combined.
ConvTunedClass tune_class(const ConvDims& d, ConvPass pass, Operands& o, const ConvTuneOptions& opt) {
  const ConvBlocking base = derived_conv_blocking();
  std::vector<ConvBlocking> cands = {base};
  const auto params = pass_params(pass, d);
  for (auto p : params)
    for (int64_t v : candidate_values(p, base)) {
      ConvBlocking b = base;
      b.*p = v;
      cands.push_back(b);
    }
  std::vector<double> ms = time_candidates(d, pass, o, cands, opt.rounds);
  ConvBlocking combined = base;
  for (auto p : params) {  // the fastest value of each parameter, where it beat the derived one
    double best = ms[0];
    for (size_t i = 1; i < cands.size(); ++i)
      if (cands[i].*p != base.*p && ms[i] < best) best = ms[i], combined.*p = cands[i].*p;
  }
  size_t best = 0;
  for (size_t i = 1; i < cands.size(); ++i)
    if (ms[i] < ms[best]) best = i;
  if (!(combined == base) && std::find(cands.begin(), cands.end(), combined) == cands.end()) {
    // A final of the derived blocking, the best single change and their combination, timed
    // together in fresh rounds.
    cands = {base, cands[best], combined};
    ms = time_candidates(d, pass, o, cands, opt.rounds);
    best = std::min_element(ms.begin(), ms.end()) - ms.begin();
  }
  if (ms[best] > ms[0] * (1 - opt.min_gain)) best = 0;
  return ConvTunedClass{conv_shape_class(d, pass), cands[best], ms[best], ms[0]};
}

}  // namespace

void check_conv_tune_options(const ConvTuneOptions& o) {
  DS_CHECK_INPUT(o.batch >= 1 && o.batch <= 1024, "--batch must be 1..1024");
  DS_CHECK_INPUT(o.size >= 32 && o.size <= 1024, "--size must be 32..1024");
  DS_CHECK_INPUT(o.rounds >= 1 && o.rounds <= 50, "--rounds must be 1..50");
}

std::vector<ConvTunedClass> tune_conv_blocking(const ConvTuneOptions& o,
                                               const std::function<void(const ConvTuneProgress&)>& progress) {
  check_conv_tune_options(o);
  const std::vector<ConvTuneShape> shapes = resnet18_conv_shapes(o.batch, o.size);
  const ConvPass passes[] = {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weights};
  const int total = (int)shapes.size() * 3 - 1;  // conv1's input gradient is never computed
  std::vector<ConvTunedClass> out;
  for (const ConvTuneShape& s : shapes) {
    Operands ops = make_operands(s.d);
    for (ConvPass pass : passes) {
      if (pass == ConvPass::backward_data && s.name == "conv1") continue;
      out.push_back(tune_class(s.d, pass, ops, o));
      if (progress) progress(ConvTuneProgress{&s, pass, &out.back(), (int)out.size(), total});
    }
  }
  return out;
}

namespace {

// d's direct convolution against its Winograd one, alternating in rounds after one untimed call
// of each; Winograd chosen when its median beats the direct one's by o.min_gain.
template <class Direct, class Wino>
WinogradChoice measure_choice(const ConvTuneOptions& o, const ConvDims& d, WinogradPass pass, Direct direct,
                              Wino wino) {
  std::vector<double> a, b;
  for (int r = -1; r < o.rounds; ++r) {
    const double ta = elapsed_ms(direct), tb = elapsed_ms(wino);
    if (r >= 0) a.push_back(ta), b.push_back(tb);
  }
  WinogradChoice c{d.C, d.OC, d.H, d.W, d.pad_h, d.N, false, median(b), median(a), pass};
  c.winograd = c.ms < c.direct_ms * (1 - o.min_gain);
  return c;
}

}  // namespace

namespace {

// For each 3x3 stride-1 shape, the fp32 direct `pass` (at the blocking `blockings` holds for its
// class, else the derived one) against its Winograd one: the forward, or the weight gradient.
std::vector<WinogradChoice> fp32_choices(
    const ConvTuneOptions& o, const std::vector<ConvTunedClass>& blockings, ConvPass pass,
    const std::function<void(const ConvTuneShape&, const WinogradChoice&)>& progress) {
  check_conv_tune_options(o);
  std::vector<WinogradChoice> out;
  for (const ConvTuneShape& s : resnet18_conv_shapes(o.batch, o.size)) {
    const ConvDims& d = s.d;
    if (!winograd_applies(d)) continue;
    ConvBlocking blocking = derived_conv_blocking();
    for (const ConvTunedClass& c : blockings)
      if (c.shape_class == conv_shape_class(d, pass)) blocking = c.blocking;
    Operands ops = make_operands(d);
    const bool fwd = pass == ConvPass::forward;
    const ConvWinogradWeights packed =
        fwd ? pack_conv_winograd(ops.w.data(), nullptr, d.C, d.OC) : ConvWinogradWeights{};
    // The direct forward as inference runs it: on weights packed once, not copied per call.
    const bool prepacked = fwd && conv_forward_prepacks(d);
    const ConvForwardWeights direct = prepacked ? pack_conv_forward(ops.w.data(), nullptr, d) : ConvForwardWeights{};
    set_conv_blocking_override(&blocking);
    out.push_back(measure_choice(
        o, d, fwd ? WinogradPass::forward : WinogradPass::wgrad,
        [&] {
          if (prepacked) conv2d_forward_packed(ops.y.data(), ops.x.data(), direct, d);
          else time_pass(d, pass, ops);
        },
        [&] {
          if (fwd) conv2d_forward_winograd(ops.y.data(), ops.x.data(), packed, d);
          else conv2d_backward_weights_winograd(ops.dw.data(), nullptr, ops.dy.data(), ops.x.data(), d);
        }));
    set_conv_blocking_override(nullptr);
    if (progress) progress(s, out.back());
  }
  return out;
}

}  // namespace

std::vector<WinogradChoice> tune_winograd(
    const ConvTuneOptions& o, const std::vector<ConvTunedClass>& blockings,
    const std::function<void(const ConvTuneShape&, const WinogradChoice&)>& progress) {
  return fp32_choices(o, blockings, ConvPass::forward, progress);
}

std::vector<WinogradChoice> tune_winograd_wgrad(
    const ConvTuneOptions& o, const std::vector<ConvTunedClass>& blockings,
    const std::function<void(const ConvTuneShape&, const WinogradChoice&)>& progress) {
  return fp32_choices(o, blockings, ConvPass::backward_weights, progress);
}

std::vector<WinogradChoice> tune_winograd_bf16(
    const ConvTuneOptions& o, const std::function<void(const ConvTuneShape&, const WinogradChoice&)>& progress) {
  check_conv_tune_options(o);
  std::vector<WinogradChoice> out;
  if (!has_bf16_kernels()) return out;
  for (const ConvTuneShape& s : resnet18_conv_shapes(o.batch, o.size)) {
    const ConvDims& d = s.d;
    if (!winograd_applies(d)) continue;
    Operands ops = make_operands(d);
    const ConvBf16Weights direct_w = pack_conv_bf16(ops.w.data(), nullptr, 3, 3, d.C, d.OC);
    const ConvWinogradBf16Weights wino_w = pack_conv_winograd_bf16(ops.w.data(), nullptr, d.C, d.OC);
    out.push_back(measure_choice(
        o, d, WinogradPass::bf16, [&] { conv2d_forward_bf16(ops.y.data(), ops.x.data(), direct_w, d); },
        [&] { conv2d_forward_winograd_bf16(ops.y.data(), ops.x.data(), wino_w, d); }));
    if (progress) progress(s, out.back());
  }
  return out;
}

}  // namespace ds
