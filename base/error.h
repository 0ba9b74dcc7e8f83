// Error types shared by every module. InputError means the user gave us something bad (a file,
// a flag, a shape): the CLI prints its one-line message and exits 2. InternalError is a bug or
// an environment failure: exit 1. Messages name the file (or object) and the reason.
#pragma once
#include <new>
#include <stdexcept>
#include <string>

namespace ds {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
  InputError(const std::string& file, const std::string& reason) : std::runtime_error(file + ": " + reason) {}
};

class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& what) : std::runtime_error(what) {}
};

// Runs fn() on one input file. Memory exhausted there is the file's doing (a slide that declares
// more than it holds, a grid of windows over an absurd size): std::bad_alloc becomes an
// InputError naming the file, so a command working through many files can report it and go on.
template <class Fn>
decltype(auto) with_file_oom_as_input_error(const std::string& file, Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    throw InputError(file, "out of memory while reading it (does it declare an absurd size?)");
  }
}

// `what` (an error message) as one line about `file`: prefixed with "file: " unless it already
// names the file.
inline std::string naming_file(const std::string& file, const std::string& what) {
  return what.find(file) != std::string::npos ? what : file + ": " + what;
}

// Always-on check for things that come from outside (files, flags, shapes).
#define DS_CHECK_INPUT(cond, msg)             \
  do {                                        \
    if (!(cond)) throw ::ds::InputError(msg); \
  } while (0)

// Always-on internal invariant check.
#define DS_CHECK(cond, msg)                                                                                        \
  do {                                                                                                             \
    if (!(cond)) throw ::ds::InternalError(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + (msg)); \
  } while (0)

}  // namespace ds
