// The stop flag behind install_stop_handlers: a sig_atomic_t the handler sets; a later signal
// kills, except the same signal again within kSameRequestSeconds.
#include "base/interrupt.h"

#include <csignal>
#include <ctime>

namespace ds {

namespace {

volatile std::sig_atomic_t g_stop = 0;
timespec g_first{};  // when g_stop was set (written once, in the handler)

// One request can arrive twice: Ctrl-C reaches a terminal's whole process group, so a stage of
// `deepslide run` gets it from the terminal and again from run, which passes it on. A repeat of the
// same signal this soon after the first is taken as that; later ones, or another signal, kill.
constexpr double kSameRequestSeconds = 2.0;

extern "C" void on_stop_signal(int sig) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  if (g_stop == 0) {
    g_first = now;
    g_stop = sig;
    return;
  }
  const double since = (double)(now.tv_sec - g_first.tv_sec) + 1e-9 * (double)(now.tv_nsec - g_first.tv_nsec);
  if (sig == g_stop && since < kSameRequestSeconds) return;
  std::signal(sig, SIG_DFL);  // delivered again as this handler returns: the default action
  std::raise(sig);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal() { return g_stop; }

void throw_if_stop_requested(const std::string& what_was_saved) {
  const int sig = g_stop;
  if (sig == 0) return;
  const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal";
  throw Interrupted(sig, std::string("interrupted (") + name + "): " + what_was_saved);
}

}  // namespace ds
