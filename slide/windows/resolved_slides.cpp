// Label rows resolved to slide files and their sizes (see resolved_slides.h).
#include "slide/windows/resolved_slides.h"

#include <stdexcept>

#include "base/file_hash.h"

namespace ds {

std::vector<ResolvedSlide> resolve_slides(const std::string& all_wsi, const std::vector<SlideLabel>& rows,
                                          const std::string& csv_path) {
  std::vector<ResolvedSlide> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    try {
      out[i].path = resolve_slide_path(all_wsi, rows[i], csv_path);
      out[i].bytes = bytes_on_disk(out[i].path);
    } catch (const std::exception&) {  // reported when the slide's turn comes, as in one process
      out[i] = {};
    }
  }
  return out;
}

std::string slides_description(const std::vector<SlideLabel>& rows, const std::vector<ResolvedSlide>& slides) {
  std::string d;
  for (size_t i = 0; i < rows.size() && i < slides.size(); ++i)
    d += rows[i].img + "\t" + rows[i].gt + "\t" + slides[i].path + "\t" + std::to_string(slides[i].bytes) + "\n";
  return d;
}

std::vector<int64_t> slide_sizes(const std::vector<ResolvedSlide>& slides) {
  std::vector<int64_t> s;
  for (const ResolvedSlide& r : slides) s.push_back((int64_t)r.bytes);
  return s;
}

}  // namespace ds
