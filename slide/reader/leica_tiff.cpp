// Leica SCN, read as OpenSlide 3.4.1's leica driver reads it. The first ImageDescription is an
// scn document (Leica's 2010/03/10 or 2010/10/01 namespace) with one collection: the slide, its
// size in nm and a barcode (base64 in the 2010/10/01 schema). Each image of the collection has a
// view (its size and offset on the slide, nm) and one pixels/dimension per resolution naming its
// TIFF directory (z-plane 0 only). The image covering the whole slide from (0, 0) is the macro;
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
#include <stdexcept>

#include "base/error.h"
#include "slide/reader/base64.h"
#include "slide/reader/tiff_layout.h"
#include "slide/reader/tiff_properties.h"
#include "slide/reader/xml.h"

namespace ds {

namespace {

const char kNs1[] = "http://www.leica-microsystems.com/scn/2010/03/10";
const char kNs2[] = "http://www.leica-microsystems.com/scn/2010/10/01";

struct Dimension {
  int64_t dir = 0, width = 0, height = 0;
  double nm_per_pixel = 0;
};

struct Image {
  std::optional<std::string> creation_date, device_model, device_version, illumination, objective, aperture;
  bool is_macro = false;
  int64_t nm_across = 0, nm_down = 0, nm_x = 0, nm_y = 0;
  std::vector<Dimension> dims;  // largest first
};

int64_t int_attr(const std::string& path, const XmlElement& e, const char* name) {
  const std::string* v = e.attribute(name);
  if (!v) throw InputError(path, std::string("Leica SCN: <") + e.name + "> has no attribute " + name);
  char* end = nullptr;
  errno = 0;
  long long r = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    throw InputError(
        path, std::string("Leica SCN: <") + e.name + "> " + name + "=\"" + v->substr(0, 40) + "\" is not an integer");
  return r;
}

// The text of the element at `a`/`b`/... below `e`, absent when the element or its text is.
std::optional<std::string> text_at(const XmlElement* e, std::initializer_list<const char*> steps) {
  for (const char* s : steps) {
    if (!e) return std::nullopt;
    e = e->child(s);
  }
  if (!e || e->text.empty()) return std::nullopt;
  return e->text;
}

std::optional<std::string> attr_at(const XmlElement* e, const char* child, const char* name) {
  const XmlElement* c = e->child(child);
  const std::string* v = c ? c->attribute(name) : nullptr;
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

}  // namespace

bool is_leica(const TiffDir& base) {
  return base.tiled &&
         (base.description.find(kNs1) != std::string::npos || base.description.find(kNs2) != std::string::npos);
}

TiffLayout leica_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta) {
  std::unique_ptr<XmlElement> root;
  try {
    root = parse_xml(dirs[0].description);
  } catch (const std::runtime_error& e) {
    throw InputError(path, std::string("Leica SCN: the ImageDescription XML is broken: ") + e.what());
  }
  const std::string* ns = root->attribute("xmlns");
  if (root->name != "scn" || !ns || (*ns != kNs1 && *ns != kNs2))
    throw InputError(path, "Leica SCN: the description's root is not an scn element in Leica's namespace");
  const XmlElement* collection = root->child("collection");
  if (!collection) throw InputError(path, "Leica SCN: no collection element");
  auto& props = meta.properties;
  if (auto bc = text_at(collection, {"barcode"})) {
    std::vector<uint8_t> raw = decode_base64(*bc);
    std::string s(raw.begin(), raw.end());
    props["leica.barcode"] = s.substr(0, s.find('\0'));
  } else if (const std::string* a = collection->attribute("barcode")) {
    props["leica.barcode"] = *a;
  }
  const int64_t slide_nm_w = int_attr(path, *collection, "sizeX"), slide_nm_h = int_attr(path, *collection, "sizeY");

  std::vector<Image> images;
  for (const XmlElement* ie : collection->children_named("image")) {
    const XmlElement* view = ie->child("view");
    if (!view) throw InputError(path, "Leica SCN: an image without a view element");
    Image im;
    im.creation_date = text_at(ie, {"creationDate"});
    im.device_model = attr_at(ie, "device", "model");
    im.device_version = attr_at(ie, "device", "version");
    im.illumination = text_at(ie, {"scanSettings", "illuminationSettings", "illuminationSource"});
    im.objective = text_at(ie, {"scanSettings", "objectiveSettings", "objective"});
    im.aperture = text_at(ie, {"scanSettings", "illuminationSettings", "numericalAperture"});
    im.nm_across = int_attr(path, *view, "sizeX");
    im.nm_down = int_attr(path, *view, "sizeY");
    im.nm_x = int_attr(path, *view, "offsetX");
    im.nm_y = int_attr(path, *view, "offsetY");
    im.is_macro = im.nm_x == 0 && im.nm_y == 0 && im.nm_across == slide_nm_w && im.nm_down == slide_nm_h;
    if (const XmlElement* px = ie->child("pixels"))
      for (const XmlElement* de : px->children_named("dimension")) {
        const std::string* z = de->attribute("z");
        if (z && *z != "0") continue;  // other focal planes
        Dimension d;
        d.dir = int_attr(path, *de, "ifd");
        d.width = int_attr(path, *de, "sizeX");
        d.height = int_attr(path, *de, "sizeY");
        if (d.width <= 0 || d.height <= 0) throw InputError(path, "Leica SCN: a dimension of zero size");
        d.nm_per_pixel = (double)im.nm_across / (double)d.width;
        im.dims.push_back(d);
      }
    std::stable_sort(im.dims.begin(), im.dims.end(),
                     [](const Dimension& a, const Dimension& b) { return a.width > b.width; });
    images.push_back(std::move(im));
  }

  // A dimension's directory: the ifd-th of the main chain, tiled.
  auto dir_of = [&](int64_t ifd) {
    for (size_t i = 0; i < dirs.size(); ++i)
      if (dirs[i].main_index >= 0 && dirs[i].main_index == ifd) {
        if (!dirs[i].tiled) throw InputError(path, "Leica SCN: directory " + std::to_string(ifd) + " is not tiled");
        return (int)i;
      }
    throw InputError(path, "Leica SCN: the XML names directory " + std::to_string(ifd) +
                               ", which the file does not have (a missing level?)");
  };

  TiffLayout layout;
  std::vector<double> nm_per_pixel;
  std::vector<std::vector<std::pair<int, std::pair<int64_t, int64_t>>>> areas;  // per level: dir, nm offset
  const Image* first = nullptr;
  for (const Image& im : images) {
    if (im.is_macro || im.illumination != std::optional<std::string>("brightfield")) continue;
    if (!first) {
      first = &im;
      for (auto [key, value] :
           {std::pair<const char*, const std::optional<std::string>*>{"leica.aperture", &im.aperture},
            {"leica.creation-date", &im.creation_date},
            {"leica.device-model", &im.device_model},
            {"leica.device-version", &im.device_version},
            {"leica.illumination-source", &im.illumination},
            {"leica.objective", &im.objective}})
        if (*value) props[key] = **value;
      if (im.objective && !im.objective->empty()) {
        char* end = nullptr;
        long long v = std::strtoll(im.objective->c_str(), &end, 10);
        if (*end == '\0') meta.objective_power = (double)v;
      }
      if (im.dims.empty()) throw InputError(path, "Leica SCN: the main image has no dimension");
      nm_per_pixel.assign(im.dims.size(), 0);
      areas.resize(im.dims.size());
    }
    if (im.illumination != first->illumination || im.objective != first->objective ||
        im.dims.size() != first->dims.size())
      throw InputError(path, "Leica SCN: main images of different objectives or resolutions are not supported");
    for (size_t k = 0; k < im.dims.size(); ++k) {
      const Dimension& d = im.dims[k];
      if (&im == first) {
        nm_per_pixel[k] = d.nm_per_pixel;
      } else {
        nm_per_pixel[k] = std::min(nm_per_pixel[k], d.nm_per_pixel);
        double ref = first->dims[k].nm_per_pixel;
        if (1 - std::fabs(d.nm_per_pixel - ref) / ref < 0.98)
          throw InputError(path, "Leica SCN: inconsistent main image resolutions");
      }
      areas[k].push_back({dir_of(d.dir), {im.nm_x, im.nm_y}});
    }
  }
  if (!first) throw InputError(path, "Leica SCN: no brightfield main image");

  for (size_t k = 0; k < areas.size(); ++k) {
    double npp = nm_per_pixel[k];
    if (!(npp > 0)) throw InputError(path, "Leica SCN: a resolution of zero nm per pixel");
    SlideLevel L;
    double w = std::ceil((double)slide_nm_w / npp), h = std::ceil((double)slide_nm_h / npp);
    if (!(w >= 1 && h >= 1 && w <= (double)(1 << 22) && h <= (double)(1 << 22)))
      throw InputError(path, "Leica SCN: level " + std::to_string(k) + " would be " + std::to_string(w) + " x " +
                                 std::to_string(h) + " pixels");
    L.width = (int64_t)w;
    L.height = (int64_t)h;
    const TiffDir& d0 = dirs[(size_t)areas[k][0].first];
    L.tile_width = (int)d0.tile_w;
    L.tile_height = (int)d0.tile_h;
    std::vector<TiffLayout::Placed> placed;
    for (const auto& [dir, off] : areas[k])
      placed.push_back({dir, (int64_t)((double)off.first / npp), (int64_t)((double)off.second / npp)});
    layout.level_dirs.push_back(areas[k][0].first);
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

  bool have_macro = false;
  for (const Image& im : images) {
    if (!im.is_macro || im.illumination != std::optional<std::string>("brightfield")) continue;
    if (have_macro) throw InputError(path, "Leica SCN: more than one macro image");
    if (im.dims.empty()) throw InputError(path, "Leica SCN: the macro image has no dimension");
    layout.associated.emplace_back("macro", dir_of(im.dims[0].dir));
    have_macro = true;
  }

  meta.vendor = "leica";
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
  layout.tile_size_properties = false;
  return layout;
}

}  // namespace ds
