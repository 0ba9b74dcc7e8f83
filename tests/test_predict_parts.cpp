// The parts behind predict's reruns and resume, each alone: the output naming rule (reversible
// escaping, long names cut with a hash), key comparison in words, the partial file (round trip,
// refusal of another key and of rows that do not match the windows), and the progress reporter
// in plain-line mode (a line when a phase starts, then none before the interval, outcome lines
// always, nothing when silent).
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <cstdio>
#include <filesystem>
#include <string>

#include "base/progress.h"
#include "infer/partial_predictions.h"
#include "infer/prediction_index.h"
#include "infer/prediction_key.h"

using namespace ds;
namespace fs = std::filesystem;

namespace {

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

int count_lines(const std::string& s) { return (int)std::count(s.begin(), s.end(), '\n'); }

}  // namespace

TEST_CASE("output names: the relative path, escaped, unique") {
  CHECK(slide_output_name("a/s.svs") == "a%2Fs.svs");
  CHECK(slide_output_name("b/s.tif") == "b%2Fs.tif");
  CHECK(slide_output_name("a%2Fb") == "a%252Fb");  // not the name of "a/b"
  CHECK(slide_output_name("a/b") != slide_output_name("a%2Fb"));
  const std::string long_a = std::string(300, 'x') + "/a.svs", long_b = std::string(300, 'x') + "/b.svs";
  CHECK(slide_output_name(long_a).size() < 200);
  CHECK(slide_output_name(long_a) != slide_output_name(long_b));
  CHECK(slide_output_name(long_a).find("%h") != std::string::npos);
  CHECK(slide_relative_path("/data/wsi", "/data/wsi/a/../a/s.svs") == "a/s.svs");
  CHECK(slide_relative_path("wsi/", "wsi/b/s.tif") == "b/s.tif");
}

TEST_CASE("key differences are said in words") {
  ojson k = {{"version", "1"}, {"model_fnv1a", "aa"}, {"overlap", 3.0}, {"slide", {{"bytes", 10}}}};
  ojson other = k;
  CHECK(key_difference(k, k).empty());
  other["model_fnv1a"] = "bb";
  CHECK(key_difference(k, other) == "the model file changed");
  other = k;
  other["overlap"] = 1.0;
  CHECK(key_difference(k, other) == "--overlap changed (3.0 -> 1.0)");
  other = k;
  other["slide"]["bytes"] = 11;
  CHECK(key_difference(k, other) == "the slide file changed");
  other = k;
  other.erase("overlap");
  CHECK(key_difference(k, other) == "--overlap no longer applies");
}

TEST_CASE("partial files: round trip, other key refused, rows checked against windows") {
  const fs::path dir = fs::temp_directory_path() / ("ds_partial_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "s.partial").string();
  const std::vector<std::string> classes = {"a", "b"};
  PartialPredictions p;
  p.key = {{"version", "1"}, {"level", 0}};
  p.candidates = 9;
  p.windows = {{0, 0}, {32, 0}, {0, 32}};
  p.csv = prediction_csv_header(classes);
  std::vector<PatchPrediction> rows(2);
  rows[0] = {0, 0, 1, 0.75f, {0.25f, 0.75f}};
  rows[1] = {32, 0, 0, 0.5f, {0.5f, 0.5f}};
  append_prediction_rows(p.csv, classes, rows);
  p.rows = 2;
  write_partial(path, p);

  PartialPredictions q;
  std::string why;
  REQUIRE(read_partial(path, p.key, classes, q, why));
  CHECK(q.rows == 2);
  CHECK(q.candidates == 9);
  CHECK(q.windows == p.windows);
  CHECK(q.csv == p.csv);

  CHECK_FALSE(read_partial(path, ojson{{"version", "1"}, {"level", 1}}, classes, q, why));
  CHECK(why.find("--level changed") != std::string::npos);
  CHECK_FALSE(read_partial(path, p.key, {"a", "c"}, q, why));
  CHECK(why.find("header") != std::string::npos);

  p.windows[1] = {64, 0};  // the second row is not the second window's
  p.windows_json.clear();
  write_partial(path, p);
  CHECK_FALSE(read_partial(path, p.key, classes, q, why));
  CHECK(why.find("row 2") != std::string::npos);

  CHECK_FALSE(read_partial((dir / "none.partial").string(), p.key, classes, q, why));
  CHECK(why.empty());
  fs::remove_all(dir);
}

TEST_CASE("progress: plain lines at most once per interval, outcome lines always, silence when quiet") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    ProgressStyle st;
    st.out = f;
    st.redraw = false;
    st.interval_seconds = 1000;
    Progress p("job", 2, "windows", st);
    p.phase(0, "a.svs", "tissue scan", 100, 0, false);  // the first line comes at once
    for (int i = 0; i < 100; ++i) p.add(1);
    p.phase(0, "a.svs", "predict", 50);
    p.add(25);
    CHECK(p.status().find("predict 25/50 windows (50%)") != std::string::npos);
    CHECK(p.status().find("run 0/2 done, 25 windows") != std::string::npos);  // scan steps not counted
    p.item_done();
    p.print("[1/2] a.svs: done");
  }
  const std::string out = read_all(f);
  CHECK(count_lines(out) == 2);
  CHECK(out.find("job: 1/2 a.svs: tissue scan 0/100 windows") == 0);
  CHECK(out.find("[1/2] a.svs: done\n") != std::string::npos);
  CHECK(out.find('\r') == std::string::npos);
  std::fclose(f);

  Progress quiet("job", 1, "windows", ProgressStyle::for_stderr(true));
  quiet.phase(0, "a", "predict", 10);
  quiet.add(10);  // nothing to check but that it neither prints nor crashes
  CHECK(quiet.status().find("10/10") != std::string::npos);
}

// The run's ETA is the current phase's remaining time plus the later items at the pace of the
// finished ones; none while nothing has finished and more items follow.
TEST_CASE("progress: the run's ETA does not extrapolate from one phase of a multi-phase item") {
  const auto etas = [](const std::string& s) {
    std::vector<std::string> out;
    for (size_t at = s.find("ETA "); at != std::string::npos; at = s.find("ETA ", at + 4))
      out.push_back(s.substr(at + 4, s.find_first_of(",;", at) - at - 4));
    return out;
  };
  ProgressStyle st;
  st.out = nullptr;
  Progress one("job", 1, "windows", st);
  one.phase(0, "big.svs", "tissue scan", 1000, 0, false);
  one.add(990);
  one.phase(0, "big.svs", "predict", 100000);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  one.add(10);  // the phase has 0.01% done: extrapolating the item's share would say days
  std::vector<std::string> e = etas(one.status());
  REQUIRE(e.size() == 2);
  CHECK(e[0] == e[1]);  // one item: the run's ETA is the phase's

  Progress two("job", 2, "windows", st);
  two.phase(0, "a.svs", "predict", 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  two.add(50);
  CHECK(etas(two.status()).size() == 1);  // a later item, none finished: no run ETA
  two.item_done();
  two.phase(1, "b.svs", "predict", 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  two.add(50);
  CHECK(etas(two.status()).size() == 2);
}
