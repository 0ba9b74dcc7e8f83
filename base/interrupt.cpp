// The stop flag behind install_stop_handlers: an atomic the handler sets once; a later signal
// kills, except, in a stage process of `deepslide run`, the same signal again within
// kSameRequestSeconds.
#include "base/interrupt.h"

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace ds {

namespace {

// Lock-free atomics (async-signal-safe): the handler can run on two threads at once when a signal
// arrives twice microseconds apart, each thread blocking only its own delivery.
std::atomic<int> g_stop{0};
std::atomic<int64_t> g_first_ns{0};  // when the first stop signal came (CLOCK_MONOTONIC), 0: none
bool g_run_stage = false;            // this process is a stage of `deepslide run` (kRunStageEnv)
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free);

// One request can arrive twice: Ctrl-C reaches a terminal's whole process group, so a stage of
// `deepslide run` gets it from the terminal and again from run, which passes it on. There, a
// repeat of the same signal this soon after the first is taken as that; elsewhere, and later, a
// second signal kills at once.
constexpr int64_t kSameRequestNs = 2'000'000'000;

extern "C" void on_stop_signal(int sig) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  const int64_t t = (int64_t)now.tv_sec * 1'000'000'000 + now.tv_nsec;
  int64_t none_yet = 0;
  g_first_ns.compare_exchange_strong(none_yet, t);  // (set before g_stop: a racing thread reads it)
  int no_stop = 0;
  if (g_stop.compare_exchange_strong(no_stop, sig)) return;
  if (g_run_stage && sig == g_stop.load() && t - g_first_ns.load() < kSameRequestNs) return;
  std::signal(sig, SIG_DFL);  // delivered again as this handler returns: the default action
  std::raise(sig);
}

}  // namespace

void install_stop_handlers() {
  const char* stage = std::getenv(kRunStageEnv);
  g_run_stage = stage && stage[0] == '1';
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);  // one handler at a time on a thread
  sigaddset(&sa.sa_mask, SIGTERM);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal() { return g_stop.load(std::memory_order_relaxed); }

void throw_if_stop_requested(const std::string& what_was_saved) {
  const int sig = stop_signal();
  if (sig == 0) return;
  const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal";
  throw Interrupted(sig, std::string("interrupted (") + name + "): " + what_was_saved);
}

}  // namespace ds
