// Writing the training and validation windows as a CSV (see window_list.h).
#include "train/window_list.h"

#include <set>
#include <sstream>
#include <tuple>

#include "base/atomic_file.h"
#include "base/error.h"

namespace ds {

void write_window_list(const Dataset& d, const std::string& path) {
  DS_CHECK_INPUT(d.slides_mode(), "--windows-csv needs slides mode (--all-wsi with label CSVs)");
  std::ostringstream out;
  out << "set,slide,x,y,side,class\n";
  for (const auto& [name, set] : {std::pair{"train", &d.train}, std::pair{"val", &d.val}}) {
    std::set<std::tuple<int32_t, int64_t, int64_t>> seen;  // oversampling repeats windows
    for (const Sample& s : *set) {
      if (!seen.insert({s.slide, s.window.x, s.window.y}).second) continue;
      out << name << "," << d.slide_paths[(size_t)s.slide] << "," << s.window.x << "," << s.window.y << ","
          << d.geometry[(size_t)s.slide].level0_side() << "," << d.classes[(size_t)s.label] << "\n";
    }
  }
  write_text_atomic(path, out.str());
}

}  // namespace ds
