// The TOML file of `deepslide run`: one table per stage ([split], [train], [predict], [search],
// [visualize], [evaluate], [report]) whose keys are that command's flags (patch_size = 32 ->
// --patch-size 32), a [common] table whose keys go to every stage whose command has that flag,
// and an optional top-level `workdir`. Keys are checked against the commands' flags as cli/
// reads them off the commands' own registration (CommandFlags), so the file accepts exactly the
// flags the separate commands accept; anything else is an InputError naming the file, the line
// and the reason.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ds {

// The kind of value a flag takes.
enum class FlagType { on_off_switch, integer, unsigned_integer, number, text };

// One command's flags (long names, "--epochs") and their value kinds.
struct CommandFlags {
  std::string command;
  std::map<std::string, FlagType> flags;
  std::map<std::string, std::string> defaults;  // the --help default, where the command shows one
};

// A pipeline stage as the config sees it: its table name, the command it runs and the flags
// `deepslide run` sets itself (workdir paths), which the config may not set.
struct StageSpec {
  std::string name;
  CommandFlags flags;
  std::set<std::string> managed;  // "--out", "--labels", ...
  std::string managed_why;        // appended to the error for a managed key
};

// One key of the file turned into command-line tokens.
struct FlagSetting {
  std::string flag;                 // "--patch-size"
  std::vector<std::string> tokens;  // {"--patch-size", "32"}; {"--force"}; {} for a switch set to false
  std::string value;                // the value as text ("32", "true"), for messages and fingerprints
  std::string where;                // "configs/demo.toml:7", for InputError
  std::string what;                 // "[common] patch_size"
};

struct PipelineConfig {
  std::string path;
  std::string workdir;  // top-level `workdir`, "" when absent
  // Per stage name: the [common] keys that apply to it, then its own table's keys (a stage key
  // replaces a [common] key with the same flag), in file order.
  std::map<std::string, std::vector<FlagSetting>> settings;
  // The setting of `flag` for `stage`, or nullptr.
  const FlagSetting* find(const std::string& stage, const std::string& flag) const;
};

// Parses and checks `path`. InputError("<path>:<line>", reason) on a TOML syntax error, an
// unknown table or key, a key the run sets itself, or a value of the wrong type.
PipelineConfig load_pipeline_config(const std::string& path, const std::vector<StageSpec>& stages);

// "--patch-size" from "patch_size" or "patch-size".
std::string key_to_flag(const std::string& key);

}  // namespace ds
