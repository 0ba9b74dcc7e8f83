// fuzz-links: ds_pipeline
// libFuzzer harness for the JSON sidecars: the input goes through base/json_bounded.h (as text and
// as a file), then to the readers of what the JSON holds: infer/aggregator.h Aggregator::from_json
// (aggregator.json; a valid one is applied to a slide and must survive to_json -> from_json),
// pipeline/stage_stamp.h read_stamp (a stage stamp) and infer/crossval.h read_crossval (a
// cross-validation summary, which report --crossval reads). Bad input must end in ds::InputError
// (a stamp that does not read is treated as absent). Seeds: tests/fuzz/seeds/json/.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "base/json_bounded.h"
#include "fuzz_input.h"
#include "infer/aggregator.h"
#include "infer/crossval.h"
#include "pipeline/stage_stamp.h"

// read_stamp lives in ds::cli or, once the runner has moved into pipeline/, in ds.
namespace ds::cli {}
using namespace ds::cli;
using namespace ds;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const nlohmann::json j = ds::parse_json_bounded(text, "aggregator.json");
    const ds::Aggregator a = ds::Aggregator::from_json(j, "aggregator.json");
    ds::SlideSummary s;
    s.name = "fuzz";
    s.votes.assign(a.classes.size(), 1);
    s.mean_prob.assign(a.classes.size(), 1.0 / (double)a.classes.size());
    for (size_t k = 0; k < a.classes.size(); ++k) {
      s.pred.push_back((int)k);
      s.conf.push_back(0.75f);
    }
    a.apply(s);
    const ds::Aggregator b = ds::Aggregator::from_json(nlohmann::json::parse(a.to_json().dump()), "round trip");
    if (b.to_json() != a.to_json()) {
      std::fprintf(stderr, "fuzz_json: aggregator changed in a to_json/from_json round trip\n");
      std::abort();
    }
  } catch (const ds::InputError&) {
  }
  ds::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    ds::read_json_file<nlohmann::ordered_json>(file.path());
  } catch (const ds::InputError&) {
  }
  try {
    read_stamp(file.path());
  } catch (const ds::InputError&) {
  }
  try {
    ds::read_crossval(file.path());
  } catch (const ds::InputError&) {
  }
  return 0;
}
