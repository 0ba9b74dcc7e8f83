// GKeyFile-style parsing (see ini_file.h).
#include "slide/reader/ini_file.h"

#include "base/error.h"

namespace ds {

namespace {

std::string trimmed(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
  return s.substr(a, b - a);
}

}  // namespace

IniFile::IniFile(const std::string& path, const std::string& text) : path_(path) {
  size_t pos = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  std::string group;
  bool in_group = false;
  for (int line_no = 1; pos < text.size(); ++line_no) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = trimmed(text.substr(pos, end - pos));
    pos = end + 1;
    const std::string at = " (line " + std::to_string(line_no) + ")";
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      if (line.back() != ']' || line.size() < 3) throw InputError(path, "malformed group header" + at);
      group = line.substr(1, line.size() - 2);
      if (group.find_first_of("[]") != std::string::npos) throw InputError(path, "malformed group header" + at);
      in_group = true;
      index_[group];
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw InputError(path, "a line that is neither a group, a key=value nor a comment" + at);
    if (!in_group) throw InputError(path, "a key before the first [group]" + at);
    const std::string key = trimmed(line.substr(0, eq));
    if (key.empty()) throw InputError(path, "a key=value line without a key" + at);
    std::string value = trimmed(line.substr(eq + 1));
    auto& keys = index_[group];
    if (auto it = keys.find(key); it != keys.end()) {
      entries_[it->second].value = std::move(value);
    } else {
      keys[key] = entries_.size();
      entries_.push_back(Entry{group, key, std::move(value)});
    }
  }
}

std::optional<std::string> IniFile::get(const std::string& group, const std::string& key) const {
  auto g = index_.find(group);
  if (g == index_.end()) return std::nullopt;
  auto k = g->second.find(key);
  if (k == g->second.end()) return std::nullopt;
  return entries_[k->second].value;
}

const std::string& IniFile::require(const std::string& group, const std::string& key) const {
  auto g = index_.find(group);
  if (g == index_.end()) throw InputError(path_, "has no [" + group + "] group");
  auto k = g->second.find(key);
  if (k == g->second.end()) throw InputError(path_, "[" + group + "] has no " + key);
  return entries_[k->second].value;
}

}  // namespace ds
