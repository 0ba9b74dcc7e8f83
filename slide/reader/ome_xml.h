// OME-TIFF: the OME-XML an OME-TIFF carries in its first ImageDescription. The pyramid itself is
// read as any SubIFD pyramid (tiff_slide.cpp); from the XML come the pixel size (mpp, which
// OpenSlide, reading OME-TIFF as a generic TIFF, does not give) and the objective's
// magnification. Only the first Image's Pixels element and the first Objective are looked at.
#pragma once
#include <string>

#include "slide/reader/slide.h"

namespace ds {

// An XML ImageDescription with an OME root element (the OME schema's namespace).
bool is_ome_xml(const std::string& description);
// ome.PhysicalSizeX/Y (+Unit), ome.NominalMagnification, ome.SizeC/SizeZ/SizeT, and mpp and
// objective power from them; a PhysicalSize in a unit we do not know leaves mpp unset.
void add_ome_properties(const std::string& xml, SlideMeta& meta);

}  // namespace ds
