// Rate and time left of a loop over items, for a one-line progress report on stderr. Minimal on
// purpose: `diagnose` needs "n/s, ETA" per slide, nothing more.
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

namespace ds {

class Eta {
 public:
  // Call when an item that took real work finishes (skipped items do not count: they would
  // make the rate look faster than the work left).
  void worked() { ++worked_; }
  // "0.25 slides/s, ETA 12 s" for `left` items still to do ("" before the first worked item).
  std::string text(size_t left, const char* unit) const {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (worked_ == 0 || secs <= 0) return "";
    const double rate = (double)worked_ / secs;
    const double eta = (double)left / rate;
    char buf[96];
    if (eta >= 3600)
      std::snprintf(buf, sizeof buf, "%.3g %s/s, ETA %dh%02dm", rate, unit, (int)(eta / 3600), (int)(eta / 60) % 60);
    else if (eta >= 60)
      std::snprintf(buf, sizeof buf, "%.3g %s/s, ETA %dm%02ds", rate, unit, (int)(eta / 60), (int)eta % 60);
    else std::snprintf(buf, sizeof buf, "%.3g %s/s, ETA %.0f s", rate, unit, eta);
    return buf;
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  size_t worked_ = 0;
};

}  // namespace ds
