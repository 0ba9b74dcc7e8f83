// Records, markers and the patches found in a patch folder, for a rerun (see patch_resume.h).
#include "slide/windows/patch_resume.h"

#include <filesystem>
#include <optional>
#include <set>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/file_hash.h"
#include "base/json_bounded.h"
#include "base/output_dirs.h"
#include "base/safe_names.h"
#include "slide/reader/slide_identity.h"
#include "slide/windows/annotations.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kMarkers = ".exporting";  // OUT/.exporting/<flattened img>.json

// DeepSlide's file name <slide>_<x>_<y>.jpg: the <slide> part, "" for any other name.
std::string patch_file_slide(const std::string& file) {
  if (file.size() < 8 || file.compare(file.size() - 4, 4, ".jpg") != 0) return "";
  size_t end = file.size() - 4;
  for (int field = 0; field < 2; ++field) {
    size_t b = end;
    while (b > 0 && file[b - 1] >= '0' && file[b - 1] <= '9') --b;
    if (b == end || b == 0 || file[b - 1] != '_') return "";
    end = b - 1;
  }
  return file.substr(0, end);
}

std::string string_field(const ojson& j, const char* k) {
  return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
}

// A name from a record or marker that may name files: a plain file name.
bool usable_name(const std::string& n) { return !n.empty() && unsafe_component_reason(n).empty(); }

}  // namespace

PatchFolder::PatchFolder(const PatchExportOptions& o, const ojson& then) : o_(o) {
  if (then.is_object() && then.contains("done") && then["done"].is_object()) done_ = then["done"];
  else done_ = ojson::object();
  for (const auto& [img, rec] : done_.items()) {
    done_by_img_.emplace(img, &rec);
    done_by_name_.emplace(string_field(rec, "name"), std::make_pair(img, string_field(rec, "class")));
  }
  std::error_code ec;
  for (auto e = fs::directory_iterator(fs::path(o.out) / kMarkers, ec); !ec && e != fs::directory_iterator();
       e.increment(ec)) {
    std::error_code ec2;
    const std::string file = e->path().filename().string();
    if (!e->is_regular_file(ec2) || file.size() < 6 || file.compare(file.size() - 5, 5, ".json") != 0) continue;
    ojson m;
    try {
      m = read_json_file<ojson>(e->path().string(), 64 << 10);  // (a marker is a few hundred bytes)
    } catch (const InputError&) {
      m = nullptr;  // (a marker cut short: its slide is still interrupted, whatever it says)
    }
    markers_[file] = m;
  }
  fresh_ = then.is_null() && markers_.empty();
}

std::string PatchFolder::marker_path(const std::string& img) const {
  return (fs::path(o_.out) / kMarkers / (output_component(flat_path_name(img)) + ".json")).string();
}

ojson PatchFolder::marker(const std::string& img) const {
  auto it = markers_.find(fs::path(marker_path(img)).filename().string());
  return it == markers_.end() ? ojson() : it->second;
}

// Does slide `img`, not `mine`, write patches named `name` into class folder `cls` (`name_there`
// and `cls_there` being where it writes)? With annotations in any folder: names are unique there.
bool PatchFolder::same_place(const std::string& img, const std::string& mine, const std::string& name,
                             const std::string& name_there, const std::string& cls,
                             const std::string& cls_there) const {
  return !img.empty() && img != mine && name_there == name && (!o_.annotations.empty() || cls_there == cls);
}

void PatchFolder::check_names(const std::vector<SlideLabel>& rows, const std::vector<std::string>& names) {
  rows_by_name_.clear();
  for (size_t k = 0; k < names.size(); ++k) rows_by_name_.emplace(names[k], k);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto refuse = [&](const std::string& other, const char* what) {
      throw InputError(o_.out, "slide '" + quoted_for_message(rows[i].img) + "' would write its patches as '" +
                                   quoted_for_message(names[i]) + "_*', the names of slide '" +
                                   quoted_for_message(other) + "' (" + what +
                                   " earlier) in that class folder; use another --out");
    };
    const std::string* first = nullptr;  // (the first in path order, as the file lists them: the message does not
                                         // depend on the hash table's order)
    for (auto [it, end] = done_by_name_.equal_range(names[i]); it != end; ++it)
      if (same_place(it->second.first, rows[i].img, names[i], it->first, rows[i].gt, it->second.second) &&
          (!first || it->second.first < *first))
        first = &it->second.first;
    if (first) refuse(*first, "exported");
    for (const auto& [file, m] : markers_)
      if (same_place(string_field(m, "img"), rows[i].img, names[i], string_field(m, "name"), rows[i].gt,
                     string_field(m, "class")))
        refuse(string_field(m, "img"), "cut short");
  }
}

ojson PatchFolder::source(const SlideLabel& row, const std::string& path, const std::string& name,
                          FileHashCache& hashes) const {
  const FileIdentity id = slide_content_identity(path, hashes);
  ojson j;
  j["name"] = name;
  j["class"] = o_.annotations.empty() ? ojson(row.gt) : ojson(nullptr);
  j["slide"] = {{"bytes", id.bytes}, {"sha256", id.sha256}};
  j["annotations"] = nullptr;
  if (!o_.annotations.empty())
    if (const std::optional<std::string> f = find_annotation_file(o_.annotations, path))
      j["annotations"] = {{"file", fs::path(*f).filename().string()}, {"fnv1a", hex64(fnv1a_file(*f))}};
  j["program"] = hex64(self_exe_fnv1a());
  return j;
}

const ojson* PatchFolder::record(const std::string& img) const {
  const auto it = done_by_img_.find(img);
  return it == done_by_img_.end() ? nullptr : it->second;
}

const ojson* PatchFolder::up_to_date(const std::string& img, const ojson& source) {
  std::error_code ec;
  const ojson* found = record(img);
  if (!found || fs::exists(marker_path(img), ec)) return nullptr;
  const ojson& rec = *found;
  if (!rec.is_object() || !rec.contains("patches") || !rec["patches"].is_number_integer() ||
      !rec.contains("candidates") || !rec["candidates"].is_number_integer())
    return nullptr;
  for (const auto& [k, v] : source.items())
    if (!rec.contains(k) || nlohmann::json(rec[k]) != nlohmann::json(v)) return nullptr;
  // The folder still holds them all (a patch deleted by hand makes the slide be written again).
  list_patches();
  int64_t have = 0;
  if (auto it = counts_.find(string_field(source, "name")); it != counts_.end())
    for (const auto& [cls, n] : it->second)
      if (!o_.annotations.empty() || cls == string_field(source, "class")) have += n;
  return have == rec["patches"].get<int64_t>() ? &rec : nullptr;
}

void PatchFolder::list_patches() {
  if (listed_) return;
  listed_ = true;
  std::error_code ec;
  for (auto c = fs::directory_iterator(o_.out, ec); !ec && c != fs::directory_iterator(); c.increment(ec)) {
    std::error_code ec2;
    const std::string cls = c->path().filename().string();
    if (cls.empty() || cls[0] == '.' || !c->is_directory(ec2) || c->is_symlink(ec2)) continue;
    for (auto e = fs::directory_iterator(c->path(), ec2); !ec2 && e != fs::directory_iterator(); e.increment(ec2)) {
      std::error_code ec3;
      const std::string file = e->path().filename().string();
      if (!o_.by_folder) {
        if (const std::string s = e->is_regular_file(ec3) ? patch_file_slide(file) : ""; !s.empty()) ++counts_[s][cls];
        continue;
      }
      if (!e->is_directory(ec3) || e->is_symlink(ec3)) continue;
      int64_t& n = counts_[file][cls];
      for (auto p = fs::directory_iterator(e->path() / file, ec3); !ec3 && p != fs::directory_iterator();
           p.increment(ec3)) {
        std::error_code ec4;
        n += p->is_regular_file(ec4) && p->path().extension() == ".jpg";
      }
    }
  }
}

void PatchFolder::remove_patches(const std::string& name, const std::string& cls) {
  auto it = counts_.find(name);
  if (it == counts_.end() || !it->second.count(cls)) return;  // none there (the folder was listed)
  const fs::path dir = fs::path(o_.out) / cls;
  std::error_code ec;
  if (o_.by_folder) {
    fs::remove_all(dir / name, ec);
    if (ec) throw InputError((dir / name).string(), "cannot remove an earlier export: " + ec.message());
  } else {
    for (auto e = fs::directory_iterator(dir, ec); !ec && e != fs::directory_iterator(); e.increment(ec)) {
      std::error_code ec2;
      if (e->is_regular_file(ec2) && patch_file_slide(e->path().filename().string()) == name) {
        fs::remove(e->path(), ec2);
        if (ec2) throw InputError(e->path().string(), "cannot remove an earlier patch: " + ec2.message());
      }
    }
  }
  it->second.erase(cls);
}

void PatchFolder::start(const std::vector<SlideLabel>& rows, const std::vector<std::string>& names, size_t si) {
  const SlideLabel& row = rows[si];
  const ojson earlier = marker(row.img);
  const ojson* found = record(row.img);
  const ojson rec = found ? *found : ojson();
  make_output_dirs(o_.out, kMarkers);
  const ojson mark = {
      {"img", row.img}, {"name", names[si]}, {"class", o_.annotations.empty() ? ojson(row.gt) : ojson()}};
  write_text_atomic(marker_path(row.img), mark.dump() + "\n");
  if (fresh_) return;
  list_patches();
  DS_CHECK(rows_by_name_.size() == names.size(), "PatchFolder::start before check_names");
  std::set<std::string> names_to_clear = {names[si]}, folders = {row.gt};
  for (const ojson* j : {&rec, &earlier}) {
    if (usable_name(string_field(*j, "name"))) names_to_clear.insert(string_field(*j, "name"));
    if (usable_name(string_field(*j, "class"))) folders.insert(string_field(*j, "class"));
  }
  for (const std::string& n : names_to_clear) {
    auto it = counts_.find(n);
    if (it == counts_.end()) continue;
    std::vector<std::string> where;
    for (const auto& [cls, count] : it->second)
      if (!o_.annotations.empty() || folders.count(cls)) where.push_back(cls);
    for (const std::string& cls : where) {
      // Another slide of this CSV that writes the name into that folder keeps its patches, and so
      // does a slide recorded there (a marker or record names what it likes: it may be edited).
      bool theirs = false;
      for (auto [it, end] = rows_by_name_.equal_range(n); it != end; ++it)
        theirs |= same_place(rows[it->second].img, row.img, n, n, cls, rows[it->second].gt);
      for (auto [it, end] = done_by_name_.equal_range(n); it != end; ++it)
        theirs |= same_place(it->second.first, row.img, n, n, cls, it->second.second);
      if (!theirs) remove_patches(n, cls);
    }
  }
}

void PatchFolder::finish(const std::string& img) {
  std::error_code ec;
  fs::remove(marker_path(img), ec);
}

}  // namespace ds
