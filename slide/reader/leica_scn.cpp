// Leica SCN's scn document (see leica_scn.h): the collection and its images, with OpenSlide's
// checks.
#include "slide/reader/leica_scn.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "base/error.h"
#include "slide/reader/base64.h"
#include "slide/reader/tiff_properties.h"
#include "slide/reader/xml.h"

namespace ds {

namespace {

const char kNs1[] = "http://www.leica-microsystems.com/scn/2010/03/10";
const char kNs2[] = "http://www.leica-microsystems.com/scn/2010/10/01";

int64_t int_attr(const std::string& path, const XmlElement& e, const char* name) {
  const std::string* v = e.attribute(name);
  if (!v) throw InputError(path, std::string("Leica SCN: <") + e.name + "> has no attribute " + name);
  if (auto r = parse_openslide_int(*v)) return *r;
  throw InputError(
      path, std::string("Leica SCN: <") + e.name + "> " + name + "=\"" + v->substr(0, 40) + "\" is not an integer");
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

// The dimensions of z-plane 0 of an image's pixels element, largest first.
std::vector<LeicaDimension> read_dimensions(const std::string& path, const XmlElement& image, int64_t nm_across) {
  std::vector<LeicaDimension> dims;
  if (const XmlElement* px = image.child("pixels"))
    for (const XmlElement* de : px->children_named("dimension")) {
      const std::string* z = de->attribute("z");
      if (z && *z != "0") continue;  // other focal planes
      LeicaDimension d;
      d.dir = int_attr(path, *de, "ifd");
      d.width = int_attr(path, *de, "sizeX");
      d.height = int_attr(path, *de, "sizeY");
      if (d.width <= 0 || d.height <= 0) throw InputError(path, "Leica SCN: a dimension of zero size");
      d.nm_per_pixel = (double)nm_across / (double)d.width;
      dims.push_back(d);
    }
  std::stable_sort(dims.begin(), dims.end(),
                   [](const LeicaDimension& a, const LeicaDimension& b) { return a.width > b.width; });
  return dims;
}

LeicaImage read_image(const std::string& path, const XmlElement& ie, const LeicaScn& scn) {
  const XmlElement* view = ie.child("view");
  if (!view) throw InputError(path, "Leica SCN: an image without a view element");
  LeicaImage im;
  im.creation_date = text_at(&ie, {"creationDate"});
  im.device_model = attr_at(&ie, "device", "model");
  im.device_version = attr_at(&ie, "device", "version");
  im.illumination = text_at(&ie, {"scanSettings", "illuminationSettings", "illuminationSource"});
  im.objective = text_at(&ie, {"scanSettings", "objectiveSettings", "objective"});
  im.aperture = text_at(&ie, {"scanSettings", "illuminationSettings", "numericalAperture"});
  im.nm_across = int_attr(path, *view, "sizeX");
  im.nm_down = int_attr(path, *view, "sizeY");
  im.nm_x = int_attr(path, *view, "offsetX");
  im.nm_y = int_attr(path, *view, "offsetY");
  im.is_macro = im.nm_x == 0 && im.nm_y == 0 && im.nm_across == scn.nm_width && im.nm_down == scn.nm_height;
  im.dims = read_dimensions(path, ie, im.nm_across);
  return im;
}

}  // namespace

bool has_leica_namespace(const std::string& description) {
  return description.find(kNs1) != std::string::npos || description.find(kNs2) != std::string::npos;
}

LeicaScn read_leica_scn(const std::string& path, const std::string& description) {
  std::unique_ptr<XmlElement> root;
  try {
    root = parse_xml(description);
  } catch (const std::runtime_error& e) {
    throw InputError(path, std::string("Leica SCN: the ImageDescription XML is broken: ") + e.what());
  }
  const std::string* ns = root->attribute("xmlns");
  if (root->name != "scn" || !ns || (*ns != kNs1 && *ns != kNs2))
    throw InputError(path, "Leica SCN: the description's root is not an scn element in Leica's namespace");
  const XmlElement* collection = root->child("collection");
  if (!collection) throw InputError(path, "Leica SCN: no collection element");
  LeicaScn scn;
  if (auto bc = text_at(collection, {"barcode"})) {
    std::vector<uint8_t> raw = decode_base64(*bc);
    std::string s(raw.begin(), raw.end());
    scn.barcode = s.substr(0, s.find('\0'));
  } else if (const std::string* a = collection->attribute("barcode")) {
    scn.barcode = *a;
  }
  scn.nm_width = int_attr(path, *collection, "sizeX");
  scn.nm_height = int_attr(path, *collection, "sizeY");
  for (const XmlElement* ie : collection->children_named("image")) scn.images.push_back(read_image(path, *ie, scn));
  return scn;
}

}  // namespace ds
