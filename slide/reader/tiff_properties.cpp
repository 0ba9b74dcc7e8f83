// TIFF and Aperio property extraction (see tiff_properties.h).
#include "slide/reader/tiff_properties.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/format.h"

namespace ds {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

bool is_aperio_description(const std::string& d) { return d.rfind("Aperio", 0) == 0; }

std::optional<double> parse_openslide_double(std::string s) {
  for (char& c : s)
    if (c == ',') c = '.';
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || std::isnan(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_openslide_int(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE) return std::nullopt;
  return v;
}

void add_tiff_properties(const TiffDir& b, SlideMeta& meta) {
  auto& p = meta.properties;
  if (!b.description.empty()) p["tiff.ImageDescription"] = p["openslide.comment"] = b.description;
  if (!b.software.empty()) p["tiff.Software"] = b.software;
  if (!b.make.empty()) p["tiff.Make"] = b.make;
  if (!b.model.empty()) p["tiff.Model"] = b.model;
  if (!b.datetime.empty()) p["tiff.DateTime"] = b.datetime;
  if (!b.artist.empty()) p["tiff.Artist"] = b.artist;
  if (!b.host_computer.empty()) p["tiff.HostComputer"] = b.host_computer;
  if (!b.copyright.empty()) p["tiff.Copyright"] = b.copyright;
  if (!b.document_name.empty()) p["tiff.DocumentName"] = b.document_name;
  if (b.x_position) p["tiff.XPosition"] = format_number("%.17g", *b.x_position);
  if (b.y_position) p["tiff.YPosition"] = format_number("%.17g", *b.y_position);
  // (libtiff's default unit, inch, when the tag is absent; OpenSlide reports it either way.)
  p["tiff.ResolutionUnit"] = b.resolution_unit == 3   ? "centimeter"
                             : b.resolution_unit == 2 ? "inch"
                             : b.resolution_unit == 1 ? "none"
                                                      : "unknown";
  if (b.has_resolution) {
    p["tiff.XResolution"] = format_number("%.17g", b.x_resolution);
    p["tiff.YResolution"] = format_number("%.17g", b.y_resolution);
    double per_unit_um = b.resolution_unit == 3 ? 10000.0 : b.resolution_unit == 2 ? 25400.0 : 0.0;
    if (per_unit_um > 0) {
      meta.mpp_x = per_unit_um / b.x_resolution;
      meta.mpp_y = per_unit_um / b.y_resolution;
    }
  }
}

void add_aperio_properties(const std::string& d, SlideMeta& meta) {
  size_t pos = d.find('|');
  while (pos != std::string::npos) {
    size_t next = d.find('|', pos + 1);
    std::string item = d.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    size_t eq = item.find('=');
    if (eq != std::string::npos) {
      std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
      if (!key.empty()) meta.properties["aperio." + key] = value;
    }
    pos = next;
  }
  // Parsed as OpenSlide parses them (a decimal comma, nothing after the number; AppMag an
  // integer). An MPP that is not a positive finite number is not used (OpenSlide reports it).
  auto& p = meta.properties;
  if (auto it = p.find("aperio.MPP"); it != p.end())
    if (auto v = parse_openslide_double(it->second); v && std::isfinite(*v) && *v > 0) meta.mpp_x = meta.mpp_y = *v;
  if (auto it = p.find("aperio.AppMag"); it != p.end())
    if (auto v = parse_openslide_int(it->second); v && *v > 0) meta.objective_power = (double)*v;
}

void add_standard_properties(SlideMeta& meta) {
  auto& p = meta.properties;
  p["openslide.vendor"] = meta.vendor;
  p["openslide.level-count"] = std::to_string(meta.levels.size());
  for (size_t i = 0; i < meta.levels.size(); ++i) {
    const auto& L = meta.levels[i];
    std::string k = "openslide.level[" + std::to_string(i) + "].";
    p[k + "width"] = std::to_string(L.width);
    p[k + "height"] = std::to_string(L.height);
    p[k + "downsample"] = format_number("%.17g", L.downsample);
    p[k + "tile-width"] = std::to_string(L.tile_width);
    p[k + "tile-height"] = std::to_string(L.tile_height);
  }
  if (meta.mpp_x) p["openslide.mpp-x"] = format_number("%.17g", *meta.mpp_x);
  if (meta.mpp_y) p["openslide.mpp-y"] = format_number("%.17g", *meta.mpp_y);
  if (meta.objective_power) p["openslide.objective-power"] = format_number("%.17g", *meta.objective_power);
}

}  // namespace ds
