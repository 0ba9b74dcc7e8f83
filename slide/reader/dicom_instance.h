// One DICOM instance (a Part 10 file) as the whole-slide reader needs it, read with DCMTK's
// dcmdata: the Supplement 145 attributes that place its frames (total pixel matrix, tile size,
// TILED_FULL or TILED_SPARSE with each frame's plane position, concatenation), how its frames
// are coded, where each frame's bytes lie in the file (so tiles are read later with pread, with
// no DCMTK object and no lock), and its attributes as OpenSlide 4's `dicom.*` properties. This
// is the only file that includes DCMTK; dicom_slide.cpp builds the slide from these records.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ds {

// Where a frame's bytes are: [offset, offset + length) of the file, or, for a frame of a few
// bytes that DCMTK read into memory, [offset, offset + length) of DicomInstance::inline_bytes.
struct DicomFrameBytes {
  uint64_t offset = 0;
  uint32_t length = 0;
  bool in_memory = false;
};

enum class DicomCodec { kJpeg, kJpeg2000, kNative };

struct DicomInstance {
  std::string path;
  std::string sop_instance_uid, series_uid, transfer_syntax, photometric;
  std::string flavor;  // ImageType value 3: VOLUME, LABEL, OVERVIEW, THUMBNAIL (or other, ignored)
  DicomCodec codec = DicomCodec::kNative;
  int64_t total_cols = 0, total_rows = 0;  // TotalPixelMatrixColumns / Rows
  int tile_w = 0, tile_h = 0;              // Columns / Rows
  bool sparse = false;                     // DimensionOrganizationType TILED_SPARSE (or absent)
  // Concatenation (a level split across instances): empty UID when not part of one.
  std::string concatenation_uid;
  int in_concatenation = 0, concatenation_total = 0;
  std::optional<uint64_t> frame_offset;  // ConcatenationFrameOffsetNumber
  std::vector<DicomFrameBytes> frames;
  std::vector<uint8_t> inline_bytes;
  // TILED_SPARSE: each frame's ColumnPosition/RowPositionInTotalImagePixelMatrix (1-based).
  std::vector<std::pair<int64_t, int64_t>> positions;
  std::optional<double> mpp_x, mpp_y, objective_power;
  std::vector<uint8_t> icc_profile;
  std::map<std::string, std::string> properties;  // dicom.*
};

// The "DICM" prefix after a Part 10 file's 128-byte preamble.
bool has_dicom_magic(const std::string& path);

// Reads `path` with DCMTK. InputError naming the file when it is no readable DICOM, not a VL
// Whole Slide Microscopy Image, or holds what this reader cannot decode (transfer syntax, sample
// layout, focal planes) or that contradicts itself (frame count, positions, sizes, byte ranges
// past the end of the file). `series_uid`, when given, receives the Series Instance UID even if
// the file is refused afterwards (so a folder scan can tell a broken level from an unrelated file).
DicomInstance read_dicom_instance(const std::string& path, std::string* series_uid = nullptr);

}  // namespace ds
