// The Hamamatsu NDPI backend. An NDPI file is one JPEG per directory: pyramid levels (SourceLens
// > 0, focal plane 0, widest first), the macro image (SourceLens -1) and sometimes a map (-2). A
// level's JPEG is not tiled but carries restart markers; as OpenSlide does, each restart interval
// (one MCU row high, restart-interval MCUs wide) is a tile, decoded on its own from the JPEG's
// header plus that interval's bytes, found through the restart-marker index (restart_index.h).
// The reader's tiles stack 8 intervals of a column into one JPEG (restart markers between them)
// and decode them in one libjpeg pass: the same pixels, an eighth of libjpeg's set-up, which is
// most of the cost of an interval 8 px high. Levels without restart markers are one tile. Like OpenSlide, every level
// also yields levels at 1/2, 1/4 and 1/8 of its size decoded with libjpeg's DCT scaling (where its tile divides), a
// real directory of the same width taking precedence. Properties follow OpenSlide's names:
// tiff.* of the first directory, hamamatsu.* from NDPI's tags and its key=value map (65449),
// mpp from the resolution tags when in centimetres, objective power from SourceLens.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "base/error.h"
#include "base/format.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/jpeg_markers.h"
#include "slide/reader/ndpi_ifd.h"
#include "slide/reader/restart_index.h"
#include "slide/reader/slide_file.h"
#include "slide/reader/slide_open.h"
#include "slide/reader/tiff_properties.h"

namespace ds {

namespace {

constexpr uint32_t kJpegMaxDimension = 65500;  // libjpeg's JPEG_MAX_DIMENSION
constexpr uint64_t kMaxHeaderBytes = 1u << 20;
constexpr uint64_t kMaxTilePixels = 64ull << 20;  // one tile (a level without restart markers)
constexpr uint64_t kMaxAssociatedPixels = 1ull << 28;
constexpr uint32_t kMaxSide = 1u << 20;  // as tiff_dir.cpp: 75 mm at 0.07 um/px
// Restart intervals of one level (the index holds 8 bytes each): a 2^20 x 2^20 level cut into
// NanoZoomer's 512 x 8 intervals has 2^11 x 2^17 = 2^28 of them; real levels (200k x 100k px)
// some 5 million; 2^25 keeps the index under 256 MB.
constexpr uint64_t kMaxIntervals = 1ull << 25;

// One directory's JPEG, cut into restart-interval tiles.
struct NdpiJpeg {
  uint64_t start = 0, end = 0;  // the strip: [start, end) in the file
  std::vector<uint8_t> header;  // SOI .. end of SOS
  size_t sof_pos = 0;           // where the SOF is in `header`
  size_t dri_pos = 0;           // where the DRI is (0: none, a level without restart markers)
  uint32_t mcu_w = 8;
  uint32_t width = 0, height = 0;
  // Restart intervals: tile_w x tile_h pixels (one MCU row high), tiles_across x tiles_down.
  uint32_t tile_w = 0, tile_h = 0, tiles_across = 0, tiles_down = 0;
  uint32_t stack = 1;  // intervals of a column decoded together (the reader's tile height)
  std::unique_ptr<RestartIndex> index;
};

struct NdpiLevel {
  int jpeg = 0;
  int scale = 1;  // libjpeg scale_denom
};

// The restart marker that ends interval i: RST0..RST7 in turn.
uint8_t restart_after(uint64_t i) { return (uint8_t)(0xD0 + i % 8); }

class NdpiSource : public TileSource {
 public:
  NdpiSource(std::string path, std::unique_ptr<SlideFile> file, std::vector<NdpiJpeg> jpegs,
             std::vector<NdpiLevel> levels, std::optional<NdpiDir> macro)
      : path_(std::move(path)),
        file_(std::move(file)),
        jpegs_(std::move(jpegs)),
        levels_(std::move(levels)),
        macro_(std::move(macro)) {}

  // Tile (col, row) of the reader's grid is intervals (col, row x stack ...) of the JPEG.
  TilePtr decode_tile(int level, int64_t col, int64_t row) override {
    const NdpiLevel& L = levels_[(size_t)level];
    const NdpiJpeg& J = jpegs_[(size_t)L.jpeg];
    std::string where = tile_name(level, col, row);
    const uint64_t r0 = (uint64_t)row * J.stack, r1 = std::min<uint64_t>(r0 + J.stack, J.tiles_down);
    const std::vector<uint8_t>& buf = stacked_jpeg(J, (uint64_t)col, r0, r1, where);
    const uint32_t s = (uint32_t)L.scale;
    auto t = std::make_shared<Tile>((int)(J.tile_w / s), (int)(J.tile_h * J.stack / s));
    decode_jpeg_rgb_frame(buf.data(), buf.size(), (int)J.tile_w, (int)(J.tile_h * (r1 - r0)), L.scale, t->rgb.get(),
                          path_ + ": " + where);
    return t;
  }

  // Random regions clip most tiles they touch: only the intervals of the rows a region needs are
  // stacked, and libjpeg decodes only its columns (with a margin, so the pixels are the same).
  // Full-size levels only.
  bool decode_tile_rect(int level, int64_t col, int64_t row, int x0, int y0, int x1, int y1, uint8_t* out,
                        size_t stride) override {
    const NdpiLevel& L = levels_[(size_t)level];
    if (L.scale != 1) return false;
    const NdpiJpeg& J = jpegs_[(size_t)L.jpeg];
    std::string where = tile_name(level, col, row);
    const uint64_t first = (uint64_t)row * J.stack;
    const uint64_t r0 = first + (uint64_t)y0 / J.tile_h, r1 = first + (uint64_t)(y1 - 1) / J.tile_h + 1;
    std::vector<uint8_t>& buf = stacked_jpeg(J, (uint64_t)col, r0, r1, where);
    const int dy = (int)((r0 - first) * J.tile_h);
    // The MCUs right of the region (one of margin kept for the upsampling) are not decoded: the
    // frame and the restart interval end there, and libjpeg skips to the next row's marker.
    uint32_t frame_w = J.tile_w;
    if (J.dri_pos) {
      frame_w = std::min(J.tile_w, ((uint32_t)(x1 - 1) / J.mcu_w + 2) * J.mcu_w);
      uint8_t* sof = buf.data() + J.sof_pos + 5;
      sof[2] = (uint8_t)(frame_w >> 8), sof[3] = (uint8_t)frame_w;
      const uint32_t mcus = frame_w / J.mcu_w;
      buf[J.dri_pos + 4] = (uint8_t)(mcus >> 8), buf[J.dri_pos + 5] = (uint8_t)mcus;
    }
    decode_jpeg_rgb_rect(nullptr, 0, buf.data(), buf.size(), JpegColor::kAuto, (int)frame_w,
                         (int)(J.tile_h * (r1 - r0)), x0, y0 - dy, x1, y1 - dy, out, stride, path_ + ": " + where,
                         frame_w < J.tile_w);
    return true;
  }

  RgbImage read_associated(const std::string& name) override {
    if (name != "macro" || !macro_) throw InputError(path_, "no associated image '" + name + "'");
    const NdpiDir& d = *macro_;
    std::string what = "associated image 'macro'";
    if (d.strip_bytes > (uint64_t)kMaxAssociatedPixels * 3 + (1u << 20))
      throw InputError(path_, what + " has an absurd byte count");
    std::vector<uint8_t> raw((size_t)d.strip_bytes);
    file_->read(raw.data(), raw.size(), d.strip_offset, what);
    auto [w, h] = jpeg_header_size(raw.data(), raw.size());
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > kMaxAssociatedPixels)
      throw InputError(path_, what + " is not a readable JPEG of sane size");
    RgbImage img(w, h);
    decode_jpeg_rgb(nullptr, 0, raw.data(), raw.size(), JpegColor::kAuto, img.pixels.data(), w, h, path_ + ": " + what);
    return img;
  }

 private:
  static std::string tile_name(int level, int64_t col, int64_t row) {
    return "level " + std::to_string(level) + " tile (" + std::to_string(col) + ", " + std::to_string(row) + ")";
  }

  // One JPEG, in a per-thread buffer, of the restart intervals (col, r0) .. (col, r1 - 1) one
  // above the other: the header with the SOF sized to them (OpenSlide keeps the level's size
  // there and sets the interval's after reading the header, but then libjpeg sizes its row
  // buffers for the whole level on every interval), then each interval's data and a
  // restart marker (RST0, RST1, ... in turn; EOI after the last). Each interval is one MCU row
  // and starts with fresh DC predictions, so libjpeg decodes every row as it decodes the interval
  // alone, as OpenSlide does: no upsampling looks across rows (4:2:2, 4:4:4; see `stack`). Each
  // interval is read with the two bytes before it, which must be the restart marker that ends
  // the one before it (the record of tag 65426 is checked so), and must end with its own.
  std::vector<uint8_t>& stacked_jpeg(const NdpiJpeg& J, uint64_t col, uint64_t r0, uint64_t r1,
                                     const std::string& where) {
    thread_local std::vector<uint8_t> buf;
    buf.assign(J.header.begin(), J.header.end());
    const uint32_t frame_h = J.tile_h * (uint32_t)(r1 - r0);
    uint8_t* sof = buf.data() + J.sof_pos + 5;
    sof[0] = (uint8_t)(frame_h >> 8), sof[1] = (uint8_t)frame_h;
    sof[2] = (uint8_t)(J.tile_w >> 8), sof[3] = (uint8_t)J.tile_w;
    const uint64_t count = (uint64_t)J.tiles_across * J.tiles_down;
    for (uint64_t r = r0; r < r1; ++r) {
      const uint64_t tileno = r * J.tiles_across + col;
      auto [b, e] = J.index->range(tileno, where);
      const size_t at = buf.size();
      if (tileno == 0) {
        buf.resize(at + (size_t)(e - b));
        file_->read(buf.data() + at, e - b, b, where);
      } else {
        const uint8_t keep0 = buf[at - 2], keep1 = buf[at - 1];
        buf.resize(at + (size_t)(e - b));
        file_->read(buf.data() + at - 2, e - b + 2, b - 2, where);
        if (buf[at - 2] != 0xFF || buf[at - 1] != restart_after(tileno - 1))
          throw InputError(path_, where + ": no restart marker where the JPEG's record (NDPI tag 65426) puts one");
        buf[at - 2] = keep0;
        buf[at - 1] = keep1;
      }
      const size_t n = buf.size();
      if (n < at + 3 || buf[n - 2] != 0xFF || (tileno + 1 < count && buf[n - 1] != restart_after(tileno)))
        throw InputError(path_, where + ": an interval does not end with a restart marker (broken restart markers)");
      buf[n - 1] = r + 1 < r1 ? restart_after(r - r0) : 0xD9;
    }
    return buf;
  }

  std::string path_;
  std::unique_ptr<SlideFile> file_;
  std::vector<NdpiJpeg> jpegs_;
  std::vector<NdpiLevel> levels_;
  std::optional<NdpiDir> macro_;
};

// Reads directory `d`'s JPEG header and lays out its tiles. OpenSlide's rules: a tile is one
// restart interval, which must divide the MCU row; without restart markers the image is one tile.
NdpiJpeg open_jpeg(const SlideFile& f, const std::string& path, const NdpiDir& d, const std::string& where) {
  NdpiJpeg J;
  if (d.strip_count != 1)
    throw InputError(path, where + " has " + std::to_string(d.strip_count) + " strips (NDPI levels have one)");
  if (d.width == 0 || d.height == 0 || d.width > kMaxSide || d.height > kMaxSide)
    throw InputError(path, where + ": absurd image size " + std::to_string(d.width) + "x" + std::to_string(d.height));
  J.start = d.strip_offset;
  J.end = d.strip_offset + d.strip_bytes;
  if (d.strip_bytes < 4 || J.start > f.size() || d.strip_bytes > f.size() - J.start)
    throw InputError(path, where + "'s JPEG lies past the end of the file (truncated file?)");
  std::vector<uint8_t> head((size_t)std::min<uint64_t>(d.strip_bytes, kMaxHeaderBytes));
  f.read(head.data(), head.size(), J.start, where + "'s JPEG header");
  std::string why;
  auto hdr = parse_jpeg_header(head.data(), head.size(), &why);
  if (!hdr) throw InputError(path, where + ": " + why);
  if (hdr->components != 3)
    throw InputError(path, where + ": JPEG has " + std::to_string(hdr->components) + " components (expected 3)");
  head.resize(hdr->header_len);
  const bool jpeg_size_valid = d.width <= kJpegMaxDimension && d.height <= kJpegMaxDimension;
  J.width = jpeg_size_valid ? hdr->width : (uint32_t)d.width;
  J.height = jpeg_size_valid ? hdr->height : (uint32_t)d.height;
  if (hdr->restart_interval == 0) {
    // One tile. The JPEG's own size wins over the directory's, which sometimes disagree on small
    // levels (OpenSlide 4 does the same; 3.4 refuses the file).
    if (!jpeg_size_valid)
      throw InputError(path, where + ": a JPEG wider or taller than 65500 px without restart markers");
    if ((uint64_t)J.width * J.height > kMaxTilePixels)
      throw InputError(path, where + ": a " + std::to_string(J.width) + "x" + std::to_string(J.height) +
                                 " JPEG without restart markers, too large to decode in one piece");
    J.tile_w = J.width;
    J.tile_h = J.height;
  } else {
    if (J.width != d.width || J.height != d.height)
      throw InputError(path, where + ": JPEG of " + std::to_string(J.width) + "x" + std::to_string(J.height) +
                                 " where the directory says " + std::to_string(d.width) + "x" +
                                 std::to_string(d.height));
    const uint32_t mcu_w = (uint32_t)hdr->mcu_width(), mcu_h = (uint32_t)hdr->mcu_height();
    const uint32_t mcus_per_row = (J.width + mcu_w - 1) / mcu_w;
    if (hdr->restart_interval > mcus_per_row || mcus_per_row % hdr->restart_interval != 0)
      throw InputError(path, where + ": restart interval of " + std::to_string(hdr->restart_interval) +
                                 " MCUs does not divide the " + std::to_string(mcus_per_row) + " MCUs of a row");
    J.tile_w = mcu_w * hdr->restart_interval;
    J.tile_h = mcu_h;
    if (J.tile_w > kJpegMaxDimension)
      throw InputError(
          path, where + ": restart intervals of " + std::to_string(J.tile_w) + " px, wider than a JPEG frame can be");
  }
  J.header = std::move(head);
  J.sof_pos = hdr->sof_pos;
  J.dri_pos = hdr->restart_interval ? hdr->dri_pos : 0;
  J.mcu_w = (uint32_t)hdr->mcu_width();
  // Intervals of one column are decoded 64 rows at a time (one libjpeg pass instead of eight:
  // most of a small interval's cost is libjpeg's set-up) where no upsampling looks across rows,
  // which would make the pixels differ from decoding each interval alone.
  if (hdr->restart_interval != 0 && hdr->max_v == 1) J.stack = std::max<uint32_t>(1, 64 / J.tile_h);
  J.tiles_across = (J.width + J.tile_w - 1) / J.tile_w;
  J.tiles_down = (J.height + J.tile_h - 1) / J.tile_h;
  const uint64_t tiles = (uint64_t)J.tiles_across * J.tiles_down;
  // Every interval holds at least one byte and a 2-byte marker: a count the data cannot hold is a
  // broken file, and is refused before the index is allocated.
  if (tiles > kMaxIntervals)
    throw InputError(path, where + ": " + std::to_string(tiles) + " restart intervals, more than the " +
                               std::to_string(kMaxIntervals) + " this reader indexes");
  if (tiles > 1 && tiles > d.strip_bytes / 3)
    throw InputError(path, where + ": " + std::to_string(tiles) + " restart intervals in " +
                               std::to_string(d.strip_bytes) + " bytes of JPEG");
  std::vector<uint64_t> recorded;
  if (tiles > 1 && d.mcu_starts.size() == tiles) {
    recorded.resize(tiles);
    for (uint64_t i = 0; i < tiles; ++i) recorded[i] = J.start + d.mcu_starts[i];
  }
  J.index = std::make_unique<RestartIndex>(f.fd(), path, J.start + J.header.size(), J.end, tiles, std::move(recorded));
  return J;
}

std::string format_double(double v) { return format_number("%.17g", v); }

void add_ndpi_properties(const NdpiDir& d0, SlideMeta& meta) {
  auto& p = meta.properties;
  // tiff.* of the first directory, as OpenSlide's TIFF property reader gives them.
  for (const auto& [k, v] : d0.strings) p[k] = v;
  for (const auto& [k, v] : d0.strings)
    if (k == "tiff.ImageDescription") p["openslide.comment"] = v;
  if (d0.x_resolution) p["tiff.XResolution"] = format_double(*d0.x_resolution);
  if (d0.y_resolution) p["tiff.YResolution"] = format_double(*d0.y_resolution);
  if (d0.x_position) p["tiff.XPosition"] = format_double(*d0.x_position);
  if (d0.y_position) p["tiff.YPosition"] = format_double(*d0.y_position);
  const uint64_t unit = d0.resolution_unit.value_or(2);
  p["tiff.ResolutionUnit"] = unit == 1 ? "none" : unit == 2 ? "inch" : unit == 3 ? "centimeter" : "unknown";
  if (unit == 3 && d0.x_resolution) meta.mpp_x = 10000.0 / *d0.x_resolution;
  if (unit == 3 && d0.y_resolution) meta.mpp_y = 10000.0 / *d0.y_resolution;
  if (d0.source_lens) {
    p["hamamatsu.SourceLens"] = format_double(*d0.source_lens);
    meta.objective_power = *d0.source_lens;
  }
  if (d0.x_offset) p["hamamatsu.XOffsetFromSlideCentre"] = std::to_string(*d0.x_offset);
  if (d0.y_offset) p["hamamatsu.YOffsetFromSlideCentre"] = std::to_string(*d0.y_offset);
  if (d0.reference) p["hamamatsu.Reference"] = *d0.reference;
  if (d0.property_map) {
    // key=value records separated by CRLF; empty keys or values are skipped, as OpenSlide does.
    const std::string& m = *d0.property_map;
    for (size_t pos = 0; pos <= m.size();) {
      size_t next = m.find("\r\n", pos);
      std::string rec = m.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
      size_t eq = rec.find('=');
      if (eq != std::string::npos && eq > 0 && eq + 1 < rec.size())
        p["hamamatsu." + rec.substr(0, eq)] = rec.substr(eq + 1);
      if (next == std::string::npos) break;
      pos = next + 2;
    }
  }
}

}  // namespace

std::unique_ptr<Slide> open_ndpi_slide(const std::string& path, size_t cache_bytes) {
  std::vector<NdpiDir> dirs = read_ndpi_dirs(path);
  auto file = std::make_unique<SlideFile>(path);
  std::vector<NdpiJpeg> jpegs;
  std::optional<NdpiDir> macro;
  uint64_t min_width = UINT64_MAX;
  for (size_t i = 0; i < dirs.size(); ++i) {
    const NdpiDir& d = dirs[i];
    std::string where = "directory " + std::to_string(i);
    if (!d.source_lens) throw InputError(path, where + " has no SourceLens (NDPI tag 65421)");
    if (*d.source_lens > 0) {
      if (d.focal_plane.value_or(0) != 0) continue;  // other focal planes are not read
      if (d.width >= min_width)
        throw InputError(path, where + " is not smaller than the level before it; NDPI levels come widest first");
      min_width = d.width;
      jpegs.push_back(open_jpeg(*file, path, d, where));
    } else if (*d.source_lens == -1 && !macro) {
      if (d.strip_count != 1) throw InputError(path, where + " (macro image) has more than one strip");
      macro = d;
    }
  }
  if (jpegs.empty()) throw InputError(path, "no pyramid level (no directory with SourceLens > 0)");

  // Levels by width: each JPEG at full size and, where its tile divides, at 1/2, 1/4, 1/8; a later
  // (smaller) JPEG replaces a scaled level of the same width, as in OpenSlide.
  std::map<uint32_t, NdpiLevel, std::greater<uint32_t>> by_width;
  for (size_t j = 0; j < jpegs.size(); ++j) {
    const NdpiJpeg& J = jpegs[j];
    by_width[J.width] = NdpiLevel{(int)j, 1};
    for (int s = 2; s <= 8; s *= 2)
      if (J.tile_w % (uint32_t)s == 0 && J.tile_h % (uint32_t)s == 0)
        by_width[J.width / (uint32_t)s] = NdpiLevel{(int)j, s};
  }
  SlideMeta meta;
  meta.vendor = "hamamatsu";
  std::vector<NdpiLevel> levels;
  const NdpiJpeg& top = jpegs[(size_t)by_width.begin()->second.jpeg];
  for (const auto& [w, L] : by_width) {
    const NdpiJpeg& J = jpegs[(size_t)L.jpeg];
    SlideLevel sl;
    sl.width = J.width / (uint32_t)L.scale;
    sl.height = J.height / (uint32_t)L.scale;
    if (sl.width == 0 || sl.height == 0) continue;
    sl.tile_width = (int)(J.tile_w / (uint32_t)L.scale);
    sl.tile_height = (int)(J.tile_h * J.stack / (uint32_t)L.scale);
    sl.downsample = ((double)top.height / (double)sl.height + (double)top.width / (double)sl.width) / 2.0;
    meta.levels.push_back(sl);
    levels.push_back(L);
  }
  if (macro) meta.associated.push_back("macro");
  add_ndpi_properties(dirs[0], meta);
  add_standard_properties(meta);
  // OpenSlide's tile is one restart interval; ours stacks `stack` of them (same pixels).
  for (size_t i = 0; i < levels.size(); ++i) {
    const NdpiJpeg& J = jpegs[(size_t)levels[i].jpeg];
    meta.properties["openslide.level[" + std::to_string(i) + "].tile-height"] =
        std::to_string(J.tile_h / (uint32_t)levels[i].scale);
  }
  auto source = std::make_unique<NdpiSource>(path, std::move(file), std::move(jpegs), std::move(levels), macro);
  return std::make_unique<Slide>(path, std::move(meta), std::move(source), cache_bytes);
}

}  // namespace ds
