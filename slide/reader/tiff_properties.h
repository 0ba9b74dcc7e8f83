// Slide properties from TIFF tags, OpenSlide-style keys: tiff.* from the base directory,
// aperio.* from an Aperio ImageDescription (`key = value` pairs after the first '|'), and the
// standard openslide.mpp-x/-y and openslide.objective-power derived from them.
#pragma once
#include <optional>
#include <string>

#include "slide/reader/slide.h"
#include "slide/reader/tiff_dir.h"

namespace ds {

bool is_aperio_description(const std::string& description);
// A number as OpenSlide parses vendor metadata: a comma is a decimal point, the whole string must
// be the number, overflow and NaN are refused.
std::optional<double> parse_openslide_double(std::string s);
// OpenSlide's integer attributes: the whole value a base-10 integer that fits.
std::optional<int64_t> parse_openslide_int(const std::string& s);
// Adds tiff.* keys and, from the resolution tags, mpp when the unit is centimetre or inch.
void add_tiff_properties(const TiffDir& base, SlideMeta& meta);
// Adds aperio.* keys, MPP and AppMag; overrides resolution-tag mpp as OpenSlide does.
void add_aperio_properties(const std::string& description, SlideMeta& meta);
// openslide.level-count, openslide.level[i].*, openslide.vendor and the mpp/objective keys.
void add_standard_properties(SlideMeta& meta);

}  // namespace ds
