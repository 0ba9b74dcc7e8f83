// Parsing and checking of the `deepslide run` TOML file (see pipeline_config.h). toml++ gives
// the syntax and the line of every key; the flags come from the caller (StageSpec).
#include "pipeline/pipeline_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>

#include <toml++/toml.h>

#include "base/error.h"
#include "base/regular_file.h"

namespace ds {

namespace {

std::string shortest(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

const char* type_word(FlagType t) {
  switch (t) {
    case FlagType::on_off_switch: return "true or false";
    case FlagType::integer: return "an integer";
    case FlagType::unsigned_integer: return "a non-negative integer";
    case FlagType::number: return "a number";
    case FlagType::text: return "a string";
  }
  return "?";
}

const char* toml_word(const toml::node& v) {
  switch (v.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

// A pipeline config is a few hundred bytes; this bounds what toml++ builds from a hostile one.
constexpr uintmax_t kMaxConfigBytes = 1u << 20;
constexpr int kMaxConfigDepth = 32;

// The deepest nesting of tables and arrays a TOML text can build: brackets ([ and { outside
// strings and comments) plus the dots of a dotted key (a.b.c = 1, [a.b.c]), each of which opens
// a table. toml++ bounds nested values (TOML_MAX_NESTED_VALUES) but not dotted keys or table
// headers, and frees what it built recursively: a key of 100,000 parts overflowed the stack.
// Over-counts (a float's dot, a header's bracket), never under-counts.
int toml_nesting_depth(const std::string& t) {
  int depth = 0, deepest = 0, dots = 0;
  bool after_part = false;  // just after a bare or quoted key part, where a dot continues the key
  const size_t n = t.size();
  auto bare = [](char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '-' || c == '+' || c == ':'; };
  size_t i = 0;
  while (i < n) {
    const char c = t[i];
    if (c == '#') {
      while (i < n && t[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool basic = c == '"';
      if (i + 2 < n && t[i + 1] == c && t[i + 2] == c) {  // multi-line string
        i += 3;
        while (i < n && !(t[i] == c && i + 2 < n && t[i + 1] == c && t[i + 2] == c)) i += basic && t[i] == '\\' ? 2 : 1;
        i += 3;
      } else {
        ++i;
        while (i < n && t[i] != c && t[i] != '\n') i += basic && t[i] == '\\' ? 2 : 1;
        ++i;
      }
      after_part = true;
    } else if (bare(c)) {
      while (i < n && bare(t[i])) ++i;
      after_part = true;
    } else if (c == '.') {
      if (after_part) deepest = std::max(deepest, depth + ++dots);
      after_part = false;
      ++i;
    } else if (c == ' ' || c == '\t') {
      ++i;
    } else {  // = , [ ] { } newline: the key, if any, has ended
      dots = 0;
      after_part = false;
      if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
      if ((c == ']' || c == '}') && depth > 0) --depth;
      ++i;
    }
  }
  return deepest;
}

struct Located {
  std::string path;
  int64_t line = 0;
  [[noreturn]] void fail(const std::string& reason) const {
    throw InputError(line > 0 ? path + ":" + std::to_string(line) : path, reason);
  }
};

// A scalar (or an array of scalars joined with commas, for list flags such as --thresholds) as
// the text the command line would carry, checked against the flag's type.
std::string scalar_text(const toml::node& v, FlagType t, const std::string& what, const Located& at) {
  auto bad = [&] { at.fail(what + " must be " + type_word(t) + ", got " + toml_word(v)); };
  if (auto s = v.as_string()) {
    if (t != FlagType::text) bad();
    return s->get();
  }
  if (auto i = v.as_integer()) {
    if (t == FlagType::unsigned_integer && i->get() < 0)
      at.fail(what + " must be >= 0, got " + std::to_string(i->get()));
    return std::to_string(i->get());
  }
  if (auto f = v.as_floating_point()) {
    if (t == FlagType::integer || t == FlagType::unsigned_integer) bad();
    return shortest(f->get());
  }
  if (auto b = v.as_boolean()) {
    if (t != FlagType::text) bad();
    return b->get() ? "on" : "off";  // the on|off flags (--flips, --rot90)
  }
  if (auto a = v.as_array()) {
    if (t != FlagType::text || a->empty()) bad();
    std::string out;
    for (const toml::node& e : *a) {
      if (e.is_array() || e.is_table()) bad();
      out += (out.empty() ? "" : ",") + scalar_text(e, FlagType::text, what, at);
    }
    return out;
  }
  bad();
  return "";
}

FlagSetting make_setting(const std::string& flag, FlagType t, const toml::node& v, const std::string& what,
                         const Located& at) {
  FlagSetting s;
  s.flag = flag;
  s.where = at.path + ":" + std::to_string(at.line);
  s.what = what;
  if (t == FlagType::on_off_switch) {
    auto b = v.as_boolean();
    if (!b) at.fail(what + " is a switch: give true or false, got " + toml_word(v));
    s.value = b->get() ? "true" : "false";
    if (b->get()) s.tokens = {flag};
    return s;
  }
  s.value = scalar_text(v, t, what, at);
  s.tokens = {flag, s.value};
  return s;
}

// A setting with the line it came from: a stage's settings keep file order.
struct Keyed {
  int64_t line;
  FlagSetting setting;
};
using PerStage = std::map<std::string, std::vector<Keyed>>;  // stage -> settings

toml::table parse_toml(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(path, "cannot open the pipeline config (no such file)");
  const uintmax_t bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes > kMaxConfigBytes)
    throw InputError(path, "a pipeline config of " + std::to_string(bytes) + " bytes is larger than the " +
                               std::to_string(kMaxConfigBytes >> 20) + " MB limit");
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  std::string text((size_t)bytes, '\0');
  if (!in.read(text.data(), (std::streamsize)bytes)) throw InputError(path, "cannot read the pipeline config");
  if (toml_nesting_depth(text) > kMaxConfigDepth)
    throw InputError(path, "tables, arrays and dotted keys nested deeper than " + std::to_string(kMaxConfigDepth) +
                               " levels (a pipeline config needs two)");
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    Located{path, (int64_t)e.source().begin.line}.fail("TOML syntax: " + std::string(e.description()));
  }
}

// A [common] key: a setting of every stage whose command has the flag, unless the run sets that
// flag itself.
void add_common_key(const std::vector<StageSpec>& stages, const std::string& name, const toml::node& v,
                    const Located& at, PerStage& common) {
  const std::string what = "[common] " + name, flag = key_to_flag(name);
  bool known = false, applied = false;
  for (const StageSpec& s : stages) {
    auto f = s.flags.flags.find(flag);
    if (f == s.flags.flags.end()) continue;
    known = true;
    if (s.managed.count(flag)) continue;
    applied = true;
    common[s.name].push_back({at.line, make_setting(flag, f->second, v, what, at)});
  }
  if (!known) at.fail("unknown key '" + name + "' in [common]: no stage's command has " + flag);
  if (!applied) at.fail(what + " is set by deepslide run itself (" + flag + " points into the workdir)");
}

// A key of stage s's own table.
void add_stage_key(const StageSpec& s, const std::string& name, const toml::node& v, const Located& at, PerStage& own) {
  const std::string what = "[" + s.name + "] " + name, flag = key_to_flag(name);
  auto f = s.flags.flags.find(flag);
  if (f == s.flags.flags.end())
    at.fail("unknown key '" + name + "' in [" + s.name + "]: deepslide " + s.flags.command + " has no " + flag +
            " flag (see deepslide " + s.flags.command + " --help)");
  if (s.managed.count(flag)) at.fail(what + " is set by deepslide run itself" + s.managed_why);
  for (const Keyed& o : own[s.name])
    if (o.setting.flag == flag) at.fail(what + ": " + flag + " is already set in [" + s.name + "]");
  own[s.name].push_back({at.line, make_setting(flag, f->second, v, what, at)});
}

// Per stage: the [common] settings its own table does not replace, then its own, each in file
// order.
void merge_settings(const std::vector<StageSpec>& stages, PerStage& common, PerStage& own, PipelineConfig& cfg) {
  auto by_line = [](const Keyed& a, const Keyed& b) { return a.line < b.line; };
  for (const StageSpec& s : stages) {
    std::vector<Keyed> merged;
    for (const Keyed& c : common[s.name]) {
      const bool overridden = std::any_of(own[s.name].begin(), own[s.name].end(),
                                          [&](const Keyed& o) { return o.setting.flag == c.setting.flag; });
      if (!overridden) merged.push_back(c);
    }
    std::stable_sort(merged.begin(), merged.end(), by_line);
    std::vector<Keyed> mine = own[s.name];
    std::stable_sort(mine.begin(), mine.end(), by_line);
    merged.insert(merged.end(), mine.begin(), mine.end());
    auto& out = cfg.settings[s.name];
    for (const Keyed& k : merged) out.push_back(k.setting);
  }
}

}  // namespace

std::string key_to_flag(const std::string& key) {
  std::string f = "--" + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

const FlagSetting* PipelineConfig::find(const std::string& stage, const std::string& flag) const {
  auto it = settings.find(stage);
  if (it == settings.end()) return nullptr;
  for (const FlagSetting& s : it->second)
    if (s.flag == flag) return &s;
  return nullptr;
}

PipelineConfig load_pipeline_config(const std::string& path, const std::vector<StageSpec>& stages) {
  const toml::table root = parse_toml(path);
  PipelineConfig cfg;
  cfg.path = path;
  std::string stage_names;
  for (const StageSpec& s : stages) stage_names += (stage_names.empty() ? "" : ", ") + ("[" + s.name + "]");
  PerStage common, own;
  for (auto&& [k, v] : root) {
    const std::string key(k.str());
    const Located at{path, (int64_t)k.source().begin.line};
    if (key == "workdir") {
      auto s = v.as_string();
      if (!s) at.fail("workdir must be a string, got " + std::string(toml_word(v)));
      cfg.workdir = s->get();
      continue;
    }
    const toml::table* t = v.as_table();
    auto stage_it = std::find_if(stages.begin(), stages.end(), [&](const StageSpec& s) { return s.name == key; });
    if (key != "common" && stage_it == stages.end())
      at.fail(t ? "unknown table [" + key + "] (tables: [common], " + stage_names + ")"
                : "unknown top-level key '" + key + "' (only workdir; flags go in [common] or a stage table)");
    if (!t) at.fail("'" + key + "' must be a table ([" + key + "])");
    for (auto&& [k2, v2] : *t) {
      const std::string name(k2.str());
      const Located at2{path, (int64_t)k2.source().begin.line};
      if (v2.is_table()) at2.fail("[" + key + "] " + name + ": nested tables are not allowed");
      if (key == "common") add_common_key(stages, name, v2, at2, common);
      else add_stage_key(*stage_it, name, v2, at2, own);
    }
  }
  merge_settings(stages, common, own, cfg);
  return cfg;
}

}  // namespace ds
