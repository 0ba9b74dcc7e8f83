// The pieces of the overlapped gradient sum that one process can check (the sums across ranks
// are tests/test_mpi_buckets.py's): the tape tells a GradHook when each parameter's gradient is
// complete (after its last writer, a parameter written twice only after both); on ResNet-18
// every parameter is reported exactly once, and backward order matches the buckets' reverse
// model order well enough that every bucket starts during backward; the bucket layout for the
// edge sizes (one bucket, buckets smaller than a single tensor, 0 = one bucket); and a bucketed
// step alone leaves the gradients bit for bit as they were.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "base/rng.h"
#include "layers/layers.h"
#include "layers/resnet.h"
#include "train/grad_buckets.h"

using namespace ds;

namespace {

// Records what the tape reports, node by node (node 0 = the first replayed, the last pushed).
struct Recorder : GradHook {
  std::vector<std::vector<Param*>> nodes;
  void after_node(const std::vector<Param*>& completed) override { nodes.push_back(completed); }
};

// Forwards to the buckets and records, after each node, how many parameters had completed.
struct Counting : GradHook {
  GradHook* inner = nullptr;
  std::vector<std::string> order;
  void after_node(const std::vector<Param*>& completed) override {
    for (const Param* p : completed) order.push_back(p->name);
    inner->after_node(completed);
  }
};

// One training forward and backward of ResNet-18 on a fixed 32 px batch of 2.
void backward_once(ResNet& net, GradHook* hook) {
  Rng rng(9);
  Tensor x(Shape{2, 3, 32, 32});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  Tape tape;
  Context ctx{&tape, true};
  VarPtr in = make_var(x);
  in->needs_grad = false;
  VarPtr loss = softmax_cross_entropy(ctx, net.forward(ctx, in), {0, 1});
  tape.backward(loss, 1.0f, hook);
}

std::vector<std::string> all_names(const GradBuckets& b) {
  std::vector<std::string> out;
  for (size_t i = 0; i < b.size(); ++i)
    for (const std::string& n : b.names(i)) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("the tape reports a gradient complete after its last writer") {
  Param a("a", Shape{1}), b("b", Shape{1});
  Tape tape;
  VarPtr loss = make_var(Tensor::full(Shape{1}, 0.f));
  tape.push([] {}, {&a});           // replayed last: a's last writer
  tape.push([] {}, {});             // writes nothing
  tape.push([] {}, {&b, nullptr});  // an absent bias is left out
  tape.push([] {}, {&a});           // replayed first: a is still written by the first node
  Recorder r;
  tape.backward(loss, 1.0f, &r);
  REQUIRE(r.nodes.size() == 4);
  CHECK(r.nodes[0].empty());
  CHECK(r.nodes[1] == std::vector<Param*>{&b});
  CHECK(r.nodes[2].empty());
  CHECK(r.nodes[3] == std::vector<Param*>{&a});
  CHECK(tape.size() == 0);
}

TEST_CASE("ResNet-18's backward completes every parameter once, and every bucket starts in it") {
  Rng rng(3);
  ResNet net(Arch::resnet18, 2, rng);
  const ParamSet& ps = net.params();
  GradBuckets buckets(ps, 4'000'000);  // 4 MB: a dozen buckets
  REQUIRE(buckets.size() > 5);
  Counting c;
  c.inner = &buckets;
  backward_once(net, &c);
  std::multiset<std::string> seen(c.order.begin(), c.order.end()), want;
  for (const Param* p : ps.params) want.insert(p->name);
  CHECK(seen == want);
  CHECK(c.order[0].rfind("fc.", 0) == 0);  // the classifier first
  CHECK(c.order.back() == "conv1.weight");
  // Where in backward each bucket's last parameter completes: the first bucket early, so its sum
  // has the rest of backward to run in.
  std::vector<size_t> ready;
  for (size_t i = 0; i < buckets.size(); ++i) {
    size_t last = 0;
    for (const std::string& n : buckets.names(i))
      last = std::max(last, (size_t)(std::find(c.order.begin(), c.order.end(), n) - c.order.begin()));
    ready.push_back(last);
  }
  CHECK(ready.front() < c.order.size() / 4);
  buckets.finish();
  CHECK(buckets.started_in_backward() == buckets.size());
}

TEST_CASE("bucket layout: reverse model order, at most the size unless one tensor is larger") {
  Rng rng(3);
  ResNet net(Arch::resnet18, 2, rng);
  const ParamSet& ps = net.params();
  std::vector<std::string> reversed;
  int64_t total = 0, largest = 0;
  for (size_t i = ps.params.size(); i-- > 0;) {
    reversed.push_back(ps.params[i]->name);
    total += ps.params[i]->grad.numel() * 4;
    largest = std::max(largest, ps.params[i]->grad.numel() * (int64_t)4);
  }
  for (int64_t cap : {int64_t(1), int64_t(1000), int64_t(4'000'000), int64_t(25'000'000), total, total * 10}) {
    GradBuckets b(ps, cap);
    INFO("bucket size " << cap);
    CHECK(all_names(b) == reversed);
    int64_t sum = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      sum += b.bytes(i);
      if (b.names(i).size() > 1) CHECK(b.bytes(i) <= cap);
      // A bucket closes only when the next parameter would not fit.
      if (i + 1 < b.size()) {
        const std::string next = b.names(i + 1).front();
        int64_t next_bytes = 0;
        for (const Param* p : ps.params)
          if (p->name == next) next_bytes = p->grad.numel() * 4;
        CHECK(b.bytes(i) + next_bytes > cap);
      }
    }
    CHECK(sum == total);
    if (cap == 1) CHECK(b.size() == ps.params.size());  // smaller than any tensor: one each
    if (cap >= total) CHECK(b.size() == 1);
  }
  CHECK(GradBuckets(ps, 0).size() == 1);
  CHECK(GradBuckets(ps, largest - 1).size() > 1);
}

TEST_CASE("a bucketed step alone leaves the gradients bit for bit") {
  Rng rng(4);
  ResNet net(Arch::resnet18, 2, rng);
  backward_once(net, nullptr);
  std::map<std::string, std::vector<float>> before;
  for (const Param* p : net.params().params) before[p->name].assign(p->grad.data(), p->grad.data() + p->grad.numel());
  for (Param* p : net.params().params) std::memset(p->grad.data(), 0, (size_t)p->grad.numel() * 4);
  GradBuckets buckets(net.params(), 1000);
  backward_once(net, &buckets);
  buckets.finish();
  CHECK(buckets.started_in_backward() == buckets.size());
  for (const Param* p : net.params().params) {
    INFO(p->name);
    CHECK(std::memcmp(before[p->name].data(), p->grad.data(), (size_t)p->grad.numel() * 4) == 0);
  }
  // Without a hook every bucket starts in finish().
  buckets.finish();
  CHECK(buckets.started_in_backward() == 0);
}
