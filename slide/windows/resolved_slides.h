// The slides of a label CSV as found under the slide folder, with their sizes on disk: what the
// ranks of an MPI job compare before they share the slides out (dist::check_same_run: every rank
// must see the same files) and what orders them largest first (dist/work_queue.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "slide/windows/labels_csv.h"

namespace ds {

struct ResolvedSlide {
  std::string path;    // resolve_slide_path's answer; "" when the slide is not there (it fails alone)
  uint64_t bytes = 0;  // base/file_hash.h bytes_on_disk
};

std::vector<ResolvedSlide> resolve_slides(const std::string& all_wsi, const std::vector<SlideLabel>& rows,
                                          const std::string& csv_path);
// One line per row: img, gt, path and size (for check_same_run).
std::string slides_description(const std::vector<SlideLabel>& rows, const std::vector<ResolvedSlide>& slides);
// The sizes, as dist::largest_first takes them.
std::vector<int64_t> slide_sizes(const std::vector<ResolvedSlide>& slides);

}  // namespace ds
