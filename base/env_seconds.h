// A number of seconds from an environment variable (the intervals tests shorten or lengthen:
// DEEPSLIDE_PREDICT_JSON_INTERVAL, DEEPSLIDE_PATCHES_JSON_INTERVAL).
#pragma once

namespace ds {

// The variable's value, `fallback` when it is not set; InputError naming the variable when it is
// not a finite number >= 0.
double env_seconds(const char* name, double fallback);

}  // namespace ds
