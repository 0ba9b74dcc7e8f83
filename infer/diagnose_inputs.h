// Which slides `diagnose` runs on and the folder each one's outputs go to. Slides are named on
// the command line (files as given; folders walked recursively for every file the slide reader
// opens, by magic bytes, not by extension) or listed in a label CSV whose gt is optional.
// Output folders are the slide's stem, unique even when slides in different folders share a stem.
#pragma once
#include <string>
#include <vector>

namespace ds {

struct DiagnoseInput {
  std::string path;  // the slide file
  std::string name;  // its output folder under DIR: the stem, or stem-<8 hex of its path> when shared
  std::string gt;    // from --labels; "" when not known
};

// `args`: slide files and folders. `labels` (optional): a CSV `img[,gt]` whose img is resolved
// under the single folder in `args` (or, with no args, the CSV's own folder). Files under
// `exclude` (the output folder) are never inputs; a slide reached twice counts once.
// InputError for a folder without slides; a missing file (named, or a CSV row's) stays an input,
// so it fails alone when diagnosed.
std::vector<DiagnoseInput> diagnose_inputs(const std::vector<std::string>& args, const std::string& labels,
                                           const std::string& exclude);

}  // namespace ds
