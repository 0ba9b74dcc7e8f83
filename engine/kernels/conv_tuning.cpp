// Reading, checking and writing the tuning file (see conv_tuning.h).
#include "engine/kernels/conv_tuning.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "engine/cpu_features.h"

namespace ds {

namespace {

constexpr int kFormatVersion = 1;
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

const char* const kFields[] = {"chunk_k",           "group_bytes",       "super_weight_bytes",
                               "wgrad_super_bytes", "wgrad_chunk_bytes", "wgrad_part_bytes"};
int64_t* field(ConvBlocking& b, int i) {
  int64_t* f[] = {&b.chunk_k,           &b.group_bytes,       &b.super_weight_bytes,
                  &b.wgrad_super_bytes, &b.wgrad_chunk_bytes, &b.wgrad_part_bytes};
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
    s.table = read_conv_tuning(s.path);
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

std::map<std::string, ConvBlocking> read_conv_tuning(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(path, "cannot read: " + ec.message());
  if (size > kMaxFileBytes) throw InputError(path, "larger than a tuning file can be (1 MB)");
  const nlohmann::json j = read_json_file(path);
  auto fail = [&](const std::string& why) { throw InputError(path, why); };
  if (!j.is_object() || j.value("format", "") != "deepslide-tune") fail("not a deepslide tuning file");
  if (!j.contains("version") || j["version"] != kFormatVersion) fail("unsupported version");
  const nlohmann::json ours = cpu_json();
  if (!j.contains("cpu") || !j["cpu"].is_object()) fail("no cpu record");
  for (const auto& [k, v] : ours.items())
    if (!j["cpu"].contains(k) || j["cpu"][k] != v)
      fail("made for another CPU or ISA (cpu." + k + " is " + (j["cpu"].contains(k) ? j["cpu"][k].dump() : "missing") +
           ", this machine's " + v.dump() + ")");
  if (!j.contains("classes") || !j["classes"].is_object()) fail("no classes object");
  if (j["classes"].size() > kMaxClasses) fail("more than 4096 classes");
  std::map<std::string, ConvBlocking> table;
  for (const auto& [cls, e] : j["classes"].items()) {
    if (!e.is_object() || !e.contains("blocking") || !e["blocking"].is_object()) fail(cls + ": no blocking object");
    ConvBlocking b;
    for (int i = 0; i < 6; ++i) {
      const auto& v = e["blocking"].value(kFields[i], nlohmann::json());
      const int64_t lo = i == 0 ? 16 : 0, hi = int64_t(1) << 40;
      if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
        fail(cls + ": " + kFields[i] + " missing or outside " + std::to_string(lo) + "..2^40");
      *field(b, i) = v.get<int64_t>();
    }
    table[cls] = b;
  }
  return table;
}

void write_conv_tuning(const std::string& path, const std::vector<ConvTunedClass>& classes) {
  nlohmann::ordered_json j = {{"format", "deepslide-tune"}, {"version", kFormatVersion}, {"cpu", cpu_json()}};
  nlohmann::ordered_json cl = nlohmann::ordered_json::object();
  for (const ConvTunedClass& c : classes) {
    nlohmann::ordered_json b = nlohmann::ordered_json::object();
    ConvBlocking bl = c.blocking;
    for (int i = 0; i < 6; ++i) b[kFields[i]] = *field(bl, i);
    cl[c.shape_class] = {{"blocking", b}, {"ms", c.ms}, {"derived_ms", c.derived_ms}};
  }
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
