// A key file as GLib's GKeyFile reads one (MIRAX's Slidedat.ini): "[group]" headers, "key=value"
// lines, '#' comments and blank lines; a UTF-8 byte-order mark and CR line ends are skipped, keys
// and values trimmed of spaces; values are kept raw (no unescaping). A key given twice keeps its
// last value, a group given twice is one group. Anything else is an error naming the file.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ds {

class IniFile {
 public:
  // Parses `text`; InputError(path, reason + line number) on a line GLib would refuse.
  IniFile(const std::string& path, const std::string& text);
  bool has_group(const std::string& group) const { return index_.count(group) > 0; }
  // The value, or nullopt when the group or key is missing.
  std::optional<std::string> get(const std::string& group, const std::string& key) const;
  // The value; InputError naming the file, group and key when missing.
  const std::string& require(const std::string& group, const std::string& key) const;
  // Every (group, key, value) in file order (a repeated key at its first place, with its last value).
  struct Entry {
    std::string group, key, value;
  };
  const std::vector<Entry>& entries() const { return entries_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<Entry> entries_;
  std::map<std::string, std::map<std::string, size_t>> index_;  // group -> key -> entries_ index
};

}  // namespace ds
