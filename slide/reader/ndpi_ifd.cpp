// NDPI directory parser (see ndpi_ifd.h). Every offset and count comes from the file and is
// checked against its size before it is read; directories may not loop; what is copied out
// (MCU-start arrays, strings) counts against kMaxMetadataBytes, as in tiff_dir.cpp.
#include "slide/reader/ndpi_ifd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "base/error.h"
#include "slide/reader/slide_file.h"
#include "slide/reader/tiff_types.h"

namespace ds {

namespace {

constexpr int kMaxDirs = 4096;
constexpr uint64_t kMaxMetadataBytes = 256ull << 20;
constexpr uint16_t kAscii = 2;

struct Entry {
  uint16_t tag = 0, type = 0;
  uint64_t count = 0;
  bool in_place = false;  // value bytes in `field`, else at `offset`
  uint8_t field[8] = {};  // the 4-byte value/offset field, then NDPI's 4 high bytes
  uint64_t offset = 0;
};

class Ifd {
 public:
  bool big_endian = false;
  std::vector<Entry> entries;
  uint64_t next = 0;

  const Entry* find(uint16_t tag) const {
    for (const Entry& e : entries)
      if (e.tag == tag) return &e;
    return nullptr;
  }
  uint64_t get(const uint8_t* p, int n) const {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= (uint64_t)p[i] << (8 * (big_endian ? n - 1 - i : i));
    return v;
  }
};

// Reads the directory at `off`. ndpi: 8-byte next offset and the high-bytes array after it.
// Returns false (the caller decides whether that is an error) when it does not fit in the file.
bool read_ifd(const SlideFile& f, uint64_t off, bool ndpi, bool big_endian, Ifd& out) {
  out = Ifd();
  out.big_endian = big_endian;
  uint8_t b[8];
  if (off < 8 || !f.try_read(b, 2, off)) return false;
  uint64_t n = out.get(b, 2);
  const uint64_t table = off + 2;
  std::vector<uint8_t> raw(12 * n + (ndpi ? 8 + 4 * n : 4));
  if (!f.try_read(raw.data(), raw.size(), table)) return false;
  out.next = out.get(raw.data() + 12 * n, ndpi ? 8 : 4);
  out.entries.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t* p = raw.data() + 12 * i;
    Entry& e = out.entries[i];
    e.tag = (uint16_t)out.get(p, 2);
    e.type = (uint16_t)out.get(p + 2, 2);
    e.count = out.get(p + 4, 4);
    std::memcpy(e.field, p + 8, 4);
    if (ndpi) std::memcpy(e.field + 4, raw.data() + 12 * n + 8 + 4 * i, 4);
    uint64_t bytes = tiff_type_size(e.type) * e.count;
    // NDPI keeps ASCII out of line even when it would fit in the field.
    e.in_place = bytes <= 4 && !(ndpi && e.type == kAscii);
    if (!e.in_place) e.offset = out.get(e.field, 4) | (ndpi ? out.get(e.field + 4, 4) << 32 : 0);
  }
  return true;
}

class DirReader {
 public:
  DirReader(const SlideFile& f, const Ifd& ifd, std::string where, uint64_t& budget)
      : f_(f), ifd_(ifd), where_(std::move(where)), budget_(budget) {}

  // The raw bytes of `e`'s values (count x type size), checked against the file and the budget.
  std::vector<uint8_t> bytes(const Entry& e) {
    uint64_t size = tiff_type_size(e.type);
    std::string what = where_ + " tag " + std::to_string(e.tag);
    if (size == 0) throw InputError(f_.path(), what + " has unknown type " + std::to_string(e.type));
    if (e.count > f_.size() / size) throw InputError(f_.path(), what + " claims more values than the file holds");
    uint64_t n = size * e.count;
    budget_ += n;
    if (budget_ > kMaxMetadataBytes)
      throw InputError(f_.path(), where_ + ": the directories' metadata passes " +
                                      std::to_string(kMaxMetadataBytes >> 20) + " MB; a broken or hostile file");
    std::vector<uint8_t> out(n);
    if (n == 0) return out;  // a count of 0: no values (and no memcpy from an empty vector's null data)
    if (e.in_place) std::memcpy(out.data(), e.field, n);
    else f_.read(out.data(), n, e.offset, what + "'s values");
    return out;
  }

  // Unsigned integers (BYTE, SHORT, LONG, LONG8, IFD); an NDPI LONG whose high bytes are set in
  // place is one 64-bit value (StripOffsets, StripByteCounts past 4 GB).
  std::optional<std::vector<uint64_t>> uints(uint16_t tag) {
    const Entry* e = ifd_.find(tag);
    if (!e) return std::nullopt;
    if (e->in_place && e->count == 1 && (e->type == 4 || e->type == 13))
      return std::vector<uint64_t>{ifd_.get(e->field, 4) | ifd_.get(e->field + 4, 4) << 32};
    int size;
    switch (e->type) {
      case 1: size = 1; break;
      case 3: size = 2; break;
      case 4:
      case 13: size = 4; break;
      case 16:
      case 18: size = 8; break;
      default: throw InputError(f_.path(), where_ + " tag " + std::to_string(tag) + " is not an unsigned integer");
    }
    std::vector<uint8_t> b = bytes(*e);
    std::vector<uint64_t> v(e->count);
    for (uint64_t i = 0; i < e->count; ++i) v[i] = ifd_.get(b.data() + i * size, size);
    return v;
  }
  std::optional<uint64_t> uint(uint16_t tag) {
    auto v = uints(tag);
    if (!v || v->empty()) return std::nullopt;
    return (*v)[0];
  }
  std::optional<int64_t> sint(uint16_t tag) {
    const Entry* e = ifd_.find(tag);
    if (!e || e->count == 0) return std::nullopt;
    std::vector<uint8_t> b = bytes(*e);
    switch (e->type) {
      case 6: return (int8_t)b[0];
      case 8: return (int16_t)ifd_.get(b.data(), 2);
      case 9: return (int32_t)ifd_.get(b.data(), 4);
      case 17: return (int64_t)ifd_.get(b.data(), 8);
      default: return std::nullopt;  // OpenSlide reads no signed value from other types
    }
  }
  std::optional<double> real(uint16_t tag) {
    const Entry* e = ifd_.find(tag);
    if (!e || e->count == 0) return std::nullopt;
    std::vector<uint8_t> b = bytes(*e);
    switch (e->type) {
      case 5: return (double)ifd_.get(b.data(), 4) / (double)ifd_.get(b.data() + 4, 4);
      case 10: return (double)(int32_t)ifd_.get(b.data(), 4) / (double)(int32_t)ifd_.get(b.data() + 4, 4);
      case 11: {
        uint32_t u = (uint32_t)ifd_.get(b.data(), 4);
        float v;
        std::memcpy(&v, &u, 4);
        return v;
      }
      case 12: {
        uint64_t u = ifd_.get(b.data(), 8);
        double v;
        std::memcpy(&v, &u, 8);
        return v;
      }
      default: return std::nullopt;
    }
  }
  std::optional<std::string> string(uint16_t tag) {
    const Entry* e = ifd_.find(tag);
    if (!e || e->type != kAscii) return std::nullopt;
    std::vector<uint8_t> b = bytes(*e);
    std::string s(b.begin(), b.end());
    return s.substr(0, s.find('\0'));  // the value up to its first NUL, as OpenSlide keeps it
  }

 private:
  const SlideFile& f_;
  const Ifd& ifd_;
  std::string where_;
  uint64_t& budget_;
};

NdpiDir read_dir(const SlideFile& f, const Ifd& ifd, uint64_t off, const std::string& where, uint64_t& budget) {
  DirReader r(f, ifd, where, budget);
  NdpiDir d;
  d.ifd_offset = off;
  auto need = [&](std::optional<uint64_t> v, const char* name) {
    if (!v) throw InputError(f.path(), where + " has no " + name);
    return *v;
  };
  d.width = need(r.uint(256), "ImageWidth");
  d.height = need(r.uint(257), "ImageLength");
  d.compression = (uint16_t)r.uint(259).value_or(1);
  auto offsets = r.uints(273);
  auto counts = r.uints(279);
  if (!offsets || !counts || offsets->empty() || counts->empty())
    throw InputError(f.path(), where + " has no StripOffsets/StripByteCounts");
  d.strip_count = offsets->size();
  d.strip_offset = (*offsets)[0];
  d.strip_bytes = (*counts)[0];
  d.source_lens = r.real(kNdpiSourceLens);
  d.focal_plane = r.sint(kNdpiFocalPlane);
  d.x_offset = r.sint(kNdpiXOffset);
  d.y_offset = r.sint(kNdpiYOffset);
  d.reference = r.string(kNdpiReference);
  d.property_map = r.string(kNdpiPropertyMap);
  if (ifd.find(kNdpiMcuStarts)) {
    std::vector<uint64_t> low = *r.uints(kNdpiMcuStarts);
    std::optional<std::vector<uint64_t>> high;
    if (ifd.find(kNdpiMcuStartsHigh)) high = r.uints(kNdpiMcuStartsHigh);
    d.mcu_starts = std::move(low);
    if (high && high->size() == d.mcu_starts.size())
      for (size_t i = 0; i < high->size(); ++i) d.mcu_starts[i] |= (*high)[i] << 32;
  }
  const std::pair<const char*, uint16_t> strings[] = {
      {"tiff.ImageDescription", 270}, {"tiff.Make", 271},        {"tiff.Model", 272},
      {"tiff.Software", 305},         {"tiff.DateTime", 306},    {"tiff.Artist", 315},
      {"tiff.HostComputer", 316},     {"tiff.Copyright", 33432}, {"tiff.DocumentName", 269}};
  for (const auto& [name, tag] : strings)
    if (auto s = r.string(tag)) d.strings.emplace_back(name, *s);
  d.x_resolution = r.real(282);
  d.y_resolution = r.real(283);
  d.x_position = r.real(286);
  d.y_position = r.real(287);
  d.resolution_unit = r.uint(296);
  return d;
}

// Where the first directory is and whether the file is NDPI-shaped (64-bit offsets), as
// OpenSlide decides: the header's offset read as 8 bytes must lead to a directory with tag 65420;
// otherwise it is a classic TIFF (4-byte offsets) that may still carry the tag.
struct Layout {
  bool ndpi = false, big_endian = false;
  uint64_t first = 0;
};

std::optional<Layout> layout(const SlideFile& f) {
  uint8_t h[16];
  if (!f.try_read(h, 8, 0)) return std::nullopt;
  Layout l;
  if (h[0] == 'I' && h[1] == 'I') l.big_endian = false;
  else if (h[0] == 'M' && h[1] == 'M') l.big_endian = true;
  else return std::nullopt;
  Ifd probe;
  probe.big_endian = l.big_endian;
  if (probe.get(h + 2, 2) != 42) return std::nullopt;  // BigTIFF and others are not NDPI
  uint8_t o[8] = {};
  if (f.try_read(o, 8, 4)) {
    uint64_t wide = probe.get(o, 8);
    Ifd d;
    if (read_ifd(f, wide, true, l.big_endian, d) && d.find(kNdpiFormatFlag) && d.find(kNdpiFormatFlag)->count > 0) {
      l.ndpi = true;
      l.first = wide;
      return l;
    }
  }
  l.first = probe.get(h + 4, 4);
  return l;
}

}  // namespace

bool is_ndpi(const std::string& path) {
  try {
    SlideFile f(path);
    auto l = layout(f);
    if (!l) return false;
    if (l->ndpi) return true;
    Ifd d;
    if (!read_ifd(f, l->first, false, l->big_endian, d)) return false;
    const Entry* e = d.find(kNdpiFormatFlag);
    return e && e->count > 0;
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<NdpiDir> read_ndpi_dirs(const std::string& path) {
  SlideFile f(path);
  auto l = layout(f);
  if (!l) throw InputError(path, "not a classic TIFF file");
  std::vector<NdpiDir> dirs;
  std::set<uint64_t> seen;
  uint64_t budget = 0;
  for (uint64_t off = l->first; off != 0;) {
    std::string where = "directory " + std::to_string(dirs.size());
    if ((int)dirs.size() >= kMaxDirs) throw InputError(path, "too many TIFF directories");
    if (!seen.insert(off).second) throw InputError(path, where + " points back at an earlier one (a loop)");
    Ifd ifd;
    if (!read_ifd(f, off, l->ndpi, l->big_endian, ifd))
      throw InputError(path, where + " at offset " + std::to_string(off) + " lies past the end of the file");
    budget += ifd.entries.size() * 24;
    dirs.push_back(read_dir(f, ifd, off, where, budget));
    off = ifd.next;
  }
  if (dirs.empty()) throw InputError(path, "no TIFF directory");
  return dirs;
}

}  // namespace ds
