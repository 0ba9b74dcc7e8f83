// Registration and validation of the shared window flags.
#include "cli/window_flags.h"

#include <algorithm>
#include <iostream>

#include "base/error.h"

namespace ds::cli {

void add_window_flags(CLI::App* sub, WindowFlags& f, const std::string& overlap_default) {
  f.sub = sub;
  sub->add_option("--patch-size", f.opt.patch_size, "Patch side in pixels")->capture_default_str();
  if (!overlap_default.empty())
    f.overlap = sub->add_option(
        "--overlap", f.opt.overlap,
        "Inverse overlap factor: windows every patch/F pixels (1 = no overlap; default " + overlap_default + ")");
  auto* level = sub->add_option("--level", f.opt.level, "Pyramid level to read windows at")->capture_default_str();
  auto* mpp = sub->add_option("--mpp", f.opt.mpp, "Target microns per pixel (picks the level, scales the window)");
  level->excludes(mpp);
  sub->add_option("--tissue", f.tissue, "Tissue filter: purple|otsu|none")->capture_default_str();
  sub->add_option("--purple-threshold", f.opt.purple.threshold, "Purple filter: keep when purple blocks > T")
      ->capture_default_str();
  sub->add_option("--purple-scale", f.opt.purple.scale, "Purple filter: blocks per patch side")->capture_default_str();
  sub->add_option("--otsu-min-fraction", f.opt.otsu_min_fraction, "Otsu filter: tissue share a window needs")
      ->capture_default_str();
}

WindowOptions WindowFlags::resolve(double default_overlap) const {
  WindowOptions o = opt;
  o.tissue = parse_tissue_method(tissue);
  if (!overlap || overlap->count() == 0) o.overlap = default_overlap;
  DS_CHECK_INPUT(o.patch_size >= 8 && o.patch_size <= 4096,
                 "--patch-size must be in [8, 4096], got " + std::to_string(o.patch_size));
  DS_CHECK_INPUT(o.overlap >= 1.0, "--overlap must be >= 1, got " + std::to_string(o.overlap));
  DS_CHECK_INPUT(o.purple.scale >= 1 && o.purple.scale <= o.patch_size,
                 "--purple-scale must be in [1, patch size], got " + std::to_string(o.purple.scale));
  DS_CHECK_INPUT(o.otsu_min_fraction >= 0 && o.otsu_min_fraction <= 1, "--otsu-min-fraction must be in [0, 1]");
  // 0 stands for no --mpp inside; given, it is a mistake.
  DS_CHECK_INPUT(o.mpp > 0 || (o.mpp == 0 && !given("--mpp")), "--mpp must be positive, got " + std::to_string(o.mpp));
  return o;
}

}  // namespace ds::cli

namespace ds::cli {

WindowOptions WindowFlags::resolve_over(const WindowOptions& recipe) const {
  const WindowOptions flags = resolve(recipe.overlap);
  WindowOptions o = recipe;
  if (given("--patch-size")) o.patch_size = flags.patch_size;
  if (given("--overlap")) o.overlap = flags.overlap;
  if (given("--level")) {
    o.level = flags.level;
    o.mpp = 0;
  }
  if (given("--mpp")) o.mpp = flags.mpp;
  // A resolution the user chose is theirs: the recipe's validated range no longer applies.
  if (given("--level") || given("--mpp")) o.level_mpp_min = o.level_mpp_max = 0;
  if (given("--tissue")) o.tissue = flags.tissue;
  if (given("--purple-threshold")) o.purple.threshold = flags.purple.threshold;
  if (given("--purple-scale")) o.purple.scale = flags.purple.scale;
  if (given("--otsu-min-fraction")) o.otsu_min_fraction = flags.otsu_min_fraction;
  return o;
}

WindowOptions WindowFlags::resolve_for(const TrainedAt& trained_at, double default_overlap,
                                       const std::string& who) const {
  WindowOptions o = resolve(default_overlap);
  if (!trained_at.known() || given("--level") || given("--mpp")) return o;
  o.level = std::max(trained_at.level, 0);
  o.mpp = trained_at.mpp;
  std::cerr << who << ": windows read at "
            << (o.mpp > 0 ? std::to_string(o.mpp) + " um/px" : "level " + std::to_string(o.level))
            << ", as the model was trained (--level or --mpp reads otherwise)\n";
  return o;
}

bool WindowFlags::given(const char* name) const {
  const CLI::Option* opt = sub ? sub->get_option_no_throw(name) : nullptr;
  return opt && opt->count() > 0;
}

int parse_readers(const std::string& value) {
  if (value == "auto") return -1;
  const bool digits = !value.empty() && value.size() <= 3 && value.find_first_not_of("0123456789") == std::string::npos;
  DS_CHECK_INPUT(digits, "--readers must be auto or a count from 0 to 999, not '" + value.substr(0, 40) + "'");
  return std::stoi(value);
}

}  // namespace ds::cli
