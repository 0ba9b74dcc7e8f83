// Measuring, storing and using reduced-precision agreement (see precision_agreement.h).
#include "weights/precision_agreement.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_bounded.h"
#include "engine/cpu_features.h"
#include "engine/fma_peak.h"
#include "weights/calibrate.h"
#include "weights/model.h"
#include "weights/model_forward.h"

namespace ds {

namespace {

// Probabilities [N, classes] of every window at `precision`.
std::vector<float> probabilities(Model& model, const std::vector<RgbImage>& windows, int batch, Precision precision) {
  std::vector<float> out;
  for (size_t i = 0; i < windows.size(); i += (size_t)batch) {
    const std::vector<RgbImage> part(windows.begin() + (ptrdiff_t)i,
                                     windows.begin() + (ptrdiff_t)std::min(windows.size(), i + (size_t)batch));
    const Tensor p = predict_probabilities(model, make_batch(part, model), precision);
    out.insert(out.end(), p.data(), p.data() + p.numel());
  }
  return out;
}

AgreementEntry compare(const std::vector<float>& ref, const std::vector<float>& got, size_t classes) {
  AgreementEntry e;
  e.measured = true;
  const size_t n = ref.size() / classes;
  size_t same = 0;
  for (size_t w = 0; w < n; ++w) {
    const float* a = &ref[w * classes];
    const float* b = &got[w * classes];
    same += std::max_element(a, a + classes) - a == std::max_element(b, b + classes) - b;
    for (size_t c = 0; c < classes; ++c) e.max_abs_dp = std::max(e.max_abs_dp, (double)std::fabs(a[c] - b[c]));
  }
  e.argmax_agreement = n ? (double)same / (double)n : 0;
  return e;
}

std::string entry_text(const char* name, const AgreementEntry& e, int64_t windows) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: argmax as fp32 on %.1f%% of %lld windows, max |dp| %.4f", name,
                100 * e.argmax_agreement, (long long)windows, e.max_abs_dp);
  return buf;
}

// Why `name` cannot be auto's pick ("" when it can).
std::string refusal(const char* name, const AgreementEntry& e, int64_t windows, double max_dp, bool kernels,
                    const char* extension, bool calibrated, int arithmetic) {
  if (!kernels) return std::string(name) + ": no " + extension + " kernels on this CPU";
  if (!calibrated) return std::string(name) + ": the model is not calibrated (deepslide calibrate)";
  if (!e.measured) return std::string(name) + ": no agreement recorded in the model (deepslide calibrate measures it)";
  if (e.arithmetic != arithmetic)
    return std::string(name) + ": the agreement recorded in the model is for arithmetic version " +
           std::to_string(e.arithmetic) + ", this build runs " + std::to_string(arithmetic) +
           " (deepslide calibrate measures it again)";
  if (e.argmax_agreement < kMinArgmaxAgreement || e.max_abs_dp > max_dp)
    return entry_text(name, e, windows) + ", short of the bar";
  return "";
}

// Why bf16 would run slower than fp32 here ("" where it does not): its AVX512-BF16 dot products
// too slow against fp32 FMAs and no AMX tiles running. On an Intel Xeon (model 207) bf16 ResNet-18
// inference ran at 0.52x fp32's (BENCHMARKS.md), the dot products at 0.49x the FMAs' flops.
std::string bf16_slowness() {
  if (!has_bf16_kernels() || has_amx_bf16_kernels()) return "";
  const double r = measured_bf16_dot_ratio();
  if (r >= kMinBf16DotRatio) return "";
  char buf[200];
  std::snprintf(
      buf, sizeof buf, "this CPU's bf16 dot products run at %.2fx its fp32 FMAs' flops (needs %.1fx), %s", r,
      kMinBf16DotRatio,
      amx_bf16_tiles_available() ? "and its AMX tiles are off (DEEPSLIDE_AMX=1 runs bf16 on them)" : "no AMX");
  return buf;
}

}  // namespace

PrecisionAgreement measure_agreement(Model& model, const std::vector<RgbImage>& windows, int batch, bool bf16,
                                     bool int8) {
  DS_CHECK(batch >= 1, "measure_agreement: batch < 1");
  DS_CHECK(!int8 || is_calibrated(model), "measure_agreement: int8 on an uncalibrated model");
  PrecisionAgreement a;
  if (windows.empty() || (!bf16 && !int8)) return a;
  a.windows = (int64_t)windows.size();
  const size_t classes = model.classes.size();
  const std::vector<float> ref = probabilities(model, windows, batch, Precision::fp32);
  if (bf16) a.bf16 = compare(ref, probabilities(model, windows, batch, Precision::bf16), classes);
  if (int8) a.int8 = compare(ref, probabilities(model, windows, batch, Precision::int8), classes);
  a.bf16.arithmetic = kBf16Arithmetic;
  a.int8.arithmetic = kInt8Arithmetic;
  return a;
}

std::string agreement_metadata(const PrecisionAgreement& a) {
  if (!a.any()) return "";
  nlohmann::ordered_json j;
  j["windows"] = a.windows;
  for (const auto& [name, e] : {std::pair{"bf16", &a.bf16}, std::pair{"int8", &a.int8}})
    if (e->measured)
      j[name] = {
          {"argmax_agreement", e->argmax_agreement}, {"max_abs_dp", e->max_abs_dp}, {"arithmetic", e->arithmetic}};
  return j.dump();
}

PrecisionAgreement parse_agreement_metadata(const std::string& path, const std::string& text) {
  const std::string what = std::string("metadata '") + kAgreementMetadataKey + "'";
  const nlohmann::json j = parse_json_bounded(text, path + ": " + what);
  if (!j.is_object()) throw InputError(path, what + " is not a JSON object");
  PrecisionAgreement a;
  const auto w = j.find("windows");
  if (w == j.end() || !w->is_number_integer() || w->get<int64_t>() < 1)
    throw InputError(path, what + ": 'windows' must be a whole number >= 1");
  a.windows = w->get<int64_t>();
  for (auto it = j.begin(); it != j.end(); ++it) {  // not a structured binding: the lambda below uses them
    const std::string key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "windows") continue;
    AgreementEntry* e = key == "bf16" ? &a.bf16 : key == "int8" ? &a.int8 : nullptr;
    if (!e) throw InputError(path, what + " names '" + key + "' (bf16 or int8 expected)");
    auto share = [&](const char* field) {
      const auto f = v.is_object() ? v.find(field) : v.end();
      if (f == v.end() || !f->is_number() || !(f->get<double>() >= 0 && f->get<double>() <= 1))
        throw InputError(path, what + ": " + key + "." + field + " must be a number in [0, 1]");
      return f->get<double>();
    };
    e->argmax_agreement = share("argmax_agreement");
    e->max_abs_dp = share("max_abs_dp");
    e->arithmetic = 1;
    if (const auto f = v.find("arithmetic"); f != v.end()) {
      if (!f->is_number_integer() || f->get<int64_t>() < 1 || f->get<int64_t>() > 1000)
        throw InputError(path, what + ": " + key + ".arithmetic must be a whole number from 1 to 1000");
      e->arithmetic = (int)f->get<int64_t>();
    }
    e->measured = true;
  }
  return a;
}

PrecisionPick pick_precision(const PrecisionAgreement& a, bool calibrated, bool bf16_kernels, bool int8_kernels,
                             const std::function<std::string()>& bf16_slow) {
  const std::string no_int8 = refusal("int8", a.int8, a.windows, kMaxProbDiffInt8, int8_kernels,
                                      "AVX512-VNNI or AVX-VNNI", calibrated, kInt8Arithmetic);
  if (no_int8.empty()) return {Precision::int8, "auto -> int8 (" + entry_text("int8", a.int8, a.windows) + ")"};
  std::string no_bf16 =
      refusal("bf16", a.bf16, a.windows, kMaxProbDiffBf16, bf16_kernels, "AVX512-BF16", true, kBf16Arithmetic);
  if (no_bf16.empty() && bf16_slow) {  // asked only when bf16 would be chosen: it may measure
    const std::string slow = bf16_slow();
    if (!slow.empty()) no_bf16 = "bf16: " + slow;
  }
  if (no_bf16.empty())
    return {Precision::bf16, "auto -> bf16 (" + entry_text("bf16", a.bf16, a.windows) + "; " + no_int8 + ")"};
  return {Precision::fp32, "auto -> fp32 (" + no_int8 + "; " + no_bf16 + ")"};
}

PrecisionPick choose_precision(const std::string& value, Model& model, const std::string& model_path) {
  PrecisionPick pick;
  if (value == "auto") {
    const bool ref = reference_kernels();
    pick = pick_precision(model.agreement, is_calibrated(model), ref || has_bf16_kernels(), ref || has_vnni_kernels(),
                          ref ? std::function<std::string()>() : bf16_slowness);
  } else {
    pick.precision = parse_precision(value);
    const std::string slow = pick.precision == Precision::bf16 && !reference_kernels() ? bf16_slowness() : "";
    if (!slow.empty()) pick.why = "bf16 (asked for; note: " + slow + ": fp32 is likely faster)";
  }
  set_model_precision(model, pick.precision, model_path);
  return pick;
}

}  // namespace ds
