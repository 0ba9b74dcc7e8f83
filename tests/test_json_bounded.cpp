// JSON from outside files (base/json_bounded.h): ordered_json parsed by the appending builder
// gives what nlohmann's own parser gives (order, values, a repeated key's last value in its first
// place, the same refusals), an object of 200,000 keys parses (nlohmann's ordered parser needs
// minutes: a linear scan per key), and read_json_file refuses a FIFO, a folder and a file over
// the size it is given, without blocking.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/error.h"
#include "base/json_bounded.h"

using namespace ds;
using ojson = nlohmann::ordered_json;

namespace {

std::string scratch(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ds_json_bounded_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("the ordered builder parses as nlohmann's ordered parser does") {
  for (const char* text : {
           R"({"b": 1, "a": [true, false, null, 1.5, -3, 18446744073709551615, "x\u00e9"], "c": {"z": {}, "y": []}})",
           R"([{"k": 1}, {"k": 2, "j": [[], [{}]]}, "s", 0])",
           R"("just a string")",
           R"(  42  )",
           R"({"dup": 1, "other": 2, "dup": 3})",
           R"({"a": {"dup": [1], "dup": {"x": 1}, "dup": null}})",
       }) {
    INFO(text);
    const ojson ours = parse_json_bounded<ojson>(text, "t");
    const ojson theirs = ojson::parse(text);
    CHECK(ours.dump() == theirs.dump());
  }
  CHECK(parse_json_bounded<ojson>(R"({"dup": 1, "other": 2, "dup": 3})", "t").dump() == R"({"dup":3,"other":2})");
  for (const char* bad : {"{", "[1,]", R"({"a" 1})", "{} trailing", "", "nul"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_json_bounded<ojson>(bad, "t"), InputError);
    CHECK_THROWS_AS(parse_json_bounded<nlohmann::json>(bad, "t"), InputError);
  }
}

TEST_CASE("an ordered object of 200,000 keys parses, in file order") {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) text += (i ? ",\"" : "\"") + std::to_string(199999 - i) + "\":" + std::to_string(i);
  text += "}";
  const ojson j = parse_json_bounded<ojson>(text, "t");
  REQUIRE(j.size() == 200000);
  CHECK(j.begin().key() == "199999");
  CHECK(j.at("0") == 199999);
  ojson built = ojson::object();
  for (int i = 0; i < 3; ++i) append_member(built, "k" + std::to_string(2 - i), i);
  CHECK(built.dump() == R"({"k2":0,"k1":1,"k0":2})");
}

TEST_CASE("read_json_file refuses what is not a regular file, and files over its bound") {
  const std::string fifo = scratch("fifo.json");
  std::remove(fifo.c_str());
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_json_file(fifo), Catch::Contains("is a FIFO"));  // (no writer: it would block)
  std::remove(fifo.c_str());
  const std::string dir = scratch("dir.json");
  std::filesystem::create_directories(dir);
  CHECK_THROWS_WITH(read_json_file(dir), Catch::Contains("is a folder"));
  std::filesystem::remove(dir);
  const std::string file = scratch("big.json");
  std::ofstream(file) << "[" << std::string(1000, ' ') << "]";
  CHECK_THROWS_WITH(read_json_file(file, 100), Catch::Contains("100-byte limit"));
  CHECK(read_json_file(file).is_array());
  std::remove(file.c_str());
}
