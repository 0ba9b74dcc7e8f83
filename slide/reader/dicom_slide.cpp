// The DICOM whole-slide backend (Supplement 145, VL Whole Slide Microscopy Image). A slide is the
// instances of one Series Instance UID: opened from one instance file (its folder is searched for
// the others, as OpenSlide does) or from a folder of instances. VOLUME instances are the pyramid
// levels, one per total pixel matrix size, widest first; instances of one size must be the parts
// of one concatenation and are joined. LABEL, OVERVIEW and THUMBNAIL become the associated images
// "label", "macro" and "thumbnail" (OpenSlide's names). A level's tiles are its frames: TILED_FULL
// in row-major order (continuing across concatenation parts), TILED_SPARSE placed by each frame's
// plane position; a tile no frame covers is white. Frames are read with pread from the byte
// ranges dicom_instance.cpp found and decoded by the reader's JPEG (whole or in part) and JPEG
// 2000 paths, or copied when uncompressed.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "base/error.h"
#include "base/format.h"
#include "slide/reader/dicom_series.h"
#include "slide/reader/jp2k_decode.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/slide_file.h"
#include "slide/reader/slide_open.h"
#include "slide/reader/tiff_properties.h"

namespace ds {

namespace {

constexpr int64_t kMaxAssociatedPixels = 1ll << 26;

std::string tile_name(int level, int64_t col, int64_t row) {
  return "level " + std::to_string(level) + " tile (" + std::to_string(col) + ", " + std::to_string(row) + ")";
}

class DicomSource : public TileSource {
 public:
  explicit DicomSource(DicomSeries s)
      : parts_(std::move(s.parts)), levels_(std::move(s.levels)), associated_(std::move(s.associated)) {
    // One descriptor per instance that holds frames in the file, opened once, read with pread.
    for (const DicomInstance& d : parts_) files_.push_back(std::make_unique<SlideFile>(d.path));
    for (size_t i = 0; i < parts_.size(); ++i)
      for (const DicomFrameBytes& f : parts_[i].frames)
        if (!f.in_memory && !files_[i]->contains(f.offset, f.length))
          throw InputError(parts_[i].path, "a frame lies past the end of the file (truncated file?)");
  }

  TilePtr decode_tile(int level, int64_t col, int64_t row) override {
    const DicomLevel& L = levels_[(size_t)level];
    auto t = std::make_shared<Tile>(L.tile_w, L.tile_h);
    draw(L, col, row, 0, 0, L.tile_w, L.tile_h, t->rgb.get(), (size_t)L.tile_w * 3, tile_name(level, col, row));
    return t;
  }

  bool decode_tile_rect(int level, int64_t col, int64_t row, int x0, int y0, int x1, int y1, uint8_t* out,
                        size_t stride) override {
    draw(levels_[(size_t)level], col, row, x0, y0, x1, y1, out, stride, tile_name(level, col, row));
    return true;
  }

  bool raw_jpeg_tile(int level, int64_t col, int64_t row, std::vector<uint8_t>& out) override {
    const DicomLevel& L = levels_[(size_t)level];
    const DicomTileRef* t = find(L, col, row);
    if (!t) return false;
    const DicomInstance& d = parts_[t->part];
    if (d.codec != DicomCodec::kJpeg || d.photometric == "RGB") return false;
    const DicomFrameBytes& f = d.frames[t->frame];
    if (f.in_memory) {
      out.assign(d.inline_bytes.begin() + (ptrdiff_t)f.offset,
                 d.inline_bytes.begin() + (ptrdiff_t)(f.offset + f.length));
    } else {
      out.resize(f.length);
      files_[t->part]->read(out.data(), f.length, f.offset, tile_name(level, col, row));
    }
    return true;
  }

  RgbImage read_associated(const std::string& name) override {
    auto it = associated_.find(name);
    if (it == associated_.end()) throw InputError("no associated image '" + name + "'");
    const DicomLevel& L = it->second;
    if (L.width * L.height > kMaxAssociatedPixels) throw InputError("associated image '" + name + "' is too large");
    RgbImage img((int)L.width, (int)L.height);
    for (int64_t r = 0; r < L.rows; ++r)
      for (int64_t c = 0; c < L.cols; ++c) {
        const int x0 = (int)(c * L.tile_w), y0 = (int)(r * L.tile_h);
        const int w = (int)std::min<int64_t>(L.tile_w, L.width - x0),
                  h = (int)std::min<int64_t>(L.tile_h, L.height - y0);
        draw(L, c, r, 0, 0, w, h, img.row(y0) + (size_t)x0 * 3, (size_t)img.width * 3,
             "associated image '" + name + "' tile (" + std::to_string(c) + ", " + std::to_string(r) + ")");
      }
    return img;
  }

 private:
  // The frame that holds tile (col, row), or nullptr (outside the level, or not stored).
  static const DicomTileRef* find(const DicomLevel& L, int64_t col, int64_t row) {
    if (col < 0 || row < 0 || col >= L.cols || row >= L.rows) return nullptr;
    const uint64_t key = (uint64_t)row * (uint64_t)L.cols + (uint64_t)col;
    auto it = std::lower_bound(L.tiles.begin(), L.tiles.end(), key,
                               [](const DicomTileRef& t, uint64_t k) { return t.tile < k; });
    return it == L.tiles.end() || it->tile != key ? nullptr : &*it;
  }

  // Pixels [x0, x1) x [y0, y1) of tile (col, row) into `out` (row stride `stride`, at (x0, y0)).
  void draw(const DicomLevel& L, int64_t col, int64_t row, int x0, int y0, int x1, int y1, uint8_t* out, size_t stride,
            const std::string& where) const {
    const DicomTileRef* it = find(L, col, row);
    if (!it) {
      for (int y = y0; y < y1; ++y) std::memset(out + (size_t)(y - y0) * stride, 255, (size_t)(x1 - x0) * 3);
      return;  // not stored (TILED_SPARSE): white, as OpenSlide leaves it transparent
    }
    const DicomInstance& d = parts_[it->part];
    const DicomFrameBytes& f = d.frames[it->frame];
    const std::string what = d.path + ": " + where + " (frame " + std::to_string(it->frame + 1) + ")";
    thread_local std::vector<uint8_t> buf;
    const uint8_t* data = nullptr;
    if (f.in_memory) {
      data = d.inline_bytes.data() + f.offset;
    } else {
      buf.resize(f.length);
      files_[it->part]->read(buf.data(), f.length, f.offset, where);
      data = buf.data();
    }
    decode_frame(d, data, f.length, L.tile_w, L.tile_h, x0, y0, x1, y1, out, stride, what);
  }

  static void decode_frame(const DicomInstance& d, const uint8_t* data, size_t len, int tw, int th, int x0, int y0,
                           int x1, int y1, uint8_t* out, size_t stride, const std::string& what) {
    if (d.codec == DicomCodec::kJpeg2000) {
      decode_j2k_rgb(data, len, J2kColor::kRgb, tw, th, x0, y0, x1, y1, out, stride, what);
      return;
    }
    if (d.codec == DicomCodec::kNative) {
      if (len != (size_t)tw * th * 3) throw InputError(what, "uncompressed frame of the wrong length");
      for (int y = y0; y < y1; ++y)
        std::memcpy(out + (size_t)(y - y0) * stride, data + ((size_t)y * tw + x0) * 3, (size_t)(x1 - x0) * 3);
      return;
    }
    auto [fw, fh] = jpeg_header_size(data, len);
    if (fw != tw || fh != th)
      throw InputError(what, "JPEG frame of " + std::to_string(fw) + "x" + std::to_string(fh) +
                                 " where the instance's " + "Columns x Rows is " + std::to_string(tw) + "x" +
                                 std::to_string(th));
    const JpegColor color = d.photometric == "RGB" ? JpegColor::kRgb : JpegColor::kYCbCr;
    if (x0 == 0 && y0 == 0 && x1 == tw && y1 == th && stride == (size_t)tw * 3)
      decode_jpeg_rgb(nullptr, 0, data, len, color, out, tw, th, what);
    else decode_jpeg_rgb_rect(nullptr, 0, data, len, color, tw, th, x0, y0, x1, y1, out, stride, what);
  }

  std::vector<DicomInstance> parts_;
  std::vector<std::unique_ptr<SlideFile>> files_;
  std::vector<DicomLevel> levels_;
  std::map<std::string, DicomLevel> associated_;
};

}  // namespace

std::unique_ptr<Slide> open_dicom_slide(const std::string& path, size_t cache_bytes) {
  DicomSeries s = read_dicom_series(path);
  const DicomInstance& top = s.parts[s.level0_part];
  SlideMeta meta;
  meta.vendor = "dicom";
  meta.properties = top.properties;
  for (const DicomLevel& L : s.levels) {
    SlideLevel sl;
    sl.width = L.width;
    sl.height = L.height;
    sl.tile_width = L.tile_w;
    sl.tile_height = L.tile_h;
    sl.downsample = ((double)s.levels[0].width / (double)L.width + (double)s.levels[0].height / (double)L.height) / 2;
    meta.levels.push_back(sl);
  }
  for (const auto& [name, L] : s.associated) meta.associated.push_back(name);
  meta.mpp_x = top.mpp_x;
  meta.mpp_y = top.mpp_y;
  meta.objective_power = top.objective_power;
  meta.icc_profile = top.icc_profile;
  if (!top.icc_profile.empty()) meta.properties["openslide.icc-size"] = std::to_string(top.icc_profile.size());
  if (auto it = meta.properties.find("dicom.BarcodeValue"); it != meta.properties.end())
    meta.properties["openslide.barcode"] = it->second;
  add_standard_properties(meta);
  auto source = std::make_unique<DicomSource>(std::move(s));
  return std::make_unique<Slide>(path, std::move(meta), std::move(source), cache_bytes);
}

}  // namespace ds
