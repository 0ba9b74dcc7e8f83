// deepslide predict (stage 4): every tissue window of every slide in a label CSV through the
// model, one CSV per slide (OUT/<slide stem>.csv, see infer/prediction_csv.h) plus
// OUT/predict.json (model, classes, window geometry per slide: what visualize and report need).
// Reruns skip slides whose CSV exists unless --force; a failing slide is listed with its reason
// and the rest go on (exit code 2 at the end).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/window_flags.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/threads.h"
#include "infer/slide_predictor.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds::cli {

namespace {

struct PredictOpts {
  std::string model, all_wsi, labels, out;
  int batch_size = 64;
  int readers = 1;
  bool force = false;
  WindowFlags win;
  CLI::Option* patch_flag = nullptr;  // --patch-size, only to check it against the model
};

void write_json(const std::string& path, const nlohmann::ordered_json& j) {
  std::string s = j.dump(2) + "\n";
  write_file_atomic(path, s.data(), s.size());
}

void run_predict(const PredictOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  Model model = load_model(o.model);
  WindowOptions wopt = o.win.resolve(3.0);
  if (o.patch_flag && o.patch_flag->count() > 0 && o.win.opt.patch_size != model.patch_size)
    throw InputError("--patch-size", std::to_string(o.win.opt.patch_size) + " differs from the model's patch size " +
                                         std::to_string(model.patch_size));
  wopt.patch_size = model.patch_size;
  DS_CHECK_INPUT(o.readers >= 1, "--readers must be at least 1");
  PredictOptions popt;
  popt.windows = wopt;
  popt.batch_size = o.batch_size;
  popt.reader_threads = o.readers;
  popt.select_threads = g.threads;
  auto rows = read_labels_csv(o.labels);
  fs::create_directories(o.out);

  const std::string meta_path = (fs::path(o.out) / "predict.json").string();
  nlohmann::ordered_json meta;
  if (fs::exists(meta_path)) {
    std::ifstream in(meta_path);
    meta = nlohmann::ordered_json::parse(in, nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) meta = nlohmann::ordered_json::object();
  }
  meta["model"] = o.model;
  meta["classes"] = model.classes;
  meta["patch_size"] = model.patch_size;
  meta["overlap"] = wopt.overlap;
  meta["level"] = wopt.level;
  meta["mpp"] = wopt.mpp;
  meta["tissue"] = tissue_method_name(wopt.tissue);
  meta["batch_size"] = o.batch_size;
  if (!meta.contains("slides")) meta["slides"] = nlohmann::ordered_json::object();

  std::vector<std::pair<std::string, std::string>> failed;
  std::vector<std::string> empty, skipped;
  int64_t total = 0;
  double net_total = 0;
  auto t_all = std::chrono::steady_clock::now();
  for (size_t si = 0; si < rows.size(); ++si) {
    const SlideLabel& row = rows[si];
    const std::string prefix = "[" + std::to_string(si + 1) + "/" + std::to_string(rows.size()) + "] " + row.img;
    try {
      const std::string path = resolve_slide_path(o.all_wsi, row, o.labels);
      const std::string stem = fs::path(path).stem().string();
      const std::string csv = (fs::path(o.out) / (stem + ".csv")).string();
      if (!o.force && fs::exists(csv)) {
        skipped.push_back(row.img);
        std::cerr << prefix << ": " << csv << " exists, skipped (--force redoes it)\n";
        continue;
      }
      auto slide = Slide::open(path);
      SlidePredictStats st;
      SlidePredictions p = predict_slide(model, *slide, popt, &st);
      write_prediction_csv(csv, p);
      ReadGeometry geo = read_geometry(*slide, wopt);
      meta["slides"][stem] = {{"img", row.img}, {"gt", row.gt}, {"path", path}, {"csv", stem + ".csv"},
                              {"window_side", geo.level0_side()}, {"read_level", geo.level},
                              {"windows", st.windows}, {"candidates", st.candidates}};
      write_json(meta_path, meta);
      total += st.windows;
      net_total += st.net_seconds;
      if (st.windows == 0) empty.push_back(row.img);
      std::cerr << prefix << ": " << st.windows << " of " << st.candidates << " windows, "
                << (int64_t)(st.windows / std::max(st.seconds, 1e-9)) << " patches/s ("
                << st.seconds << " s, network " << st.net_seconds << " s, reading " << st.read_seconds
                << " s on reader threads)\n";
    } catch (const InputError& e) {
      failed.emplace_back(row.img, e.what());
      std::cerr << prefix << ": FAILED: " << e.what() << "\n";
    } catch (const std::runtime_error& e) {
      failed.emplace_back(row.img, e.what());
      std::cerr << prefix << ": FAILED: " << e.what() << "\n";
    }
  }
  write_json(meta_path, meta);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  std::cout << "predict: " << total << " patches from " << rows.size() - failed.size() - skipped.size()
            << " slides in " << secs << " s (" << (int64_t)(total / std::max(secs, 1e-9)) << " patches/s overall, "
            << (int64_t)(total / std::max(net_total, 1e-9)) << " patches/s in the network), CSVs in " << o.out << "\n";
  if (!skipped.empty()) std::cout << "predict: " << skipped.size() << " slides already done, skipped\n";
  if (!empty.empty()) {
    std::cout << "predict: " << empty.size() << " slides had no tissue windows (header-only CSV):\n";
    for (const auto& s : empty) std::cout << "  " << s << "\n";
  }
  if (!failed.empty()) {
    std::cout << "predict: " << failed.size() << " slides failed:\n";
    for (const auto& [img, why] : failed) std::cout << "  " << img << ": " << why << "\n";
    throw InputError(o.labels, std::to_string(failed.size()) + " of " + std::to_string(rows.size()) +
                                   " slides failed (listed above)");
  }
}

}  // namespace

void register_predict(CLI::App& app, Globals& g) {
  auto o = std::make_shared<PredictOpts>();
  auto* sub = app.add_subcommand("predict", "Stage 4: predict every tissue window of each slide, one CSV per slide");
  sub->add_option("--model", o->model, "Model file (.safetensors)")->required();
  sub->add_option("--all-wsi", o->all_wsi, "Folder of slides (class sub-folders)")->required();
  sub->add_option("--labels", o->labels, "Label CSV (img,gt) of the slides to predict")->required();
  sub->add_option("--out", o->out, "Output folder for <slide>.csv and predict.json")->required();
  sub->add_option("--batch-size", o->batch_size, "Patches per forward pass")->capture_default_str();
  sub->add_option("--readers", o->readers, "Threads reading and decoding windows ahead of the network")
      ->capture_default_str();
  sub->add_flag("--force", o->force, "Redo slides whose CSV already exists");
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  add_window_flags(sub, o->win);
  o->patch_flag = sub->get_option("--patch-size");
  o->patch_flag->description("Patch side in pixels (default and only allowed value: the model's)");
  sub->callback([o, &g] { run_predict(*o, g); });
}

}  // namespace ds::cli
