// JSON from files we did not write ourselves (model metadata, predict.json, aggregator.json,
// checkpoints, stage stamps), parsed with a bound on size and nesting: the parser and the
// destructor of a parsed value recurse once per level, so a file nested a million levels deep
// would overflow the stack. Every JSON text read from disk goes through here.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/regular_file.h"

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

// Appends key: value to an ordered_json object without looking for the key first. ordered_json
// finds a key by a linear scan, so building an object of n keys with operator[] costs n^2 / 2
// comparisons (50,000 slides in predict.json: 4.6 s per write); a caller whose keys are unique
// appends instead. (The object's vector is ordered_map's public base.)
inline void append_member(nlohmann::ordered_json& object, std::string key, nlohmann::ordered_json value) {
  using Map = nlohmann::ordered_json::object_t;
  static_cast<Map::Container&>(object.get_ref<Map&>()).emplace_back(std::move(key), std::move(value));
}

// nlohmann's DOM parser inserts each member through that linear scan; this SAX handler builds an
// ordered_json appending members instead, and looks for a key given twice (rare, and only in files
// made by hand or to harm) once per object, through a hash map, when the object is complete.
class OrderedJsonBuilder : public nlohmann::json_sax<nlohmann::ordered_json> {
 public:
  using J = nlohmann::ordered_json;
  explicit OrderedJsonBuilder(J& root) : root_(root) {}
  bool null() override { return put(J(nullptr)); }
  bool boolean(bool v) override { return put(J(v)); }
  bool number_integer(number_integer_t v) override { return put(J(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(J(v)); }
  bool number_float(number_float_t v, const string_t&) override { return put(J(v)); }
  bool string(string_t& v) override { return put(J(std::move(v))); }
  bool binary(binary_t& v) override { return put(J::binary(std::move(v))); }
  bool start_object(std::size_t) override { return open(J::object()); }
  bool key(string_t& k) override {
    keys_.back() = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(J::array()); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  // The value into its place: the root, the open array, or the open object under the last key.
  J* place(J v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    J& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    append_member(parent, std::move(keys_.back()), std::move(v));
    return &parent.get_ref<J::object_t&>().back().second;
  }
  bool put(J v) {
    place(std::move(v));
    return true;
  }
  bool open(J v) {
    stack_.push_back(place(std::move(v)));
    keys_.emplace_back();
    return true;
  }
  bool close() {
    J& done = *stack_.back();
    if (done.is_object()) drop_repeated_keys(done);
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  // A key given twice keeps its last value, in its first place (as nlohmann's parser does).
  static void drop_repeated_keys(J& object) {
    auto& members = static_cast<J::object_t::Container&>(object.get_ref<J::object_t&>());
    std::unordered_map<std::string, size_t> first;
    first.reserve(members.size());
    bool repeated = false;
    for (size_t i = 0; i < members.size(); ++i) repeated |= !first.emplace(members[i].first, i).second;
    if (!repeated) return;
    J::object_t kept;
    for (size_t i = 0; i < members.size(); ++i) {
      const size_t at = first[members[i].first];
      if (at == i) append_member_to(kept, members[i].first, std::move(members[i].second));
      else kept[members[i].first] = std::move(members[i].second);
    }
    object = std::move(kept);
  }
  static void append_member_to(J::object_t& map, const std::string& key, J value) {
    static_cast<J::object_t::Container&>(map).emplace_back(key, std::move(value));
  }

  J& root_;
  std::vector<J*> stack_;          // the open arrays and objects (pointers stay valid: a parent
  std::vector<std::string> keys_;  // grows only after its open child is closed)
};

// Parses `text` (from `where`: a file name, or file and key) into Json (nlohmann::json or
// ordered_json). InputError when it is too large, nested too deep or not valid JSON.
template <class Json = nlohmann::json>
Json parse_json_bounded(const std::string& text, const std::string& where) {
  if (text.size() > kMaxJsonBytes)
    throw InputError(where, "JSON of " + std::to_string(text.size()) + " bytes is larger than the " +
                                std::to_string(kMaxJsonBytes >> 20) + " MB limit");
  if (json_nesting_depth(text) > kMaxJsonDepth)
    throw InputError(where, "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  if constexpr (std::is_same_v<Json, nlohmann::ordered_json>) {
    Json j;
    OrderedJsonBuilder builder(j);
    if (!Json::sax_parse(text, &builder, nlohmann::detail::input_format_t::json, true)) {
      throw InputError(where, "not valid JSON");
    }
    return j;
  } else {
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded()) throw InputError(where, "not valid JSON");
    return j;
  }
}

// Reads and parses a JSON file with the same bounds (a smaller size bound where the file is meant
// to be small); InputError for anything but a regular file.
template <class Json = nlohmann::json>
Json read_json_file(const std::string& path, size_t max_bytes = kMaxJsonBytes) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) throw InputError(path, "cannot read");
  if ((uint64_t)size > max_bytes)
    throw InputError(path, "JSON of " + std::to_string(size) + " bytes is larger than the " +
                               std::to_string(max_bytes) + "-byte limit for this file");
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
