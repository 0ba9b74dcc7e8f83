// Checks for names that become parts of output paths (see safe_names.h).
#include "base/safe_names.h"

#include <cstdio>

#include "base/hash.h"

namespace ds {

namespace {

constexpr size_t kMaxComponent = 255;  // NAME_MAX on Linux file systems
constexpr size_t kMaxPath = 4096;      // PATH_MAX

bool has_control(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

std::string unsafe_component_reason(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name == "." || name == "..") return "is '" + name + "'";
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos) return "contains a path separator";
  if (has_control(name)) return "contains a control character";
  if (name.size() > kMaxComponent) return "is longer than " + std::to_string(kMaxComponent) + " bytes";
  return "";
}

std::string unsafe_csv_cell_reason(const std::string& s) {
  if (s.find(',') != std::string::npos) return "contains a comma";
  if (s.find('"') != std::string::npos) return "contains a double quote";
  if (has_control(s)) return "contains a control character";
  if (!s.empty() && (s.front() == ' ' || s.back() == ' ')) return "starts or ends with a space";
  return spreadsheet_formula_reason(s);
}

std::string spreadsheet_formula_reason(const std::string& s) {
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'))
    return std::string("starts with '") + s[0] + "' (a spreadsheet would run it as a formula)";
  return "";
}

std::string unsafe_class_name_reason(const std::string& name) {
  if (std::string why = unsafe_component_reason(name); !why.empty()) return why;
  return unsafe_csv_cell_reason(name);
}

std::string unsafe_relative_path_reason(const std::string& path) {
  if (path.empty()) return "is empty";
  if (path.size() > kMaxPath) return "is longer than " + std::to_string(kMaxPath) + " bytes";
  if (path[0] == '/') return "is an absolute path";
  if (path.find('\\') != std::string::npos) return "contains a backslash";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part == "..") return "climbs out of its folder with '..'";
    if (!part.empty() && part != ".") {
      std::string why = unsafe_component_reason(part);
      if (!why.empty()) return "has a component that " + why;
    }
    start = end + 1;
  }
  return "";
}

std::string bounded_name(const std::string& name) {
  if (name.size() <= 200) return name;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(name.data(), name.size()));
  return name.substr(0, 160) + "%h" + hex;
}

std::string flat_path_name(const std::string& relative_path) {
  std::string out;
  for (char c : relative_path) out += c == '%' ? "%25" : c == '/' ? "%2F" : std::string(1, c);
  return bounded_name(out);
}

std::string output_component(const std::string& name) {
  if (unsafe_component_reason(name).empty()) return bounded_name(name);
  if (name.empty()) return "%";
  const bool dots = name.find_first_not_of('.') == std::string::npos;
  std::string out;
  for (unsigned char c : name) {
    if (c == '%' || c == '/' || c == '\\' || c < 0x20 || c == 0x7f || (dots && c == '.')) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", (unsigned)c);
      out += hex;
    } else {
      out += (char)c;
    }
  }
  return bounded_name(out);
}

std::string quoted_for_message(std::string s) {
  for (char& c : s)
    if ((unsigned char)c < 0x20 || c == 0x7f) c = '?';
  return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

}  // namespace ds
