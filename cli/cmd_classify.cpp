// deepslide classify: flags, one call to infer/classify.h's classify_images, and per image the
// predicted class and every class probability printed (a table, or one JSON object per line
// with --json).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "infer/classify.h"
#include "weights/model_forward.h"
#include "weights/precision_agreement.h"

namespace ds::cli {

namespace {

struct ClassifyOpts {
  std::string model;
  std::vector<std::string> images;
  bool json = false;
  int batch_size = 16;
  std::string precision = "fp32";
};

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

void print_row(std::string line) {
  line.erase(line.find_last_not_of(' ') + 1);
  std::cout << line << "\n";
}

// The table: column widths fitted to the image names and class names. The header goes out with
// the first batch, so an unreadable first image prints only the error line.
class Table {
 public:
  Table(const std::vector<std::string>& classes, const std::vector<std::string>& images) : classes_(classes) {
    for (const std::string& p : images) name_w_ = std::max(name_w_, p.size());
    for (const std::string& c : classes) {
      class_w_.push_back(std::max<size_t>(c.size(), 6));
      pred_w_ = std::max(pred_w_, c.size());
    }
  }
  void print(const ImageClass& r) {
    if (!header_done_) {
      std::string line = pad("image", name_w_) + "  " + pad("prediction", pred_w_);
      for (size_t k = 0; k < classes_.size(); ++k) line += "  " + pad(classes_[k], class_w_[k]);
      print_row(line);
      header_done_ = true;
    }
    std::string line = pad(r.image, name_w_) + "  " + pad(classes_[(size_t)r.prediction], pred_w_);
    for (size_t k = 0; k < classes_.size(); ++k) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", r.probs[k]);
      line += "  " + pad(buf, class_w_[k]);
    }
    print_row(line);
  }

 private:
  const std::vector<std::string>& classes_;
  size_t name_w_ = 5, pred_w_ = 10;
  std::vector<size_t> class_w_;
  bool header_done_ = false;
};

void print_json(const ImageClass& r, const std::vector<std::string>& classes) {
  nlohmann::ordered_json j;
  j["image"] = r.image;
  j["prediction"] = classes[(size_t)r.prediction];
  nlohmann::ordered_json pj = nlohmann::ordered_json::object();
  for (size_t k = 0; k < classes.size(); ++k) pj[classes[k]] = r.probs[k];
  j["probabilities"] = pj;
  // File names need not be UTF-8: replace bad bytes rather than fail the whole run.
  std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
}

void run_classify(const ClassifyOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  if (o.batch_size < 1) throw InputError("--batch-size", "must be at least 1, got " + std::to_string(o.batch_size));
  Model model = load_model(o.model);
  const PrecisionPick pick = choose_precision(o.precision, model, o.model);
  const Precision precision = pick.precision;
  if (!pick.why.empty()) std::cerr << "classify: precision " << pick.why << "\n";
  Table table(model.classes, o.images);
  classify_images(
      model, o.images, o.batch_size,
      [&](const std::vector<ImageClass>& batch) {
        for (const ImageClass& r : batch) {
          if (o.json) print_json(r, model.classes);
          else table.print(r);
        }
        std::cout.flush();
      },
      precision);
}

}  // namespace

void register_classify(CLI::App& app, Globals& g) {
  auto o = std::make_shared<ClassifyOpts>();
  auto* sub = app.add_subcommand("classify", "Classify PNG/JPEG patches with a model file");
  sub->add_option("--model", o->model, "Model file or bundle (.safetensors)")->required();
  sub->add_option("images", o->images, "PNG/JPEG patches, each patch_size x patch_size")->required();
  sub->add_flag("--json", o->json, "One JSON object per line instead of a table");
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  sub->add_option("--batch-size", o->batch_size, "Patches per forward pass")->capture_default_str();
  sub->add_option(
         "--precision", o->precision,
         "fp32|bf16|int8|auto: the convolutions' arithmetic (bf16 needs a CPU with AVX512-BF16, int8 "
         "AVX512-VNNI or AVX-VNNI and a model calibrated by `deepslide calibrate`; auto: the fastest this CPU has "
         "whose agreement with fp32 the model records, else fp32)")
      ->capture_default_str();
  sub->callback([o, &g] { run_classify(*o, g); });
}

}  // namespace ds::cli
