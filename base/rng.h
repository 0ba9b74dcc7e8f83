// Seeded random numbers: xoshiro256** with SplitMix64 seeding. The whole state is four words
// so checkpoints can save and restore it exactly (bit-identical resume).
#pragma once
#include <array>
#include <cstdint>

namespace ds {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0x5eed) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  double uniform();                                 // [0, 1)
  float uniform(float lo, float hi);                // [lo, hi)
  uint64_t uniform_int(uint64_t n);                 // [0, n), unbiased
  float normal(float mean = 0.f, float std = 1.f);  // Box-Muller
  bool bernoulli(double p) { return uniform() < p; }
  // A new independent generator derived from this one's stream (for worker threads).
  Rng split();

  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

}  // namespace ds
