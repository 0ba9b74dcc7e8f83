// Windows inside annotated regions. Training and patch export keep a window when one class's
// annotations cover at least `cover` of it and give it that class (the class covering most, the
// first by name on a tie); annotations without a class count as the slide's own class
// (`fallback`). restrict_windows is the region-of-interest form for prediction: a window is kept
// when all annotations together cover at least `cover` of it, whatever their classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "slide/windows/annotations.h"
#include "slide/windows/window_grid.h"

namespace ds {

struct LabelledWindow {
  Window window;
  std::string cls;
  double cover = 0;  // share of the window the class covers
};

// `windows` are level-0 top-left corners of squares of `side` level-0 pixels; cover in (0, 1].
std::vector<LabelledWindow> label_windows(const std::vector<Window>& windows, int64_t side, const SlideAnnotations& a,
                                          double cover, const std::string& fallback);

std::vector<Window> restrict_windows(const std::vector<Window>& windows, int64_t side, const SlideAnnotations& a,
                                     double cover);

}  // namespace ds
