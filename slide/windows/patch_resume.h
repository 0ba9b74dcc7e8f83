// What lets `deepslide patches` run again into its folder without redoing or mixing up slides:
// per slide, what its patches were made from (.patches.json "done", written by rank 0 once they
// are all written), a marker while a slide is being written (OUT/.exporting/<slide>.json, by the
// rank writing it, removed once it is done), and the patches found in the folder by their names.
// A slide is skipped only when its record matches this run, no marker says an export of it was
// cut short, and the folder holds as many of its patches as the record says; otherwise what the
// folder holds of it is removed before it is written again. A slide whose patch names another
// slide's recorded or interrupted patches use in the same class folder stops the run first: two
// slides' patches under one name cannot be told apart.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file_hash_cache.h"
#include "slide/windows/labels_csv.h"
#include "slide/windows/patch_export.h"

namespace ds {

class PatchFolder {
 public:
  // `then`: the folder's .patches.json as the run found it (null when there was none).
  PatchFolder(const PatchExportOptions& o, const nlohmann::ordered_json& then);

  // InputError naming the folder when a slide of the CSV would write its patches under a name
  // that another slide's (recorded as done, or interrupted) already use in that class folder.
  // Called once, before start(), with the rows and names start() is given.
  void check_names(const std::vector<SlideLabel>& rows, const std::vector<std::string>& names);

  // What this run would record for the slide at `path` (its bytes' SHA-256 through `hashes`, its
  // name and class, its annotation file, the program).
  nlohmann::ordered_json source(const SlideLabel& row, const std::string& path, const std::string& name,
                                FileHashCache& hashes) const;

  // Is slide `img` written as `source` says, in full? (Its record matches, no marker, and the
  // folder holds as many of its patches as recorded.) Its record's counts when it is.
  const nlohmann::ordered_json* up_to_date(const std::string& img, const nlohmann::ordered_json& source);
  // done_'s record of `img`, or null.
  const nlohmann::ordered_json* record(const std::string& img) const;

  // Before slide si is written (again): a marker naming it, then what the folder holds of it
  // removed (under its name and the names its record and an earlier marker give, in its class
  // folders; with annotations in any class folder). After it is written: the marker removed.
  void start(const std::vector<SlideLabel>& rows, const std::vector<std::string>& names, size_t si);
  void finish(const std::string& img);

  const nlohmann::ordered_json& done() const { return done_; }

 private:
  bool same_place(const std::string& img, const std::string& mine, const std::string& name,
                  const std::string& name_there, const std::string& cls, const std::string& cls_there) const;
  std::string marker_path(const std::string& img) const;
  nlohmann::ordered_json marker(const std::string& img) const;  // null when there is none
  void list_patches();
  void remove_patches(const std::string& name, const std::string& cls);

  const PatchExportOptions& o_;
  bool fresh_;                   // no .patches.json: no earlier patches to look for
  nlohmann::ordered_json done_;  // the records as the run found them
  // done_ looked up by slide and by patch name (an ordered object finds a key by a linear scan:
  // with tens of thousands of slides, looking each up there took minutes); done_ is not changed.
  std::unordered_map<std::string, const nlohmann::ordered_json*> done_by_img_;
  std::unordered_multimap<std::string, std::pair<std::string, std::string>> done_by_name_;  // name -> (img, class)
  std::unordered_multimap<std::string, size_t> rows_by_name_;  // the run's rows by patch name (check_names)
  std::map<std::string, nlohmann::ordered_json> markers_;      // img -> marker, as the run found them
  bool listed_ = false;
  std::map<std::string, std::map<std::string, int64_t>> counts_;  // name -> class folder -> patches
};

}  // namespace ds
