// Philips TIFF, read as OpenSlide 3.4.1's philips driver reads it. The first ImageDescription is a
// DataObject tree (ObjectType DPUfsImport): Attribute elements with a Name, holding text or an
// Array of DataObjects. Its scanned-image array holds exactly one WSI image, whose pixel data
// representations give each level's pixel spacing (DICOM_PIXEL_SPACING, "row" "column" in mm):
// the pyramid's levels are the tiled directories in file order, and since the reduced ones are
// padded to whole tiles, their downsamples (rounded to integers) and sizes come from the spacing,
// not from the directories. Label and macro are untiled directories whose description starts
// with "Label" / "Macro" or, failing those, base64 JPEGs in the XML. Missing tiles (byte count
// 0, where a slide was scanned as several regions) read as white (OpenSlide: transparent).
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "base/error.h"
#include "slide/reader/base64.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/tiff_layout.h"
#include "slide/reader/tiff_properties.h"
#include "slide/reader/xml.h"

namespace ds {

namespace {

const char kScannedImages[] = "PIM_DP_SCANNED_IMAGES";
const char kRepresentations[] = "PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

const std::string& name_of(const XmlElement& e) {
  static const std::string none;
  const std::string* n = e.attribute("Name");
  return n ? *n : none;
}

// The DataObjects of every Array under `attr` (an Attribute element).
std::vector<const XmlElement*> array_objects(const XmlElement& attr) {
  std::vector<const XmlElement*> out;
  for (const XmlElement* a : attr.children_named("Array"))
    for (const XmlElement* o : a->children_named("DataObject")) out.push_back(o);
  return out;
}

// A scanned image of type `type` (WSI, LABELIMAGE, MACROIMAGE): one with a PIM_DP_IMAGE_TYPE
// attribute and an attribute whose text is `type` (OpenSlide's XPath predicate, to the letter).
bool is_image_of_type(const XmlElement& o, const char* type) {
  bool typed = false, named = false;
  for (const XmlElement* a : o.children_named("Attribute")) {
    typed |= name_of(*a) == "PIM_DP_IMAGE_TYPE";
    named |= a->text == type;
  }
  return typed && named;
}

// The scanned images of type `type`, the first of each array (OpenSlide takes [1] per array).
std::vector<const XmlElement*> scanned_images(const XmlElement& root, const char* type, bool first_only) {
  std::vector<const XmlElement*> out;
  for (const XmlElement* attr : root.children_named("Attribute")) {
    if (name_of(*attr) != kScannedImages) continue;
    for (const XmlElement* arr : attr->children_named("Array")) {
      for (const XmlElement* o : arr->children_named("DataObject")) {
        if (!is_image_of_type(*o, type)) continue;
        out.push_back(o);
        if (first_only) break;
      }
    }
  }
  return out;
}

const XmlElement* attribute_named(const XmlElement& o, const char* name) {
  for (const XmlElement* a : o.children_named("Attribute"))
    if (name_of(*a) == name) return a;
  return nullptr;
}

// philips.* properties: every Attribute with text of the root, of the WSI image (same prefix)
// and of each pixel data representation (philips.PIIM_..._SEQUENCE[i].NAME); later ones win.
void add_attributes(const std::vector<const XmlElement*>& attrs, const std::string& prefix,
                    std::map<std::string, std::string>& props) {
  for (const XmlElement* a : attrs) {
    const std::string* name = a->attribute("Name");
    if (!name) continue;
    if (*name == kScannedImages) {
      for (const XmlElement* arr : a->children_named("Array")) {
        for (const XmlElement* o : arr->children_named("DataObject")) {
          if (!is_image_of_type(*o, "WSI")) continue;
          add_attributes(o->children_named("Attribute"), prefix, props);
          break;
        }
      }
    } else if (*name == kRepresentations) {
      auto objects = array_objects(*a);
      for (size_t i = 0; i < objects.size(); ++i)
        add_attributes(objects[i]->children_named("Attribute"), prefix + "." + *name + "[" + std::to_string(i) + "]",
                       props);
    } else if (a->children.empty()) {
      props[prefix + "." + *name] = a->text;
    }
  }
}

std::string strip(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n\f\v"), e = s.find_last_not_of(" \t\r\n\f\v");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// `"row" "column"` (mm): exactly two fields split on single spaces, quotes dropped.
bool parse_spacing(const std::string& text, double& w, double& h) {
  size_t sp = text.find(' ');
  if (sp == std::string::npos || text.find(' ', sp + 1) != std::string::npos) return false;
  auto field = [](std::string f) {
    for (char& c : f)
      if (c == '"') c = ' ';
    return strip(f);
  };
  auto row = parse_openslide_double(field(text.substr(0, sp))),
       col = parse_openslide_double(field(text.substr(sp + 1)));
  if (!row || !col) return false;
  h = *row;
  w = *col;
  return true;
}

}  // namespace

bool is_philips(const TiffDir& base) {
  size_t first = base.description.find_first_not_of(" \t\r\n");
  return starts_with(base.software, "Philips") && first != std::string::npos && base.description[first] == '<' &&
         base.description.find("DPUfsImport") != std::string::npos;
}

namespace {

// The ImageDescription's XML: a DataObject of type DPUfsImport.
std::unique_ptr<XmlElement> philips_root(const std::string& path, const std::string& description) {
  std::unique_ptr<XmlElement> root;
  try {
    root = parse_xml(description);
  } catch (const std::runtime_error& e) {
    throw InputError(path, std::string("Philips TIFF: the ImageDescription XML is broken: ") + e.what());
  }
  const std::string* type = root->attribute("ObjectType");
  if (root->name != "DataObject" || !type || *type != "DPUfsImport")
    throw InputError(path, "Philips TIFF: the ImageDescription's root is not a DataObject of type DPUfsImport");
  return root;
}

// Tiled directories are the pyramid's levels (each flagged reduced and no larger than the one
// before); stripped ones whose description starts "Label" or "Macro" the associated images.
void sort_directories(const std::string& path, const std::vector<TiffDir>& dirs, TiffLayout& layout) {
  for (size_t i = 0; i < dirs.size(); ++i) {
    const TiffDir& d = dirs[i];
    if (d.main_index < 0) continue;  // SubIFDs are not part of the layout
    if (d.tiled) {
      if (!layout.level_dirs.empty()) {
        const TiffDir& prev = dirs[(size_t)layout.level_dirs.back()];
        if (!d.reduced())
          throw InputError(path, "Philips TIFF: directory " + std::to_string(d.main_index) +
                                     " is tiled but not flagged reduced-resolution");
        if (d.width > prev.width || d.height > prev.height)
          throw InputError(
              path, "Philips TIFF: directory " + std::to_string(d.main_index) + " is larger than the level before it");
      }
      layout.level_dirs.push_back((int)i);
      continue;
    }
    const char* name = starts_with(d.description, "Label")   ? "label"
                       : starts_with(d.description, "Macro") ? "macro"
                                                             : nullptr;
    if (!name) continue;
    bool replaced = false;
    for (auto& a : layout.associated)
      if (a.first == name) a.second = (int)i, replaced = true;
    if (!replaced) layout.associated.emplace_back(name, (int)i);
  }
  if (layout.level_dirs.empty()) throw InputError(path, "Philips TIFF: no tiled directory (no pyramid level)");
}

// Each level's size from the WSI image's pixel spacings, one per representation, in order:
// OpenSlide's integer downsamples, the padding clipped with them.
void size_levels(const std::string& path, const std::vector<TiffDir>& dirs, const XmlElement& wsi, TiffLayout& layout) {
  std::vector<std::string> spacings;
  if (const XmlElement* reps = attribute_named(wsi, kRepresentations))
    for (const XmlElement* o : array_objects(*reps)) {
      const std::string* ot = o->attribute("ObjectType");
      if (!ot || *ot != "PixelDataRepresentation") continue;
      for (const XmlElement* a : o->children_named("Attribute"))
        if (name_of(*a) == "DICOM_PIXEL_SPACING") spacings.push_back(a->text);
    }
  if (spacings.size() != layout.level_dirs.size())
    throw InputError(path, "Philips TIFF: the XML gives " + std::to_string(spacings.size()) +
                               " pixel spacings (DICOM_PIXEL_SPACING) for " + std::to_string(layout.level_dirs.size()) +
                               " pyramid levels (a missing level?)");
  const TiffDir& top = dirs[(size_t)layout.level_dirs[0]];
  double w0 = 0, h0 = 0;
  for (size_t i = 0; i < spacings.size(); ++i) {
    double w, h;
    if (!parse_spacing(spacings[i], w, h))
      throw InputError(path, "Philips TIFF: level " + std::to_string(i) + ": cannot parse the pixel spacing '" +
                                 spacings[i].substr(0, 80) + "'");
    SlideLevel L;
    const TiffDir& d = dirs[(size_t)layout.level_dirs[i]];
    L.tile_width = (int)d.tile_w;
    L.tile_height = (int)d.tile_h;
    L.width = d.width;
    L.height = d.height;
    if (i == 0) {
      w0 = w;
      h0 = h;
    } else {
      L.downsample = std::round((w / w0 + h / h0) / 2);
      if (!(L.downsample >= 1 && L.downsample <= (double)top.width && L.downsample <= (double)top.height))
        throw InputError(path, "Philips TIFF: level " + std::to_string(i) + "'s pixel spacing '" + spacings[i] +
                                   "' gives no usable downsample");
      L.width = (int64_t)((double)top.width / L.downsample);
      L.height = (int64_t)((double)top.height / L.downsample);
    }
    layout.levels.push_back(L);
  }
}

// Vendor, the TIFF's properties less the XML (which is in philips.*, as OpenSlide keeps it), and
// mpp from the pixel spacing, never from the resolution tags.
void philips_meta(const TiffDir& first, const XmlElement& root, SlideMeta& meta) {
  meta.vendor = "philips";
  add_tiff_properties(first, meta);
  meta.mpp_x.reset();
  meta.mpp_y.reset();
  meta.properties.erase("tiff.ImageDescription");
  meta.properties.erase("openslide.comment");
  add_attributes(root.children_named("Attribute"), "philips", meta.properties);
  if (auto it = meta.properties.find("philips.DICOM_PIXEL_SPACING"); it != meta.properties.end()) {
    double w, h;
    if (parse_spacing(it->second, w, h)) {
      meta.mpp_x = 1e3 * w;
      meta.mpp_y = 1e3 * h;
    }
  }
}

// Label and macro from the XML when no directory holds them; unreadable ones are left out, as
// OpenSlide leaves them out.
void embedded_images(const XmlElement& root, TiffLayout& layout) {
  for (auto [name, kind] : {std::pair<const char*, const char*>{"label", "LABELIMAGE"}, {"macro", "MACROIMAGE"}}) {
    bool have = false;
    for (const auto& a : layout.associated) have |= a.first == name;
    if (have) continue;
    auto images = scanned_images(root, kind, true);
    if (images.empty()) continue;
    const XmlElement* data = attribute_named(*images[0], "PIM_DP_IMAGE_DATA");
    if (!data) continue;
    std::vector<uint8_t> jpeg = decode_base64(data->text);
    auto [jw, jh] = jpeg_header_size(jpeg.data(), jpeg.size());
    if (jw > 0 && jh > 0) layout.embedded.emplace_back(name, std::move(jpeg));
  }
}

}  // namespace

TiffLayout philips_layout(const std::string& path, const std::vector<TiffDir>& dirs, SlideMeta& meta) {
  const std::unique_ptr<XmlElement> root = philips_root(path, dirs[0].description);
  auto wsi = scanned_images(*root, "WSI", false);
  if (wsi.size() != 1)
    throw InputError(path, "Philips TIFF: expected one WSI image in the XML, found " + std::to_string(wsi.size()));
  TiffLayout layout;
  sort_directories(path, dirs, layout);
  size_levels(path, dirs, *wsi[0], layout);
  philips_meta(dirs[0], *root, meta);
  embedded_images(*root, layout);
  return layout;
}

}  // namespace ds
