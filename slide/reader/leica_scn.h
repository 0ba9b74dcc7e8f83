// The scn document in a Leica SCN's first ImageDescription (Leica's 2010/03/10 or 2010/10/01
// namespace), read as OpenSlide 3.4.1's leica driver reads it: one collection (the slide's size
// in nm, a barcode, base64 in the 2010/10/01 schema) of images, each with a view (its size and
// offset on the slide, nm), its device and scan settings, and one dimension per resolution naming
// its TIFF directory (z-plane 0 only). leica_tiff.cpp turns it into levels.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ds {

struct LeicaDimension {
  int64_t dir = 0, width = 0, height = 0;  // dir: the index in the main IFD chain
  double nm_per_pixel = 0;
};

struct LeicaImage {
  std::optional<std::string> creation_date, device_model, device_version, illumination, objective, aperture;
  bool is_macro = false;  // covers the whole slide from (0, 0)
  int64_t nm_across = 0, nm_down = 0, nm_x = 0, nm_y = 0;
  std::vector<LeicaDimension> dims;  // largest first
};

struct LeicaScn {
  std::optional<std::string> barcode;
  int64_t nm_width = 0, nm_height = 0;  // the slide
  std::vector<LeicaImage> images;       // in document order
};

// Whether an ImageDescription is in one of Leica's scn namespaces.
bool has_leica_namespace(const std::string& description);

// InputError naming `path` when the XML is broken, not an scn document, or lacks what OpenSlide
// needs (a collection, views, integer sizes and offsets, dimensions of non-zero size).
LeicaScn read_leica_scn(const std::string& path, const std::string& description);

}  // namespace ds
