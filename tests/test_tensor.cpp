// Tensor storage/views, RNG determinism and the autograd tape.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>

#include "base/error.h"
#include "base/rng.h"
#include "engine/autograd.h"
#include "engine/tensor.h"

using namespace ds;

TEST_CASE("tensor is zeroed, aligned and views share storage") {
  Tensor t(Shape{2, 3, 4, 5});
  REQUIRE(t.numel() == 120);
  REQUIRE(((uintptr_t)t.data() % 64) == 0);
  REQUIRE(max_abs(t) == 0.0f);
  Tensor v = t.view(Shape{6, 20});
  v[7] = 3.5f;
  REQUIRE(t[7] == 3.5f);
  Tensor s = t.slice(1, 2);
  REQUIRE(s.shape() == Shape{1, 3, 4, 5});
  s[0] = 9.f;
  REQUIRE(t[60] == 9.f);
  Tensor c = t.clone();
  c[60] = 1.f;
  REQUIRE(t[60] == 9.f);
  REQUIRE_THROWS_AS(t.view(Shape{7, 7}), InternalError);
  REQUIRE_THROWS_AS(t.slice(1, 3), InternalError);
}

TEST_CASE("rng is deterministic and restorable") {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) REQUIRE(a.next_u64() == b.next_u64());
  auto st = a.state();
  double u = a.uniform();
  a.set_state(st);
  REQUIRE(a.uniform() == u);
  double sum = 0, sq = 0;
  Rng r(1);
  for (int i = 0; i < 20000; ++i) {
    float z = r.normal();
    sum += z;
    sq += z * z;
  }
  REQUIRE(std::abs(sum / 20000) < 0.05);
  REQUIRE(std::abs(sq / 20000 - 1.0) < 0.05);
  for (int i = 0; i < 1000; ++i) REQUIRE(r.uniform_int(7) < 7);
}

TEST_CASE("tape replays nodes in reverse and gradients accumulate") {
  Tape tape;
  VarPtr x = make_var(Tensor::full(Shape{1}, 2.f));
  VarPtr y = make_var(Tensor::full(Shape{1}, 4.f));  // y = x^2
  tape.push([x, y] { x->ensure_grad()[0] += 2 * x->value[0] * y->grad[0]; });
  VarPtr z = make_var(Tensor::full(Shape{1}, 12.f));  // z = 3y
  tape.push([y, z] { y->ensure_grad()[0] += 3 * z->grad[0]; });
  tape.backward(z);
  REQUIRE(x->grad[0] == Approx(12.f));
  REQUIRE(tape.size() == 0);
}

TEST_CASE("tape lets go of what a node saved once the node has run") {
  // An intermediate activation and its gradient are freed as soon as the last node holding it has
  // run, not when the whole backward pass ends (ResNet-50's training step held every activation
  // and every gradient at once: 3.3 GB peak at batch 16, 2.2 GB once freed as it goes).
  Tape tape;
  VarPtr x = make_var(Tensor::full(Shape{1}, 2.f));
  std::weak_ptr<Var> y_seen;
  bool y_gone = false;
  {
    VarPtr y = make_var(Tensor::full(Shape{1}, 4.f));  // y = x^2: the node that made y reads y's grad
    y_seen = y;
    tape.push([x, y, &y_gone, &y_seen] {
      x->ensure_grad()[0] += 2 * x->value[0] * y->grad[0];
      y_gone = y_seen.use_count() == 1;  // only this node still holds y
    });
    VarPtr z = make_var(Tensor::full(Shape{1}, 12.f));  // z = 3y
    tape.push([y, z] { y->ensure_grad()[0] += 3 * z->grad[0]; });
    y.reset();  // as a layer's forward returns: only the nodes hold y
    tape.backward(z);
  }
  REQUIRE(x->grad[0] == Approx(12.f));
  CHECK(y_gone);            // z's node had let go of y before y's own node ran
  CHECK(y_seen.expired());  // and that one after it
}

TEST_CASE("a node that throws leaves the tape empty, not half replayed") {
  Tape tape;
  VarPtr x = make_var(Tensor::full(Shape{1}, 1.f));
  tape.push([x] { x->ensure_grad()[0] += 1; });
  tape.push([] { throw std::runtime_error("node failed"); });
  tape.push([x] { x->ensure_grad()[0] += 1; });
  VarPtr loss = make_var(Tensor::full(Shape{1}, 0.f));
  REQUIRE_THROWS_AS(tape.backward(loss), std::runtime_error);
  CHECK(tape.size() == 0);
  CHECK(x->grad[0] == 1.f);  // the node after the failing one (replayed first) ran once
}
