// Augmentation against torchvision/PIL (fixtures from scripts/gen_augment_fixtures.py): every
// colour adjustment, flip and rotation bit for bit, and the random pipeline's properties.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/rng.h"
#include "slide/reader/image_io.h"
#include "train/augment.h"

using namespace ds;

TEST_CASE("colour jitter, flips and rotations match torchvision on PIL images exactly") {
  const std::string dir = std::string(DS_FIXTURES) + "/augment/";
  std::ifstream in(dir + "cases.json");
  REQUIRE(in.good());
  auto j = nlohmann::json::parse(in);
  const RgbImage src = load_image(dir + j["input"].get<std::string>());
  const RgbImage square = load_image(dir + j["input_square"].get<std::string>());
  int checked = 0;
  for (const auto& c : j["cases"]) {
    const std::string op = c["op"];
    RgbImage img = op == "rot90" ? square : src;
    const float f = c["factor"].get<float>();
    if (op == "brightness") adjust_brightness(img, f);
    if (op == "contrast") adjust_contrast(img, f);
    if (op == "saturation") adjust_saturation(img, f);
    if (op == "hue") adjust_hue(img, f);
    if (op == "hflip") flip_horizontal(img);
    if (op == "vflip") flip_vertical(img);
    if (op == "rot90") rotate90(img, (int)f);
    const RgbImage ref = load_image(dir + c["file"].get<std::string>());
    REQUIRE(img.width == ref.width);
    REQUIRE(img.height == ref.height);
    int mismatches = 0, max_diff = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) {
      int d = std::abs((int)img.pixels[i] - (int)ref.pixels[i]);
      mismatches += d != 0;
      max_diff = std::max(max_diff, d);
    }
    INFO(c["file"].get<std::string>() << ": " << mismatches << " values differ, max " << max_diff);
    CHECK(mismatches == 0);
    ++checked;
  }
  CHECK(checked == 27);
}

TEST_CASE("augment draws from the rng and keeps size, and is the identity when disabled") {
  RgbImage img(20, 12);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = (uint8_t)(i * 37 % 251);
  Rng a(3), b(3);
  RgbImage x = img, y = img;
  augment(x, AugmentOptions{}, a);
  augment(y, AugmentOptions{}, b);
  CHECK(x.pixels == y.pixels);
  CHECK(((x.width == 20 && x.height == 12) || (x.width == 12 && x.height == 20)));
  AugmentOptions none{0, 0, 0, 0, false, false};
  RgbImage z = img;
  Rng c(4);
  augment(z, none, c);
  CHECK(z.pixels == img.pixels);
  int changed = 0;
  for (int t = 0; t < 10; ++t) {
    RgbImage w = img;
    augment(w, AugmentOptions{}, a);
    changed += w.pixels != img.pixels;
  }
  CHECK(changed >= 9);
}
