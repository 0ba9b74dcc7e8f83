// Slidedat.ini and Index.dat of a MIRAX slide into levels of placed tiles (see mirax_layout.h).
// Every count, size and offset read from the files is bounded before anything is allocated for it.
#include "slide/reader/mirax_layout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>
#include <unordered_map>

#include "base/error.h"
#include "base/regular_file.h"
#include "slide/reader/ini_file.h"
#include "slide/reader/mirax_index.h"
#include "slide/reader/tiff_properties.h"

namespace ds {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxIniBytes = 1u << 20;        // OpenSlide's limit
constexpr uint64_t kMaxIndexBytes = 256ull << 20;  // several layers (focus levels) of a large slide
constexpr int64_t kMaxImageSide = 1 << 14;         // a stored image's side (scanners': 1-4K)
constexpr int64_t kMaxImagePixels = 1ll << 24;
constexpr int64_t kMaxImages = 1ll << 26;     // the image grid (a scanner's: well under 2^21)
constexpr int64_t kMaxPhotos = 1ll << 22;     // photos (the grid / D^2)
constexpr int64_t kMaxTiles = 1ll << 23;      // tiles of all levels together
constexpr int64_t kMaxLevelSide = 1ll << 22;  // level 0's width and height
constexpr size_t kMaxTilesPerCell = 64;       // images overlapping one place
constexpr int kMaxLevels = 32;
constexpr int kMaxDataFiles = 100000;

const char* const kGeneral = "GENERAL";
const char* const kHier = "HIERARCHICAL";

std::string lower(std::string s) {
  for (char& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

std::string read_text(const std::string& path, uint64_t max_bytes) {
  require_regular_file(path);
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw InputError(path, "cannot read its size");
  if (size == 0) throw InputError(path, "is empty");
  if (size > max_bytes) throw InputError(path, "is larger than " + std::to_string(max_bytes >> 20) + " MiB");
  std::ifstream f(path, std::ios::binary);
  std::string text((size_t)size, '\0');
  if (!f.read(text.data(), (std::streamsize)size)) throw InputError(path, "cannot be read");
  return text;
}

// A key's value as OpenSlide reads it: the whole value a base-10 integer / a number.
int64_t int_key(const IniFile& ini, const std::string& group, const std::string& key, int64_t lo, int64_t hi) {
  const std::string& v = ini.require(group, key);
  auto n = parse_openslide_int(v);
  if (!n || *n < lo || *n > hi)
    throw InputError(ini.path(), "[" + group + "] " + key + " = '" + v + "' is not a whole number from " +
                                     std::to_string(lo) + " to " + std::to_string(hi));
  return *n;
}

double double_key(const IniFile& ini, const std::string& group, const std::string& key) {
  const std::string& v = ini.require(group, key);
  auto d = parse_openslide_double(v);
  if (!d || !std::isfinite(*d))
    throw InputError(ini.path(), "[" + group + "] " + key + " = '" + v + "' is not a number");
  return *d;
}

// A file name from the key file, inside the slide's folder: no path of its own.
std::string file_in(const std::string& folder, const IniFile& ini, const std::string& group, const std::string& key) {
  const std::string& name = ini.require(group, key);
  if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw InputError(ini.path(),
                     "[" + group + "] " + key + " = '" + name + "' is not a file name in the slide's folder");
  return folder + "/" + name;
}

struct Level {
  std::string section;
  int64_t concat = 0, w = 0, h = 0;
  double overlap_x = 0, overlap_y = 0, mpp_x = 0, mpp_y = 0;
  int64_t fill_bgr = 0;
  MiraxFormat format = MiraxFormat::kJpeg;
};

Level level_section(const IniFile& ini, const std::string& section, int k, int64_t d) {
  Level L;
  L.section = section;
  if (!ini.has_group(section))
    throw InputError(ini.path(), "zoom level " + std::to_string(k) + "'s section [" + section + "] is missing");
  L.concat = int_key(ini, section, "IMAGE_CONCAT_FACTOR", k == 0 ? 0 : 1, 30);
  L.overlap_x = double_key(ini, section, "OVERLAP_X");
  L.overlap_y = double_key(ini, section, "OVERLAP_Y");
  L.mpp_x = double_key(ini, section, "MICROMETER_PER_PIXEL_X");
  L.mpp_y = double_key(ini, section, "MICROMETER_PER_PIXEL_Y");
  L.fill_bgr = int_key(ini, section, "IMAGE_FILL_COLOR_BGR", INT32_MIN, UINT32_MAX);
  L.w = int_key(ini, section, "DIGITIZER_WIDTH", 1, kMaxImageSide);
  L.h = int_key(ini, section, "DIGITIZER_HEIGHT", 1, kMaxImageSide);
  if (L.w * L.h > kMaxImagePixels)
    throw InputError(ini.path(), "[" + section + "] images of " + std::to_string(L.w) + "x" + std::to_string(L.h) +
                                     " are too large");
  // An overlap is a part of a photo: bounded by the photo's size (so sizes stay small integers).
  for (const auto& [v, side, key] :
       {std::tuple{L.overlap_x, L.w, "OVERLAP_X"}, std::tuple{L.overlap_y, L.h, "OVERLAP_Y"}})
    if (std::fabs(v) > (double)(side * d))
      throw InputError(ini.path(), "[" + section + "] " + key + " is larger than a photo");
  const std::string& f = ini.require(section, "IMAGE_FORMAT");
  if (f == "JPEG") L.format = MiraxFormat::kJpeg;
  else if (f == "PNG") L.format = MiraxFormat::kPng;
  else if (f == "BMP24") L.format = MiraxFormat::kBmp24;
  else throw InputError(ini.path(), "[" + section + "] IMAGE_FORMAT '" + f + "' is not JPEG, PNG or BMP24");
  return L;
}

uint64_t cell_key(int64_t cx, int64_t cy) { return ((uint64_t)(uint32_t)cx << 32) | (uint32_t)cy; }

// Cells of a tile's side: a tile reaches into at most 2 x 2, and a cell holds the few tiles around
// it that overlap (a scanner's photos overlap their neighbours by a few per cent).
void index_tiles(MiraxLevel& L, const std::string& path, int level) {
  L.bucket = std::max(std::ceil(std::max(L.tile_w, L.tile_h)), 1.0);
  L.cells.clear();
  for (uint32_t i = 0; i < L.tiles.size(); ++i) {
    const MiraxTile& t = L.tiles[i];
    const int64_t cx0 = (int64_t)std::floor(t.x / L.bucket), cx1 = (int64_t)std::ceil((t.x + L.tile_w) / L.bucket) - 1;
    const int64_t cy0 = (int64_t)std::floor(t.y / L.bucket), cy1 = (int64_t)std::ceil((t.y + L.tile_h) / L.bucket) - 1;
    for (int64_t cy = cy0; cy <= cy1; ++cy)
      for (int64_t cx = cx0; cx <= cx1; ++cx) L.cells.emplace_back(cell_key(cx, cy), i);
  }
  std::sort(L.cells.begin(), L.cells.end());
  // Dozens at one place is a hostile index making every read there decode them all.
  for (size_t a = 0, b = 0; a < L.cells.size(); a = b) {
    while (b < L.cells.size() && L.cells[b].first == L.cells[a].first) ++b;
    if (b - a > kMaxTilesPerCell)
      throw InputError(path, "more than " + std::to_string(kMaxTilesPerCell) + " images of zoom level " +
                                 std::to_string(level) + " overlap at one place");
  }
}

}  // namespace

bool is_mirax_path(const std::string& path) {
  if (path.size() < 6 || lower(path.substr(path.size() - 5)) != ".mrxs") return false;
  std::error_code ec;
  return fs::is_regular_file(path.substr(0, path.size() - 5) + "/Slidedat.ini", ec);
}

std::vector<uint32_t> mirax_tiles_in(const MiraxLevel& L, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  std::vector<uint32_t> out;
  if (L.tiles.empty() || x0 >= x1 || y0 >= y1) return out;
  const int64_t cx0 = (int64_t)std::floor((double)x0 / L.bucket),
                cx1 = (int64_t)std::floor((double)(x1 - 1) / L.bucket);
  const int64_t cy0 = (int64_t)std::floor((double)y0 / L.bucket),
                cy1 = (int64_t)std::floor((double)(y1 - 1) / L.bucket);
  // OpenSlide's test for a tile outside the region.
  auto take = [&](uint32_t i) {
    const MiraxTile& t = L.tiles[i];
    if (t.x + L.tile_w <= (double)x0 || t.y + L.tile_h <= (double)y0 || t.x >= (double)x1 || t.y >= (double)y1) return;
    out.push_back(i);
  };
  if ((double)(cx1 - cx0 + 1) * (double)(cy1 - cy0 + 1) > (double)L.tiles.size()) {
    // A region of more cells than the level has tiles (tiny tiles, a large region): every tile.
    for (uint32_t i = 0; i < L.tiles.size(); ++i) take(i);
  } else {
    for (int64_t cy = cy0; cy <= cy1; ++cy)
      for (int64_t cx = cx0; cx <= cx1; ++cx) {
        const uint64_t key = cell_key(cx, cy);
        for (auto it = std::lower_bound(L.cells.begin(), L.cells.end(), std::make_pair(key, (uint32_t)0));
             it != L.cells.end() && it->first == key; ++it)
          take(it->second);
      }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) {
    const MiraxTile &p = L.tiles[a], &q = L.tiles[b];
    return p.row != q.row ? p.row > q.row : p.col > q.col;
  });
  return out;
}

MiraxLayout read_mirax_layout(const std::string& path) {
  const std::string folder = path.substr(0, path.size() - 5);
  const std::string ini_path = folder + "/Slidedat.ini";
  const IniFile ini(ini_path, read_text(ini_path, kMaxIniBytes));
  MiraxLayout out;
  SlideMeta& meta = out.meta;
  meta.vendor = "mirax";
  for (const auto& e : ini.entries()) meta.properties["mirax." + e.group + "." + e.key] = e.value;

  // The image grid.
  const std::string& slide_id = ini.require(kGeneral, "SLIDE_ID");
  const int64_t nx = int_key(ini, kGeneral, "IMAGENUMBER_X", 1, 1 << 20);
  const int64_t ny = int_key(ini, kGeneral, "IMAGENUMBER_Y", 1, 1 << 20);
  if (nx * ny > kMaxImages)
    throw InputError(ini_path, "an image grid of " + std::to_string(nx) + " x " + std::to_string(ny) +
                                   " is larger than this reader takes (2^26 images)");
  int64_t d = 1;
  if (auto v = ini.get(kGeneral, "CameraImageDivisionsPerSide"))
    if (auto n = parse_openslide_int(*v)) d = *n;
  if (d < 1 || d > std::min(nx, ny))
    throw InputError(ini_path, "CameraImageDivisionsPerSide " + std::to_string(d) + " does not divide the image grid");
  const int64_t px = nx / d, py = ny / d;  // photos across and down
  if (px * py > kMaxPhotos)
    throw InputError(ini_path, "the slide has " + std::to_string(px * py) + " photos, more than this reader takes");
  // OpenSlide 4 takes a missing, blank or "20x" magnification; 3.4.1 refuses the slide.
  if (auto v = ini.get(kGeneral, "OBJECTIVE_MAGNIFICATION")) {
    std::string s = *v;
    if (!s.empty() && (s.back() == 'x' || s.back() == 'X')) s.pop_back();
    if (auto n = parse_openslide_int(s); n && *n > 0) meta.objective_power = (double)*n;
  }

  // Zoom levels: HIER_0 must be "Slide zoom level".
  int_key(ini, kHier, "HIER_COUNT", 1, 1 << 16);
  if (ini.require(kHier, "HIER_0_NAME") != "Slide zoom level")
    throw InputError(ini_path, "HIER_0_NAME is not 'Slide zoom level' (not a MIRAX slide this reader knows)");
  const int64_t nlevels = int_key(ini, kHier, "HIER_0_COUNT", 1, kMaxLevels);
  std::vector<Level> levels;
  for (int k = 0; k < (int)nlevels; ++k)
    levels.push_back(level_section(ini, ini.require(kHier, "HIER_0_VAL_" + std::to_string(k) + "_SECTION"), k, d));
  const std::vector<MiraxNonhier> nonhier = mirax_nonhier_entries(ini);

  // Data files: each checked when a record first names it.
  const int64_t nfiles = int_key(ini, "DATAFILE", "FILE_COUNT", 1, kMaxDataFiles);
  std::vector<std::string> data_files;
  for (int64_t i = 0; i < nfiles; ++i)
    data_files.push_back(file_in(folder, ini, "DATAFILE", "FILE_" + std::to_string(i)));
  out.data_files = data_files;
  MiraxDataFiles files(std::move(data_files), path);

  // Index.dat's header: version, the slide id, the two tables.
  MiraxIndex idx{file_in(folder, ini, kHier, "INDEXFILE"), ""};
  idx.bytes = read_text(idx.path, kMaxIndexBytes);
  if (idx.bytes.compare(0, 5, "01.02") != 0)
    throw InputError(idx.path, "does not start with MIRAX index version 01.02");
  if (idx.bytes.compare(5, slide_id.size(), slide_id) != 0)
    throw InputError(idx.path, "belongs to another slide (its identifier is not Slidedat.ini's SLIDE_ID)");
  const int64_t hier_table = idx.nonneg(5 + (int64_t)slide_id.size(), "the zoom levels' table");
  const int64_t nonhier_table = idx.nonneg(9 + (int64_t)slide_id.size(), "the other records' table");

  // Concatenation: C_k = 2^(e_0 + ... + e_k) level-0 images per level-k image side.
  std::vector<int64_t> c;
  int64_t e = 0;
  for (const Level& L : levels) {
    e += L.concat;
    if (e > 30) throw InputError(ini_path, "the zoom levels' IMAGE_CONCAT_FACTORs add up past 30");
    c.push_back(int64_t(1) << e);
  }
  const Level& L0 = levels[0];
  // The photos' level-0 positions: stored, else the nominal grid (photo size less the overlap).
  const std::vector<MiraxPoint> stored = mirax_stored_positions(idx, nonhier, nonhier_table, files, px * py, c[0]);
  auto pos = [&](int64_t cp) {
    if (!stored.empty()) return stored[(size_t)cp];
    return MiraxPoint{(int64_t)((double)(cp % px) * ((double)(L0.w * d) - L0.overlap_x)),
                      (int64_t)((double)(cp / px) * ((double)(L0.h * d) - L0.overlap_y))};
  };
  const bool positioned = !stored.empty() || L0.overlap_x != 0 || L0.overlap_y != 0;

  // The slide's size: every image but the last of each photo's row loses the overlap.
  auto base_size = [&](int64_t n, int64_t size, double overlap, const char* what) {
    int64_t s = 0;
    for (int64_t i = 0; i < n; ++i)
      s = (int64_t)((double)s + ((i % d != d - 1 || i == n - 1) ? (double)size : (double)size - overlap));
    if (s < 1 || s > kMaxLevelSide)
      throw InputError(ini_path, std::string("level 0's ") + what + " of " + std::to_string(s) +
                                     " px is outside 1 to 2^22 (IMAGENUMBER, DIGITIZER size, OVERLAP)");
    return s;
  };
  const int64_t base_w = base_size(nx, L0.w, L0.overlap_x, "width");
  const int64_t base_h = base_size(ny, L0.h, L0.overlap_y, "height");

  // Photos whose level-0 images are drawn; a level above draws an image when a photo of its
  // block is one (prefix sums: the block can be 2^19 photos a side).
  std::vector<char> active((size_t)(px * py), 0);
  std::vector<int64_t> active_sum;
  // OpenSlide names a tile size only when every level's tiles sit on their grid: a whole-pixel
  // size equal to the advance, none moved from col x advance, row x advance.
  bool regular = true;
  int64_t tiles_total = 0;
  // Records walked over all levels: levels may share pages, and each walk costs.
  int64_t records_left = kMaxTiles;
  double bx0 = INFINITY, by0 = INFINITY, bx1 = -INFINITY, by1 = -INFINITY;
  for (int k = 0; k < (int)levels.size(); ++k) {
    const Level& S = levels[(size_t)k];
    const int64_t ck = c[(size_t)k];
    const int64_t tcd = positioned ? std::min(ck, d) : ck;
    const int64_t tpi = positioned ? std::max<int64_t>(1, ck / d) : 1;
    const int64_t ppt = positioned ? 1 : std::max<int64_t>(1, ck / d);
    if (k == 1) {
      active_sum.assign(active.size() + 1, 0);
      for (size_t i = 0; i < active.size(); ++i) active_sum[i + 1] = active_sum[i] + active[i];
    }
    MiraxLevel M;
    M.image_w = (int)S.w;
    M.image_h = (int)S.h;
    M.tile_w = (double)S.w / (double)tpi;
    M.tile_h = (double)S.h / (double)tpi;
    M.crop_w = (int)std::ceil(M.tile_w);
    M.crop_h = (int)std::ceil(M.tile_h);
    M.format = S.format;
    const double ipp = (double)std::max<int64_t>(1, d / ck);
    const double adv_x = M.tile_w - S.overlap_x / ipp, adv_y = M.tile_h - S.overlap_y / ipp;
    regular = regular && M.tile_w == std::floor(M.tile_w) && M.tile_h == std::floor(M.tile_h) && adv_x == M.tile_w &&
              adv_y == M.tile_h;
    std::unordered_map<uint64_t, uint32_t> at;  // grid place -> tile: a later image replaces an earlier one
    const std::string what = "zoom level " + std::to_string(k);
    for (const MiraxRecord& rec : mirax_level_records(idx, hier_table, k, (int)nfiles, records_left)) {
      const int64_t x = rec.image % nx, y = rec.image / nx;
      const std::string image = what + "'s image " + std::to_string(rec.image);
      if (y >= ny)
        throw InputError(idx.path,
                         image + " lies outside the " + std::to_string(nx) + " x " + std::to_string(ny) + " grid");
      if (x % ck || y % ck) throw InputError(idx.path, image + " is not at a multiple of " + std::to_string(ck));
      files.check(rec.where, image);
      const uint32_t img = (uint32_t)M.images.size();
      M.images.push_back(rec.where);
      for (int64_t yi = 0; yi < tpi && y + yi * d < ny; ++yi)
        for (int64_t xi = 0; xi < tpi && x + xi * d < nx; ++xi) {
          const int64_t xx = x + xi * d, yy = y + yi * d;
          const int64_t xp = xx / d, yp = yy / d;
          if (xp >= px || yp >= py) continue;  // images past the last whole photo
          const int64_t cp = yp * px + xp;
          if (k == 0) {
            const MiraxPoint p = pos(cp);
            if (p.x == 0 && p.y == 0 && cp != 0) continue;  // a photo never taken
            active[(size_t)cp] = 1;
          } else {
            // OpenSlide's test: any photo of the block [xp, xp + ppt) x [yp, yp + ppt), rows
            // running on into the next as it computes them.
            bool any = false;
            for (int64_t j = 0; j < ppt && !any; ++j) {
              const int64_t from = (yp + j) * px + xp;
              if (from >= px * py) break;
              any = active_sum[(size_t)std::min(from + ppt, px * py)] > active_sum[(size_t)from];
            }
            if (!any) continue;
          }
          const MiraxPoint p = pos(cp);
          MiraxTile t;
          t.x = (double)(p.x + L0.w * (xx - xp * d)) / (double)ck;
          t.y = (double)(p.y + L0.h * (yy - yp * d)) / (double)ck;
          t.col = x / tcd + xi;
          t.row = y / tcd + yi;
          t.image = img;
          t.src_fx = M.tile_w * (double)xi;
          t.src_fy = M.tile_h * (double)yi;
          t.src_x = (int)t.src_fx;
          t.src_y = (int)t.src_fy;
          regular = regular && t.x == (double)t.col * adv_x && t.y == (double)t.row * adv_y;
          const uint64_t key = ((uint64_t)t.row << 32) | (uint64_t)t.col;
          if (auto it = at.find(key); it != at.end()) {
            M.tiles[it->second] = t;
          } else {
            if (++tiles_total > kMaxTiles)
              throw InputError(idx.path, "the zoom levels hold more than 2^23 tiles, more than this reader takes");
            at[key] = (uint32_t)M.tiles.size();
            M.tiles.push_back(t);
          }
          if (k == 0) {
            bx0 = std::min(bx0, t.x), by0 = std::min(by0, t.y);
            bx1 = std::max(bx1, t.x + M.tile_w), by1 = std::max(by1, t.y + M.tile_h);
          }
        }
    }
    index_tiles(M, idx.path, k);
    SlideLevel SL;
    SL.width = base_w / ck;
    SL.height = base_h / ck;
    SL.downsample = (double)(ck / c[0]);
    SL.tile_width = SL.tile_height = 512;  // drawn tiles the slide caches (not the stored images)
    if (SL.width < 1 || SL.height < 1) throw InputError(ini_path, what + " is empty (less than one pixel)");
    meta.levels.push_back(SL);
    out.levels.push_back(std::move(M));
  }

  // Associated images: the first "Scan data layer" entry's thumbnail (OpenSlide's macro),
  // barcode (label) and preview (thumbnail), each a JPEG.
  for (const MiraxNonhier& x : nonhier) {
    if (x.name != "Scan data layer") continue;
    static const struct {
      const char *value, *type_key, *name;
    } kAssociated[] = {{"ScanDataLayer_SlideThumbnail", "THUMBNAIL_IMAGE_TYPE", "macro"},
                       {"ScanDataLayer_SlideBarcode", "BARCODE_IMAGE_TYPE", "label"},
                       {"ScanDataLayer_SlidePreview", "PREVIEW_IMAGE_TYPE", "thumbnail"}};
    const std::string k = "NONHIER_" + std::to_string(x.i) + "_VAL_";
    for (const auto& a : kAssociated)
      for (int64_t j = 0; j < x.count; ++j) {
        if (ini.get(kHier, k + std::to_string(j)).value_or("") != a.value) continue;
        const std::string section = ini.get(kHier, k + std::to_string(j) + "_SECTION").value_or("");
        const std::string type = ini.get(section, a.type_key).value_or("");
        if (type != "JPEG")
          throw InputError(
              ini_path, std::string(a.value) + "'s [" + section + "] " + a.type_key + " is '" + type + "', not JPEG");
        const std::string what = std::string("associated image '") + a.name + "'";
        const MiraxImage m = mirax_nonhier_image(idx, nonhier_table, x.first_record + j, (int)nfiles, what);
        files.check(m, what);
        out.associated.emplace_back(a.name, m);
        meta.associated.push_back(a.name);
        break;
      }
    break;
  }

  // The files read: the prediction key covers them (slide_identity.h).
  out.source_files = {ini_path, idx.path};
  for (std::string& f : files.used()) out.source_files.push_back(std::move(f));

  // OpenSlide's standard properties.
  meta.mpp_x = L0.mpp_x > 0 ? std::optional<double>(L0.mpp_x) : std::nullopt;
  meta.mpp_y = L0.mpp_y > 0 ? std::optional<double>(L0.mpp_y) : std::nullopt;
  add_standard_properties(meta);
  for (size_t i = 0; i < meta.levels.size(); ++i) {
    const std::string k = "openslide.level[" + std::to_string(i) + "].";
    if (regular) {
      meta.properties[k + "tile-width"] = std::to_string((int64_t)out.levels[i].tile_w);
      meta.properties[k + "tile-height"] = std::to_string((int64_t)out.levels[i].tile_h);
    } else {
      meta.properties.erase(k + "tile-width");
      meta.properties.erase(k + "tile-height");
    }
  }
  char bg[8];
  const uint32_t fill = (uint32_t)L0.fill_bgr;
  std::snprintf(bg, sizeof bg, "%02X%02X%02X", fill & 0xFF, (fill >> 8) & 0xFF, (fill >> 16) & 0xFF);
  meta.properties["openslide.background-color"] = bg;
  const bool any = std::isfinite(bx0);
  meta.properties["openslide.bounds-x"] = std::to_string(any ? (int64_t)std::floor(bx0) : 0);
  meta.properties["openslide.bounds-y"] = std::to_string(any ? (int64_t)std::floor(by0) : 0);
  meta.properties["openslide.bounds-width"] =
      std::to_string(any ? (int64_t)std::ceil(bx1) - (int64_t)std::floor(bx0) : 0);
  meta.properties["openslide.bounds-height"] =
      std::to_string(any ? (int64_t)std::ceil(by1) - (int64_t)std::floor(by0) : 0);
  return out;
}

}  // namespace ds
