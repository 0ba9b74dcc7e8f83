// Seconds from an environment variable, checked (see env_seconds.h).
#include "base/env_seconds.h"

#include <cmath>
#include <cstdlib>

#include "base/error.h"
#include "base/safe_names.h"

namespace ds {

double env_seconds(const char* name, double fallback) {
  const char* env = std::getenv(name);
  if (!env) return fallback;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  if (end == env || *end != '\0' || !std::isfinite(v) || v < 0)
    throw InputError(name, "must be a number of seconds >= 0, got '" + quoted_for_message(env) + "'");
  return v;
}

}  // namespace ds
