// fuzz-links: ds_pipeline
// libFuzzer harness for the TOML pipeline config (pipeline/pipeline_config.h
// load_pipeline_config): the input, as a file (memfd), is checked against two stages with flags
// of every kind (switch, integer, unsigned, number, text, list), written out here as the
// commands' CLI11 registration yields them. Bad input must end in ds::InputError. Seeds:
// tests/fuzz/seeds/config/.
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "fuzz_input.h"
#include "pipeline/pipeline_config.h"

using namespace ds;

namespace {

std::vector<StageSpec> stages() {
  CommandFlags train{"train",
                     {{"--epochs", FlagType::integer},
                      {"--patch-size", FlagType::integer},
                      {"--seed", FlagType::unsigned_integer},
                      {"--lr", FlagType::number},
                      {"--arch", FlagType::text},
                      {"--out", FlagType::text},
                      {"--force", FlagType::on_off_switch}},
                     {{"--lr", "0.001"}}};
  CommandFlags search{"search",
                      {{"--thresholds", FlagType::text},
                       {"--overlap", FlagType::number},
                       {"--patch-size", FlagType::integer},
                       {"--labels", FlagType::text},
                       {"--mode", FlagType::text}},
                      {}};
  return {{"train", train, {"--out"}, " (the run's train folder)"},
          {"search", search, {"--labels"}, " (the run's labels)"}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<StageSpec> specs = stages();
  fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    const PipelineConfig cfg = load_pipeline_config(file.path(), specs);
    for (const auto& [stage, settings] : cfg.settings)
      for (const auto& s : settings) cfg.find(stage, s.flag);
  } catch (const InputError&) {
  }
  return 0;
}
