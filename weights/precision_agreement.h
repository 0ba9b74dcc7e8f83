// How closely a model's reduced-precision inference agrees with its fp32 inference, measured once
// (by `deepslide calibrate`, on the windows it calibrates on) and kept in the model file as
// metadata `precision_agreement`, and `--precision auto`: the fastest precision this CPU has
// kernels for whose recorded agreement meets the bar below. A precision never measured on a model
// is never chosen for it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/rgb_image.h"
#include "engine/autograd.h"

namespace ds {

struct Model;

constexpr const char* kAgreementMetadataKey = "precision_agreement";

// The bar `auto` holds a precision to (the reduced-precision issue's accuracy targets): at least
// this share of windows with fp32's argmax, and every probability within this of fp32's.
constexpr double kMinArgmaxAgreement = 0.995;
constexpr double kMaxProbDiffBf16 = 0.02;
constexpr double kMaxProbDiffInt8 = 0.05;

// The version of each precision's arithmetic an agreement was measured with: a record made with
// another is not used by auto (the numbers it describes are not the ones that would run). int8 2:
// the blocks add their identity through its 8-bit codes (int8_identity, layers/layers.h); 1
// (records without the field): added in fp32.
constexpr int kBf16Arithmetic = 1;
constexpr int kInt8Arithmetic = 2;

struct AgreementEntry {
  bool measured = false;
  double argmax_agreement = 0;  // share of windows whose argmax equals fp32's
  double max_abs_dp = 0;        // largest |probability - fp32's| over windows and classes
  int arithmetic = 0;           // the version measured (metadata "arithmetic", 1 when absent)
};

struct PrecisionAgreement {
  int64_t windows = 0;  // windows both entries were measured on
  AgreementEntry bf16, int8;
  bool any() const { return bf16.measured || int8.measured; }
};

// Runs `windows` (each the model's patch size) at fp32 and at each precision asked for, in
// batches of `batch`, and returns the agreement (the model's own precision is left as it was).
// int8 needs a calibrated model. Precisions the CPU has no kernels for run their reference twins.
PrecisionAgreement measure_agreement(Model& model, const std::vector<RgbImage>& windows, int batch, bool bf16,
                                     bool int8);

// The metadata value ({"windows": N, "bf16": {"argmax_agreement": a, "max_abs_dp": d, "arithmetic":
// v}, "int8": ...}, measured entries only), or "" when nothing was measured.
std::string agreement_metadata(const PrecisionAgreement& a);
// InputError naming `path` when the value is not such an object (windows >= 1, shares and
// differences in [0, 1], arithmetic a whole number 1..1000 when present).
PrecisionAgreement parse_agreement_metadata(const std::string& path, const std::string& text);

struct PrecisionPick {
  Precision precision = Precision::fp32;
  std::string why;  // one line: what was chosen and why the faster ones were not
};

// auto's rule, given which kernels this CPU has: int8 (fastest) if it has the kernels, the model
// is calibrated and its recorded agreement meets the bar; else bf16 likewise, unless bf16_slow
// (called only then) says why its kernels would run slower than fp32 here; else fp32.
PrecisionPick pick_precision(const PrecisionAgreement& a, bool calibrated, bool bf16_kernels, bool int8_kernels,
                             const std::function<std::string()>& bf16_slow = {});
// bf16 counts as faster than fp32 where its dot products run at this many times the fp32 FMAs'
// flops (measured_bf16_dot_ratio, engine/fma_peak.h) or on AMX tiles: between the 0.49 measured
// on an Intel Xeon without AMX, where bf16 ran at half fp32's speed, and the 1.97-2.01 measured on
// AMD Zen 5, where it runs 1.5x fp32 (2.5x fp32 direct); low enough that a noisy measurement there
// stays above it.
constexpr double kMinBf16DotRatio = 1.2;

// A --precision value on a loaded model: "auto" by pick_precision with this CPU's kernels (every
// precision counts as present in reference mode, DEEPSLIDE_ISA=ref), else parse_precision's.
// Sets the model's precision (set_model_precision) and returns the pick; `why` is empty unless
// the value was "auto", or "bf16" on a CPU where bf16 runs slower than fp32 (a note saying so).
PrecisionPick choose_precision(const std::string& value, Model& model, const std::string& model_path);

}  // namespace ds
