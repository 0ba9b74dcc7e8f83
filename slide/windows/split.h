// DeepSlide's stage 1: split the slides of an all-WSI folder (one sub-folder per class) into
// train/val/test. Each class keeps its files in name order (or shuffled with a seed); its last
// `test_per_class` slides go to test, the `val_per_class` before them to val, the rest to train
// (so val and test are balanced, as DeepSlide does). Nothing is copied unless asked.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "slide/windows/labels_csv.h"

namespace ds {

// Files a slide can be, by extension (any case): the TIFF family (SVS, BIF, SCN, ...), NDPI,
// MIRAX (.mrxs, read with its folder) and plain images; not DICOM (a series is a folder).
bool is_slide_file(const std::string& filename);
// Sorted class folders of `all_wsi` and the sorted slide files in each (InputError when none).
std::vector<std::string> list_classes(const std::string& all_wsi);
std::vector<std::string> list_slides(const std::string& class_dir);

struct SplitResult {
  std::vector<SlideLabel> train, val, test;
};

SplitResult split_slides(const std::string& all_wsi, int val_per_class, int test_per_class,
                         std::optional<uint64_t> seed);

enum class Materialize { none, copy, link };
// Writes labels_{train,val,test}.csv into out_dir, and with copy/link also DeepSlide's
// wsi_train/<class>/, wsi_val/<class>/, wsi_test/<class>/ folders.
void write_split(const std::string& all_wsi, const std::string& out_dir, const SplitResult& split,
                 Materialize materialize);

}  // namespace ds
