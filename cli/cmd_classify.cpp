// deepslide classify: run a model file on PNG/JPEG patches and print, per image, the predicted
// class and every class probability (a table, or one JSON object per line with --json).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "base/error.h"
#include "base/threads.h"
#include "slide/reader/image_io.h"
#include "weights/model.h"
#include "weights/model_forward.h"

namespace ds::cli {

namespace {

struct ClassifyOpts {
  std::string model;
  std::vector<std::string> images;
  bool json = false;
  int batch_size = 16;
};

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

void print_row(std::string line) {
  line.erase(line.find_last_not_of(' ') + 1);
  std::cout << line << "\n";
}

void run_classify(const ClassifyOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  if (o.batch_size < 1)
    throw InputError("--batch-size", "must be at least 1, got " + std::to_string(o.batch_size));
  Model model = load_model(o.model);
  const size_t K = model.classes.size();

  size_t name_w = 5;
  for (const std::string& p : o.images) name_w = std::max(name_w, p.size());
  std::vector<size_t> class_w(K);
  size_t pred_w = 10;
  for (size_t k = 0; k < K; ++k) {
    class_w[k] = std::max<size_t>(model.classes[k].size(), 6);
    pred_w = std::max(pred_w, model.classes[k].size());
  }
  // The table header goes out with the first batch, so an unreadable first image prints only
  // the error line.
  bool header_done = o.json;

  for (size_t start = 0; start < o.images.size(); start += (size_t)o.batch_size) {
    const size_t end = std::min(o.images.size(), start + (size_t)o.batch_size);
    std::vector<std::string> names(o.images.begin() + start, o.images.begin() + end);
    std::vector<RgbImage> patches;
    for (const std::string& p : names) patches.push_back(load_image(p));
    Tensor probs = predict_probabilities(model, make_batch(patches, model, names));
    if (!header_done) {
      std::string line = pad("image", name_w) + "  " + pad("prediction", pred_w);
      for (size_t k = 0; k < K; ++k) line += "  " + pad(model.classes[k], class_w[k]);
      print_row(line);
      header_done = true;
    }
    for (size_t i = 0; i < names.size(); ++i) {
      const float* row = probs.data() + i * K;
      const size_t best = (size_t)(std::max_element(row, row + K) - row);
      if (o.json) {
        nlohmann::ordered_json j;
        j["image"] = names[i];
        j["prediction"] = model.classes[best];
        nlohmann::ordered_json pj = nlohmann::ordered_json::object();
        for (size_t k = 0; k < K; ++k) pj[model.classes[k]] = row[k];
        j["probabilities"] = pj;
        // File names need not be UTF-8: replace bad bytes rather than fail the whole run.
        std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
      } else {
        std::string line = pad(names[i], name_w) + "  " + pad(model.classes[best], pred_w);
        for (size_t k = 0; k < K; ++k) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.4f", row[k]);
          line += "  " + pad(buf, class_w[k]);
        }
        print_row(line);
      }
    }
    std::cout.flush();
  }
}

}  // namespace

void register_classify(CLI::App& app, Globals& g) {
  auto o = std::make_shared<ClassifyOpts>();
  auto* sub = app.add_subcommand("classify", "Classify PNG/JPEG patches with a model file");
  sub->add_option("--model", o->model, "Model file (.safetensors)")->required();
  sub->add_option("images", o->images, "PNG/JPEG patches, each patch_size x patch_size")->required();
  sub->add_flag("--json", o->json, "One JSON object per line instead of a table");
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  sub->add_option("--batch-size", o->batch_size, "Patches per forward pass")->capture_default_str();
  sub->callback([o, &g] { run_classify(*o, g); });
}

}  // namespace ds::cli
