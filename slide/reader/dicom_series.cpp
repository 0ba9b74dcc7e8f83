// Groups a series' DICOM instances into a slide (dicom_series.h), following OpenSlide 4's DICOM
// driver where it has a rule: the instances of the first file's Series Instance UID in its
// folder; ImageType value 3 chooses level or associated image; a duplicated SOP Instance UID is
// ignored; levels of one size are one concatenation; TILED_SPARSE tiles no frame covers are
// missing. Frames that lie past the level's tiles (further focal planes or optical paths in
// TILED_FULL order) are not read; of several frames at one position the first is used.
#include "slide/reader/dicom_series.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"

namespace ds {

namespace {

constexpr size_t kMaxInstances = 4096;  // DICOM files examined in one folder

std::vector<std::string> dicom_files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (!it->is_regular_file(e2)) continue;
    const std::string p = it->path().string();
    if (!has_dicom_magic(p)) continue;
    if (out.size() == kMaxInstances)
      throw InputError(dir, "more than " + std::to_string(kMaxInstances) + " DICOM files in one folder");
    out.push_back(p);
  }
  if (ec) throw InputError(dir, "cannot list the folder: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// The instances of the slide: the named file's series (its errors are the slide's), or for a
// folder the one series its WSI instances belong to. A file of the series that cannot be read is
// an error; files of other series, and DICOM files that are no WSI, are passed over.
std::vector<DicomInstance> find_instances(const std::string& path) {
  std::error_code ec;
  const bool is_dir = std::filesystem::is_directory(path, ec);
  std::string first_series;
  std::vector<DicomInstance> found;
  if (!is_dir) {
    found.push_back(read_dicom_instance(path));
    first_series = found[0].series_uid;
  }
  const std::string dir = is_dir ? path : std::filesystem::path(path).parent_path().string();
  std::vector<std::string> files = dicom_files_in(dir.empty() ? "." : dir);
  if (is_dir && files.empty()) throw InputError(path, "a folder with no DICOM files (no 'DICM' after 128 bytes)");
  std::vector<std::pair<std::string, std::string>> failed;  // series, message
  std::set<std::string> series;
  for (const std::string& f : files) {
    if (!is_dir && std::filesystem::equivalent(f, path, ec)) continue;
    std::string uid;
    try {
      DicomInstance d = read_dicom_instance(f, &uid);
      if (!first_series.empty() && d.series_uid != first_series) continue;
      series.insert(d.series_uid);
      found.push_back(std::move(d));
    } catch (const InputError& e) {
      if (!uid.empty()) failed.emplace_back(uid, e.what());
    }
  }
  if (is_dir) {
    if (series.size() > 1)
      throw InputError(path, "holds " + std::to_string(series.size()) +
                                 " whole-slide series; open one of its files to read that file's series");
    if (series.empty())
      throw InputError(path,
                       failed.empty() ? std::string("no DICOM whole-slide image in the folder") : failed[0].second);
    first_series = *series.begin();
  }
  for (const auto& [uid, msg] : failed)
    if (uid == first_series) throw InputError(msg);
  return found;
}

std::string part_name(const DicomInstance& d) { return d.path; }

}  // namespace

std::vector<std::string> dicom_slides_in(const std::string& dir) {
  const std::vector<std::string> files = dicom_files_in(dir);
  std::map<std::string, std::pair<int64_t, std::string>> widest;  // series -> (VOLUME area, file)
  for (const std::string& f : files) {
    try {
      const DicomInstance d = read_dicom_instance(f);
      const int64_t area = d.flavor == "VOLUME" ? d.total_cols * d.total_rows : 0;
      auto it = widest.find(d.series_uid);
      if (it == widest.end() || area > it->second.first) widest[d.series_uid] = {area, f};
    } catch (const InputError&) {
      // No WSI, or a broken one: a series with a readable instance says so when opened.
    }
  }
  if (files.empty()) return {};
  if (widest.size() <= 1) return {dir};
  std::vector<std::string> out;
  for (const auto& [uid, best] : widest) out.push_back(best.second);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// The instances of one level (one size): one, or the parts of one concatenation, in order.
void check_concatenation(std::vector<const DicomInstance*>& parts) {
  std::sort(parts.begin(), parts.end(),
            [](const DicomInstance* a, const DicomInstance* b) { return a->in_concatenation < b->in_concatenation; });
  const DicomInstance& a = *parts[0];
  if (parts.size() == 1) {
    if (!a.concatenation_uid.empty() && a.concatenation_total > 1)
      throw InputError(a.path, "part " + std::to_string(a.in_concatenation) + " of a concatenation of " +
                                   std::to_string(a.concatenation_total) + " whose other parts are missing");
    return;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const DicomInstance& b = *parts[i];
    if (b.concatenation_uid.empty() || b.concatenation_uid != a.concatenation_uid)
      throw InputError(b.path, "a second level of " + std::to_string(b.total_cols) + "x" +
                                   std::to_string(b.total_rows) + " that is not part of " + part_name(a) +
                                   "'s concatenation");
    if (i > 0 && b.in_concatenation == parts[i - 1]->in_concatenation)
      throw InputError(b.path, "two concatenation parts numbered " + std::to_string(b.in_concatenation));
    if (b.tile_w != a.tile_w || b.tile_h != a.tile_h)
      throw InputError(b.path, "concatenation part with another frame size than " + part_name(a));
  }
  const int total = a.concatenation_total ? a.concatenation_total : (int)parts.size();
  if ((int)parts.size() != total || parts.back()->in_concatenation != total)
    throw InputError(a.path, "concatenation of " + std::to_string(total) + " parts of which " +
                                 std::to_string(parts.size()) + " were found");
}

// The tiles of a level from its parts' frames.
DicomLevel build_level(const std::vector<const DicomInstance*>& parts, const std::vector<uint32_t>& part_ids) {
  const DicomInstance& a = *parts[0];
  DicomLevel L;
  L.width = a.total_cols;
  L.height = a.total_rows;
  L.tile_w = a.tile_w;
  L.tile_h = a.tile_h;
  L.cols = (L.width + L.tile_w - 1) / L.tile_w;
  L.rows = (L.height + L.tile_h - 1) / L.tile_h;
  const uint64_t ntiles = (uint64_t)L.cols * (uint64_t)L.rows;
  uint64_t next = 0;  // TILED_FULL: the next part's first frame, without ConcatenationFrameOffsetNumber
  for (size_t p = 0; p < parts.size(); ++p) {
    const DicomInstance& d = *parts[p];
    const uint64_t base = d.frame_offset.value_or(next);
    for (size_t f = 0; f < d.frames.size(); ++f) {
      uint64_t tile;
      if (d.sparse) {
        const auto [c, r] = d.positions[f];
        if (c < 1 || r < 1 || c > L.width || r > L.height || (c - 1) % L.tile_w || (r - 1) % L.tile_h)
          throw InputError(d.path, "frame " + std::to_string(f + 1) + " at column " + std::to_string(c) + ", row " +
                                       std::to_string(r) + " is not on the level's tile grid");
        tile = (uint64_t)((r - 1) / L.tile_h) * (uint64_t)L.cols + (uint64_t)((c - 1) / L.tile_w);
      } else {
        tile = base + f;
        if (tile >= ntiles) continue;  // a further focal plane or optical path
      }
      L.tiles.push_back(DicomTileRef{tile, part_ids[p], (uint32_t)f});
    }
    next = base + d.frames.size();
  }
  std::stable_sort(L.tiles.begin(), L.tiles.end(),
                   [](const DicomTileRef& x, const DicomTileRef& y) { return x.tile < y.tile; });
  L.tiles.erase(std::unique(L.tiles.begin(), L.tiles.end(),
                            [](const DicomTileRef& x, const DicomTileRef& y) { return x.tile == y.tile; }),
                L.tiles.end());
  if (!a.sparse && L.tiles.size() != ntiles)
    throw InputError(a.path, "TILED_FULL level of " + std::to_string(ntiles) + " tiles with " +
                                 std::to_string(L.tiles.size()) + " frames (missing frames)");
  return L;
}

const char* associated_name(const std::string& flavor) {
  return flavor == "LABEL" ? "label" : flavor == "OVERVIEW" ? "macro" : flavor == "THUMBNAIL" ? "thumbnail" : nullptr;
}

}  // namespace

DicomSeries read_dicom_series(const std::string& path) {
  DicomSeries s;
  std::set<std::string> seen;
  for (DicomInstance& d : find_instances(path)) {
    const bool level = d.flavor == "VOLUME";
    if ((!level && !associated_name(d.flavor)) || !seen.insert(d.sop_instance_uid).second) continue;
    s.parts.push_back(std::move(d));
  }
  // Levels by size (widest first), associated images by name.
  std::map<std::pair<int64_t, int64_t>, std::vector<uint32_t>, std::greater<>> by_size;
  for (uint32_t i = 0; i < s.parts.size(); ++i) {
    const DicomInstance& d = s.parts[i];
    if (d.flavor == "VOLUME") {
      by_size[{d.total_cols, d.total_rows}].push_back(i);
      continue;
    }
    const std::string name = associated_name(d.flavor);
    if (s.associated.count(name))
      throw InputError(d.path, "a second " + d.flavor + " image in the series (another SOP instance)");
    if (!d.concatenation_uid.empty()) throw InputError(d.path, "an associated image split into a concatenation");
    s.associated[name] = build_level({&d}, {i});
  }
  if (by_size.empty()) throw InputError(path, "no pyramid level (no instance with ImageType VOLUME) in the series");
  for (auto& [size, ids] : by_size) {
    std::vector<const DicomInstance*> parts;
    for (uint32_t i : ids) parts.push_back(&s.parts[i]);
    check_concatenation(parts);
    std::vector<uint32_t> ordered;
    for (const DicomInstance* p : parts) ordered.push_back((uint32_t)(p - s.parts.data()));
    if (s.levels.empty()) s.level0_part = ordered[0];
    s.levels.push_back(build_level(parts, ordered));
  }
  return s;
}

}  // namespace ds
