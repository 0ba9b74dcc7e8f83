// JSON from files we did not write ourselves (model metadata, predict.json, aggregator.json,
// checkpoints, stage stamps), parsed with a bound on size and nesting: the parser and the
// destructor of a parsed value recurse once per level, so a file nested a million levels deep
// would overflow the stack. Every JSON text read from disk goes through here.
#pragma once
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace ds {

constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxJsonBytes = 64u << 20;

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count).
inline int json_nesting_depth(const std::string& text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Parses `text` (from `where`: a file name, or file and key) into Json (nlohmann::json or
// ordered_json). InputError when it is too large, nested too deep or not valid JSON.
template <class Json = nlohmann::json>
Json parse_json_bounded(const std::string& text, const std::string& where) {
  if (text.size() > kMaxJsonBytes)
    throw InputError(where, "JSON of " + std::to_string(text.size()) + " bytes is larger than the " +
                                std::to_string(kMaxJsonBytes >> 20) + " MB limit");
  if (json_nesting_depth(text) > kMaxJsonDepth)
    throw InputError(where, "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) throw InputError(where, "not valid JSON");
  return j;
}

// Reads and parses a JSON file with the same bounds.
template <class Json = nlohmann::json>
Json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) throw InputError(path, "cannot read");
  if ((uint64_t)size > kMaxJsonBytes)
    throw InputError(path, "JSON of " + std::to_string(size) + " bytes is larger than the " +
                               std::to_string(kMaxJsonBytes >> 20) + " MB limit");
  in.seekg(0);
  std::string text((size_t)size, '\0');
  in.read(text.data(), size);
  if (!in) throw InputError(path, "cannot read");
  return parse_json_bounded<Json>(text, path);
}

// obj[key] when obj is an object holding a string there, else `fallback`: a field read from a file
// we did not write may hold any type, and nlohmann's value() throws its own type_error (not an
// InputError naming the file) when the type is not the one asked for.
template <class Json>
std::string string_or(const Json& obj, const char* key, std::string fallback = "") {
  if (!obj.is_object()) return fallback;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->template get<std::string>() : fallback;
}

// obj[key] as a number when present (fallback when absent); InputError naming `where` when it is
// there but not a number (value() would throw nlohmann's own type_error instead).
template <class T, class Json>
T number_or(const Json& obj, const char* key, T fallback, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) return fallback;
  const auto& v = obj[key];
  if (!v.is_number()) throw InputError(where, std::string(key) + " is not a number");
  return v.template get<T>();
}

}  // namespace ds
