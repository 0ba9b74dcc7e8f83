// deepslide bundle: flags, one call to infer/bundle_make.h's make_bundle (model file +
// aggregator.json + window settings -> one model bundle), and the recipe printed with where
// each setting came from.
#include <iostream>
#include <memory>
#include <optional>

#include "base/error.h"
#include "base/json_bounded.h"
#include "cli/commands.h"
#include "infer/bundle_make.h"

namespace ds::cli {

namespace {

struct BundleFlags {
  BundleOptions opt;
  int level = 0, purple_threshold = 0, purple_scale = 0;
  double mpp = 0, overlap = 0, otsu_min_fraction = 0;
  std::string tissue;
};

// The value of a flag the user gave, nothing otherwise.
template <typename T>
std::optional<T> given(const CLI::App* sub, const char* name, const T& value) {
  return sub->get_option(name)->count() > 0 ? std::optional<T>(value) : std::nullopt;
}

void run_bundle(BundleFlags& f, const CLI::App* sub) {
  BundleOptions o = f.opt;
  o.level = given(sub, "--level", f.level);
  o.mpp = given(sub, "--mpp", f.mpp);
  DS_CHECK_INPUT(!o.mpp || *o.mpp > 0, "--mpp must be positive, got " + std::to_string(f.mpp));
  o.overlap = given(sub, "--overlap", f.overlap);
  o.tissue = given(sub, "--tissue", f.tissue);
  o.purple_threshold = given(sub, "--purple-threshold", f.purple_threshold);
  o.purple_scale = given(sub, "--purple-scale", f.purple_scale);
  o.otsu_min_fraction = given(sub, "--otsu-min-fraction", f.otsu_min_fraction);
  const BundleMade made = make_bundle(o);
  const WindowOptions& w = made.recipe.windows;
  auto from = [&](const char* key) { return " (" + made.sources.at(key) + ")"; };
  std::cout << "bundle: " << o.out << "\n"
            << "  windows   " << w.patch_size << " px at "
            << (w.mpp > 0 ? std::to_string(w.mpp) + " um/px" : "level " + std::to_string(w.level)) << from("level")
            << ", overlap " << w.overlap << from("overlap") << "\n"
            << "  checks    "
            << (w.level_mpp_min > 0
                    ? "slides read at " + validated_mpp_text(w) + " um/px (a factor of 1.25 either way)"
                    : std::string(w.mpp > 0 ? "none: the recipe reads at an mpp" : "none: no resolution recorded"))
            << from("level_mpp") << "\n"
            << "  tissue    " << tissue_method_name(w.tissue) << from("tissue") << ": purple threshold "
            << w.purple.threshold << ", scale " << w.purple.scale << ", otsu min fraction " << w.otsu_min_fraction
            << "\n"
            << "  slide     " << made.recipe.aggregator.method << " aggregator ("
            << string_or(made.provenance["validation"], "name", "?") << ")\n";
  if (!made.resolution_note.empty()) std::cerr << "bundle: note: " << made.resolution_note << "\n";
}

}  // namespace

void register_bundle(CLI::App& app, Globals& g) {
  auto f = std::make_shared<BundleFlags>();
  auto* sub = app.add_subcommand("bundle",
                                 "Pack a model, the aggregator search chose and the window recipe into one "
                                 "model bundle for `diagnose`");
  sub->add_option("--model", f->opt.model, "Model file (best.safetensors)")->required();
  sub->add_option("--aggregator", f->opt.aggregator, "aggregator.json written by search")->required();
  sub->add_option("--out", f->opt.out, "Bundle to write (.safetensors)")->required();
  auto* level = sub->add_option("--level", f->level, "Pyramid level to read windows at (default: the search run's)");
  auto* mpp = sub->add_option("--mpp", f->mpp, "Target microns per pixel (default: the search run's)");
  level->excludes(mpp);
  sub->add_option("--overlap", f->overlap, "Inverse overlap factor (default: the search run's)");
  sub->add_option("--tissue", f->tissue, "Tissue filter: purple|otsu|none (default: the search run's)");
  sub->add_option("--purple-threshold", f->purple_threshold, "Purple filter: keep when purple blocks > T");
  sub->add_option("--purple-scale", f->purple_scale, "Purple filter: blocks per patch side");
  sub->add_option("--otsu-min-fraction", f->otsu_min_fraction, "Otsu filter: tissue share a window needs");
  sub->callback([f, sub] { run_bundle(*f, sub); });
}

}  // namespace ds::cli
