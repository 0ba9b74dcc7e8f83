// Checkpoint writing, reading, validation and discovery (see checkpoint.h).
#include "train/checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "base/error.h"
#include "base/hash.h"
#include "base/regular_file.h"
#include "weights/safetensors.h"

namespace fs = std::filesystem;

namespace ds {

namespace {
constexpr const char* kStateFormat = "deepslide-train-state";
constexpr const char* kStateSuffix = ".state.safetensors";

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

}  // namespace

std::string state_path_for(const std::string& model_path) {
  const std::string ext = ".safetensors";
  std::string base = model_path;
  if (base.size() > ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0)
    base.resize(base.size() - ext.size());
  return base + kStateSuffix;
}

uint64_t file_hash(const std::string& path) {
  require_regular_file(path);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path, "cannot open");
  uint64_t h = kFnvOffset;
  char buf[1 << 16];
  while (f) {
    f.read(buf, sizeof buf);
    h = fnv1a(buf, (size_t)f.gcount(), h);
  }
  return h;
}

void write_checkpoint(const std::string& model_path, const Model& model, const TrainState& st) {
  save_model(model_path, model);
  std::map<std::string, std::string> meta;
  meta["format"] = kStateFormat;
  meta["version"] = "1";
  meta["model_file"] = fs::path(model_path).filename().string();
  meta["model_hash"] = hex64(file_hash(model_path));
  meta["epochs_done"] = std::to_string(st.epochs_done);
  meta["batch"] = std::to_string(st.batch);
  meta["sched_epoch"] = std::to_string(st.sched_epoch);
  meta["loss_sum"] = exact(st.loss_sum);
  meta["correct"] = std::to_string(st.correct);
  meta["seen"] = std::to_string(st.seen);
  meta["epoch_seconds"] = exact(st.epoch_seconds);
  meta["best_epoch"] = std::to_string(st.best_epoch);
  meta["best_val_acc"] = exact(st.best_val_acc);
  meta["best_path"] = st.best_path;
  meta["log_csv"] = st.log_csv;
  std::string unreadable;
  for (const UnreadableItem& u : st.unreadable) unreadable += u.file + "\t" + u.where + "\t" + u.reason + "\n";
  meta["unreadable"] = unreadable;
  meta["optimizer"] = st.optimizer.kind;
  meta["optimizer_step"] = std::to_string(st.optimizer.step);
  meta["optimizer_lr"] = exact(st.optimizer.lr);
  for (const auto& [k, v] : st.config) meta["config." + k] = v;
  std::vector<StTensorRef> refs;
  for (size_t i = 0; i < st.optimizer.names.size(); ++i) {
    const Tensor& t = st.optimizer.tensors[i];
    StTensorRef r;
    r.name = st.optimizer.names[i];
    for (int d = 0; d < t.dim(); ++d) r.shape.push_back(t.size(d));
    r.data = t.data();
    refs.push_back(r);
  }
  write_safetensors(state_path_for(model_path), refs, meta);
}

namespace {

const std::string& need(const StFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) throw InputError(path, "not a complete training state file (no '" + key + "')");
  return it->second;
}

int64_t need_int(const StFile& f, const std::string& path, const std::string& key) {
  const std::string& s = need(f, path, key);
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  throw InputError(path, "bad value '" + s + "' for '" + key + "'");
}

double need_double(const StFile& f, const std::string& path, const std::string& key) {
  const std::string& s = need(f, path, key);
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  throw InputError(path, "bad value '" + s + "' for '" + key + "'");
}

}  // namespace

TrainState train_state_from(const StFile& f, const std::string& sp) {
  if (need(f, sp, "format") != kStateFormat) throw InputError(sp, "not a deepslide training state file");
  TrainState st;
  st.epochs_done = need_int(f, sp, "epochs_done");
  st.batch = need_int(f, sp, "batch");
  st.sched_epoch = need_int(f, sp, "sched_epoch");
  st.loss_sum = need_double(f, sp, "loss_sum");
  st.correct = need_int(f, sp, "correct");
  st.seen = need_int(f, sp, "seen");
  st.epoch_seconds = need_double(f, sp, "epoch_seconds");
  st.best_epoch = need_int(f, sp, "best_epoch");
  st.best_val_acc = need_double(f, sp, "best_val_acc");
  st.best_path = need(f, sp, "best_path");
  st.log_csv = need(f, sp, "log_csv");
  // Optional: state files written before it was recorded hold no unreadable items.
  if (auto it = f.metadata.find("unreadable"); it != f.metadata.end()) {
    std::istringstream lines(it->second);
    std::string line;
    while (std::getline(lines, line)) {
      const size_t t1 = line.find('\t'), t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
      if (t2 == std::string::npos) throw InputError(sp, "bad line '" + line + "' in 'unreadable'");
      st.unreadable.push_back({line.substr(0, t1), line.substr(t1 + 1, t2 - t1 - 1), line.substr(t2 + 1)});
    }
  }
  st.optimizer.kind = need(f, sp, "optimizer");
  st.optimizer.step = need_int(f, sp, "optimizer_step");
  st.optimizer.lr = need_double(f, sp, "optimizer_lr");
  if (st.epochs_done < 0 || st.batch < 0 || st.seen < 0 || st.correct < 0 || st.correct > st.seen)
    throw InputError(sp, "inconsistent training position or counters");
  for (const StTensor& t : f.tensors) {
    if (t.shape.size() > (size_t)Shape::kMaxDims)  // Shape would refuse it as an internal error
      throw InputError(sp, "optimizer tensor '" + t.name + "' has shape " + shape_str(t.shape) + ", more than " +
                               std::to_string(Shape::kMaxDims) + " dimensions");
    st.optimizer.names.push_back(t.name);
    st.optimizer.tensors.push_back(Tensor::from_vector(Shape(t.shape), t.values));
  }
  for (const auto& [k, v] : f.metadata)
    if (k.rfind("config.", 0) == 0) st.config[k.substr(7)] = v;
  return st;
}

Checkpoint read_checkpoint(const std::string& model_path) {
  const std::string sp = state_path_for(model_path);
  if (!fs::exists(model_path)) throw InputError(model_path, "checkpoint model file not found");
  if (!fs::exists(sp)) throw InputError(sp, "training state file not found (partial checkpoint)");
  const StFile f = read_safetensors(sp);
  if (need(f, sp, "format") != kStateFormat) throw InputError(sp, "not a deepslide training state file");
  if (need(f, sp, "model_hash") != hex64(file_hash(model_path)))
    throw InputError(model_path, "does not match its state file " + sp + " (modified or corrupt checkpoint)");
  Checkpoint c;
  c.model = load_model(model_path);
  c.state = train_state_from(f, sp);
  return c;
}

std::string latest_checkpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) return "";
  // At most 9 digits: a name no run of ours can have (a planted or corrupt one) is not ours.
  static const std::regex end_re(R"(.*_e(\d{1,9})_va[0-9.]+\.safetensors)");
  static const std::regex mid_re(R"(.*_e(\d{1,9})_b(\d{1,9})\.safetensors)");
  std::string best;
  std::pair<int64_t, int64_t> best_key{-1, -1};
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > std::string(kStateSuffix).size() &&
        name.compare(name.size() - std::string(kStateSuffix).size(), std::string::npos, kStateSuffix) == 0)
      continue;
    std::smatch m;
    std::pair<int64_t, int64_t> key;
    if (std::regex_match(name, m, end_re)) key = {std::stoll(m[1]), 0};
    else if (std::regex_match(name, m, mid_re)) key = {std::stoll(m[1]) - 1, std::stoll(m[2])};
    else continue;
    if (!fs::exists(state_path_for(e.path().string()))) continue;  // killed between the two writes
    if (key > best_key || (key == best_key && e.path().string() > best)) {
      best_key = key;
      best = e.path().string();
    }
  }
  return best;
}

void check_config(const std::string& state_path, const std::map<std::string, std::string>& saved,
                  const std::map<std::string, std::string>& current) {
  for (const auto& [k, v] : current) {
    auto it = saved.find(k);
    if (it == saved.end())
      throw InputError(state_path, "no recorded setting '" + k + "' (not a checkpoint of this kind of run)");
    if (it->second != v)
      throw InputError(state_path, "checkpoint was written with " + k + " = " + it->second + ", this run has " + v +
                                       "; resume with the same settings or start a new --out folder");
  }
}

}  // namespace ds
