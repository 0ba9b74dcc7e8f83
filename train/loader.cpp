// Loader threads (see loader.h): workers claim batch numbers in order, build them outside the
// lock and park them in a map; the consumer takes them strictly in order.
#include "train/loader.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "base/rng.h"
#include "train/stain_fit.h"
#include "weights/model.h"
#include "weights/model_forward.h"

namespace ds {

namespace {
constexpr uint64_t kStainAugSalt = 0x484544ull << 40;  // "HED"
uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) { return splitmix(splitmix(splitmix(a) ^ b) ^ c); }

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order((size_t)n);
  for (int64_t i = 0; i < n; ++i) order[(size_t)i] = i;
  if (!shuffle) return order;
  Rng rng(mix_seed(seed, 0x6f72646572ull, (uint64_t)epoch));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[(size_t)i], order[rng.uniform_int((uint64_t)i + 1)]);
  return order;
}

int64_t batches_per_epoch(int64_t n, const LoaderOptions& opt) {
  int64_t b = (n + opt.batch_size - 1) / opt.batch_size;
  if (opt.drop_singleton && b > 0 && n % opt.batch_size == 1 && n > 1) --b;
  return b;
}

std::pair<int64_t, int64_t> batch_share(int64_t n, int ranks, int rank, int min_share) {
  const int64_t k = std::clamp<int64_t>(n / std::max(1, min_share), 1, std::max(1, ranks));
  if (rank >= k) return {n, n};
  return {rank * n / k, (rank + 1) * n / k};
}

Loader::Loader(const Dataset& data, const std::vector<Sample>& samples, const LoaderOptions& opt, int64_t epoch,
               int64_t first_batch)
    : data_(data), samples_(samples), opt_(opt), epoch_(epoch) {
  order_ = epoch_order((int64_t)samples.size(), opt.seed, epoch, opt.augment);
  num_batches_ = batches_per_epoch((int64_t)samples.size(), opt);
  next_build_ = next_take_ = std::min(first_batch, num_batches_);
  const int workers = std::max(1, opt.workers);
  ahead_ = std::max<int64_t>(opt.queue_batches, workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

Batch Loader::build(int64_t b) const {
  const int64_t first = b * opt_.batch_size;
  const int64_t n = std::min<int64_t>((int64_t)samples_.size(), first + opt_.batch_size) - first;
  const auto [lo, hi] = batch_share(n, opt_.ranks, opt_.rank, opt_.min_share);
  const int64_t begin = first + lo, end = first + hi;
  const int64_t P = data_.patch_size;
  Batch out;
  out.share = end - begin;
  out.x = Tensor::empty(Shape{end - begin, 3, P, P});
  for (int64_t pos = begin; pos < end; ++pos) {
    const int64_t idx = order_[(size_t)pos];
    const Sample& s = samples_[(size_t)idx];
    RgbImage img;
    try {
      img = data_.read(s);
    } catch (const InputError& e) {
      out.failed.push_back({idx, e.what()});
      continue;
    }
    normalize_sample_stain(img, s, opt_.stain, opt_.slide_stains);
    if (opt_.augment && opt_.stain_aug.kind != StainAug::none) {
      Rng stain_rng(mix_seed(opt_.seed ^ kStainAugSalt, (uint64_t)epoch_, (uint64_t)pos));
      apply_stain_jitter(img, draw_stain_jitter(opt_.stain_aug, stain_rng));
    }
    if (opt_.augment) {
      Rng rng(mix_seed(opt_.seed, (uint64_t)epoch_, (uint64_t)pos));
      augment(img, opt_.aug, rng);
    }
    normalize_patch(out.x.data() + (int64_t)out.labels.size() * 3 * P * P, img, opt_.mean, opt_.std);
    out.labels.push_back(s.label);
  }
  if (!out.failed.empty()) out.x = out.x.slice(0, (int64_t)out.labels.size());  // unreadable ones dropped
  return out;
}

void Loader::work() {
  for (;;) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || error_ || next_build_ >= num_batches_ || next_build_ < next_take_ + ahead_; });
      if (stop_ || error_ || next_build_ >= num_batches_) return;
      b = next_build_++;
    }
    try {
      Batch batch = build(b);
      std::lock_guard<std::mutex> lk(mu_);
      ready_.emplace(b, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

bool Loader::next(Batch& out) {
  std::unique_lock<std::mutex> lk(mu_);
  if (next_take_ >= num_batches_) return false;
  const auto t0 = std::chrono::steady_clock::now();
  cv_.wait(lk, [&] { return error_ || ready_.count(next_take_); });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!ready_.count(next_take_)) std::rethrow_exception(error_);
  auto it = ready_.find(next_take_);
  out = std::move(it->second);
  ready_.erase(it);
  ++next_take_;
  lk.unlock();
  cv_.notify_all();
  return true;
}

}  // namespace ds
