// SIGINT and SIGTERM as a request to stop cleanly. A long job polls stop_signal() where it can
// save what it has done, then throws Interrupted; cli/main.cpp prints its message and exits with
// 128 + the signal (130 for SIGINT, 143 for SIGTERM), as a shell does for a killed process.
// A second signal while the first is being handled kills at once (the default action), so a job
// stuck somewhere that never polls can still be stopped. In a stage process of `deepslide run`
// (kRunStageEnv set), the same signal again within two seconds is taken as the first one arriving
// twice (a terminal's Ctrl-C reaches the stage directly and again through run, which passes it on).
#pragma once
#include <exception>
#include <string>

namespace ds {

// Set to "1" in the environment of the stage processes `deepslide run` starts.
constexpr const char* kRunStageEnv = "DEEPSLIDE_RUN_STAGE";

// Installs the handlers (idempotent). Only commands that poll stop_signal() install them.
void install_stop_handlers();
// The signal that asked to stop, 0 when none did. Async-signal-safe to set, cheap to read.
int stop_signal();

// Not a runtime_error on purpose: per-item error handling (`catch (const std::runtime_error&)`
// around one slide) must not swallow it.
class Interrupted : public std::exception {
 public:
  Interrupted(int signal, std::string message) : signal_(signal), message_(std::move(message)) {}
  int signal() const { return signal_; }
  int exit_code() const { return 128 + signal_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int signal_;
  std::string message_;
};

// Throws Interrupted(stop_signal(), "<SIGNAME>: " + what_was_saved) when a stop was requested.
void throw_if_stop_requested(const std::string& what_was_saved);

}  // namespace ds
