// The tuning file: convolution blockings measured on this CPU by `deepslide tune`
// (engine/kernels/conv_tune.h), one per convolution shape class, kept in
// $XDG_CACHE_HOME/deepslide/tune-<cpu>.json (~/.cache when XDG_CACHE_HOME is unset), where <cpu>
// names the vendor, family, model and ISA path (e.g. "amd-f25-m1-avx2"). Loaded once, on the
// first convolution, through the bounded JSON reader; a file that is corrupt, for another CPU,
// ISA or cache sizes, or holds values out of range is ignored as a whole with one warning on
// stderr, and the derived blocking is used. DEEPSLIDE_TUNING=off (or `--tuning off`) ignores
// the file. Format: docs/formats.md.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/kernels/conv_blocking.h"

namespace ds {

struct ConvTuningState {
  std::string status;                         // "file", "derived" (no file), "off" or "ignored"
  std::string path;                           // the file looked for ("" when neither XDG_CACHE_HOME nor HOME is set)
  std::string warning;                        // why a file was ignored
  std::map<std::string, ConvBlocking> table;  // shape class -> blocking
};

const ConvTuningState& conv_tuning_state();  // loads the file on first use
// The tuned blocking for a shape class, or null (no file, not tuned, tuning off).
const ConvBlocking* tuned_conv_blocking(const std::string& shape_class);
// Ignore (false) or use (true, the default) the tuning file; call before the first convolution.
void set_conv_tuning_enabled(bool on);

std::string conv_tuning_cpu_key();  // "amd-f25-m1-avx2"
std::string conv_tuning_path();     // where this CPU's file is looked for

// Reads and checks a tuning file for this CPU; InputError naming it and the reason otherwise.
std::map<std::string, ConvBlocking> read_conv_tuning(const std::string& path);

struct ConvTunedClass {
  std::string shape_class;
  ConvBlocking blocking;
  double ms = 0, derived_ms = 0;  // median times of the winner and of the derived blocking
};
// Writes the file atomically (creating its folder).
void write_conv_tuning(const std::string& path, const std::vector<ConvTunedClass>& classes);

}  // namespace ds
