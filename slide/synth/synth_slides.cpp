// Renders synthetic slides and writes them through the pyramid writer.
#include "slide/synth/synth_slides.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "slide/reader/resize.h"
#include "slide/synth/pyramid_writer.h"
#include "slide/synth/synth_tissue.h"
#include "stain/stain_shift.h"

namespace fs = std::filesystem;

namespace ds {

std::vector<std::string> synth_class_names(int classes) {
  static const char* kArchetypes[3] = {"glandular", "solid", "lymphoid"};
  std::vector<std::string> names;
  for (int c = 0; c < classes; ++c) {
    std::string n = kArchetypes[c % 3];
    if (c >= 3) n += std::to_string(c / 3 + 1);
    names.push_back(n);
  }
  return names;
}

// A label image: a stripe code derived from the slide's seed on white.
static RgbImage make_label(uint64_t seed) {
  RgbImage img(240, 240);
  Rng r(seed);
  for (int x = 20; x < 220;) {
    int w = 2 + (int)r.uniform_int(5);
    bool dark = r.uniform() < 0.5;
    for (int y = 60; y < 180; ++y)
      for (int xx = x; xx < std::min(220, x + w); ++xx)
        for (int c = 0; c < 3; ++c) img.row(y)[3 * xx + c] = dark ? 20 : 255;
    x += w;
  }
  return img;
}

std::vector<std::string> write_synth_dataset(const SynthOptions& opt) {
  DS_CHECK_INPUT(opt.stain_shift >= 0 && opt.stain_shift <= 2, "--stain-shift must be in [0, 2]");
  DS_CHECK_INPUT(opt.classes >= 2 && opt.classes <= 32, "--classes must be in [2, 32]");
  DS_CHECK_INPUT(opt.slides_per_class >= 1 && opt.slides_per_class <= 10000, "--slides-per-class must be >= 1");
  DS_CHECK_INPUT(opt.width >= 256 && opt.height >= 256, "--width and --height must be >= 256");
  DS_CHECK_INPUT((int64_t)opt.width * opt.height <= 16384LL * 16384LL,
                 "synthetic slides are rendered in memory: width x height must be at most 16384 x 16384");
  const auto names = synth_class_names(opt.classes);
  std::vector<std::string> paths;
  std::vector<std::pair<int, int>> jobs;
  for (int c = 0; c < opt.classes; ++c) {
    std::error_code ec;
    fs::create_directories(fs::path(opt.out) / names[(size_t)c], ec);
    if (ec) throw InputError((fs::path(opt.out) / names[(size_t)c]).string(), "cannot create folder: " + ec.message());
    for (int i = 0; i < opt.slides_per_class; ++i) {
      char file[64];
      std::snprintf(file, sizeof file, "%s_%03d.tif", names[(size_t)c].c_str(), i);
      paths.push_back((fs::path(opt.out) / names[(size_t)c] / file).string());
      jobs.push_back({c, i});
    }
  }
  parallel_for((int64_t)jobs.size(), opt.threads, [&](int64_t j) {
    const auto [c, i] = jobs[(size_t)j];
    uint64_t slide_seed = opt.seed * 0x9E3779B97F4A7C15ull + (uint64_t)c * 1000003ull + (uint64_t)i * 7919ull;
    slide_seed = Rng(slide_seed).next_u64();
    // Slide size varies a little, as real slides do.
    Rng size_rng(slide_seed);
    const int w = std::max(256, (int)(opt.width * (0.85 + 0.15 * size_rng.uniform())));
    const int h = std::max(256, (int)(opt.height * (0.85 + 0.15 * size_rng.uniform())));
    SynthTissue tissue(w, h, c, slide_seed);
    RgbImage img(w, h);
    tissue.render(0, 0, img);
    shift_stain(img, opt.stain_shift);
    PyramidWriteOptions po;
    po.compression = "jpeg";
    po.quality = opt.quality;
    po.tile_size = 256;
    po.aperio = true;
    po.mpp = opt.mpp;
    po.app_mag = opt.mpp > 0 ? std::round(10.0 / opt.mpp) : 0;
    const double ts = 768.0 / std::max(w, h);
    po.associated.push_back({"thumbnail", resize_area(img, std::max(1, (int)(w * ts)), std::max(1, (int)(h * ts)))});
    po.associated.push_back({"label", make_label(slide_seed)});
    const double ms = 1024.0 / std::max(w, h);
    po.associated.push_back({"macro", resize_area(img, std::max(1, (int)(w * ms)), std::max(1, (int)(h * ms)))});
    write_pyramid(paths[(size_t)j], img, po);
  });
  return paths;
}

}  // namespace ds
