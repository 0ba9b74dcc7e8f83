// Tissue filters against outside oracles (skimage block_reduce for DeepSlide's purple filter,
// OpenCV for the CLAM-style Otsu mask; fixtures from scripts/gen_tissue_fixtures.py), DeepSlide's
// window arithmetic, and the train/val/test split.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/rng.h"
#include "slide/reader/image_io.h"
#include "slide/windows/labels_csv.h"
#include "slide/windows/split.h"
#include "slide/windows/tissue_filter.h"
#include "slide/windows/window_grid.h"

using namespace ds;
namespace fs = std::filesystem;

static nlohmann::json load_expected() {
  std::ifstream in(std::string(DS_FIXTURES) + "/tissue/expected.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

TEST_CASE("purple block count matches DeepSlide's is_purple (skimage block_reduce)") {
  auto ex = load_expected();
  int kept = 0, dropped = 0;
  for (const auto& p : ex["patches"]) {
    RgbImage img = load_image(std::string(DS_FIXTURES) + "/tissue/" + p["file"].get<std::string>());
    REQUIRE(img.width == p["width"].get<int>());
    int c15 = purple_block_count(img.pixels.data(), img.width, img.height, img.width * 3, 15);
    int c7 = purple_block_count(img.pixels.data(), img.width, img.height, img.width * 3, 7);
    INFO(p["file"].get<std::string>());
    CHECK(c15 == p["purple_count_scale15"].get<int>());
    CHECK(c7 == p["purple_count_scale7"].get<int>());
    bool keep = is_purple(img, PurpleParams{});
    CHECK(keep == (p["purple_count_scale15"].get<int>() > 100));
    (keep ? kept : dropped)++;
  }
  CHECK(kept >= 2);  // the fixture exercises both sides of the threshold (including exactly 100)
  CHECK(dropped >= 2);
  RgbImage tiny(10, 10);
  REQUIRE_THROWS_AS(is_purple(tiny, PurpleParams{}), InputError);
}

TEST_CASE("Otsu saturation mask matches OpenCV") {
  auto ex = load_expected()["thumb"];
  RgbImage thumb = load_image(std::string(DS_FIXTURES) + "/tissue/" + ex["file"].get<std::string>());
  RgbImage sat_ref = load_image(std::string(DS_FIXTURES) + "/tissue/" + ex["saturation"].get<std::string>());
  RgbImage mask_ref = load_image(std::string(DS_FIXTURES) + "/tissue/" + ex["mask"].get<std::string>());
  std::vector<uint8_t> sat = hsv_saturation(thumb);
  int sat_mismatch = 0;
  for (size_t i = 0; i < sat.size(); ++i) sat_mismatch += sat[i] != sat_ref.pixels[i * 3];
  CHECK(sat_mismatch == 0);
  TissueMask m = otsu_tissue_mask(thumb, 16.0);
  CHECK(m.threshold == ex["otsu_threshold"].get<int>());
  int mismatch = 0, on = 0;
  for (size_t i = 0; i < m.on.size(); ++i) {
    mismatch += m.on[i] != (mask_ref.pixels[i * 3] > 127);
    on += m.on[i];
  }
  CHECK(mismatch == 0);
  CHECK(on > 0);
  CHECK(on < (int)m.on.size());
  // tissue_fraction maps level-0 rectangles through the downsample.
  CHECK(m.tissue_fraction(0, 0, 16 * m.width, 16 * m.height) == Approx((double)on / m.on.size()));
}

TEST_CASE("the sliding-histogram median blur equals a selection in every window") {
  Rng rng(5);
  for (auto [w, h, r] : {std::array<int, 3>{1, 1, 3}, {5, 3, 3}, {37, 29, 3}, {20, 9, 1}, {16, 16, 0}, {9, 40, 5}}) {
    INFO(w << "x" << h << " r " << r);
    std::vector<uint8_t> v((size_t)w * h);
    for (auto& x : v) x = (uint8_t)(rng.next_u64() % 7 == 0 ? 255 : rng.next_u64() % 64);  // ties and outliers
    const std::vector<uint8_t> got = median_blur(v, w, h, r);
    int wrong = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        std::vector<uint8_t> win;
        for (int dy = -r; dy <= r; ++dy)
          for (int dx = -r; dx <= r; ++dx)
            win.push_back(v[(size_t)std::clamp(y + dy, 0, h - 1) * w + std::clamp(x + dx, 0, w - 1)]);
        std::nth_element(win.begin(), win.begin() + win.size() / 2, win.end());
        wrong += got[(size_t)y * w + x] != win[win.size() / 2];
      }
    CHECK(wrong == 0);
  }
}

TEST_CASE("otsu threshold separates a bimodal histogram") {
  std::vector<int64_t> h(256, 0);
  h[20] = 100;
  h[200] = 50;
  int t = otsu_threshold(h);
  CHECK(t >= 20);
  CHECK(t < 200);
}

TEST_CASE("window grid follows DeepSlide's arithmetic") {
  // 1000 rows x 700 cols, patch 224, overlap 3: steps int(776/224*3)+1 = 11 rows,
  // int(476/224*3)+1 = 7 cols, step int(224/3) = 74.
  auto w = window_grid({700, 1000, 224, 3.0});
  REQUIRE(w.size() == 77);
  CHECK(w[0] == Window{0, 0});
  CHECK(w[1] == Window{74, 0});  // columns inner
  CHECK(w[7] == Window{0, 74});
  CHECK(w.back() == Window{6 * 74, 10 * 74});
  for (const auto& win : w) {
    CHECK(win.x + 224 <= 700);
    CHECK(win.y + 224 <= 1000);
  }
  // Overlap 1.5 (validation): step int(224/1.5) = 149.
  CHECK(grid_step(224, 1.5) == 149);
  CHECK(window_grid({224, 224, 224, 1.0}).size() == 1);
  CHECK(window_grid({223, 500, 224, 1.0}).empty());
  REQUIRE_THROWS_AS(window_grid({500, 500, 224, 0.5}), InputError);
}

TEST_CASE("split is balanced, ordered like DeepSlide and errors name the class") {
  fs::path root = fs::temp_directory_path() / ("ds_split_" + std::to_string(::getpid()));
  fs::remove_all(root);
  for (std::string cls : {"a", "n"})
    for (int i = 0; i < 6; ++i) {
      fs::create_directories(root / "wsi" / cls);
      std::ofstream(root / "wsi" / cls / (cls + std::to_string(i) + ".jpg")) << "x";
    }
  std::ofstream(root / "wsi" / "a" / "notes.txt") << "ignored";
  SplitResult s = split_slides((root / "wsi").string(), 2, 1, std::nullopt);
  CHECK(s.train.size() == 6);
  CHECK(s.val.size() == 4);
  CHECK(s.test.size() == 2);
  CHECK(s.test[0].img == "a/a5.jpg");
  CHECK(s.val[0].img == "a/a3.jpg");
  CHECK(s.train[0].gt == "a");
  write_split((root / "wsi").string(), (root / "out").string(), s, Materialize::link);
  auto rows = read_labels_csv((root / "out" / "labels_val.csv").string());
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].img == "a/a3.jpg");
  CHECK(fs::is_symlink(root / "out" / "wsi_val" / "a" / "a3.jpg"));
  CHECK(resolve_slide_path((root / "wsi").string(), rows[0], "x.csv") == (root / "wsi" / "a" / "a3.jpg").string());
  // DeepSlide's bare file names resolve through the class folder.
  CHECK(resolve_slide_path((root / "wsi").string(), SlideLabel{"a3.jpg", "a"}, "x.csv") ==
        (root / "wsi" / "a" / "a3.jpg").string());
  // Seeded shuffles are deterministic and still balanced.
  SplitResult s1 = split_slides((root / "wsi").string(), 2, 1, 7), s2 = split_slides((root / "wsi").string(), 2, 1, 7);
  CHECK(s1.test[0].img == s2.test[0].img);
  CHECK(s1.val.size() == 4);
  try {
    split_slides((root / "wsi").string(), 3, 3, std::nullopt);
    FAIL("expected an error");
  } catch (const InputError& e) {
    std::string msg = e.what();
    CHECK(msg.find("class 'a' has 6 slides, needs at least 7") != std::string::npos);
  }
  std::ofstream(root / "bad.csv") << "image,label\nx,y\n";
  REQUIRE_THROWS_WITH(read_labels_csv((root / "bad.csv").string()),
                      Catch::Contains("bad.csv") && Catch::Contains("img,gt"));
  std::ofstream(root / "dup.csv") << "img,gt\nx,a\nx,a\n";
  REQUIRE_THROWS_WITH(read_labels_csv((root / "dup.csv").string()), Catch::Contains("line 3"));
  REQUIRE_THROWS_WITH(resolve_slide_path((root / "wsi").string(), SlideLabel{"zz.jpg", "a"}, "l.csv"),
                      Catch::Contains("l.csv") && Catch::Contains("zz.jpg"));
  fs::remove_all(root);
}
