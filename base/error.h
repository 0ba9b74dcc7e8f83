// Error types shared by every module. InputError means the user gave us something bad (a file,
// a flag, a shape): the CLI prints its one-line message and exits 2. InternalError is a bug or
// an environment failure: exit 1. Messages name the file (or object) and the reason.
#pragma once
#include <stdexcept>
#include <string>

namespace ds {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
  InputError(const std::string& file, const std::string& reason)
      : std::runtime_error(file + ": " + reason) {}
};

class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& what) : std::runtime_error(what) {}
};

// Always-on check for things that come from outside (files, flags, shapes).
#define DS_CHECK_INPUT(cond, msg)                     \
  do {                                                \
    if (!(cond)) throw ::ds::InputError(msg);         \
  } while (0)

// Always-on internal invariant check.
#define DS_CHECK(cond, msg)                                                           \
  do {                                                                                \
    if (!(cond))                                                                      \
      throw ::ds::InternalError(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                                ": " + (msg));                                        \
  } while (0)

}  // namespace ds
