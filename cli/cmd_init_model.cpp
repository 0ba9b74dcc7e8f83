// deepslide init-model: write a freshly initialised model file (torchvision's init, seeded), for
// training from scratch and for tests.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "cli/commands.h"
#include "weights/model.h"

namespace ds::cli {

namespace {

struct InitModelOpts {
  std::string arch, out;
  std::vector<std::string> classes;
  uint64_t seed = 0;
  int patch_size = 224;
  std::vector<float> mean{kImageNetMean.begin(), kImageNetMean.end()};
  std::vector<float> std{kImageNetStd.begin(), kImageNetStd.end()};
};

std::array<float, 3> triple(const std::string& flag, const std::vector<float>& v) {
  if (v.size() != 3) throw InputError(flag, "needs 3 comma-separated values (r,g,b), got " + std::to_string(v.size()));
  return {v[0], v[1], v[2]};
}

}  // namespace

void register_init_model(CLI::App& app, Globals& g) {
  auto o = std::make_shared<InitModelOpts>();
  auto* sub = app.add_subcommand("init-model", "Write a freshly initialised model file");
  sub->add_option("--arch", o->arch, "resnet18, resnet34 or resnet50")->required();
  sub->add_option("--classes", o->classes, "Class names, comma-separated (a,b,c)")->required()->delimiter(',');
  sub->add_option("--out", o->out, "Model file to write (.safetensors)")->required();
  sub->add_option("--seed", o->seed, "Initialisation seed")->capture_default_str();
  sub->add_option("--patch-size", o->patch_size, "Patch width and height in pixels")->capture_default_str();
  sub->add_option("--mean", o->mean, "Per-channel mean, 0..1 units (r,g,b; default ImageNet)")->delimiter(',');
  sub->add_option("--std", o->std, "Per-channel std, 0..1 units (r,g,b; default ImageNet)")->delimiter(',');
  sub->callback([o] {
    Model m = make_model(parse_arch(o->arch), o->classes, o->seed, o->patch_size, triple("--mean", o->mean),
                         triple("--std", o->std));
    save_model(o->out, m);
    std::cout << "init-model: " << o->arch << ", " << m.classes.size() << " classes, patch " << m.patch_size << " -> "
              << o->out << "\n";
  });
}

}  // namespace ds::cli
