// Backend constructors behind Slide::open: one per file family.
#pragma once
#include <memory>
#include <string>

#include "slide/reader/slide.h"

namespace ds {

std::unique_ptr<Slide> open_tiff_slide(const std::string& path, size_t cache_bytes);
// Hamamatsu NDPI (a TIFF with tag 65420; see ndpi_ifd.h): read without libtiff.
std::unique_ptr<Slide> open_ndpi_slide(const std::string& path, size_t cache_bytes);
// DICOM WSI (Supplement 145): `path` is one instance file (its folder is searched for the rest
// of its series) or a folder holding one series (dicom_series.h).
std::unique_ptr<Slide> open_dicom_slide(const std::string& path, size_t cache_bytes);
// 3DHistech MIRAX: `path` is the .mrxs beside the folder of the same name (mirax_layout.h).
std::unique_ptr<Slide> open_mirax_slide(const std::string& path, size_t cache_bytes);
std::unique_ptr<Slide> open_image_slide(const std::string& path, size_t cache_bytes);

}  // namespace ds
