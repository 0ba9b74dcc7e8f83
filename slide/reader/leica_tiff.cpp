// Leica SCN, read as OpenSlide 3.4.1's leica driver reads it. The first ImageDescription is an
// scn document (leica_scn.h): the slide and its images, each with its place on the slide and one
// TIFF directory per resolution. The image covering the whole slide from (0, 0) is the macro;
// the brightfield others are main images, all with the same objective and number of
// resolutions: level i draws the i-th largest dimension of every main image (where two overlap,
// the one earlier in the document), at its offset on a white slide (OpenSlide: transparent) the
// size of the collection at the finest of their resolutions. leica.* from the first main image,
// mpp from its largest directory's resolution tags in pixels per centimetre, and
// openslide.region[i].* / openslide.bounds-* from where level 0's images lie.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "base/error.h"
#include "slide/reader/leica_scn.h"
#include "slide/reader/tiff_layout.h"
#include "slide/reader/tiff_properties.h"

namespace ds {

namespace {

constexpr double kMaxLevelSide = 1 << 22;

// Level k of the main images: each one's directory and offset on the slide (nm).
struct Placement {
  int dir;
  int64_t nm_x, nm_y;
};

struct MainImages {
  const LeicaImage* first = nullptr;  // leica.* and the checks come from it
  std::vector<double> nm_per_pixel;   // per level: the finest of the images'
  std::vector<std::vector<Placement>> levels;
};

// A dimension's directory: the ifd-th of the main chain, tiled.
int dir_of(const std::string& path, const std::vector<TiffDir>& dirs, int64_t ifd) {
  for (size_t i = 0; i < dirs.size(); ++i)
    if (dirs[i].main_index >= 0 && dirs[i].main_index == ifd) {
      if (!dirs[i].tiled) throw InputError(path, "Leica SCN: directory " + std::to_string(ifd) + " is not tiled");
      return (int)i;
    }
  throw InputError(path, "Leica SCN: the XML names directory " + std::to_string(ifd) +
                             ", which the file does not have (a missing level?)");
}

bool brightfield(const LeicaImage& im) { return im.illumination == std::optional<std::string>("brightfield"); }

// leica.* and the objective power, from the first main image.
void add_image_properties(const LeicaImage& im, SlideMeta& meta) {
  for (auto [key, value] : {std::pair<const char*, const std::optional<std::string>*>{"leica.aperture", &im.aperture},
                            {"leica.creation-date", &im.creation_date},
                            {"leica.device-model", &im.device_model},
                            {"leica.device-version", &im.device_version},
                            {"leica.illumination-source", &im.illumination},
                            {"leica.objective", &im.objective}})
    if (*value) meta.properties[key] = **value;
  if (im.objective && !im.objective->empty()) {
    char* end = nullptr;
    long long v = std::strtoll(im.objective->c_str(), &end, 10);
    if (*end == '\0') meta.objective_power = (double)v;
  }
}

// The brightfield images that are not the macro, all of the first one's objective and number of
// resolutions, level by level.
MainImages main_images(const std::string& path, const std::vector<TiffDir>& dirs, const LeicaScn& scn,
                       SlideMeta& meta) {
  MainImages m;
  for (const LeicaImage& im : scn.images) {
    if (im.is_macro || !brightfield(im)) continue;
    if (!m.first) {
      m.first = &im;
      add_image_properties(im, meta);
      if (im.dims.empty()) throw InputError(path, "Leica SCN: the main image has no dimension");
      m.nm_per_pixel.assign(im.dims.size(), 0);
      m.levels.resize(im.dims.size());
    }
    if (im.illumination != m.first->illumination || im.objective != m.first->objective ||
        im.dims.size() != m.first->dims.size())
      throw InputError(path, "Leica SCN: main images of different objectives or resolutions are not supported");
    for (size_t k = 0; k < im.dims.size(); ++k) {
      const LeicaDimension& d = im.dims[k];
      if (&im == m.first) {
        m.nm_per_pixel[k] = d.nm_per_pixel;
      } else {
        m.nm_per_pixel[k] = std::min(m.nm_per_pixel[k], d.nm_per_pixel);
        double ref = m.first->dims[k].nm_per_pixel;
        if (1 - std::fabs(d.nm_per_pixel - ref) / ref < 0.98)
          throw InputError(path, "Leica SCN: inconsistent main image resolutions");
      }
      m.levels[k].push_back({dir_of(path, dirs, d.dir), im.nm_x, im.nm_y});
    }
  }
  if (!m.first) throw InputError(path, "Leica SCN: no brightfield main image");
  return m;
}

// Each level: the slide at its resolution, its images placed at their offsets in its pixels.
void add_levels(const std::string& path, const std::vector<TiffDir>& dirs, const LeicaScn& scn, const MainImages& m,
                TiffLayout& layout) {
  for (size_t k = 0; k < m.levels.size(); ++k) {
    double npp = m.nm_per_pixel[k];
    if (!(npp > 0)) throw InputError(path, "Leica SCN: a resolution of zero nm per pixel");
    SlideLevel L;
    double w = std::ceil((double)scn.nm_width / npp), h = std::ceil((double)scn.nm_height / npp);
    if (!(w >= 1 && h >= 1 && w <= kMaxLevelSide && h <= kMaxLevelSide))
      throw InputError(path, "Leica SCN: level " + std::to_string(k) + " would be " + std::to_string(w) + " x " +
                                 std::to_string(h) + " pixels");
    L.width = (int64_t)w;
    L.height = (int64_t)h;
    const TiffDir& d0 = dirs[(size_t)m.levels[k][0].dir];
    L.tile_width = (int)d0.tile_w;
    L.tile_height = (int)d0.tile_h;
    std::vector<TiffLayout::Placed> placed;
    for (const Placement& p : m.levels[k])
      placed.push_back({p.dir, (int64_t)((double)p.nm_x / npp), (int64_t)((double)p.nm_y / npp)});
    layout.level_dirs.push_back(m.levels[k][0].dir);
    layout.levels.push_back(L);
    layout.composite.push_back(std::move(placed));
  }
  for (size_t k = 1; k < layout.levels.size(); ++k) {
    SlideLevel& L = layout.levels[k];
    const SlideLevel& L0 = layout.levels[0];
    L.downsample = ((double)L0.height / (double)L.height + (double)L0.width / (double)L.width) / 2.0;
    if (L.downsample < layout.levels[k - 1].downsample)
      throw InputError(path, "Leica SCN: level " + std::to_string(k) + " is larger than the level before it");
  }
}

void add_macro(const std::string& path, const std::vector<TiffDir>& dirs, const LeicaScn& scn, TiffLayout& layout) {
  bool have_macro = false;
  for (const LeicaImage& im : scn.images) {
    if (!im.is_macro || !brightfield(im)) continue;
    if (have_macro) throw InputError(path, "Leica SCN: more than one macro image");
    if (im.dims.empty()) throw InputError(path, "Leica SCN: the macro image has no dimension");
    layout.associated.emplace_back("macro", dir_of(path, dirs, im.dims[0].dir));
    have_macro = true;
  }
}

// tiff.* and mpp from the first main image's largest directory; openslide.region[i].* and
// openslide.bounds-* from where level 0's images lie.
void add_slide_properties(const std::vector<TiffDir>& dirs, const TiffLayout& layout, SlideMeta& meta) {
  auto& props = meta.properties;
  const TiffDir& prop_dir = dirs[(size_t)layout.composite[0][0].dir];
  add_tiff_properties(prop_dir, meta);
  props.erase("tiff.ImageDescription");  // the XML stays out, as in OpenSlide
  props.erase("openslide.comment");
  meta.mpp_x.reset();
  meta.mpp_y.reset();
  if (prop_dir.has_resolution && prop_dir.resolution_unit == 3) {
    // libtiff hands OpenSlide the resolution as a float.
    meta.mpp_x = 10000.0 / (double)(float)prop_dir.x_resolution;
    meta.mpp_y = 10000.0 / (double)(float)prop_dir.y_resolution;
  }
  int64_t x0 = INT64_MAX, y0 = INT64_MAX, x1 = INT64_MIN, y1 = INT64_MIN;
  for (size_t n = 0; n < layout.composite[0].size(); ++n) {
    const auto& a = layout.composite[0][n];
    const TiffDir& d = dirs[(size_t)a.dir];
    std::string k = "openslide.region[" + std::to_string(n) + "].";
    props[k + "x"] = std::to_string(a.x);
    props[k + "y"] = std::to_string(a.y);
    props[k + "width"] = std::to_string(d.width);
    props[k + "height"] = std::to_string(d.height);
    x0 = std::min(x0, a.x);
    y0 = std::min(y0, a.y);
    x1 = std::max(x1, a.x + (int64_t)d.width);
    y1 = std::max(y1, a.y + (int64_t)d.height);
  }
  props["openslide.bounds-x"] = std::to_string(x0);
  props["openslide.bounds-y"] = std::to_string(y0);
  props["openslide.bounds-width"] = std::to_string(x1 - x0);
  props["openslide.bounds-height"] = std::to_string(y1 - y0);
}

}  // namespace

bool is_leica(const TiffDir& base) { return base.tiled && has_leica_namespace(base.description); }

TiffLayout leica_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta) {
  const LeicaScn scn = read_leica_scn(path, dirs[0].description);
  if (scn.barcode) meta.properties["leica.barcode"] = *scn.barcode;
  TiffLayout layout;
  add_levels(path, dirs, scn, main_images(path, dirs, scn, meta), layout);
  add_macro(path, dirs, scn, layout);
  meta.vendor = "leica";
  add_slide_properties(dirs, layout, meta);
  layout.tile_size_properties = false;
  return layout;
}

}  // namespace ds
