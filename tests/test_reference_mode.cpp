// Reference mode (DEEPSLIDE_ISA=ref, engine/cpu_features.h) against the fast kernels, on a
// ResNet-18 (batch 2, 64 x 64): a few SGD training steps, each run on both paths from the same
// weights (lockstep, then the fast pass's step is taken), and an evaluation forward. The loss,
// the logits, every parameter gradient, the BN running statistics and the evaluation logits
// must agree within 1e-4, relative to each tensor's largest magnitude.
// The paths round differently (float sums against double), so a ReLU input or a max-pool
// candidate within ~1e-6 of its rival can decide the other way: the forward values still agree,
// but the gradient of that one element moves to another path and every gradient before it
// differs by far more than 1e-4. Such a flip is rare and a property of the weights and batch,
// not of the kernels; a kernel bug shows on every seed. So the gradients must agree on the first
// seed of a few that has no flip; the forward values on all of them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/rng.h"
#include "engine/cpu_features.h"
#include "layers/layers.h"
#include "layers/resnet.h"
#include "test_util.h"
#include "train/optimizer.h"

using namespace ds;
using namespace ds::test;

namespace {

constexpr int64_t kBatch = 2, kSize = 64, kSteps = 2;
constexpr int kClasses = 3;
constexpr double kTol = 1e-4;
constexpr uint64_t kSeeds[] = {7, 8, 9};

// What one forward and backward pass gives.
struct Pass {
  float loss = 0;
  Tensor logits;
  std::vector<Tensor> grads;    // per parameter
  std::vector<Tensor> buffers;  // BN running statistics after the pass
};

// A training-mode forward and backward of net on path isa; leaves the gradients zero and the
// running statistics as they were.
Pass forward_backward(ResNet& net, const Tensor& x, const std::vector<int>& labels, Isa isa) {
  force_isa(isa);
  const ParamSet& ps = net.params();
  std::vector<Tensor> before;
  for (const Buffer* b : ps.buffers) before.push_back(b->value.clone());
  Tape tape;
  Context ctx{&tape, true};
  VarPtr input = make_var(x);
  input->needs_grad = false;
  VarPtr logits = net.forward(ctx, input);
  VarPtr loss = softmax_cross_entropy(ctx, logits, labels);
  tape.backward(loss);
  Pass r;
  r.loss = loss->value[0];
  r.logits = logits->value.clone();
  for (Param* p : ps.params) r.grads.push_back(p->grad.clone());
  for (size_t i = 0; i < ps.buffers.size(); ++i) {
    r.buffers.push_back(ps.buffers[i]->value.clone());
    ps.buffers[i]->value.copy_from(before[i]);
  }
  zero_grads(ps);
  return r;
}

// The steps and the evaluation forward from seed `seed`: checks the forward values (CHECK) and
// returns the largest relative error of any gradient.
double lockstep_run(uint64_t seed, Isa best) {
  Rng rng(seed);
  ResNet net(Arch::resnet18, kClasses, rng);
  Tensor x(Shape{kBatch, 3, kSize, kSize});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  std::vector<int> labels;
  for (int64_t n = 0; n < kBatch; ++n) labels.push_back((int)(n % kClasses));
  SgdOptions so;
  so.lr = 0.01;
  Sgd opt(net.params(), so);
  const ParamSet& ps = net.params();
  double worst_grad = 0, worst_buffer = 0;
  std::string worst_name;
  for (int64_t step = 0; step < kSteps; ++step) {
    const Pass ref = forward_backward(net, x, labels, Isa::ref);
    const Pass fast = forward_backward(net, x, labels, best);
    INFO("seed " << seed << ", step " << step);
    CHECK(std::fabs(ref.loss - fast.loss) <= kTol * std::fabs(fast.loss));
    CHECK(rel_err(ref.logits, fast.logits) <= kTol);
    for (size_t i = 0; i < ps.params.size(); ++i) {
      const double e = rel_err(ref.grads[i], fast.grads[i]);
      if (e > worst_grad) worst_grad = e, worst_name = ps.params[i]->name;
    }
    for (size_t i = 0; i < ps.buffers.size(); ++i) {
      const double e = rel_err(ref.buffers[i], fast.buffers[i]);
      INFO(ps.buffers[i]->name << " rel err " << e);
      CHECK(e <= kTol);
      worst_buffer = std::max(worst_buffer, e);
    }
    // The fast pass's gradients and running statistics make the step.
    for (size_t i = 0; i < ps.params.size(); ++i) ps.params[i]->grad.copy_from(fast.grads[i]);
    for (size_t i = 0; i < ps.buffers.size(); ++i) ps.buffers[i]->value.copy_from(fast.buffers[i]);
    opt.step();
    opt.zero_grad();
  }
  Context eval;
  force_isa(Isa::ref);
  const Tensor eval_ref = net.forward(eval, make_var(x))->value.clone();
  force_isa(best);
  const Tensor eval_fast = net.forward(eval, make_var(x))->value.clone();
  const double e_eval = rel_err(eval_ref, eval_fast);
  INFO("seed " << seed);
  CHECK(e_eval <= kTol);
  std::printf(
      "seed %d, ref vs %s over %d steps: worst gradient rel err %.3g (%s), running "
      "stats %.3g, eval logits %.3g\n",
      (int)seed, isa_name(best), (int)kSteps, worst_grad, worst_name.c_str(), worst_buffer, e_eval);
  return worst_grad;
}

}  // namespace

TEST_CASE("reference mode trains and evaluates a ResNet-18 as the fast kernels do") {
  const Isa best = cpu_isa();
  REQUIRE(best != Isa::ref);
  double best_grad = 1e30;
  for (uint64_t seed : kSeeds) {
    best_grad = std::min(best_grad, lockstep_run(seed, best));
    if (best_grad <= kTol) break;
  }
  force_isa(best);
  CHECK(best_grad <= kTol);
}
