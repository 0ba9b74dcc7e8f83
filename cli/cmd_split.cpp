// deepslide split: DeepSlide's stage 1 (labels_{train,val,test}.csv, optional copies/links).
#include <filesystem>
#include <iostream>
#include <optional>

#include "base/error.h"
#include "cli/commands.h"
#include "slide/windows/grouped_split.h"
#include "slide/windows/split.h"

namespace ds::cli {

void register_split(CLI::App& app, Globals& g) {
  struct Opts {
    std::string all_wsi, out, materialize = "none", groups;
    int val_per_class = 3, test_per_class = 3, folds = 0;
    uint64_t seed = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("split", "Split slides into train/val/test label CSVs (DeepSlide stage 1)");
  sub->add_option("--all-wsi", o->all_wsi, "Folder with one sub-folder of slides per class")->required();
  sub->add_option("--out", o->out, "Output folder for labels_{train,val,test}.csv")->required();
  sub->add_option("--val-per-class", o->val_per_class, "Validation slides per class")->capture_default_str();
  sub->add_option("--test-per-class", o->test_per_class, "Test slides per class")->capture_default_str();
  auto* seed_opt =
      sub->add_option("--seed", o->seed, "Shuffle each class with this seed (default: name order, as DeepSlide)");
  sub->add_option("--materialize", o->materialize, "Also build wsi_train/val/test folders: none|copy|link")
      ->check(CLI::IsMember({"none", "copy", "link"}))
      ->capture_default_str();
  sub->add_option("--groups", o->groups, "CSV slide,patient: all slides of a patient go to the same split");
  auto* folds_opt = sub->add_option("--folds", o->folds,
                                    "Write K >= 3 cross-validation folds (OUT/fold<k>/labels_*.csv), stratified by "
                                    "class, by patient with --groups");
  sub->callback([o, seed_opt, folds_opt] {
    std::optional<uint64_t> seed;
    if (seed_opt->count()) seed = o->seed;
    std::map<std::string, std::string> groups;
    std::vector<SlideLabel> slides;
    // --folds given at all means folds: --folds 0 is an error (fold_slides), not "no folds".
    const bool folds = folds_opt->count() > 0;
    if (!o->groups.empty() || folds) slides = all_slides(o->all_wsi);
    if (!o->groups.empty()) groups = read_patient_groups(o->groups, slides);
    if (folds) {
      DS_CHECK_INPUT(o->materialize == "none", "--materialize does not apply to --folds");
      const std::vector<SplitResult> f = fold_slides(slides, groups, o->folds, seed);
      write_folds(o->all_wsi, o->out, f);
      for (size_t k = 0; k < f.size(); ++k)
        std::cout << "split: fold" << k << ": " << f[k].train.size() << " train, " << f[k].val.size() << " val, "
                  << f[k].test.size() << " test slides\n";
      std::cout << "split: " << f.size() << " folds -> "
                << (std::filesystem::path(o->out) / "fold*/labels_*.csv").string() << "\n";
      return;
    }
    SplitResult s = o->groups.empty() ? split_slides(o->all_wsi, o->val_per_class, o->test_per_class, seed)
                                      : split_slides_grouped(slides, groups, o->val_per_class, o->test_per_class, seed);
    Materialize m = o->materialize == "copy"   ? Materialize::copy
                    : o->materialize == "link" ? Materialize::link
                                               : Materialize::none;
    write_split(o->all_wsi, o->out, s, m);
    std::cout << "split: " << s.train.size() << " train, " << s.val.size() << " val, " << s.test.size()
              << " test slides -> " << (std::filesystem::path(o->out) / "labels_*.csv").string() << "\n";
  });
}

}  // namespace ds::cli
