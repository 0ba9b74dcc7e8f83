// Unit tests of the training data path and checkpoints: the epoch order is a seeded permutation;
// loader batches do not depend on the number of worker threads and a loader started at batch b
// yields exactly the tail of a full pass (what exact resume relies on); augmentation changes
// training batches but not validation batches; an unreadable sample is left out of its batch and
// reported with it; normalization statistics do not depend on the thread count; checkpoint state
// round-trips exactly; the latest complete checkpoint is found.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/rng.h"
#include "scratch_dir.h"
#include "slide/reader/image_io.h"
#include "train/checkpoint.h"
#include "train/loader.h"
#include "train/norm_stats.h"

using namespace ds;
namespace fs = std::filesystem;

namespace {

// A folder of this process's own (runs of the test in other checkouts must not share it).
fs::path temp_dir(const std::string& name) { return ds::test::scratch_dir("test_train_loader_" + name); }

// n random 16x16 PNGs, alternating labels.
Dataset random_dataset(const fs::path& dir, int n) {
  Dataset d;
  d.classes = {"a", "b"};
  d.patch_size = 16;
  Rng rng(9);
  for (int i = 0; i < n; ++i) {
    RgbImage img(16, 16);
    for (uint8_t& v : img.pixels) v = (uint8_t)rng.uniform_int(256);
    const std::string p = (dir / ("p" + std::to_string(i) + ".png")).string();
    save_png(p, img, false);
    d.files.push_back(p);
    Sample s;
    s.file = i;
    s.label = i % 2;
    d.train.push_back(s);
  }
  return d;
}

std::vector<Batch> all_batches(const Dataset& d, const LoaderOptions& o, int64_t epoch, int64_t first) {
  Loader l(d, d.train, o, epoch, first);
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

bool same(const Batch& a, const Batch& b) {
  return a.labels == b.labels && a.x.shape() == b.x.shape() &&
         std::equal(a.x.data(), a.x.data() + a.x.numel(), b.x.data());
}

}  // namespace

TEST_CASE("epoch order is a seeded permutation") {
  auto a = epoch_order(100, 1, 1, true);
  auto b = epoch_order(100, 1, 1, true);
  auto c = epoch_order(100, 1, 2, true);
  auto d = epoch_order(100, 2, 1, true);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);
  auto s = a;
  std::sort(s.begin(), s.end());
  CHECK(s == epoch_order(100, 1, 1, false));
}

TEST_CASE("batches per epoch drop a last batch of one sample") {
  LoaderOptions o;
  o.batch_size = 8;
  CHECK(batches_per_epoch(16, o) == 2);
  CHECK(batches_per_epoch(17, o) == 2);
  CHECK(batches_per_epoch(18, o) == 3);
  o.drop_singleton = false;
  CHECK(batches_per_epoch(17, o) == 3);
}

TEST_CASE("loader batches do not depend on workers; a late start yields the tail") {
  const fs::path dir = temp_dir("det");
  const Dataset d = random_dataset(dir, 22);
  LoaderOptions o;
  o.batch_size = 4;
  o.mean = {0.5f, 0.5f, 0.5f};
  o.std = {0.25f, 0.25f, 0.25f};
  o.seed = 42;
  o.workers = 1;
  const auto ref = all_batches(d, o, 3, 0);
  REQUIRE(ref.size() == 6);
  CHECK(ref.back().labels.size() == 2);
  o.workers = 3;
  o.queue_batches = 1;
  const auto par = all_batches(d, o, 3, 0);
  REQUIRE(par.size() == ref.size());
  for (size_t i = 0; i < ref.size(); ++i) CHECK(same(ref[i], par[i]));
  const auto tail = all_batches(d, o, 3, 4);
  REQUIRE(tail.size() == 2);
  CHECK(same(tail[0], ref[4]));
  CHECK(same(tail[1], ref[5]));
  // Another epoch: another order and other augmentations.
  const auto other = all_batches(d, o, 4, 0);
  CHECK_FALSE(same(other[0], ref[0]));
  // Without augmentation the identity order gives the plain normalized images.
  o.augment = false;
  const auto plain = all_batches(d, o, 3, 0);
  const RgbImage img = load_image(d.files[0]);
  CHECK(plain[0].labels[0] == 0);
  CHECK(plain[0].x[0] == Approx((img.pixels[0] / 255.0f - 0.5f) / 0.25f));
  fs::remove_all(dir);
}

TEST_CASE("an unreadable sample is left out of its batch and reported with it") {
  const fs::path dir = temp_dir("err");
  Dataset d = random_dataset(dir, 8);
  const RgbImage img4 = load_image(d.files[4]);
  fs::remove(d.files[5]);
  LoaderOptions o;
  o.batch_size = 2;
  o.augment = false;
  o.mean = {0, 0, 0};
  o.std = {1, 1, 1};
  for (int workers : {1, 3}) {
    o.workers = workers;
    const auto b = all_batches(d, o, 1, 0);
    REQUIRE(b.size() == 4);
    for (int i : {0, 1, 3}) {
      CHECK(b[(size_t)i].labels.size() == 2);
      CHECK(b[(size_t)i].failed.empty());
    }
    CHECK(b[2].x.size(0) == 1);
    CHECK(b[2].labels == std::vector<int>{0});
    CHECK(b[2].x[0] == Approx(img4.pixels[0] / 255.0f));
    REQUIRE(b[2].failed.size() == 1);
    CHECK(b[2].failed[0].sample == 5);
    CHECK(b[2].failed[0].reason.find(d.files[5]) != std::string::npos);
  }
  // The normalization sample leaves it out too, and says which it was.
  const NormStats ns = compute_norm_stats(d, 2000, 2);
  CHECK(ns.patches == 7);
  REQUIRE(ns.failed.size() == 1);
  CHECK(ns.failed[0].first == 5);
  // An image that changed size since it was checked is unreadable too (not a buffer overrun).
  save_png(d.files[5], RgbImage(8, 16), false);
  const auto b = all_batches(d, o, 1, 0);
  REQUIRE(b[2].failed.size() == 1);
  CHECK(b[2].failed[0].reason.find("8x16, expected 16x16") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("normalization statistics do not depend on threads") {
  const fs::path dir = temp_dir("norm");
  const Dataset d = random_dataset(dir, 10);
  const NormStats a = compute_norm_stats(d, 2000, 1);
  const NormStats b = compute_norm_stats(d, 2000, 2);
  CHECK(a.patches == 10);
  for (int c = 0; c < 3; ++c) {
    CHECK(a.mean[c] == b.mean[c]);
    CHECK(a.std[c] == b.std[c]);
    CHECK(a.mean[c] == Approx(0.5).margin(0.03));  // uniform bytes
    CHECK(a.std[c] == Approx(1.0 / std::sqrt(12.0)).margin(0.03));
  }
  CHECK(compute_norm_stats(d, 3, 1).patches == 3);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint state round-trips exactly and the latest complete checkpoint is found") {
  const fs::path dir = temp_dir("ckpt");
  Model m = make_model(Arch::resnet18, {"x", "y"}, 3, 32, {0.1f, 0.2f, 0.3f}, {0.4f, 0.5f, 0.6f});
  Adam opt(m.net->params(), AdamOptions{});
  for (Param* p : m.net->params().params) p->grad.fill(0.01f);
  opt.step();
  TrainState st;
  st.epochs_done = 2;
  st.batch = 7;
  st.sched_epoch = 2;
  st.loss_sum = 1.0 / 3.0;
  st.correct = 5;
  st.seen = 9;
  st.epoch_seconds = 12.25;
  st.best_epoch = 2;
  st.best_val_acc = 0.875;
  st.best_path = "resnet18_e2_va0.8750.safetensors";
  st.log_csv = "epoch,train_loss\n1,0.5\n";
  st.unreadable = {{"/s/a.tif", "x=32 y=64", "level 0 tile (1, 2): corrupt JPEG data (x: y)"}, {"/p/b.png", "", "bad"}};
  st.optimizer = opt.state();
  st.config = {{"--lr", "0.001"}, {"data", "folder:/x,n=3/4"}};
  const std::string mid = (dir / "resnet18_e3_b7.safetensors").string();
  write_checkpoint(mid, m, st);
  const Checkpoint c = read_checkpoint(mid);
  CHECK(c.state.loss_sum == st.loss_sum);
  CHECK(c.state.log_csv == st.log_csv);
  CHECK(c.state.config == st.config);
  CHECK(c.state.batch == 7);
  CHECK(c.state.best_path == st.best_path);
  REQUIRE(c.state.unreadable.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(c.state.unreadable[i].file == st.unreadable[i].file);
    CHECK(c.state.unreadable[i].where == st.unreadable[i].where);
    CHECK(c.state.unreadable[i].reason == st.unreadable[i].reason);
  }
  CHECK(c.state.optimizer.step == 1);
  REQUIRE(c.state.optimizer.names == st.optimizer.names);
  for (size_t i = 0; i < st.optimizer.tensors.size(); ++i)
    CHECK(max_abs_diff(c.state.optimizer.tensors[i], st.optimizer.tensors[i]) == 0.0f);
  CHECK(c.model.mean == m.mean);

  CHECK(latest_checkpoint(dir.string()) == mid);
  // An end-of-epoch checkpoint of an earlier epoch, and a model file whose state never got written.
  fs::copy_file(mid, dir / "resnet18_e2_va0.8750.safetensors");
  fs::copy_file(state_path_for(mid), dir / "resnet18_e2_va0.8750.state.safetensors");
  fs::copy_file(mid, dir / "resnet18_e3_b9.safetensors");
  CHECK(latest_checkpoint(dir.string()) == mid);
  fs::copy_file(mid, dir / "resnet18_e3_va0.9000.safetensors");
  fs::copy_file(state_path_for(mid), dir / "resnet18_e3_va0.9000.state.safetensors");
  CHECK(latest_checkpoint(dir.string()) == (dir / "resnet18_e3_va0.9000.safetensors").string());

  CHECK_THROWS_WITH(check_config("s", st.config, {{"--lr", "0.01"}, {"data", "folder:/x,n=3/4"}}),
                    Catch::Contains("--lr") && Catch::Contains("s:"));
  CHECK_NOTHROW(check_config("s", st.config, st.config));
  fs::remove_all(dir);
}

TEST_CASE("batch shares of the ranks are contiguous, balanced, in rank order and cover the batch") {
  for (int ranks = 1; ranks <= 5; ++ranks)
    for (int min_share = 1; min_share <= 2; ++min_share)
      for (int64_t n = 1; n <= 23; ++n) {
        int64_t next = 0, smallest = n, largest = 0, given = 0;
        for (int r = 0; r < ranks; ++r) {
          const auto [lo, hi] = batch_share(n, ranks, r, min_share);
          if (hi == lo) continue;
          REQUIRE(lo == next);  // the slices, concatenated in rank order, are the batch
          next = hi;
          smallest = std::min(smallest, hi - lo);
          largest = std::max(largest, hi - lo);
          ++given;
        }
        REQUIRE(next == n);
        REQUIRE(largest - smallest <= 1);
        // As many ranks as can each get min_share samples (one at least).
        REQUIRE(given == std::clamp<int64_t>(n / min_share, 1, ranks));
        if (n >= min_share) REQUIRE(smallest >= min_share);
      }
  CHECK(batch_share(16, 2, 1, 2) == std::pair<int64_t, int64_t>{8, 16});
  CHECK(batch_share(3, 2, 1, 2) == std::pair<int64_t, int64_t>{3, 3});  // one rank of 3, not 1 + 2
}
