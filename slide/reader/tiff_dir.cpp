// Reads and sanity-checks every IFD of a TIFF (see tiff_dir.h). Limits keep hostile files from
// causing huge allocations: sides up to 2^24, tiles up to 16384 px a side, 2^26 chunks.
#include "slide/reader/tiff_dir.h"

#include <algorithm>

#include "base/error.h"

namespace ds {

namespace {

constexpr uint32_t kMaxSide = 1u << 24;
constexpr uint32_t kMaxTileSide = 16384;
constexpr uint64_t kMaxChunks = 1ull << 26;
constexpr int kMaxDirs = 4096;

std::string get_string(TIFF* tif, ttag_t tag) {
  char* s = nullptr;
  if (TIFFGetField(tif, tag, &s) && s) return s;
  return {};
}

TiffDir read_current(TiffHandle& h, const std::string& where) {
  TIFF* tif = h.get();
  const std::string& path = h.path();
  TiffDir d;
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
  float xr = 0, yr = 0;
  if (TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xr) && TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yr)) {
    d.has_resolution = xr > 0 && yr > 0;
    d.x_resolution = xr;
    d.y_resolution = yr;
  }
  TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &d.resolution_unit);

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
    if (!TIFFGetField(tif, TIFFTAG_ROWSPERSTRIP, &rps) || rps == 0 || rps > ht) rps = ht;
    d.tile_w = w;
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
  h.clear_error();
  if (!TIFFGetField(tif, off_tag, &offs) || !TIFFGetField(tif, cnt_tag, &counts) || !offs || !counts)
    throw InputError(path, where + ": missing tile/strip offsets" +
                               (h.last_error().empty() ? "" : " (" + h.last_error() + ")"));
  if (listed < chunks * planes)
    throw InputError(path, where + ": tile/strip count " + std::to_string(listed) +
                               " does not match the image geometry");
  d.offsets.assign(offs, offs + chunks);
  d.byte_counts.assign(counts, counts + chunks);

  if (d.compression == COMPRESSION_JPEG) {
    uint32_t n = 0;
    void* p = nullptr;
    if (TIFFGetField(tif, TIFFTAG_JPEGTABLES, &n, &p) && p && n > 4) {
      auto* b = static_cast<uint8_t*>(p);
      d.jpeg_tables.assign(b, b + n);
    }
  }
  uint16_t nsub = 0;
  uint64_t* subs = nullptr;
  if (TIFFGetField(tif, TIFFTAG_SUBIFD, &nsub, &subs) && subs) d.subifds.assign(subs, subs + nsub);
  return d;
}

}  // namespace

std::vector<TiffDir> read_tiff_dirs(TiffHandle& h) {
  TIFF* tif = h.get();
  std::vector<TiffDir> dirs;
  h.forget_position();
  TIFFSetDirectory(tif, 0);
  for (int i = 0;; ++i) {
    if (i >= kMaxDirs) throw InputError(h.path(), "too many TIFF directories");
    TiffDir d = read_current(h, "directory " + std::to_string(i));
    d.main_index = i;
    dirs.push_back(std::move(d));
    h.clear_error();
    if (!TIFFReadDirectory(tif)) {
      if (!h.last_error().empty())
        throw InputError(h.path(), "cannot read TIFF directory " + std::to_string(i + 1) + " (" +
                                       h.last_error() + ")");
      break;
    }
  }
  size_t n_main = dirs.size();
  for (size_t i = 0; i < n_main; ++i) {
    std::vector<uint64_t> subs = dirs[i].subifds;
    for (size_t k = 0; k < subs.size(); ++k) {
      if ((int)dirs.size() >= kMaxDirs) throw InputError(h.path(), "too many TIFF directories");
      h.select(-1, subs[k]);
      TiffDir d = read_current(h, "SubIFD " + std::to_string(k) + " of directory " + std::to_string(i));
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
