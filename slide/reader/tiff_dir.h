// One TIFF image file directory (IFD) as the slide reader needs it: geometry, how its pixels are
// stored, where its tiles (or strips) are, and the descriptive tags. Read once at open time so
// that tile reads later need no libtiff directory switching.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "slide/reader/tiff_handle.h"

namespace ds {

struct TiffDir {
  int main_index = -1;         // position in the main IFD chain, -1 for a SubIFD
  uint64_t subifd_offset = 0;  // file offset of this IFD when it is a SubIFD
  int parent = -1;             // main_index of the IFD that lists this SubIFD
  uint32_t width = 0, height = 0;
  bool tiled = false;
  uint32_t tile_w = 0, tile_h = 0;  // for strips: image width x RowsPerStrip
  uint32_t cols = 0, rows = 0;      // tiles (or strips) across and down
  uint16_t compression = 1, photometric = 2, spp = 1, bps = 8, planar = 1, sample_format = 1;
  uint16_t extra_samples = 0;
  uint16_t ycbcr_sub_h = 2, ycbcr_sub_v = 2;
  uint32_t subfile_type = 0;
  std::string description, software, make, model, datetime;
  std::string artist, host_computer, copyright, document_name;  // more tiff.* properties
  std::optional<double> x_position, y_position;                 // XPosition, YPosition (the RATIONAL's quotient)
  // A palette page's colour map as 8-bit RGB triples (2^bps of them), converted as libtiff's RGBA
  // reader converts it (OpenSlide reads such pages through it); empty otherwise.
  std::vector<uint8_t> palette;
  std::string xmp;  // XMLPacket (700): Ventana's iScan and EncodeInfo XML
  bool has_resolution = false;
  double x_resolution = 0, y_resolution = 0;  // the RATIONAL's exact quotient
  uint16_t resolution_unit = 2;
  std::vector<uint8_t> jpeg_tables;
  std::vector<uint64_t> offsets, byte_counts;  // one per tile/strip
  std::vector<uint64_t> subifds;               // SubIFD offsets listed by this IFD

  bool reduced() const { return (subfile_type & 1) != 0; }
  uint64_t chunk_count() const { return (uint64_t)cols * rows; }
};

// Every IFD of the main chain followed by every SubIFD they list. InputError when the file is
// not a TIFF, has no directory, or a directory is unreadable or absurd.
std::vector<TiffDir> read_tiff_dirs(TiffHandle& h);

// "JPEG", "LZW", "JPEG 2000 (33003)", ... for messages.
std::string compression_name(uint16_t compression);

}  // namespace ds
