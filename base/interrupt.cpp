// The stop flag behind install_stop_handlers: a sig_atomic_t the handler sets, after which the
// handler gives the signal back its default action.
#include "base/interrupt.h"

#include <csignal>

namespace ds {

namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop = sig;
  std::signal(sig, SIG_DFL);  // a second one kills
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
