// The stain reference: fitting, applying, and its metadata form (see stain_norm.h).
#include "stain/stain_norm.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_bounded.h"
#include "stain/macenko.h"
#include "stain/reinhard.h"
#include "stain/vahadane.h"

namespace ds {

namespace {

// Macenko and Vahadane both store two stain vectors and their concentration scales.
bool has_stain_vectors(StainMethod m) { return m == StainMethod::macenko || m == StainMethod::vahadane; }

TwoStainFit two_stain_fit(StainMethod m, const RgbImage& img) {
  return m == StainMethod::macenko ? macenko_fit(img) : TwoStainFit(vahadane_fit(img));
}

}  // namespace

StainMethod parse_stain_method(const std::string& name) {
  if (name == "none") return StainMethod::none;
  if (name == "reinhard") return StainMethod::reinhard;
  if (name == "macenko") return StainMethod::macenko;
  if (name == "vahadane") return StainMethod::vahadane;
  throw InputError("--stain-norm must be none, reinhard, macenko or vahadane, got '" + name + "'");
}

StainScope parse_stain_fit(const std::string& name) {
  if (name == "window") return StainScope::window;
  if (name == "slide") return StainScope::slide;
  throw InputError("--stain-fit must be window or slide, got '" + name + "'");
}

std::string stain_fit_name(StainScope f) { return f == StainScope::slide ? "slide" : "window"; }

std::string stain_method_name(StainMethod m) {
  switch (m) {
    case StainMethod::reinhard: return "reinhard";
    case StainMethod::macenko: return "macenko";
    case StainMethod::vahadane: return "vahadane";
    default: return "none";
  }
}

namespace {

// The method's numbers fitted on img into ref (method set); "" or why not.
std::string fit_into(StainMethod method, const RgbImage& img, StainReference& ref) {
  ref.method = method;
  if (method == StainMethod::reinhard) {
    if ((size_t)img.width * img.height == 0) return "no pixels to fit Reinhard's statistics";
    const LabStats st = lab_stats(img);
    ref.lab_mean = st.mean;
    ref.lab_std = st.std;
  } else if (has_stain_vectors(method)) {
    const TwoStainFit fit = two_stain_fit(method, img);
    ref.stains = fit.stains, ref.max_conc = fit.max_conc;
    std::string name = stain_method_name(method);
    name[0] = (char)std::toupper((unsigned char)name[0]);
    if (!fit.ok)
      return "too little stained tissue to fit " + name + "'s stain vectors (fewer than " +
             std::to_string(kMacenkoMinTissue) +
             " pixels with optical density >= 0.15 in every channel, or a degenerate estimate)";
  }
  return "";
}

}  // namespace

StainReference fit_stain_reference(StainMethod method, const RgbImage& img, const std::string& where) {
  StainReference ref;
  const std::string why = fit_into(method, img, ref);
  if (!why.empty()) throw InputError(where, why);
  return ref;
}

bool try_fit_stain(StainMethod method, const RgbImage& img, StainReference& out) {
  StainReference ref;
  if (!fit_into(method, img, ref).empty()) return false;
  out = ref;
  return true;
}

void normalize_stain(RgbImage& img, const StainReference& ref) {
  if (ref.method == StainMethod::reinhard) reinhard_apply(img, LabStats{ref.lab_mean, ref.lab_std});
  if (has_stain_vectors(ref.method)) {  // the window's own fit, then the redraw to the reference's
    const TwoStainFit src = two_stain_fit(ref.method, img);
    if (src.ok) redraw_two_stain(img, src.stains, src.max_conc, ref.stains, ref.max_conc);
  }  // (a window without enough tissue is left as it is)
}

void white_balance(RgbImage& img, const std::array<double, 3>& white) {
  if (white == std::array<double, 3>{255.0, 255.0, 255.0}) return;
  uint8_t table[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) table[c][v] = (uint8_t)std::min(255.0, std::nearbyint(v * 255.0 / white[(size_t)c]));
  uint8_t* p = img.pixels.data();
  const size_t n = (size_t)img.width * img.height;
  for (size_t i = 0; i < n; ++i, p += 3) p[0] = table[0][p[0]], p[1] = table[1][p[1]], p[2] = table[2][p[2]];
}

void normalize_stain(RgbImage& img, const StainReference& ref, const SlideStain& source) {
  if (ref.method == StainMethod::none) return;
  white_balance(img, source.white);
  if (source.method != ref.method) return normalize_stain(img, ref);
  if (ref.method == StainMethod::reinhard)
    reinhard_transfer(img, LabStats{source.lab_mean, source.lab_std}, LabStats{ref.lab_mean, ref.lab_std});
  else redraw_two_stain(img, source.stains, source.max_conc, ref.stains, ref.max_conc);
}

std::string stain_reference_json(const StainReference& ref) {
  nlohmann::json j;
  j["method"] = stain_method_name(ref.method);
  if (ref.fit == StainScope::slide) j["fit"] = "slide";  // (absent: window, as before the choice)
  if (ref.method == StainMethod::reinhard) {
    j["lab_mean"] = ref.lab_mean;
    j["lab_std"] = ref.lab_std;
  } else if (has_stain_vectors(ref.method)) {
    j["stains"] = ref.stains;
    j["max_conc"] = ref.max_conc;
  }
  return j.dump();
}

namespace {

// A JSON list of N finite numbers (`what` names it in the error).
template <size_t N>
std::array<double, N> numbers(const nlohmann::json* v, const std::string& what, const std::string& where) {
  std::array<double, N> out{};
  if (!v || !v->is_array() || v->size() != N)
    throw InputError(where, "stain metadata " + what + " must be a list of " + std::to_string(N) + " numbers");
  for (size_t i = 0; i < N; ++i) {
    if (!(*v)[i].is_number() || !std::isfinite((*v)[i].get<double>()))
      throw InputError(where, "stain metadata " + what + " holds a value that is not a finite number");
    out[i] = (*v)[i].get<double>();
  }
  return out;
}

const nlohmann::json* member(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

}  // namespace

StainReference parse_stain_reference(const std::string& text, const std::string& where) {
  const nlohmann::json j = parse_json_bounded<nlohmann::json>(text, where);
  if (!j.is_object() || !j.contains("method") || !j["method"].is_string())
    throw InputError(where, "stain metadata must be a JSON object with a 'method'");
  StainReference ref;
  try {
    ref.method = parse_stain_method(j["method"].get<std::string>());
  } catch (const InputError& e) {
    throw InputError(where, std::string("stain metadata: ") + e.what());
  }
  if (const nlohmann::json* f = member(j, "fit")) {
    if (!f->is_string() || (*f != "window" && *f != "slide"))
      throw InputError(where, "stain metadata 'fit' must be \"window\" or \"slide\"");
    ref.fit = parse_stain_fit(f->get<std::string>());
  }
  if (ref.method == StainMethod::reinhard) {
    ref.lab_mean = numbers<3>(member(j, "lab_mean"), "'lab_mean'", where);
    ref.lab_std = numbers<3>(member(j, "lab_std"), "'lab_std'", where);
    for (double s : ref.lab_std)
      if (s < 0) throw InputError(where, "stain metadata 'lab_std' must not be negative");
  } else if (has_stain_vectors(ref.method)) {
    ref.max_conc = numbers<2>(member(j, "max_conc"), "'max_conc'", where);
    const nlohmann::json* st = member(j, "stains");
    if (!st || !st->is_array() || st->size() != 2)
      throw InputError(where, "stain metadata 'stains' must be two lists of 3 numbers");
    for (size_t k = 0; k < 2; ++k) ref.stains[k] = numbers<3>(&(*st)[k], "'stains'", where);
    for (double m : ref.max_conc)
      if (!(m > 0)) throw InputError(where, "stain metadata 'max_conc' must be positive");
  }
  return ref;
}

std::string describe_stain_reference(const StainReference& r) {
  char buf[256];
  if (r.method == StainMethod::reinhard) {
    std::snprintf(buf, sizeof buf, "reinhard, LAB mean %.2f %.2f %.2f, std %.2f %.2f %.2f", r.lab_mean[0],
                  r.lab_mean[1], r.lab_mean[2], r.lab_std[0], r.lab_std[1], r.lab_std[2]);
  } else if (has_stain_vectors(r.method)) {
    std::snprintf(buf, sizeof buf, "%s, H %.3f %.3f %.3f, E %.3f %.3f %.3f, max concentrations %.3f %.3f",
                  stain_method_name(r.method).c_str(), r.stains[0][0], r.stains[0][1], r.stains[0][2], r.stains[1][0],
                  r.stains[1][1], r.stains[1][2], r.max_conc[0], r.max_conc[1]);
  } else {
    return "none";
  }
  return std::string(buf) + (r.fit == StainScope::slide ? ", fitted per slide" : "");
}

}  // namespace ds
