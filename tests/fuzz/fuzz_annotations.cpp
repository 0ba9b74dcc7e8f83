// fuzz-links: ds_slide_windows
// libFuzzer harness for the annotation readers (slide/windows/annotations.h): the input as a file
// through read_annotations (format detection, class names), and as text through each parser,
// QuPath GeoJSON, ASAP XML and Aperio ImageScope XML (the tag scanner, xml_tags.h, and the DTD
// refusal with them). Annotations that read are checked against a slide's bounds and, when small,
// put over a grid of windows (coverage, labels, restriction). Bad input must end in
// ds::InputError. Seeds: tests/fuzz/seeds/annotations/.
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "fuzz_input.h"
#include "slide/windows/annotated_windows.h"
#include "slide/windows/annotations.h"

namespace {

// Coverage costs up to 64 x 64 point tests per vertex and window: only small annotation sets go
// over the grid, so one input stays well under the fuzzer's timeout.
constexpr size_t kMaxGridVertices = 4000;

void use(const ds::SlideAnnotations& a) {
  size_t vertices = 0;
  for (const ds::Annotation& ann : a.items)
    for (const ds::Polygon& p : ann.polygons)
      for (const ds::Ring& r : p.rings) vertices += r.size();
  try {
    ds::check_annotations_inside(a, 1000, 800);
  } catch (const ds::InputError&) {
  }
  if (vertices > kMaxGridVertices) return;
  std::vector<ds::Window> windows;
  for (int64_t y = 0; y < 800; y += 200)
    for (int64_t x = 0; x < 1000; x += 250) windows.push_back({x, y});
  ds::label_windows(windows, 250, a, 0.3, "slide_class");
  ds::restrict_windows(windows, 250, a, 0.5);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (auto parse : {ds::parse_geojson_annotations, ds::parse_asap_annotations, ds::parse_aperio_annotations}) {
    try {
      use(parse(text, "fuzz.xml"));
    } catch (const ds::InputError&) {
    }
  }
  ds::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    use(ds::read_annotations(file.path()));
  } catch (const ds::InputError&) {
  }
  return 0;
}
