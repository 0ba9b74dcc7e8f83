// int8 calibration: recording the convolutions' input ranges and carrying them in model metadata
// (see calibrate.h).
#include "weights/calibrate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_bounded.h"
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

// The range 0..c whose uint8 quantization of the counted inputs has the least squared error:
// inputs up to c are rounded (error step^2 / 12 each, step = c / 255), inputs above it saturate
// (error (x - c)^2, x at its bin's centre). c runs over the bins' upper edges from 1/16 of the
// histogram's top; suffix sums make each candidate O(1).
static float least_error_range(const std::vector<double>& h, float top, float hi) {
  const int B = (int)h.size();
  const double w = (double)top / B;
  std::vector<double> s0((size_t)B + 1), s1((size_t)B + 1), s2((size_t)B + 1);
  for (int i = B - 1; i >= 0; --i) {
    const double m = (i + 0.5) * w, c = h[(size_t)i];
    s0[(size_t)i] = s0[(size_t)i + 1] + c;
    s1[(size_t)i] = s1[(size_t)i + 1] + c * m;
    s2[(size_t)i] = s2[(size_t)i + 1] + c * m * m;
  }
  double best = INFINITY;
  float range = hi;
  for (int j = B / 16 - 1; j < B; ++j) {
    const double c = (j + 1) * w, step = c / 255;
    const double below = (s0[0] - s0[(size_t)j + 1]) * step * step / 12;
    const double above = s2[(size_t)j + 1] - 2 * c * s1[(size_t)j + 1] + c * c * s0[(size_t)j + 1];
    if (below + above < best) best = below + above, range = (float)std::min(c, (double)hi);
  }
  return range;
}

// A range min..max the int8 convolution can quantize to 0..255: its width a normal float whose
// 255 / width is finite (a denormal or overflowing width gives infinite or NaN codes).
static bool quantizable(float lo, float hi) {
  const float width = hi - lo;
  return width > 0 && std::isnormal(width) && std::isfinite(255.0f / width);
}

// Whether the model's normalization lets the first conv's codes be the pixel values
// (Int8Input::image): zero points 255 mean in 0..255, scales 1 / (255 std) with finite inverses,
// and some channel with room above 0.0 (the range below is positive).
static bool image_quantizable(const Model& m) {
  bool above = false;
  for (int c = 0; c < 3; ++c) {
    if (!(m.mean[c] >= 0 && m.mean[c] <= 1 && std::isnormal(255.0f * m.std[c]) &&
          std::isnormal(1.0f / (255.0f * m.std[c]))))
      return false;
    above = above || m.mean[c] < 1;
  }
  return above;
}

// The first conv quantized as the image (see calibrate.h); its range the normalized image's.
static void set_image_input(Conv2d& conv, const Model& m) {
  conv.int8_image_mean.assign(m.mean.begin(), m.mean.end());
  conv.int8_image_std.assign(m.std.begin(), m.std.end());
  conv.int8_act_min = conv.int8_act_max = 0;
  for (int c = 0; c < 3; ++c) {
    conv.int8_act_min = std::min(conv.int8_act_min, -m.mean[c] / m.std[c]);
    conv.int8_act_max = std::max(conv.int8_act_max, (1 - m.mean[c]) / m.std[c]);
  }
}

int finish_calibration(Model& model) {
  int n = 0;
  const std::vector<Conv2d*> convs = model.net->convs();
  for (Conv2d* c : convs) {
    c->int8_image_mean.clear(), c->int8_image_std.clear();
    if (c == convs[0] && image_quantizable(model)) {
      set_image_input(*c, model);
      ++n;
      continue;
    }
    const bool ok = c->calib_seen && c->calib_hi > 0 && std::isfinite(c->calib_hi) && std::isfinite(c->calib_lo);
    // A signed input (conv1's normalized image, bounded by the pixel range) keeps its whole range:
    // the histogram counts only positive inputs, and clipping an image buys little.
    const bool is_signed = ok && c->calib_lo < 0;
    c->int8_act_max = !ok         ? 0.0f
                      : is_signed ? c->calib_hi
                                  : least_error_range(c->calib_hist, c->calib_top, c->calib_hi);
    c->int8_act_min = is_signed ? c->calib_lo : 0.0f;
    if (ok && !quantizable(c->int8_act_min, c->int8_act_max)) c->int8_act_max = c->int8_act_min = 0;
    n += c->int8_act_max > 0;
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
    if (!c->int8_image_mean.empty()) j[conv_name(*c)] = kInt8ImageInput;
    else if (c->int8_act_max > 0 && c->int8_act_min < 0) j[conv_name(*c)] = {c->int8_act_min, c->int8_act_max};
    else if (c->int8_act_max > 0) j[conv_name(*c)] = c->int8_act_max;
  return j.empty() ? "" : j.dump();
}

void apply_int8_metadata(const std::string& path, Model& model, const std::string& text) {
  // Bounded: a value nested a million levels deep would overflow the parser's stack.
  const nlohmann::json j = parse_json_bounded(text, path + ": metadata '" + kInt8MetadataKey + "'");
  if (!j.is_object()) throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "' is not a JSON object");
  std::vector<Conv2d*> convs = model.net->convs();
  for (Conv2d* c : convs) {
    c->int8_act_max = c->int8_act_min = 0;
    c->int8_image_mean.clear(), c->int8_image_std.clear();
  }
  for (const auto& [name, v] : j.items()) {
    Conv2d* conv = nullptr;
    for (Conv2d* c : convs)
      if (conv_name(*c) == name) conv = c;
    if (!conv)
      throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "' names '" + name +
                                 "', which is not a convolution of the network");
    auto finite = [](const nlohmann::json& x) {
      return x.is_number() && std::isfinite(x.get<double>()) && std::fabs(x.get<double>()) <= 3.0e38;
    };
    if (v.is_string() && v.get<std::string>() == kInt8ImageInput) {
      if (conv != convs[0])
        throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "': '" + name + "' is \"" +
                                   kInt8ImageInput + "\", but only the first convolution takes the image");
      if (!image_quantizable(model))
        throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "': '" + name + "' is \"" +
                                   kInt8ImageInput +
                                   "\", but the model's mean/std cannot map pixels to codes (mean must be in "
                                   "0..1, std a normal float)");
      set_image_input(*conv, model);
    } else if (finite(v) && (v.get<double>() == 0 || (v.get<double>() > 0 && quantizable(0, v.get<float>())))) {
      conv->int8_act_max = v.get<float>();
    } else if (v.is_array() && v.size() == 2 && finite(v[0]) && finite(v[1]) && v[0].get<double>() < 0 &&
               v[1].get<double>() > 0 && quantizable(v[0].get<float>(), v[1].get<float>())) {
      conv->int8_act_min = v[0].get<float>();
      conv->int8_act_max = v[1].get<float>();
    } else {
      throw InputError(path, std::string("metadata '") + kInt8MetadataKey + "': '" + name +
                                 "' must be a finite number >= 0, a pair [min < 0, max > 0] (a range whose width "
                                 "8 bits can step: a normal float, 255 / width finite) or \"" +
                                 kInt8ImageInput + "\", got " + v.dump().substr(0, 80));
    }
  }
}

}  // namespace ds
