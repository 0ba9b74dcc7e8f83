// OME-XML attributes (see ome_xml.h): the description parsed by the reader's XML parser
// (xml.h), then the first Pixels and Objective elements' attributes read, which is all the OME
// schema needs here (the attributes are plain numbers and unit symbols).
#include "slide/reader/ome_xml.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>

#include "base/format.h"
#include "slide/reader/xml.h"

namespace ds {

namespace {

// Attributes of the first element named `name` in document order; none when the XML does not
// parse (the pyramid is still read, without the OME metadata).
std::map<std::string, std::string> attributes(const XmlElement* root, const std::string& name) {
  std::map<std::string, std::string> out;
  const XmlElement* e = root ? root->find(name) : nullptr;
  if (e)
    for (const auto& [k, v] : e->attributes) out.emplace(k, v);
  return out;
}

std::optional<double> positive(const std::string& s) {
  char* e = nullptr;
  double v = std::strtod(s.c_str(), &e);
  if (e == s.c_str() || !std::isfinite(v) || v <= 0) return std::nullopt;
  return v;
}

// Micrometres per unit of OME's UnitsLength symbols; nullopt for those that are not lengths
// on a slide (pixel, reference frame) or unknown.
std::optional<double> um_per(const std::string& unit) {
  if (unit.empty() || unit == "\xC2\xB5m" || unit == "\xCE\xBCm" || unit == "um") return 1.0;  // default: µm
  if (unit == "nm") return 1e-3;
  if (unit == "\xC3\x85") return 1e-4;  // Å
  if (unit == "pm") return 1e-6;
  if (unit == "mm") return 1e3;
  if (unit == "cm") return 1e4;
  if (unit == "m") return 1e6;
  return std::nullopt;
}

}  // namespace

bool is_ome_xml(const std::string& d) {
  size_t first = d.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || d[first] != '<') return false;
  size_t root = d.find("<OME");
  return root != std::string::npos && d.find("openmicroscopy.org/Schemas/OME", root) != std::string::npos;
}

void add_ome_properties(const std::string& xml, SlideMeta& meta) {
  auto& p = meta.properties;
  std::unique_ptr<XmlElement> root;
  try {
    root = parse_xml(xml);
  } catch (const std::runtime_error&) {
    return;
  }
  auto px = attributes(root.get(), "Pixels");
  for (const char* k : {"PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeXUnit", "PhysicalSizeYUnit", "SizeC", "SizeZ",
                        "SizeT", "Type", "DimensionOrder"})
    if (auto it = px.find(k); it != px.end()) p[std::string("ome.") + k] = it->second;
  auto mpp = [&](const char* size, const char* unit) -> std::optional<double> {
    auto it = px.find(size);
    if (it == px.end()) return std::nullopt;
    auto v = positive(it->second);
    auto u = um_per(px.count(unit) ? px[unit] : "");
    if (!v || !u) return std::nullopt;
    return *v * *u;
  };
  if (auto x = mpp("PhysicalSizeX", "PhysicalSizeXUnit")) meta.mpp_x = *x;
  if (auto y = mpp("PhysicalSizeY", "PhysicalSizeYUnit")) meta.mpp_y = *y;
  auto obj = attributes(root.get(), "Objective");
  if (auto it = obj.find("NominalMagnification"); it != obj.end()) {
    p["ome.NominalMagnification"] = it->second;
    if (auto v = positive(it->second)) meta.objective_power = *v;
  }
}

}  // namespace ds
