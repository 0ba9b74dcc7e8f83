// Shared test helpers: the deterministic weight formula of scripts/gen_fixtures.py (bit-exact
// C++ twin), a reader for the parity fixtures (tests/fixtures/parity: index.json + data.f32) and
// the relative error used in every parity check:
//   rel_err(ours, torch) = max|ours - torch| / max|torch| over the whole tensor.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"
#include "layers/layers.h"
#include "layers/module.h"
#include "layers/resnet.h"

namespace ds::test {

// ---- the formula (see scripts/gen_fixtures.py's docstring) ----

inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline uint64_t hash64(uint64_t stream, uint64_t i) { return mix64(mix64(stream) ^ i); }
// Exactly representable float in [-1, 1).
inline float formula_u(uint64_t stream, uint64_t i) { return (float)(hash64(stream, i) >> 40) * 0x1.0p-23f - 1.0f; }

// Fills t with the value the generator gives the state_dict tensor `name` (fc_in: fc's
// in_features, used only for "fc.*").
inline void fill_formula(Tensor& t, const std::string& name, uint64_t stream, int64_t fc_in = 0) {
  const int64_t n = t.numel();
  float* p = t.data();
  auto ends_with = [&](const char* s) { return name.ends_with(s); };
  if (name.rfind("fc.", 0) == 0) {
    const float scale = (float)(1.0 / std::sqrt((double)fc_in));
    for (int64_t i = 0; i < n; ++i) p[i] = formula_u(stream, i) * scale;
  } else if (t.dim() == 4) {
    const float scale = (float)std::sqrt(6.0 / (double)(t.size(0) * t.size(2) * t.size(3)));
    for (int64_t i = 0; i < n; ++i) p[i] = formula_u(stream, i) * scale;
  } else if (ends_with("running_var")) {
    for (int64_t i = 0; i < n; ++i) p[i] = 1.0f + formula_u(stream, i) * 0.5f;
  } else if (ends_with("running_mean")) {
    for (int64_t i = 0; i < n; ++i) p[i] = formula_u(stream, i) * 0.125f;
  } else if (ends_with("weight")) {
    for (int64_t i = 0; i < n; ++i) p[i] = 1.0f + formula_u(stream, i) * 0.25f;
  } else {
    for (int64_t i = 0; i < n; ++i) p[i] = formula_u(stream, i) * 0.125f;
  }
}

// Plain uniform input in [-1, 1) from a stream.
inline Tensor formula_tensor(const Shape& s, uint64_t stream) {
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = formula_u(stream, (uint64_t)i);
  return t;
}

// ---- errors ----

// A NaN on one side only is an infinite error (std::max would drop it, so an all-NaN result
// compared 0 against anything); NaN on both sides at one element agrees (NaN propagated, as the
// reference does).
inline double rel_err(const float* ours, const float* ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(ours[i]) || std::isnan(ref[i])) {
      if (std::isnan(ours[i]) != std::isnan(ref[i])) return INFINITY;
      continue;
    }
    num = std::max(num, std::fabs((double)ours[i] - (double)ref[i]));
    den = std::max(den, std::fabs((double)ref[i]));
  }
  if (den == 0) return num == 0 ? 0.0 : INFINITY;
  return num / den;
}
inline double rel_err(const Tensor& ours, const Tensor& ref) {
  if (ours.numel() != ref.numel())
    throw std::runtime_error("rel_err: sizes differ " + ours.shape().str() + " vs " + ref.shape().str());
  return rel_err(ours.data(), ref.data(), ref.numel());
}
inline double rel_err(const std::vector<float>& ours, const std::vector<float>& ref) {
  if (ours.size() != ref.size()) throw std::runtime_error("rel_err: sizes differ");
  return rel_err(ours.data(), ref.data(), (int64_t)ref.size());
}

// ---- fixture reader ----

class Fixtures {
 public:
  explicit Fixtures(const std::string& dir) {
    std::ifstream jf(dir + "/index.json");
    if (!jf) throw std::runtime_error("cannot open " + dir + "/index.json");
    doc = nlohmann::json::parse(jf);
    std::ifstream bf(dir + "/data.f32", std::ios::binary | std::ios::ate);
    if (!bf) throw std::runtime_error("cannot open " + dir + "/data.f32");
    const std::streamsize bytes = bf.tellg();
    bf.seekg(0);
    data_.resize((size_t)bytes / 4);
    bf.read(reinterpret_cast<char*>(data_.data()), bytes);  // little-endian host assumed (x86-64)
  }

  bool has(const std::string& key) const { return doc["tensors"].contains(key); }

  // The stored array as a Tensor with its stored shape ([] is read as [1]).
  Tensor get(const std::string& key) const {
    if (!has(key)) throw std::runtime_error("fixture has no tensor '" + key + "'");
    const auto& e = doc["tensors"][key];
    const int64_t off = e["offset"].get<int64_t>(), count = e["count"].get<int64_t>();
    if (off < 0 || off + count > (int64_t)data_.size())
      throw std::runtime_error("fixture tensor '" + key + "' out of range");
    std::vector<int64_t> dims = e["shape"].get<std::vector<int64_t>>();
    if (dims.empty()) dims.push_back(1);
    return Tensor::from_data(Shape(dims), data_.data() + off);
  }

  int full_limit() const { return doc["full_limit"].get<int>(); }
  int samples() const { return doc["samples"].get<int>(); }
  uint64_t sample_stream() const { return doc["sample_stream"].get<uint64_t>(); }

  nlohmann::json doc;

 private:
  std::vector<float> data_;
};

// Gradients and buffers of more than full_limit elements are stored as samples at these positions.
inline std::vector<int64_t> sample_positions(const Fixtures& fx, uint64_t stream, int64_t n) {
  std::vector<int64_t> pos((size_t)fx.samples());
  for (size_t k = 0; k < pos.size(); ++k) pos[k] = (int64_t)(hash64(fx.sample_stream() + stream, k) % (uint64_t)n);
  return pos;
}

// Comparison of a (possibly sampled) tensor against key or key@sample, plus its stats
// [L2, sum, L1, max|.|] at key@stats. Returns the largest of: the elementwise rel_err, the
// relative error of the L2 norm and of max|.|, and |sum difference| / L1.
struct SampledCompare {
  double elem = 0, l2 = 0, sum = 0, maxabs = 0;
  double worst() const { return std::max(std::max(elem, l2), std::max(sum, maxabs)); }
};
inline SampledCompare compare_sampled(const Fixtures& fx, const std::string& key, const Tensor& ours, uint64_t stream) {
  SampledCompare r;
  const int64_t n = ours.numel();
  if (n <= fx.full_limit()) {
    r.elem = rel_err(ours, fx.get(key));
  } else {
    Tensor ref = fx.get(key + "@sample");
    std::vector<int64_t> pos = sample_positions(fx, stream, n);
    std::vector<float> mine(pos.size());
    for (size_t k = 0; k < pos.size(); ++k) mine[k] = ours[pos[k]];
    r.elem = rel_err(mine.data(), ref.data(), (int64_t)pos.size());
  }
  Tensor st = fx.get(key + "@stats");
  double l2 = 0, sum = 0, l1 = 0, mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = ours[i];
    l2 += v * v;
    sum += v;
    l1 += std::fabs(v);
    mx = std::max(mx, std::fabs(v));
  }
  l2 = std::sqrt(l2);
  auto rel = [](double a, double b) { return b == 0 ? std::fabs(a) : std::fabs(a - b) / std::fabs(b); };
  r.l2 = rel(l2, st[0]);
  r.sum = st[2] == 0 ? std::fabs(sum) : std::fabs(sum - (double)st[1]) / (double)st[2];
  r.maxabs = rel(mx, st[3]);
  return r;
}

// Sets every parameter and buffer of ps from the formula, using the model entry of the fixture
// index (names, shapes, streams). Throws if a name is missing or a shape differs.
inline void load_formula(const Fixtures& fx, const std::string& model, const ParamSet& ps, int64_t fc_in = 0) {
  // The formula numbers PyTorch's layout: parameters are filled in their file layout.
  std::map<std::string, Param*> params;
  std::map<std::string, Tensor*> buffers;
  for (Param* p : ps.params) params[p->name] = p;
  for (Buffer* b : ps.buffers) buffers[b->name] = &b->value;
  for (const auto& e : fx.doc["models"][model]["tensors"]) {
    const std::string name = e["name"].get<std::string>();
    const Param* p = params.count(name) ? params[name] : nullptr;
    Tensor* dst = p ? &params[name]->value : buffers.count(name) ? buffers[name] : nullptr;
    if (!dst) throw std::runtime_error("model has no tensor " + name);
    Shape s(e["shape"].get<std::vector<int64_t>>());
    const Shape have = p ? file_shape(*p) : dst->shape();
    if (have != s) throw std::runtime_error(name + ": shape " + have.str() + " vs " + s.str());
    Tensor t(s);
    fill_formula(t, name, e["stream"].get<uint64_t>(), fc_in);
    if (p) from_file_layout(*p, t.data(), *dst);
    else dst->copy_from(t);
  }
}

// The parity fixtures, loaded once per test executable.
inline const Fixtures& parity_fixtures() {
  static Fixtures fx(std::string(DS_FIXTURES) + "/parity");
  return fx;
}

// The fixtures' ResNet-18 (3 classes) with formula weights, its input batch and labels.
struct ParityResNet18 {
  ResNet net{Arch::resnet18, 3};
  Tensor x;
  std::vector<int> labels;
  ParityResNet18() {
    const auto& m = parity_fixtures().doc["models"]["resnet18"];
    load_formula(parity_fixtures(), "resnet18", net.params(), 512);
    x = formula_tensor(Shape(m["input_shape"].get<std::vector<int64_t>>()), m["input_stream"].get<uint64_t>());
    labels = m["labels"].get<std::vector<int>>();
  }
  // Training-mode forward and backward (gradients accumulate); returns the loss variable and
  // hands back the input and logits variables.
  VarPtr train_step(VarPtr& input, VarPtr& logits) {
    Tape tape;
    Context ctx{&tape, true};
    input = make_var(x.clone());
    logits = net.forward(ctx, input);
    VarPtr loss = softmax_cross_entropy(ctx, logits, labels);
    tape.backward(loss);
    return loss;
  }
};

}  // namespace ds::test
