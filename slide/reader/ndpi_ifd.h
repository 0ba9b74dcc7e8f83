// The directories of a Hamamatsu NDPI file, read by our own parser: libtiff cannot (NDPI's
// RowsPerStrip is the image height, its tags are unsorted, ASCII values sit out of line even when
// short, and files pass 4 GB). NDPI is classic TIFF with 64-bit quantities bolted on: the header's
// first-directory offset and each directory's next-directory offset are 8 bytes, and the high 32
// bits of every entry's value/offset field follow the directory, 4 bytes per entry (OpenSlide's
// format page). Only the tags the reader uses are kept.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ds {

// NDPI's own tags.
constexpr uint16_t kNdpiFormatFlag = 65420, kNdpiSourceLens = 65421, kNdpiXOffset = 65422, kNdpiYOffset = 65423,
                   kNdpiFocalPlane = 65424, kNdpiMcuStarts = 65426, kNdpiReference = 65427, kNdpiMcuStartsHigh = 65432,
                   kNdpiPropertyMap = 65449;

struct NdpiDir {
  uint64_t ifd_offset = 0;
  uint64_t width = 0, height = 0;
  uint64_t strip_count = 0;                    // values in StripOffsets
  uint64_t strip_offset = 0, strip_bytes = 0;  // the one strip: a whole JPEG
  uint16_t compression = 1;
  std::optional<double> source_lens;  // 65421: objective power; -1 macro, -2 map
  std::optional<int64_t> focal_plane, x_offset, y_offset;
  std::optional<std::string> reference, property_map;
  std::vector<uint64_t> mcu_starts;  // 65426 (+ 65432 << 32): restart offsets from the JPEG start
  // tiff.* properties, as OpenSlide reads them (strings, and floats as doubles).
  std::vector<std::pair<std::string, std::string>> strings;  // ("tiff.Make", "Hamamatsu"), ...
  std::optional<double> x_resolution, y_resolution, x_position, y_position;
  std::optional<uint64_t> resolution_unit;
};

// True when `path` is a TIFF whose first directory has tag 65420 (OpenSlide's test). Reads a few
// hundred bytes; never throws.
bool is_ndpi(const std::string& path);

// Every directory of the main chain. InputError naming the file on anything unreadable, absurd or
// larger than the file; the values copied out stay under one budget per file.
std::vector<NdpiDir> read_ndpi_dirs(const std::string& path);

}  // namespace ds
