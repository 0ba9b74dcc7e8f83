// Reads and sanity-checks every IFD of a TIFF (see tiff_dir.h). Nothing whose size a file declares
// is allocated before it is checked against what the file can hold and against one budget per
// slide (kMaxMetadataBytes):
// - image sides up to 2^20 px: a whole 75 x 25 mm glass slide scanned at 0.1 um/px is 750k px, so
//   a larger side is a broken or hostile file;
// - tiles up to 16384 px a side;
// - the tile (strip) offset and byte-count arrays must be stored in the file in full: libtiff pads
//   a short array to the tile grid, which let a few bytes claim gigabytes of offsets;
// - the offset arrays, descriptions and JPEG tables of all directories together stay under
//   kMaxMetadataBytes, and there are at most kMaxDirs directories (libtiff refuses IFD loops).
#include "slide/reader/tiff_dir.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "base/error.h"
#include "slide/reader/slide_file.h"
#include "slide/reader/tiff_types.h"

namespace ds {

namespace {

constexpr uint32_t kMaxSide = 1u << 20;
constexpr uint32_t kMaxTileSide = 16384;
constexpr uint64_t kMaxChunks = 1ull << 26;
constexpr int kMaxDirs = 4096;
constexpr uint64_t kMaxMetadataBytes = 256ull << 20;

// The count and on-disk size of one IFD entry, read from the file itself (libtiff does not expose
// the count an array tag was stored with, only the array it padded).
struct RawEntry {
  bool found = false;
  uint16_t type = 0;
  uint64_t count = 0;
  uint8_t field[8] = {};      // the value/offset field as stored
  uint64_t value_bytes = 0;   // count x the type's size
  uint64_t value_offset = 0;  // where the values are, or 0 when they sit inside the entry
};

class RawIfdReader {
 public:
  explicit RawIfdReader(TiffHandle& h) : h_(h), file_(TIFFFileno(h.get()), h.path()) {
    TIFF* tif = h.get();
    big_ = TIFFIsBigTIFF(tif);
    swap_ = TIFFIsByteSwapped(tif);
  }
  uint64_t file_size() const { return file_.size(); }

  // Where the directory after the one at `ifd_offset` starts (0: none), as the file says.
  uint64_t next_ifd_offset(uint64_t ifd_offset, const std::string& where) {
    const uint64_t count_size = big_ ? 8 : 2, entry_size = big_ ? 20 : 12;
    const uint64_t n = read_uint(ifd_offset, count_size, where);
    if (n > 65535) return 0;  // as entry() refuses: no offset computed from an absurd count
    return read_uint(ifd_offset + count_size + n * entry_size, big_ ? 8 : 4, where);
  }

  // The entry for `tag` in the IFD at `ifd_offset`.
  RawEntry entry(uint64_t ifd_offset, uint16_t tag, const std::string& where) {
    const uint64_t count_size = big_ ? 8 : 2, entry_size = big_ ? 20 : 12, inline_size = big_ ? 8 : 4;
    uint64_t n = read_uint(ifd_offset, count_size, where);
    if (n > 65535) throw InputError(h_.path(), where + ": directory claims " + std::to_string(n) + " entries");
    std::vector<uint8_t> table(n * entry_size);
    file_.read(table.data(), table.size(), ifd_offset + count_size, where);
    RawEntry e;
    for (uint64_t i = 0; i < n; ++i) {
      const uint8_t* p = table.data() + i * entry_size;
      if (get(p, 2) != tag) continue;
      e.found = true;
      e.type = (uint16_t)get(p + 2, 2);
      std::memcpy(e.field, p + (big_ ? 12 : 8), big_ ? 8 : 4);
      uint64_t size = tiff_type_size(e.type);
      e.count = get(p + 4, big_ ? 8 : 4);
      if (size == 0 || e.count > file_.size() / size)
        throw InputError(h_.path(), where + ": tag " + std::to_string(tag) + " claims " + std::to_string(e.count) +
                                        " values, more than the file holds");
      e.value_bytes = e.count * size;
      if (e.value_bytes > inline_size) {
        e.value_offset = get(p + (big_ ? 12 : 8), big_ ? 8 : 4);
        if (!file_.contains(e.value_offset, e.value_bytes))
          throw InputError(h_.path(), where + ": tag " + std::to_string(tag) + "'s " + std::to_string(e.count) +
                                          " values extend past the end of the file");
      }
      break;
    }
    return e;
  }

  // A RATIONAL (or SRATIONAL) tag's first value as a double, as OpenSlide computes it (libtiff
  // hands out a float); nullopt when the tag is absent or of another type.
  std::optional<double> rational(uint64_t ifd_offset, uint16_t tag, const std::string& where) {
    RawEntry e = entry(ifd_offset, tag, where);
    if (!e.found || e.count == 0 || (e.type != 5 && e.type != 10)) return std::nullopt;
    uint8_t b[8];
    if (e.value_offset) file_.read(b, 8, e.value_offset, where);
    else std::memcpy(b, e.field, 8);
    uint64_t num = get(b, 4), den = get(b + 4, 4);
    if (e.type == 10) return (double)(int32_t)num / (double)(int32_t)den;
    return (double)num / (double)den;
  }

 private:
  uint64_t get(const uint8_t* p, int n) const {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      int k = swap_ ? i : n - 1 - i;  // swap_ means big-endian data on this little-endian machine
      v = (v << 8) | p[k];
    }
    return v;
  }
  uint64_t read_uint(uint64_t off, uint64_t n, const std::string& where) {
    uint8_t b[8];
    file_.read(b, n, off, where);
    return get(b, (int)n);
  }
  TiffHandle& h_;
  SlideFile file_;
  bool big_ = false, swap_ = false;
};

// Tracks the metadata copied out of every directory of one slide against kMaxMetadataBytes.
class MetadataBudget {
 public:
  explicit MetadataBudget(const std::string& path) : path_(path) {}
  void take(uint64_t bytes, const std::string& where) {
    used_ += bytes;
    if (used_ > kMaxMetadataBytes)
      throw InputError(path_, where + ": the directories' metadata (tile offsets, descriptions) passes " +
                                  std::to_string(kMaxMetadataBytes >> 20) + " MB; a broken or hostile file");
  }

 private:
  std::string path_;
  uint64_t used_ = 0;
};

std::string get_string(TIFF* tif, ttag_t tag) {
  char* s = nullptr;
  if (TIFFGetField(tif, tag, &s) && s) return s;
  return {};
}

// The tile (strip) offset or byte-count array of the current directory must be stored in full.
void check_chunk_array(RawIfdReader& raw, uint64_t ifd_offset, uint16_t tag, uint64_t needed, const std::string& path,
                       const std::string& where) {
  RawEntry e = raw.entry(ifd_offset, tag, where);
  const char* name = tag == TIFFTAG_TILEOFFSETS      ? "TileOffsets"
                     : tag == TIFFTAG_TILEBYTECOUNTS ? "TileByteCounts"
                     : tag == TIFFTAG_STRIPOFFSETS   ? "StripOffsets"
                                                     : "StripByteCounts";
  if (!e.found) throw InputError(path, where + ": missing " + std::string(name));
  if (e.count < needed)
    throw InputError(path, where + ": " + name + " lists " + std::to_string(e.count) + " entries but the image has " +
                               std::to_string(needed) + " tiles/strips");
}

// The current directory's size, sample layout, strings and resolution into `d`.
void read_image_fields(TIFF* tif, RawIfdReader& raw, const std::string& path, const std::string& where, TiffDir& d) {
  uint32_t w = 0, ht = 0;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &ht);
  if (w == 0 || ht == 0 || w > kMaxSide || ht > kMaxSide)
    throw InputError(path, where + ": absurd image size " + std::to_string(w) + "x" + std::to_string(ht));
  d.width = w;
  d.height = ht;
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &d.compression);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &d.photometric)) d.photometric = 0xffff;
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &d.spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &d.bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &d.planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &d.sample_format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SUBFILETYPE, &d.subfile_type);
  uint16_t n_extra = 0;
  uint16_t* extra = nullptr;
  if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &n_extra, &extra)) d.extra_samples = n_extra;
  if (d.photometric == PHOTOMETRIC_YCBCR)
    TIFFGetFieldDefaulted(tif, TIFFTAG_YCBCRSUBSAMPLING, &d.ycbcr_sub_h, &d.ycbcr_sub_v);
  d.description = get_string(tif, TIFFTAG_IMAGEDESCRIPTION);
  d.software = get_string(tif, TIFFTAG_SOFTWARE);
  d.make = get_string(tif, TIFFTAG_MAKE);
  d.model = get_string(tif, TIFFTAG_MODEL);
  d.datetime = get_string(tif, TIFFTAG_DATETIME);
  d.artist = get_string(tif, TIFFTAG_ARTIST);
  d.host_computer = get_string(tif, TIFFTAG_HOSTCOMPUTER);
  d.copyright = get_string(tif, TIFFTAG_COPYRIGHT);
  d.document_name = get_string(tif, TIFFTAG_DOCUMENTNAME);
  {
    uint32_t n = 0;
    void* xmp = nullptr;
    if (TIFFGetField(tif, TIFFTAG_XMLPACKET, &n, &xmp) && xmp) {
      const char* c = static_cast<const char*>(xmp);
      d.xmp.assign(c, strnlen(c, n));  // up to the first NUL, as OpenSlide reads it
    }
  }
  float xr = 0, yr = 0;
  if (TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xr) && TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yr)) {
    d.has_resolution = xr > 0 && yr > 0;
    const uint64_t at = TIFFCurrentDirOffset(tif);
    d.x_resolution = raw.rational(at, TIFFTAG_XRESOLUTION, where).value_or(xr);
    d.y_resolution = raw.rational(at, TIFFTAG_YRESOLUTION, where).value_or(yr);
  }
  TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &d.resolution_unit);
  uint16_t *red = nullptr, *green = nullptr, *blue = nullptr;
  if (d.photometric == PHOTOMETRIC_PALETTE && d.bps == 8 && TIFFGetField(tif, TIFFTAG_COLORMAP, &red, &green, &blue)) {
    // 16-bit entries cut to their high byte (libtiff 4), unless every entry is below 256 (a map written with 8-bit
    // values, which libtiff's reader takes as they are).
    bool eight_bit = true;
    for (int i = 0; i < 256; ++i) eight_bit &= red[i] < 256 && green[i] < 256 && blue[i] < 256;
    d.palette.resize(256 * 3);
    for (int i = 0; i < 256; ++i) {
      const uint16_t c[3] = {red[i], green[i], blue[i]};
      for (int k = 0; k < 3; ++k) d.palette[(size_t)i * 3 + k] = eight_bit ? (uint8_t)c[k] : (uint8_t)(c[k] >> 8);
    }
  }
  for (const auto& [tag, field] :
       {std::pair{TIFFTAG_XPOSITION, &d.x_position}, std::pair{TIFFTAG_YPOSITION, &d.y_position}}) {
    float v = 0;
    if (TIFFGetField(tif, tag, &v)) *field = raw.rational(TIFFCurrentDirOffset(tif), tag, where).value_or(v);
  }
}

// The tile or strip grid of the current directory and its offsets and byte counts into `d`
// (whose size and strings are read), the arrays checked against the grid before libtiff loads them.
void read_chunks(TiffHandle& h, RawIfdReader& raw, MetadataBudget& budget, const std::string& where, TiffDir& d) {
  TIFF* tif = h.get();
  const std::string& path = h.path();
  d.tiled = TIFFIsTiled(tif);
  if (d.tiled) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0 || tw > kMaxTileSide || th > kMaxTileSide)
      throw InputError(path, where + ": absurd tile size " + std::to_string(tw) + "x" + std::to_string(th));
    d.tile_w = tw;
    d.tile_h = th;
  } else {
    uint32_t rps = 0;
    if (!TIFFGetField(tif, TIFFTAG_ROWSPERSTRIP, &rps) || rps == 0 || rps > d.height) rps = d.height;
    d.tile_w = d.width;
    d.tile_h = rps;
  }
  d.cols = (d.width + d.tile_w - 1) / d.tile_w;
  d.rows = (d.height + d.tile_h - 1) / d.tile_h;
  uint64_t chunks = d.chunk_count();
  if (chunks > kMaxChunks) throw InputError(path, where + ": absurd number of tiles " + std::to_string(chunks));
  uint64_t planes = d.planar == PLANARCONFIG_SEPARATE ? d.spp : 1;
  uint64_t* offs = nullptr;
  uint64_t* counts = nullptr;
  ttag_t off_tag = d.tiled ? TIFFTAG_TILEOFFSETS : TIFFTAG_STRIPOFFSETS;
  ttag_t cnt_tag = d.tiled ? TIFFTAG_TILEBYTECOUNTS : TIFFTAG_STRIPBYTECOUNTS;
  uint64_t listed = d.tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif);
  if (listed < chunks * planes)
    throw InputError(path,
                     where + ": tile/strip count " + std::to_string(listed) + " does not match the image geometry");
  // Checked before libtiff loads the arrays (the handle defers loading them until asked).
  const uint64_t ifd_offset = TIFFCurrentDirOffset(tif);
  check_chunk_array(raw, ifd_offset, (uint16_t)off_tag, listed, path, where);
  check_chunk_array(raw, ifd_offset, (uint16_t)cnt_tag, listed, path, where);
  budget.take(chunks * 2 * sizeof(uint64_t) + d.description.size() + d.software.size() + d.make.size() +
                  d.model.size() + d.datetime.size() + d.xmp.size(),
              where);
  h.clear_error();
  if (!TIFFGetField(tif, off_tag, &offs) || !TIFFGetField(tif, cnt_tag, &counts) || !offs || !counts)
    throw InputError(
        path, where + ": missing tile/strip offsets" + (h.last_error().empty() ? "" : " (" + h.last_error() + ")"));
  d.offsets.assign(offs, offs + chunks);
  d.byte_counts.assign(counts, counts + chunks);
}

TiffDir read_current(TiffHandle& h, RawIfdReader& raw, MetadataBudget& budget, const std::string& where) {
  TIFF* tif = h.get();
  TiffDir d;
  read_image_fields(tif, raw, h.path(), where, d);
  read_chunks(h, raw, budget, where, d);
  if (d.compression == COMPRESSION_JPEG) {
    uint32_t n = 0;
    void* p = nullptr;
    if (TIFFGetField(tif, TIFFTAG_JPEGTABLES, &n, &p) && p && n > 4) {
      auto* b = static_cast<uint8_t*>(p);
      budget.take(n, where);
      d.jpeg_tables.assign(b, b + n);
    }
  }
  uint16_t nsub = 0;
  uint64_t* subs = nullptr;
  if (TIFFGetField(tif, TIFFTAG_SUBIFD, &nsub, &subs) && subs) {
    budget.take((uint64_t)nsub * sizeof(uint64_t), where);
    d.subifds.assign(subs, subs + nsub);
  }
  return d;
}

}  // namespace

std::vector<TiffDir> read_tiff_dirs(TiffHandle& h) {
  TIFF* tif = h.get();
  std::vector<TiffDir> dirs;
  RawIfdReader raw(h);
  MetadataBudget budget(h.path());
  std::set<uint64_t> seen;  // IFD offsets read so far: a SubIFD must not point back at one
  h.forget_position();
  TIFFSetDirectory(tif, 0);
  for (int i = 0;; ++i) {
    if (i >= kMaxDirs) throw InputError(h.path(), "too many TIFF directories");
    TiffDir d = read_current(h, raw, budget, "directory " + std::to_string(i));
    d.main_index = i;
    const uint64_t offset = TIFFCurrentDirOffset(tif);
    seen.insert(offset);
    dirs.push_back(std::move(d));
    h.clear_error();
    if (!TIFFReadDirectory(tif)) {
      if (h.last_error().empty()) break;
      const std::string where = "directory " + std::to_string(i + 1);
      const uint64_t next = raw.next_ifd_offset(offset, where);
      if (next >= raw.file_size())  // the usual cause: a copy cut short
        throw InputError(h.path(), where + " is at byte " + std::to_string(next) + ", past the end of the file (" +
                                       std::to_string(raw.file_size()) + " bytes): the file is cut short");
      throw InputError(h.path(), "cannot read TIFF " + where + " (" + h.last_error() + ")");
    }
  }
  size_t n_main = dirs.size();
  for (size_t i = 0; i < n_main; ++i) {
    std::vector<uint64_t> subs = dirs[i].subifds;
    for (size_t k = 0; k < subs.size(); ++k) {
      if ((int)dirs.size() >= kMaxDirs) throw InputError(h.path(), "too many TIFF directories");
      if (!seen.insert(subs[k]).second)
        throw InputError(h.path(), "SubIFD " + std::to_string(k) + " of directory " + std::to_string(i) +
                                       " points at a directory already read (a loop)");
      h.select(-1, subs[k]);
      TiffDir d = read_current(h, raw, budget, "SubIFD " + std::to_string(k) + " of directory " + std::to_string(i));
      d.subifd_offset = subs[k];
      d.parent = (int)i;
      dirs.push_back(std::move(d));
    }
  }
  h.forget_position();
  return dirs;
}

std::string compression_name(uint16_t c) {
  switch (c) {
    case COMPRESSION_NONE: return "none";
    case COMPRESSION_LZW: return "LZW";
    case COMPRESSION_OJPEG: return "old-style JPEG";
    case COMPRESSION_JPEG: return "JPEG";
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_DEFLATE: return "Deflate";
    case COMPRESSION_PACKBITS: return "PackBits";
    case 33003: return "JPEG 2000 (Aperio 33003)";
    case 33005: return "JPEG 2000 (Aperio 33005)";
    case 34712: return "JPEG 2000 (34712)";
    case COMPRESSION_WEBP: return "WebP";
    case COMPRESSION_ZSTD: return "ZSTD";
    case COMPRESSION_LZMA: return "LZMA";
    default: return "compression " + std::to_string(c);
  }
}

}  // namespace ds
