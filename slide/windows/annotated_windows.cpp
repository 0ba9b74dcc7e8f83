// Window labelling by annotation coverage (see annotated_windows.h).
#include "slide/windows/annotated_windows.h"

#include <map>

#include "base/error.h"

namespace ds {

namespace {

void check_cover(double cover) {
  DS_CHECK_INPUT(cover > 0 && cover <= 1, "--annotation-cover must be in (0, 1], got " + std::to_string(cover));
}

}  // namespace

std::vector<LabelledWindow> label_windows(const std::vector<Window>& windows, int64_t side, const SlideAnnotations& a,
                                          double cover, const std::string& fallback) {
  check_cover(cover);
  std::map<std::string, std::vector<const Polygon*>> by_class;  // sorted: ties go to the first name
  for (const Annotation& ann : a.items)
    for (const Polygon& p : ann.polygons) by_class[ann.cls.empty() ? fallback : ann.cls].push_back(&p);
  std::vector<LabelledWindow> out;
  for (const Window& w : windows) {
    LabelledWindow best{w, "", 0.0};
    for (const auto& [cls, polys] : by_class) {
      const double f = covered_fraction(polys, (double)w.x, (double)w.y, (double)side);
      if (f > best.cover) best = {w, cls, f};
    }
    if (best.cover >= cover) out.push_back(best);
  }
  return out;
}

std::vector<Window> restrict_windows(const std::vector<Window>& windows, int64_t side, const SlideAnnotations& a,
                                     double cover) {
  check_cover(cover);
  std::vector<const Polygon*> polys;
  for (const Annotation& ann : a.items)
    for (const Polygon& p : ann.polygons) polys.push_back(&p);
  std::vector<Window> out;
  for (const Window& w : windows)
    if (covered_fraction(polys, (double)w.x, (double)w.y, (double)side) >= cover) out.push_back(w);
  return out;
}

}  // namespace ds
