// A MIRAX slide's Index.dat (mirax_layout.h): little-endian int32 pointers to pages of records,
// every read checked against the file; the zoom levels' image records (the last record of an
// image number standing, as OpenSlide keeps the last tile at a place), the non-hierarchical
// records (associated images, the photos' positions) and those positions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "slide/reader/ini_file.h"
#include "slide/reader/mirax_layout.h"

namespace ds {

struct MiraxIndex {
  std::string path, bytes;
  // The int32 at byte `at`; InputError naming the file and `what` when it lies past the end.
  int64_t i32(int64_t at, const std::string& what) const;
  int64_t nonneg(int64_t at, const std::string& what) const;  // and not negative
  // A record's first data page: the record's pointer in `table` leads to a 0, then to the page.
  int64_t first_page(int64_t table, int64_t record, const std::string& what) const;
};

// The slide's data files (FILE_i), each checked when a record first names it: present, and the
// record's bytes inside it; which ones were named (what the slide is read from).
class MiraxDataFiles {
 public:
  MiraxDataFiles(std::vector<std::string> paths, std::string slide)
      : paths_(std::move(paths)), slide_(std::move(slide)), sizes_(paths_.size(), -1), used_(paths_.size(), 0) {}
  // InputError naming the data file when it is missing or `m`'s bytes lie past its end.
  void check(const MiraxImage& m, const std::string& what);
  const std::vector<std::string>& paths() const { return paths_; }
  std::vector<std::string> used() const;

 private:
  std::vector<std::string> paths_;
  std::string slide_;
  std::vector<int64_t> sizes_;
  std::vector<char> used_;
};

// A NONHIER_i entry of Slidedat.ini: its values are records first_record .. first_record + count - 1.
struct MiraxNonhier {
  int64_t i = 0;
  std::string name;
  int64_t first_record = 0, count = 0;
};
std::vector<MiraxNonhier> mirax_nonhier_entries(const IniFile& ini);

// A non-hierarchical record: one item (0, 0, offset, size, data file).
MiraxImage mirax_nonhier_image(const MiraxIndex& idx, int64_t table, int64_t record, int files,
                               const std::string& what);

// Zoom level `level`'s records (image number and where the image lies), one per image number: the
// last listed (OpenSlide keeps the last of the tiles it makes at one place), in the order listed.
// `budget`: records that may still be walked (over all levels); InputError past it.
struct MiraxRecord {
  int64_t image = 0;
  MiraxImage where;
};
std::vector<MiraxRecord> mirax_level_records(const MiraxIndex& idx, int64_t table, int level, int files,
                                             int64_t& budget);

// The photos' level-0 positions, row by row: stored in VIMSLIDE_POSITION_BUFFER (9-byte records:
// a flag, 0 or 1, and int32 x, y, times the level-0 concatenation as OpenSlide takes them) or,
// zlib-compressed, StitchingIntensityLayer; empty when the slide stores none.
struct MiraxPoint {
  int64_t x = 0, y = 0;
};
std::vector<MiraxPoint> mirax_stored_positions(const MiraxIndex& idx, const std::vector<MiraxNonhier>& nonhier,
                                               int64_t nonhier_table, MiraxDataFiles& files, int64_t photos,
                                               int64_t c0);

}  // namespace ds
