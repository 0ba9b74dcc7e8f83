// Index.dat reads for MIRAX slides (see mirax_index.h). Counts come from the file: each is bounded
// by what the file can hold before anything is allocated for it.
#include "slide/reader/mirax_index.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "base/error.h"
#include "slide/reader/tiff_properties.h"

namespace ds {

namespace fs = std::filesystem;

int64_t MiraxIndex::i32(int64_t at, const std::string& what) const {
  if (at < 0 || (uint64_t)at + 4 > bytes.size())
    throw InputError(path, what + " at byte " + std::to_string(at) + " lies past the end (truncated file?)");
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
  return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

int64_t MiraxIndex::nonneg(int64_t at, const std::string& what) const {
  const int64_t v = i32(at, what);
  if (v < 0)
    throw InputError(path, what + " at byte " + std::to_string(at) + " is negative (" + std::to_string(v) + ")");
  return v;
}

int64_t MiraxIndex::first_page(int64_t table, int64_t record, const std::string& what) const {
  const int64_t head = nonneg(table + 4 * record, what + "'s pointer");
  if (i32(head, what) != 0) throw InputError(path, what + " does not start with 0 (not a MIRAX index page)");
  return nonneg(head + 4, what + "'s first page");
}

void MiraxDataFiles::check(const MiraxImage& m, const std::string& what) {
  const std::string& f = paths_[(size_t)m.file];
  int64_t& size = sizes_[(size_t)m.file];
  if (size < 0) {
    std::error_code ec;
    if (!fs::is_regular_file(f, ec)) throw InputError(f, "missing (a data file of " + slide_ + ")");
    size = (int64_t)fs::file_size(f, ec);
    if (ec) throw InputError(f, "cannot read its size");
  }
  if (m.offset > size || m.length > size - m.offset)
    throw InputError(f, what + " (" + std::to_string(m.length) + " bytes at " + std::to_string(m.offset) +
                            ") lies past the end (truncated file?)");
  used_[(size_t)m.file] = 1;
}

std::vector<std::string> MiraxDataFiles::used() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < paths_.size(); ++i)
    if (used_[i]) out.push_back(paths_[i]);
  return out;
}

std::vector<MiraxNonhier> mirax_nonhier_entries(const IniFile& ini) {
  std::vector<MiraxNonhier> out;
  const std::string& v = ini.require("HIERARCHICAL", "NONHIER_COUNT");
  auto n = parse_openslide_int(v);
  if (!n || *n < 0 || *n > (1 << 16))
    throw InputError(ini.path(), "[HIERARCHICAL] NONHIER_COUNT = '" + v + "' is not a whole number from 0 to 65536");
  int64_t record = 0;
  for (int64_t i = 0; i < *n; ++i) {
    const std::string k = "NONHIER_" + std::to_string(i);
    const std::string& c = ini.require("HIERARCHICAL", k + "_COUNT");
    auto count = parse_openslide_int(c);
    if (!count || *count < 1 || *count > (1 << 16))
      throw InputError(ini.path(),
                       "[HIERARCHICAL] " + k + "_COUNT = '" + c + "' is not a whole number from 1 to 65536");
    out.push_back(MiraxNonhier{i, ini.require("HIERARCHICAL", k + "_NAME"), record, *count});
    record += *count;
  }
  return out;
}

MiraxImage mirax_nonhier_image(const MiraxIndex& idx, int64_t table, int64_t record, int files,
                               const std::string& what) {
  const int64_t page = idx.first_page(table, record, what);
  if (idx.i32(page, what) < 1) throw InputError(idx.path, what + "'s page holds no item");
  const int64_t item = page + 8;
  if (idx.i32(item, what) != 0 || idx.i32(item + 4, what) != 0)
    throw InputError(idx.path, what + "'s item does not start with two zeros");
  MiraxImage m{(int)std::min<int64_t>(idx.nonneg(item + 16, what + "'s data file"), INT32_MAX),
               idx.nonneg(item + 8, what + "'s offset"), idx.nonneg(item + 12, what + "'s size")};
  if (m.file >= files)
    throw InputError(idx.path, what + " names data file " + std::to_string(m.file) + " of " + std::to_string(files));
  return m;
}

std::vector<MiraxRecord> mirax_level_records(const MiraxIndex& idx, int64_t table, int level, int files,
                                             int64_t& budget) {
  const std::string what = "zoom level " + std::to_string(level);
  std::vector<MiraxRecord> all;
  for (int64_t page = idx.first_page(table, level, what); page != 0;) {
    const int64_t count = idx.nonneg(page, what + "'s page size");
    const int64_t next = idx.i32(page + 4, what + "'s next page");
    if (count > (int64_t)(idx.bytes.size() / 16) - (int64_t)all.size())
      throw InputError(idx.path, what + "'s pages claim more images than the file holds");
    if (count > budget)
      throw InputError(idx.path, "the zoom levels list more than 2^23 images, more than this reader takes");
    budget -= count;
    for (int64_t r = 0; r < count; ++r) {
      const int64_t item = page + 8 + 16 * r;
      MiraxRecord rec{
          idx.nonneg(item, what + "'s image number"),
          MiraxImage{0, idx.nonneg(item + 4, what + "'s offset"), idx.nonneg(item + 8, what + "'s length")}};
      const int64_t file = idx.nonneg(item + 12, what + "'s data file");
      if (file >= files)
        throw InputError(idx.path, what + " names data file " + std::to_string(file) + " of " + std::to_string(files));
      rec.where.file = (int)file;
      all.push_back(rec);
    }
    // OpenSlide reads a following page right after this one (it does not seek to `next`); each
    // page moves forward, so the chain ends at the end of the file at the latest.
    page = next == 0 ? 0 : page + 8 + 16 * count;
  }
  // One record per image number, the last (a hostile index listing one image a million times
  // would otherwise make a million copies of its tiles).
  std::unordered_map<int64_t, size_t> last;
  last.reserve(all.size());
  for (size_t i = 0; i < all.size(); ++i) last[all[i].image] = i;
  size_t kept = 0;
  for (size_t i = 0; i < all.size(); ++i)
    if (last[all[i].image] == i) all[kept++] = all[i];
  all.resize(kept);
  all.shrink_to_fit();
  return all;
}

std::vector<MiraxPoint> mirax_stored_positions(const MiraxIndex& idx, const std::vector<MiraxNonhier>& nonhier,
                                               int64_t nonhier_table, MiraxDataFiles& files, int64_t photos,
                                               int64_t c0) {
  const MiraxNonhier* e = nullptr;
  for (const char* name : {"VIMSLIDE_POSITION_BUFFER", "StitchingIntensityLayer"}) {
    for (const auto& x : nonhier)
      if (!e && x.name == name) e = &x;
    if (e) break;
  }
  if (!e) return {};
  const bool compressed = e->name == "StitchingIntensityLayer";
  const std::string& what = e->name;
  const MiraxImage m = mirax_nonhier_image(idx, nonhier_table, e->first_record, (int)files.paths().size(), what);
  const std::string& file = files.paths()[(size_t)m.file];
  files.check(m, what);
  const uint64_t want = 9 * (uint64_t)photos;
  if (!compressed && (uint64_t)m.length != want)
    throw InputError(idx.path, what + " holds " + std::to_string(m.length) + " bytes, not 9 for each of the " +
                                   std::to_string(photos) + " photos");
  if (compressed && (uint64_t)m.length * 1032 + 64 < want)  // zlib cannot expand more than ~1032x
    throw InputError(idx.path, what + " is too short for the " + std::to_string(photos) + " photos' positions");
  std::string raw((size_t)m.length, '\0');
  {
    std::ifstream f(file, std::ios::binary);
    f.seekg(m.offset);
    if (!f.read(raw.data(), (std::streamsize)raw.size())) throw InputError(file, "cannot read " + what);
  }
  std::string buf;
  if (compressed) {
    buf.assign((size_t)want + 1, '\0');  // one more: a stream longer than expected is an error
    z_stream z{};
    if (inflateInit(&z) != Z_OK) throw InputError(file, "zlib cannot start");
    z.next_in = reinterpret_cast<Bytef*>(raw.data());
    z.avail_in = (uInt)raw.size();
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = (uInt)buf.size();
    const int rc = inflate(&z, Z_FINISH);
    const uint64_t got = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || got != want)
      throw InputError(
          file, what + " does not inflate to 9 bytes for each of the " + std::to_string(photos) + " photos (corrupt?)");
    buf.resize((size_t)want);
  } else {
    buf = std::move(raw);
  }
  std::vector<MiraxPoint> pos((size_t)photos);
  for (int64_t cp = 0; cp < photos; ++cp) {
    const auto* p = reinterpret_cast<const unsigned char*>(buf.data() + 9 * cp);
    if (p[0] > 1)  // OpenSlide refuses other flags
      throw InputError(file,
                       what + "'s record " + std::to_string(cp) + " has flag " + std::to_string(p[0]) + ", not 0 or 1");
    auto le = [](const unsigned char* q) {
      return (int32_t)((uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24);
    };
    pos[(size_t)cp] = MiraxPoint{(int64_t)le(p + 1) * c0, (int64_t)le(p + 5) * c0};
  }
  return pos;
}

}  // namespace ds
