// int8 calibration: recording the convolutions' input ranges and carrying them in model metadata
// (see calibrate.h).
#include "weights/calibrate.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "layers/layers.h"

namespace ds {

namespace {

// A conv's name in the metadata: its weight's without ".weight" ("layer1.0.conv1").
std::string conv_name(const Conv2d& c) {
  const std::string& w = c.weight.name;
  return w.ends_with(".weight") ? w.substr(0, w.size() - 7) : w;
}

}  // namespace

void begin_calibration(Model& model) {
  DS_CHECK(model.net != nullptr, "begin_calibration: no network");
  for (Conv2d* c : model.net->convs()) c->calib_seen = false;
}

void calibrate_batch(Model& model, const Tensor& batch) {
  DS_CHECK(model.net != nullptr, "calibrate_batch: no network");
  Context ctx;
  ctx.calibrating = true;  // fp32, no tape, evaluation mode
  model.net->forward(ctx, make_var(batch));
}

int finish_calibration(Model& model) {
  int n = 0;
  for (Conv2d* c : model.net->convs()) {
    const bool ok = c->calib_seen && c->calib_lo >= 0 && c->calib_hi > 0 && std::isfinite(c->calib_hi);
    c->int8_act_max = ok ? c->calib_hi : 0.0f;
    n += ok;
  }
  return n;
}

bool is_calibrated(const Model& model) {
  if (!model.net) return false;
  for (Conv2d* c : model.net->convs())
    if (c->int8_act_max > 0) return true;
  return false;
}

std::string int8_metadata(const Model& model) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (Conv2d* c : model.net->convs())
    if (c->int8_act_max > 0) j[conv_name(*c)] = c->int8_act_max;
  return j.empty() ? "" : j.dump();
}

void apply_int8_metadata(const std::string& path, Model& model, const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "' is not a JSON object");
  std::vector<Conv2d*> convs = model.net->convs();
  for (Conv2d* c : convs) c->int8_act_max = 0;
  for (const auto& [name, v] : j.items()) {
    Conv2d* conv = nullptr;
    for (Conv2d* c : convs)
      if (conv_name(*c) == name) conv = c;
    if (!conv)
      throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "' names '" + name +
                                 "', which is not a convolution of the network");
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 || v.get<double>() > 3.0e38)
      throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "': '" + name +
                                 "' must be a finite number >= 0, got " + v.dump());
    conv->int8_act_max = v.get<float>();
  }
}

}  // namespace ds
