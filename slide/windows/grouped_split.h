// Patient-level splits and cross-validation folds (`deepslide split --groups CSV`, `--folds K`).
// A patient's slides stay together: the unit that goes to train, val or test is a patient, so
// no patient's tissue is both learnt from and tested on. Slides the groups CSV does not list
// are patients of their own. A patient belongs to the class most of its slides have (the first
// by name on a tie) for stratification.
//
// Groups CSV: header `slide,patient`; `slide` names a slide of the all-WSI folder as the label
// CSVs do (`class/file`), or by its file name or stem when that is unambiguous. A slide that is
// not in the folder, or one given two patients, is an error naming the file and line.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "slide/windows/split.h"

namespace ds {

// Every slide of the all-WSI folder as a label row (class/file, class), in name order.
std::vector<SlideLabel> all_slides(const std::string& all_wsi);

// img (class/file) -> patient, for the slides the CSV lists.
std::map<std::string, std::string> read_patient_groups(const std::string& csv, const std::vector<SlideLabel>& slides);

// split_slides with whole patients: per class, patients (in name order, or shuffled with the
// seed) go to test from the end until test holds at least test_per_class slides of the class,
// then to val likewise, the rest to train. groups: as read_patient_groups returns.
SplitResult split_slides_grouped(const std::vector<SlideLabel>& slides,
                                 const std::map<std::string, std::string>& groups, int val_per_class,
                                 int test_per_class, std::optional<uint64_t> seed);

// K folds, stratified by class and grouped by patient: per class, patients (largest first, then
// name order or the seeded shuffle) each go to the fold holding the fewest slides of that class
// so far. Fold k tests on fold k, validates on fold k+1 (mod K) and trains on the rest; K >= 3.
std::vector<SplitResult> fold_slides(const std::vector<SlideLabel>& slides,
                                     const std::map<std::string, std::string>& groups, int folds,
                                     std::optional<uint64_t> seed);

// OUT/fold<k>/labels_{train,val,test}.csv for k = 0..K-1.
void write_folds(const std::string& all_wsi, const std::string& out_dir, const std::vector<SplitResult>& folds);

}  // namespace ds
