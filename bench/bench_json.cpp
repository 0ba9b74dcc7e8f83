// Ordered JSON of many keys, as predict.json (one entry per slide), .patches.json and the stage
// stamps hold them: nlohmann's ordered_json parser and operator[] against base/json_bounded.h's
// appending builder and append_member. nlohmann finds an ordered key by a linear scan, so its
// time grows with the square of the keys. Run: build/bench_json (--benchmark_filter=... to pick).
#include <benchmark/benchmark.h>

#include <string>

#include "base/json_bounded.h"

namespace {

using ojson = nlohmann::ordered_json;

std::string key(int i) { return "glandular%2Fslide_" + std::to_string(i) + ".tif"; }

std::string document(int n) {
  ojson o = ojson::object();
  for (int i = 0; i < n; ++i) ds::append_member(o, key(i), {{"windows", i}, {"csv", key(i) + ".csv"}});
  return o.dump();
}

void BM_parse_nlohmann_ordered(benchmark::State& st) {
  const std::string text = document((int)st.range(0));
  for (auto _ : st) benchmark::DoNotOptimize(ojson::parse(text));
}

void BM_parse_appending(benchmark::State& st) {
  const std::string text = document((int)st.range(0));
  for (auto _ : st) benchmark::DoNotOptimize(ds::parse_json_bounded<ojson>(text, "bench"));
}

void BM_build_operator_brackets(benchmark::State& st) {
  for (auto _ : st) {
    ojson o = ojson::object();
    for (int i = 0; i < st.range(0); ++i) o[key(i)] = i;
    benchmark::DoNotOptimize(o);
  }
}

void BM_build_append_member(benchmark::State& st) {
  for (auto _ : st) {
    ojson o = ojson::object();
    for (int i = 0; i < st.range(0); ++i) ds::append_member(o, key(i), i);
    benchmark::DoNotOptimize(o);
  }
}

}  // namespace

BENCHMARK(BM_parse_nlohmann_ordered)->Arg(1000)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_parse_appending)->Arg(1000)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_build_operator_brackets)->Arg(1000)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_build_append_member)->Arg(1000)->Arg(10000)->Arg(50000)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
