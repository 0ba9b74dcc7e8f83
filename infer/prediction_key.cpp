// Building, comparing and storing prediction keys.
#include "infer/prediction_key.h"

#include <filesystem>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/file_hash.h"
#include "base/hash.h"
#include "base/json_bounded.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_winograd.h"
#include "slide/reader/slide_identity.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

// Key fields and how a difference in each is said; a field missing here is named as is.
const char* field_words(const std::string& field) {
  if (field == "version") return "the deepslide version changed";
  if (field == "program") return "the deepslide program changed (another build)";
  if (field == "model_fnv1a" || field == "model_bytes") return "the model file changed";
  if (field == "slide") return "the slide file changed";
  if (field == "annotations") return "the annotations changed (--annotations, its file or --annotation-cover)";
  if (field == "winograd")
    return "the convolution algorithm changed (--conv-algo, DEEPSLIDE_WINOGRAD or the tuning file's choices)";
  if (field == "precision") return "the precision changed (--precision)";
  if (field == "isa") return "the kernel ISA changed (DEEPSLIDE_ISA, DEEPSLIDE_AMX or another CPU)";
  return nullptr;
}

}  // namespace

ojson run_key(const std::string& model_path, const WindowOptions& w, Precision precision) {
  ojson k;
  k["version"] = DEEPSLIDE_VERSION;
  // The executable's bytes: a rebuild that changes any kernel can change the numbers, and the
  // version string alone is not bumped for that (the pipeline's stage stamps key the binary too).
  k["program"] = hex64(self_exe_fnv1a());
  k["model_bytes"] = (uint64_t)fs::file_size(model_path);
  k["model_fnv1a"] = hex64(fnv1a_file(model_path));
  // The AMX tiles sum in another order than the AVX-512 ones (bf16; int8 sums are exact, but a
  // key that says which tiles ran is simpler to trust).
  const bool amx = (precision == Precision::bf16 && has_amx_bf16_kernels()) ||
                   (precision == Precision::int8 && has_amx_int8_kernels());
  k["isa"] = std::string(isa_name(cpu_isa())) + (amx ? "+amx" : "");
  // Winograd rounds differently from the direct convolution (engine/kernels/conv_winograd.h).
  k["winograd"] = conv_algo_key();
  k["precision"] = precision_name(precision);
  k["patch_size"] = w.patch_size;
  k["overlap"] = w.overlap;
  if (w.mpp > 0) k["mpp"] = w.mpp;
  else k["level"] = w.level;
  k["tissue"] = tissue_method_name(w.tissue);
  if (w.tissue == TissueMethod::purple) {
    k["purple_scale"] = w.purple.scale;
    k["purple_threshold"] = w.purple.threshold;
  } else if (w.tissue == TissueMethod::otsu) {
    k["otsu_min_fraction"] = w.otsu_min_fraction;
    k["otsu_thumbnail"] = w.otsu_thumbnail;
  }
  return k;
}

ojson slide_key(const ojson& run, const std::string& slide_path) {
  return slide_key(run, slide_source_identity(slide_path));
}

ojson slide_key(const ojson& run, const FileIdentity& id) {
  ojson k = run;
  k["slide"] = {{"bytes", id.bytes}, {"head_fnv1a", hex64(id.head)}, {"tail_fnv1a", hex64(id.tail)}};
  if (!id.sha256.empty()) k["slide"]["sha256"] = id.sha256;
  return k;
}

std::string key_difference(const ojson& old_key, const ojson& key) {
  if (!old_key.is_object()) return "its key is not a JSON object";
  for (const auto& [field, v] : key.items()) {
    // (Compared as unordered JSON: a key read back through nlohmann::json has its objects' fields
    // sorted, and ordered_json's == compares them in order.)
    if (old_key.contains(field) && nlohmann::json(old_key[field]) == nlohmann::json(v)) continue;
    if (const char* words = field_words(field)) return words;
    if (!old_key.contains(field)) return "--" + field + " is new (" + v.dump() + ")";
    return "--" + field + " changed (" + old_key[field].dump() + " -> " + v.dump() + ")";
  }
  for (const auto& [field, v] : old_key.items())
    if (!key.contains(field)) return "--" + field + " no longer applies";
  return "";
}

namespace {

// The key file's key of the CSV at csv_path, checked as reuse_refusal and run_refusal need it,
// compared by `diff` (its words, or "" when it matches).
template <class Diff>
std::string key_file_refusal(const std::string& csv_path, const std::string& key_path, Diff diff) {
  std::error_code ec;
  if (!fs::exists(csv_path, ec)) return "no CSV yet";
  if (!fs::exists(key_path, ec)) return "its CSV has no key file " + fs::path(key_path).filename().string();
  ojson stored;
  try {
    stored = read_json_file<ojson>(key_path, 1 << 20);  // (a key file is a few kB)
  } catch (const InputError& e) {
    return std::string("its key file is unreadable (") + e.what() + ")";
  }
  if (!stored.is_object() || !stored.contains("key") || !stored["key"].is_object()) return "its key file has no key";
  if (std::string why = diff(stored["key"]); !why.empty()) return why;
  if (stored.value("csv_bytes", ojson()) != (uint64_t)fs::file_size(csv_path, ec) ||
      stored.value("csv_fnv1a", ojson()) != hex64(fnv1a_file(csv_path)))
    return "its CSV is not the one its key file describes (edited or replaced)";
  return "";
}

}  // namespace

std::string reuse_refusal(const std::string& csv_path, const std::string& key_path, const ojson& key) {
  return key_file_refusal(csv_path, key_path, [&](const ojson& stored) { return key_difference(stored, key); });
}

std::string run_refusal(const std::string& csv_path, const std::string& key_path, const ojson& run,
                        const ojson& annotations) {
  return key_file_refusal(csv_path, key_path, [&](ojson stored) -> std::string {
    stored.erase("slide");
    ojson want = run;
    if (!annotations.is_null()) want["annotations"] = annotations;
    return key_difference(stored, want);
  });
}

std::string finished_refusal(const std::string& csv_path) {
  return key_file_refusal(csv_path, fs::path(csv_path).replace_extension(".key.json").string(),
                          [](const ojson&) { return std::string(); });
}

void write_key_file(const std::string& key_path, const ojson& key, const std::string& csv_text) {
  ojson j;
  j["format"] = "deepslide-prediction-key";
  j["key"] = key;
  j["csv_bytes"] = (uint64_t)csv_text.size();
  j["csv_fnv1a"] = hex64(fnv1a(csv_text.data(), csv_text.size()));
  write_text_atomic(key_path, j.dump(2) + "\n");
}

}  // namespace ds
