// Reading, checking and writing the tuning file (see conv_tuning.h).
#include "engine/kernels/conv_tuning.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "engine/cpu_features.h"

namespace ds {

namespace {

// Version 2 added the "winograd/..." classes, version 3 the "bf16-winograd/..." ones, version 4
// the "wgrad-winograd/..." ones, version 5 the blocking's wgrad_vectors; older files still read.
constexpr int kFormatVersion = 5;
constexpr size_t kMaxClasses = 4096;
constexpr size_t kMaxFileBytes = 1 << 20;  // a file for every class is ~50 KB

std::atomic<bool> g_enabled{true};

nlohmann::ordered_json cpu_json() {
  const CpuIdentity& id = cpu_identity();
  const CpuCaches& c = cpu_caches();
  return {{"key", conv_tuning_cpu_key()},
          {"vendor", id.vendor},
          {"brand", id.brand},
          {"family", id.family},
          {"model", id.model},
          {"isa", isa_name(cpu_isa())},
          {"l1d", c.l1d},
          {"l2", c.l2},
          {"l3", c.l3}};
}

constexpr int kNumFields = 7;
const char* const kFields[kNumFields] = {"chunk_k",           "group_bytes",       "super_weight_bytes",
                                         "wgrad_super_bytes", "wgrad_chunk_bytes", "wgrad_part_bytes",
                                         "wgrad_vectors"};
int64_t* field(ConvBlocking& b, int i) {
  int64_t* f[kNumFields] = {&b.chunk_k,           &b.group_bytes,      &b.super_weight_bytes, &b.wgrad_super_bytes,
                            &b.wgrad_chunk_bytes, &b.wgrad_part_bytes, &b.wgrad_vectors};
  return f[i];
}

ConvTuningState load() {
  ConvTuningState s;
  s.path = conv_tuning_path();
  if (!g_enabled.load() || [] {
        const char* e = std::getenv("DEEPSLIDE_TUNING");
        return e && std::string(e) == "off";
      }()) {
    s.status = "off";
    return s;
  }
  std::error_code ec;
  if (s.path.empty() || !std::filesystem::exists(s.path, ec)) {
    s.status = "derived";
    return s;
  }
  try {
    ConvTuningFile f = read_conv_tuning(s.path);
    s.table = std::move(f.blocking);
    s.winograd = std::move(f.winograd);
    s.status = "file";
  } catch (const std::exception& e) {
    s.status = "ignored";
    s.warning = e.what();
    std::fprintf(stderr, "deepslide: warning: tuning file ignored, using the derived blocking: %s\n", e.what());
  }
  return s;
}

}  // namespace

std::string conv_tuning_cpu_key() {
  const CpuIdentity& id = cpu_identity();
  std::string v = id.vendor == "AuthenticAMD" ? "amd" : id.vendor == "GenuineIntel" ? "intel" : "";
  if (v.empty())
    for (char ch : id.vendor)
      if (std::isalnum((unsigned char)ch)) v += (char)std::tolower((unsigned char)ch);
  return v + "-f" + std::to_string(id.family) + "-m" + std::to_string(id.model) + "-" + isa_name(cpu_isa());
}

std::string conv_tuning_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  std::string dir;
  if (xdg && *xdg == '/') dir = xdg;  // relative values are invalid per the XDG spec
  else if (home && *home) dir = std::string(home) + "/.cache";
  else return "";
  return dir + "/deepslide/tune-" + conv_tuning_cpu_key() + ".json";
}

std::string winograd_choice_class(const WinogradChoice& c) {
  static const char* kPrefix[] = {"", "bf16-", "wgrad-"};
  return std::string(kPrefix[(int)c.pass]) + "winograd/c" + std::to_string(c.C) + "/oc" + std::to_string(c.OC) + "/" +
         std::to_string(c.H) + "x" + std::to_string(c.W) + "/p" + std::to_string(c.pad);
}

std::optional<bool> winograd_choice_for(const std::vector<WinogradChoice>& choices, const ConvDims& d,
                                        WinogradPass pass) {
  for (const WinogradChoice& c : choices)
    if (c.pass == pass && c.C == d.C && c.OC == d.OC && c.H == d.H && c.W == d.W && c.pad == d.pad_h &&
        d.pad_h == d.pad_w) {
      if (c.winograd && d.N >= c.batch) return true;
      if (!c.winograd && d.N <= c.batch) return false;
      return std::nullopt;
    }
  return std::nullopt;
}

std::optional<bool> tuned_winograd(const ConvDims& d, WinogradPass pass) {
  const ConvTuningState& s = conv_tuning_state();
  if (s.winograd.empty()) return std::nullopt;
  return winograd_choice_for(s.winograd, d, pass);
}

namespace {

ConvBlocking read_blocking(const nlohmann::json& e, const std::string& cls,
                           const std::function<void(std::string)>& fail) {
  if (!e.contains("blocking") || !e["blocking"].is_object()) fail(cls + ": no blocking object");
  // Files before version 5 have no wgrad_vectors: they did not tune it, so it is the derived one.
  ConvBlocking b = derived_conv_blocking();
  for (int i = 0; i < kNumFields; ++i) {
    if (i == 6 && !e["blocking"].contains(kFields[i])) continue;
    const auto& v = e["blocking"].value(kFields[i], nlohmann::json());
    const int64_t lo = i == 0 ? 16 : 0, hi = i == 6 ? 4 : int64_t(1) << 40;
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      fail(cls + ": " + kFields[i] + " missing or outside " + std::to_string(lo) + ".." +
           (i == 6 ? std::to_string(hi) : "2^40"));
    *field(b, i) = v.get<int64_t>();
  }
  return b;
}

// A "[bf16-|wgrad-]winograd/c<C>/oc<OC>/<H>x<W>/p<pad>" class: its name must be the one its fields give.
WinogradChoice read_winograd(const nlohmann::json& e, const std::string& cls, WinogradPass pass,
                             const std::function<void(std::string)>& fail) {
  auto dim = [&](const char* k, int64_t lo, int64_t hi) {
    const auto& v = e.value(k, nlohmann::json());
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      fail(cls + ": " + k + " missing or outside " + std::to_string(lo) + ".." + std::to_string(hi));
    return v.get<int64_t>();
  };
  WinogradChoice c;
  c.pass = pass;
  c.C = dim("c", 1, 1 << 16), c.OC = dim("oc", 1, 1 << 16), c.H = dim("h", 1, 1 << 16), c.W = dim("w", 1, 1 << 16);
  c.pad = dim("pad", 0, 1), c.batch = dim("batch", 1, 1 << 16);
  if (!e.contains("winograd") || !e["winograd"].is_boolean()) fail(cls + ": winograd missing or not true/false");
  c.winograd = e["winograd"].get<bool>();
  auto timing = [&](const char* k) {  // information only, but a wrong type still refuses the file
    if (!e.contains(k)) return 0.0;
    if (!e[k].is_number()) fail(cls + ": " + k + " is not a number");
    return e[k].get<double>();
  };
  c.ms = timing("ms"), c.direct_ms = timing("direct_ms");
  if (winograd_choice_class(c) != cls) fail(cls + ": its fields name another shape (" + winograd_choice_class(c) + ")");
  return c;
}

}  // namespace

ConvTuningFile read_conv_tuning(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(path, "cannot read: " + ec.message());
  if (size > kMaxFileBytes) throw InputError(path, "larger than a tuning file can be (1 MB)");
  const nlohmann::json j = read_json_file(path);
  const std::function<void(std::string)> fail = [&](const std::string& why) { throw InputError(path, why); };
  if (!j.is_object() || string_or(j, "format") != "deepslide-tune") fail("not a deepslide tuning file");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] < 1 || j["version"] > kFormatVersion)
    fail("unsupported version");
  const nlohmann::json ours = cpu_json();
  if (!j.contains("cpu") || !j["cpu"].is_object()) fail("no cpu record");
  for (const auto& [k, v] : ours.items())
    if (!j["cpu"].contains(k) || j["cpu"][k] != v)
      fail("made for another CPU or ISA (cpu." + k + " is " + (j["cpu"].contains(k) ? j["cpu"][k].dump() : "missing") +
           ", this machine's " + v.dump() + ")");
  if (!j.contains("classes") || !j["classes"].is_object()) fail("no classes object");
  if (j["classes"].size() > kMaxClasses) fail("more than 4096 classes");
  ConvTuningFile f;
  for (const auto& [cls, e] : j["classes"].items()) {
    if (!e.is_object()) fail(cls + ": not an object");
    if (cls.rfind("winograd/", 0) == 0) f.winograd.push_back(read_winograd(e, cls, WinogradPass::forward, fail));
    else if (cls.rfind("bf16-winograd/", 0) == 0) f.winograd.push_back(read_winograd(e, cls, WinogradPass::bf16, fail));
    else if (cls.rfind("wgrad-winograd/", 0) == 0)
      f.winograd.push_back(read_winograd(e, cls, WinogradPass::wgrad, fail));
    else f.blocking[cls] = read_blocking(e, cls, fail);
  }
  return f;
}

void write_conv_tuning(const std::string& path, const std::vector<ConvTunedClass>& classes,
                       const std::vector<WinogradChoice>& winograd) {
  nlohmann::ordered_json j = {{"format", "deepslide-tune"}, {"version", kFormatVersion}, {"cpu", cpu_json()}};
  nlohmann::ordered_json cl = nlohmann::ordered_json::object();
  for (const ConvTunedClass& c : classes) {
    nlohmann::ordered_json b = nlohmann::ordered_json::object();
    ConvBlocking bl = c.blocking;
    for (int i = 0; i < kNumFields; ++i) b[kFields[i]] = *field(bl, i);
    cl[c.shape_class] = {{"blocking", b}, {"ms", c.ms}, {"derived_ms", c.derived_ms}};
  }
  for (const WinogradChoice& c : winograd)
    cl[winograd_choice_class(c)] = {{"c", c.C},
                                    {"oc", c.OC},
                                    {"h", c.H},
                                    {"w", c.W},
                                    {"pad", c.pad},
                                    {"batch", c.batch},
                                    {"winograd", c.winograd},
                                    {"ms", c.ms},
                                    {"direct_ms", c.direct_ms}};
  j["classes"] = cl;
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError(dir.string(), "cannot create the folder: " + ec.message());
  write_text_atomic(path, j.dump(2) + "\n");
}

const ConvTuningState& conv_tuning_state() {
  static const ConvTuningState s = load();
  return s;
}

const ConvBlocking* tuned_conv_blocking(const std::string& shape_class) {
  const ConvTuningState& s = conv_tuning_state();
  if (s.table.empty()) return nullptr;
  const auto it = s.table.find(shape_class);
  return it == s.table.end() ? nullptr : &it->second;
}

void set_conv_tuning_enabled(bool on) { g_enabled.store(on); }

}  // namespace ds
