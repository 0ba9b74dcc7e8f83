// The model bundle and diagnose's inputs as library calls: the recipe round-trips through the
// model file's metadata, every missing or invalid recipe key is an InputError naming the file
// and the key, a bundle loads as a plain model file too; label CSVs with gt optional; the output
// folder names of same-stem slides; the slide identity reruns compare.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <unistd.h>

#include "base/error.h"
#include "infer/bundle.h"
#include "infer/diagnose.h"
#include "infer/diagnose_inputs.h"
#include "scratch_dir.h"
#include "slide/windows/labels_csv.h"
#include "weights/model.h"

using namespace ds;
namespace fs = std::filesystem;

namespace {

fs::path test_dir() {
  static fs::path dir = ds::test::scratch_dir("test_bundle");
  return dir;
}

std::string tmp_path(const std::string& name) { return (test_dir() / name).string(); }

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

Recipe sample_recipe(const Model& m) {
  Recipe r;
  r.windows.patch_size = m.patch_size;
  r.windows.level = 1;
  r.windows.mpp = 0.5;
  r.windows.overlap = 1.5;
  r.windows.tissue = TissueMethod::otsu;
  r.windows.purple.threshold = 10;
  r.windows.purple.scale = 8;
  r.windows.otsu_min_fraction = 0.25;
  r.aggregator.method = "threshold";
  r.aggregator.classes = m.classes;
  r.aggregator.thresholds = {0.3, 0.7};
  return r;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("bundle recipe round-trips through the model file's metadata") {
  Model m = make_model(Arch::resnet18, {"a", "b"}, 1, 32);
  const Recipe r = sample_recipe(m);
  const std::string path = tmp_path("b.safetensors");
  save_model(path, m, bundle_metadata(r, {{"created", "now"}}));

  const Bundle b = load_bundle(path);
  CHECK(b.model.classes == m.classes);
  CHECK(b.recipe.windows.level == 1);
  CHECK(b.recipe.windows.mpp == 0.5);
  CHECK(b.recipe.windows.overlap == 1.5);
  CHECK(b.recipe.windows.tissue == TissueMethod::otsu);
  CHECK(b.recipe.windows.purple.threshold == 10);
  CHECK(b.recipe.windows.purple.scale == 8);
  CHECK(b.recipe.windows.otsu_min_fraction == 0.25);
  CHECK(b.recipe.windows.patch_size == 32);
  CHECK(b.recipe.aggregator.method == "threshold");
  CHECK(b.recipe.aggregator.thresholds == std::vector<double>{0.3, 0.7});
  CHECK(b.provenance["created"] == "now");
  CHECK(b.content_hash.size() == 16);
  CHECK(b.content_hash == file_content_hash(path));

  // A bundle is a model file; a model file is not a bundle.
  std::map<std::string, std::string> meta;
  CHECK_NOTHROW(load_model(path, &meta));
  CHECK(is_bundle(meta));
  const std::string plain = tmp_path("plain.safetensors");
  save_model(plain, m);
  CHECK(error_of([&] { load_bundle(plain); }).find("not a bundle") != std::string::npos);
}

TEST_CASE("a bundle missing or garbling a recipe key names the file and the key") {
  Model m = make_model(Arch::resnet18, {"a", "b"}, 1, 32);
  const auto full = bundle_metadata(sample_recipe(m), nlohmann::ordered_json::object());
  for (const auto& [key, value] : full) {
    if (key == "provenance") continue;  // optional
    auto meta = full;
    meta.erase(key);
    const std::string e = error_of([&] { recipe_from_metadata("x.safetensors", meta, m); });
    INFO(key << ": " << e);
    CHECK(e.find("x.safetensors") == 0);
    CHECK(e.find("'" + key + "'") != std::string::npos);
  }
  for (const auto& [key, bad] : std::map<std::string, std::string>{{"recipe_overlap", "0.5"},
                                                                   {"recipe_level", "one"},
                                                                   {"recipe_tissue", "blue"},
                                                                   {"recipe_purple_scale", "999"},
                                                                   {"recipe_otsu_min_fraction", "2"},
                                                                   {"recipe_aggregator", "{\"method\": 1}"},
                                                                   {"bundle", "7"}}) {
    auto meta = full;
    meta[key] = bad;
    const std::string e = error_of([&] { recipe_from_metadata("x.safetensors", meta, m); });
    INFO(key << " = " << bad << ": " << e);
    CHECK(e.find("x.safetensors") == 0);
    CHECK((e.find(key) != std::string::npos || key == "bundle"));
  }
  auto other = full;
  other["recipe_aggregator"] = R"({"method": "majority", "classes": ["a", "c"]})";
  CHECK(error_of([&] { recipe_from_metadata("x", other, m); }).find("other classes") != std::string::npos);
}

TEST_CASE("label CSVs with gt optional") {
  const std::string img_only = tmp_path("img_only.csv");
  write_text(img_only, "img\na/s1.tif\nb/s2.tif\n");
  const auto rows = read_labels_csv(img_only, true);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].img == "a/s1.tif");
  CHECK(rows[0].gt.empty());
  CHECK_THROWS_AS(read_labels_csv(img_only), InputError);  // gt still required elsewhere
  const std::string some_gt = tmp_path("some_gt.csv");
  write_text(some_gt, "img,gt\na/s1.tif,a\nb/s2.tif,\n");
  const auto mixed = read_labels_csv(some_gt, true);
  REQUIRE(mixed.size() == 2);
  CHECK(mixed[0].gt == "a");
  CHECK(mixed[1].gt.empty());
  CHECK_THROWS_AS(read_labels_csv(some_gt), InputError);
  const std::string comma = tmp_path("comma.csv");
  write_text(comma, "img\na/s1.tif,a\n");
  CHECK_THROWS_AS(read_labels_csv(comma, true), InputError);
}

TEST_CASE("diagnose inputs: slides by content, unique folders, the output folder skipped") {
  const fs::path root = test_dir() / "slides";
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + "rest";
  write_text((root / "x" / "s.png").string(), png);
  write_text((root / "y" / "s.tif").string(), std::string("II*\0", 4) + "rest");
  write_text((root / "y" / "t.jpg").string(), "\xFF\xD8\xFFrest");
  write_text((root / "y" / "notes.txt").string(), "not a slide");
  write_text((root / "out" / "o.png").string(), png);
  const auto in = diagnose_inputs({root.string()}, "", (root / "out").string());
  REQUIRE(in.size() == 3);
  std::set<std::string> names;
  for (const DiagnoseInput& d : in) names.insert(d.name);
  CHECK(names.size() == 3);
  CHECK(names.count("t") == 1);
  CHECK(in[0].name.rfind("s-", 0) == 0);
  CHECK(in[1].name.rfind("s-", 0) == 0);
  const auto missing = diagnose_inputs({(root / "nope.tif").string()}, "", "");  // fails later, alone
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].name == "nope");
  write_text((root / "empty" / "a.txt").string(), "x");
  CHECK(error_of([&] { diagnose_inputs({(root / "empty").string()}, "", ""); }).find("no slides") != std::string::npos);
}

TEST_CASE("slide identity follows size, head and tail") {
  const std::string path = tmp_path("ident.bin");
  write_text(path, std::string(3 << 20, 'a'));
  const std::string a = slide_identity(path);
  CHECK(a == slide_identity(path));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp((3 << 20) - 10);
    f << 'b';
  }
  const std::string b = slide_identity(path);
  CHECK(b != a);
  CHECK(b.substr(0, b.find(':')) == a.substr(0, a.find(':')));
}
