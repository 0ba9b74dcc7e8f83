// The progress line: counters are atomics so add() from many threads costs an atomic add and a
// clock read; whoever finds a line due takes the mutex (try_lock: a busy printer is not waited
// for) and prints it.
#include "base/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

namespace ds {

namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

ProgressStyle ProgressStyle::for_stderr(bool quiet) {
  ProgressStyle s;
  if (quiet) return s;
  s.out = stderr;
  s.redraw = isatty(STDERR_FILENO) == 1;
  s.interval_seconds = s.redraw ? 0.2 : 15.0;
  if (const char* env = std::getenv("DEEPSLIDE_PROGRESS_INTERVAL")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    if (end != env && std::isfinite(v) && v >= 0) s.interval_seconds = v;
  }
  return s;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "?";
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

ItemEta::ItemEta() : start_(steady_seconds()) {}

std::string ItemEta::text(size_t left, const char* unit) const {
  const double secs = steady_seconds() - start_;
  if (worked_ == 0 || secs <= 0) return "";
  const double rate = (double)worked_ / secs;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g %s/s, ETA ", rate, unit);
  return buf + format_duration((double)left / rate);
}

double Progress::now() const { return steady_seconds() - start_; }

Progress::Progress(std::string job, int64_t items, std::string unit, ProgressStyle style)
    : job_(std::move(job)), unit_(std::move(unit)), items_(items), style_(style) {
  start_ = steady_seconds();
}

Progress::~Progress() {
  std::lock_guard<std::mutex> lk(mu_);
  if (style_.out && line_open_) {
    std::fputs("\n", style_.out);
    std::fflush(style_.out);
  }
}

void Progress::set_items(int64_t items) {
  std::lock_guard<std::mutex> lk(mu_);
  items_ = items;
}

void Progress::phase(int64_t item, const std::string& name, const std::string& phase, int64_t total, int64_t done,
                     bool run_steps) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    end_phase_locked();
    phase_run_steps_ = run_steps;
    if (!work_started_) {
      work_started_ = true;
      work_start_ = now();
      items_at_work_start_ = items_done_;
    }
    item_ = item;
    name_ = name;
    phase_ = phase;
    total_ = total;
    resumed_ = done;
    phase_start_ = now();
    done_ = done;
  }
  maybe_print(!printed_ || style_.redraw);
}

void Progress::end_phase_locked() {
  if (phase_run_steps_ && !phase_.empty()) run_step_seconds_ += now() - phase_start_;
  phase_.clear();
}

void Progress::add(int64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  if (phase_run_steps_) run_steps_.fetch_add(n, std::memory_order_relaxed);
  if (style_.out && now() >= next_print_.load(std::memory_order_relaxed)) maybe_print(false);
}

void Progress::item_done() {
  std::lock_guard<std::mutex> lk(mu_);
  end_phase_locked();
  ++items_done_;
  last_item_done_ = now();
  total_ = 0;
  done_ = 0;
}

void Progress::print(const std::string& line) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!style_.out) return;
  if (line_open_) std::fputs("\r\033[K", style_.out);
  line_open_ = false;
  std::fputs((line + "\n").c_str(), style_.out);
  std::fflush(style_.out);
}

std::string Progress::status() const {
  std::lock_guard<std::mutex> lk(mu_);
  return status_locked();
}

std::string Progress::status_locked() const {
  const double t = now();
  const int64_t done = done_.load(std::memory_order_relaxed);
  std::string s = job_ + ": " + std::to_string(item_ + 1) + "/" + std::to_string(items_) + " " + name_ + ": " + phase_ +
                  " " + std::to_string(done);
  const double dt = t - phase_start_;
  const double rate = dt > 0 ? (double)(done - resumed_) / dt : 0;
  if (total_ > 0) {
    s += "/" + std::to_string(total_) + " " + unit_ + " (" + fixed(100.0 * (double)done / (double)total_, 0) + "%)";
  } else {
    s += " " + unit_;
  }
  s += ", " + fixed(rate, rate < 10 ? 1 : 0) + " " + unit_ + "/s";
  if (total_ > 0 && rate > 0) s += ", ETA " + format_duration((double)(total_ - done) / rate);
  const int64_t run_steps = run_steps_.load(std::memory_order_relaxed);
  const double run_step_seconds = run_step_seconds_ + (phase_run_steps_ && !phase_.empty() ? dt : 0.0);
  const double run_rate = run_step_seconds > 0 ? (double)run_steps / run_step_seconds : 0;
  s += "; run " + std::to_string(items_done_) + "/" + std::to_string(items_) + " done, " + std::to_string(run_steps) +
       " " + unit_ + ", " + fixed(run_rate, run_rate < 10 ? 1 : 0) + " " + unit_ + "/s, " + format_duration(t) +
       " elapsed";
  // The run's ETA: what the current phase still needs, plus the items after this one at the time
  // each finished item took. None while no item has finished and others are to come: a phase's
  // share says nothing of the item's later phases (extrapolating from it showed 8 hours for a
  // 20-minute slide as it went from its tissue scan to the network).
  const int64_t later = items_ - items_done_ - 1, finished = items_done_ - items_at_work_start_;
  if (work_started_ && total_ > 0 && rate > 0 && (later <= 0 || finished > 0)) {
    double eta = (double)(total_ - done) / rate;
    if (later > 0) eta += (double)later * (last_item_done_ - work_start_) / (double)finished;
    s += ", ETA " + format_duration(eta);
  }
  return s;
}

void Progress::maybe_print(bool force) {
  if (!style_.out) return;
  std::unique_lock<std::mutex> lk(mu_, std::try_to_lock);
  if (!lk.owns_lock()) return;
  const double t = now();
  if (!force && t < next_print_.load(std::memory_order_relaxed)) return;
  next_print_.store(t + style_.interval_seconds, std::memory_order_relaxed);
  const std::string s = status_locked();
  if (style_.redraw) {
    std::fputs(("\r\033[K" + s).c_str(), style_.out);
    line_open_ = true;
  } else {
    std::fputs((s + "\n").c_str(), style_.out);
  }
  std::fflush(style_.out);
  printed_ = true;
}

}  // namespace ds
