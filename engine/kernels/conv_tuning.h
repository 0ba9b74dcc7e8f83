// The tuning file: convolution blockings measured on this CPU by `deepslide tune`
// (engine/kernels/conv_tune.h), one per convolution shape class, kept in
// $XDG_CACHE_HOME/deepslide/tune-<cpu>.json (~/.cache when XDG_CACHE_HOME is unset), where <cpu>
// names the vendor, family, model and ISA path (e.g. "amd-f25-m1-avx2"). Loaded once, on the
// first convolution, through the bounded JSON reader; a file that is corrupt, for another CPU,
// ISA or cache sizes, or holds values out of range is ignored as a whole with one warning on
// stderr, and the derived blocking is used. DEEPSLIDE_TUNING=off (or `--tuning off`) ignores
// the file. Besides blockings it holds which algorithm (direct or Winograd) measured faster for
// each 3x3 stride-1 convolution shape and pass it timed: what `--conv-algo auto` follows
// (conv_winograd.h). Format: docs/formats.md.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/conv_blocking.h"

namespace ds {

// Which pass a choice is for: the fp32 forward (direct against Winograd F(4x4)), the bf16 forward
// (bf16 direct against bf16 Winograd F(2x2), conv_winograd_bf16.h) or the fp32 weight gradient
// (direct against Winograd, conv2d_backward_weights_winograd).
enum class WinogradPass { forward = 0, bf16 = 1, wgrad = 2 };

// One measured choice between the direct and the Winograd convolution of a pass: for the shape
// (C, OC, H, W, pad) at `batch` images, which was faster (medians of alternating rounds).
struct WinogradChoice {
  int64_t C = 0, OC = 0, H = 0, W = 0, pad = 0, batch = 0;
  bool winograd = false;
  double ms = 0, direct_ms = 0;  // Winograd's and the direct convolution's median times
  WinogradPass pass = WinogradPass::forward;
};
// "winograd/c64/oc64/56x56/p1"; "bf16-winograd/..." for a bf16 choice, "wgrad-winograd/..." for a
// weight-gradient one.
std::string winograd_choice_class(const WinogradChoice& c);

struct ConvTuningFile {
  std::map<std::string, ConvBlocking> blocking;  // shape class -> blocking
  std::vector<WinogradChoice> winograd;
};

struct ConvTuningState {
  std::string status;                         // "file", "derived" (no file), "off" or "ignored"
  std::string path;                           // the file looked for ("" when neither XDG_CACHE_HOME nor HOME is set)
  std::string warning;                        // why a file was ignored
  std::map<std::string, ConvBlocking> table;  // shape class -> blocking
  std::vector<WinogradChoice> winograd;       // measured algorithm choices
};

const ConvTuningState& conv_tuning_state();  // loads the file on first use
// The tuned blocking for a shape class, or null (no file, not tuned, tuning off).
const ConvBlocking* tuned_conv_blocking(const std::string& shape_class);
// Ignore (false) or use (true, the default) the tuning file; call before the first convolution.
void set_conv_tuning_enabled(bool on);

std::string conv_tuning_cpu_key();  // "amd-f25-m1-avx2"
std::string conv_tuning_path();     // where this CPU's file is looked for

// What the file measured for this convolution, if it applies: a shape where Winograd won holds
// for this batch or a larger one (more tiles share the transformed filters), one where the direct
// convolution won for this batch or a smaller one; otherwise nothing (the rule decides).
// Only the choices of the given pass count.
std::optional<bool> winograd_choice_for(const std::vector<WinogradChoice>& choices, const ConvDims& d,
                                        WinogradPass pass = WinogradPass::forward);
// The same on the loaded file's choices of that pass.
std::optional<bool> tuned_winograd(const ConvDims& d, WinogradPass pass = WinogradPass::forward);

// Reads and checks a tuning file for this CPU; InputError naming it and the reason otherwise.
ConvTuningFile read_conv_tuning(const std::string& path);

struct ConvTunedClass {
  std::string shape_class;
  ConvBlocking blocking;
  double ms = 0, derived_ms = 0;  // median times of the winner and of the derived blocking
};
// Writes the file atomically (creating its folder).
void write_conv_tuning(const std::string& path, const std::vector<ConvTunedClass>& classes,
                       const std::vector<WinogradChoice>& winograd = {});

}  // namespace ds
