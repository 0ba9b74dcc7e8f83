// The prefetching slide predictor (infer/slide_predictor): with several reader threads and a
// batch size that does not divide the window count, every window's probabilities equal those of
// a plain make_batch + predict_probabilities over the same windows, in window order; and a tile
// that fails to decode in the middle of a batch surfaces as the reader's exception (naming the
// file) without hanging or losing the reader threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>

#include "base/error.h"
#include "infer/slide_predictor.h"
#include "slide/reader/slide.h"
#include "weights/model.h"
#include "weights/model_forward.h"

using namespace ds;

namespace {

// A 256 x 192 one-level slide of 32 x 32 tiles with a pattern that varies by position; tile
// (fail_col, fail_row) throws like a corrupt JPEG tile would.
class PatternSource : public TileSource {
 public:
  int fail_col = -1, fail_row = -1;
  TilePtr decode_tile(int level, int64_t col, int64_t row) override {
    if (col == fail_col && row == fail_row)
      throw InputError("fake.tif", "corrupt tile " + std::to_string(col) + "," + std::to_string(row));
    auto t = std::make_shared<Tile>(32, 32);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        uint8_t* p = t->rgb.get() + (y * 32 + x) * 3;
        const int64_t gx = col * 32 + x, gy = row * 32 + y;
        p[0] = (uint8_t)((gx * 7 + gy * 3) & 255);
        p[1] = (uint8_t)((gx * gy) & 255);
        p[2] = (uint8_t)((gy * 11) & 255);
      }
    return t;
  }
  RgbImage read_associated(const std::string& name) override { throw InputError("fake.tif", "no " + name); }
};

std::unique_ptr<Slide> make_slide(int fail_col, int fail_row, size_t cache_bytes = 1 << 20) {
  SlideMeta meta;
  meta.vendor = "test";
  SlideLevel l;
  l.width = 256;
  l.height = 192;
  l.tile_width = l.tile_height = 32;
  meta.levels.push_back(l);
  auto src = std::make_unique<PatternSource>();
  src->fail_col = fail_col;
  src->fail_row = fail_row;
  return std::make_unique<Slide>("fake.tif", meta, std::move(src), cache_bytes);
}

}  // namespace

TEST_CASE("predictor: order and values match a plain batch with several readers", "[infer][predict]") {
  Model model = make_model(Arch::resnet18, {"x", "y", "z"}, 11, 32);
  auto slide = make_slide(-1, -1);
  WindowOptions wo;
  wo.patch_size = 32;
  wo.overlap = 2;
  wo.tissue = TissueMethod::none;
  ReadGeometry g = read_geometry(*slide, wo);
  std::vector<Window> windows = candidate_windows(*slide, g, wo.overlap);
  REQUIRE(windows.size() == 15 * 11);
  PredictOptions po;
  po.windows = wo;
  po.batch_size = 7;
  po.reader_threads = 3;
  po.prefetch_batches = 2;
  SlidePredictStats st;
  SlidePredictions p = predict_windows(model, *slide, g, windows, po, &st);
  REQUIRE(p.patches.size() == windows.size());
  CHECK(st.windows == (int64_t)windows.size());
  std::vector<RgbImage> patches;
  for (const Window& w : windows) patches.push_back(read_window(*slide, g, w));
  Tensor ref = predict_probabilities(model, make_batch(patches, model));
  float worst = 0;
  for (size_t i = 0; i < windows.size(); ++i) {
    CHECK(p.patches[i].x == windows[i].x);
    CHECK(p.patches[i].y == windows[i].y);
    for (int k = 0; k < 3; ++k)
      worst = std::max(worst, std::fabs(p.patches[i].probs[(size_t)k] - ref[(int64_t)i * 3 + k]));
    CHECK(p.patches[i].prediction == argmax_class(ref.data() + i * 3, 3));
    CHECK(p.patches[i].confidence == p.patches[i].probs[(size_t)p.patches[i].prediction]);
  }
  // Batch composition differs (7 vs all): allow float reassociation in the kernels.
  CHECK(worst < 1e-5f);
  // No reader threads (the network's threads read each batch): the same batches, so the same bits.
  po.reader_threads = 0;
  SlidePredictStats st0;
  SlidePredictions p0 = predict_windows(model, *slide, g, windows, po, &st0);
  REQUIRE(p0.patches.size() == p.patches.size());
  for (size_t i = 0; i < p.patches.size(); ++i) {
    CHECK(p0.patches[i].x == p.patches[i].x);
    CHECK(p0.patches[i].y == p.patches[i].y);
    CHECK(p0.patches[i].probs == p.patches[i].probs);
  }
  CHECK(st0.read_seconds > 0);
  // No windows: an empty result, not an error.
  CHECK(predict_windows(model, *slide, g, {}, po).patches.empty());
}

TEST_CASE("predictor: a tile failing mid-batch is rethrown, readers stop", "[infer][predict]") {
  Model model = make_model(Arch::resnet18, {"x", "y"}, 11, 32);
  auto slide = make_slide(3, 2);  // inside the grid, reached after a few batches
  WindowOptions wo;
  wo.patch_size = 32;
  wo.overlap = 1;
  wo.tissue = TissueMethod::none;
  ReadGeometry g = read_geometry(*slide, wo);
  std::vector<Window> windows = candidate_windows(*slide, g, wo.overlap);
  PredictOptions po;
  po.windows = wo;
  po.batch_size = 5;
  for (int readers : {0, 1, 3}) {
    po.reader_threads = readers;
    CHECK_THROWS_WITH(predict_windows(model, *slide, g, windows, po),
                      Catch::Contains("fake.tif") && Catch::Contains("corrupt tile 3,2"));
  }
  // Patch size must match the model.
  Model big = make_model(Arch::resnet18, {"x", "y"}, 1, 64);
  CHECK_THROWS_AS(predict_windows(big, *slide, g, windows, po), InputError);
}

TEST_CASE("predictor: channels-last batches give the NCHW batch's values bit for bit", "[infer][predict]") {
  Model model = make_model(Arch::resnet18, {"x", "y"}, 5, 32);
  model.mean = {0.7f, 0.6f, 0.5f};
  model.std = {0.2f, 0.25f, 0.3f};
  auto slide = make_slide(-1, -1);
  std::vector<RgbImage> patches;
  for (int i = 0; i < 5; ++i) patches.push_back(slide->read_region(i * 37, i * 23, 0, 32, 32));
  const Tensor nchw = make_batch(patches, model);
  Tensor nhwc = Tensor::empty(Shape{5, 32, 32, 3});
  for (int i = 0; i < 5; ++i)
    normalize_patch_channels_last(nhwc.data() + i * 3 * 32 * 32, patches[(size_t)i], model.mean, model.std);
  for (int64_t n = 0; n < 5; ++n)  // the same floats, transposed
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t p = 0; p < 32 * 32; ++p) REQUIRE(nhwc[(n * 32 * 32 + p) * 3 + c] == nchw[(n * 3 + c) * 32 * 32 + p]);
  const Tensor a = predict_probabilities(model, nchw), b = predict_probabilities_channels_last(model, nhwc);
  REQUIRE(a.numel() == b.numel());
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(a[i] == b[i]);
  // The shape checks of the NCHW input it stands for.
  Context ctx;
  CHECK_THROWS_AS(model.net->forward_channels_last(ctx, make_var(Tensor::empty(Shape{1, 16, 16, 3}))), InputError);
  CHECK_THROWS_AS(model.net->forward_channels_last(ctx, make_var(Tensor::empty(Shape{1, 32, 32, 4}))), InputError);
}

TEST_CASE("predictor: the tile cache is lowered to what a raster of windows reuses", "[infer][predict]") {
  SlideLevel big;  // a hospital slide: 100000 px wide in 240-px tiles, windows of 224
  big.width = 100000, big.height = 80000, big.tile_width = big.tile_height = 240;
  CHECK(raster_cache_bytes(big, 224) == (size_t)417 * 3 * 240 * 240 * 3);  // 3 tile rows across: 216 MB
  SlideLevel mid = big;  // the 12000-px synthetic slide of compare_predict, 256-px tiles
  mid.width = mid.height = 12000, mid.tile_width = mid.tile_height = 256;
  CHECK(raster_cache_bytes(mid, 224) == (size_t)47 * 3 * 256 * 256 * 3);
  SlideLevel small = mid;
  small.width = small.height = 1000;
  CHECK(raster_cache_bytes(small, 224) == (size_t)16 << 20);  // the floor
  SlideLevel wide = big;
  wide.width = 400000;
  CHECK(raster_cache_bytes(wide, 224) == Slide::kDefaultCacheBytes);  // never above the default
  SlideLevel strips = small;                                          // no tile grid recorded: the whole level one tile
  strips.tile_width = strips.tile_height = 0;
  CHECK(raster_cache_bytes(strips, 224) == (size_t)16 << 20);

  Model m = make_model(Arch::resnet18, {"a", "b"}, 11, 32);
  auto slide = make_slide(-1, -1, Slide::kDefaultCacheBytes);
  WindowOptions wo;
  wo.patch_size = 32;
  wo.tissue = TissueMethod::none;
  const ReadGeometry g = read_geometry(*slide, wo);
  const std::vector<Window> windows = candidate_windows(*slide, g, 1);
  PredictOptions opt;
  opt.windows = wo;
  opt.batch_size = 8;
  predict_windows(m, *slide, g, windows, opt);
  CHECK(slide->cache().budget() == (size_t)16 << 20);  // lowered from the default 256 MB
  auto tight = make_slide(-1, -1, 1 << 20);
  predict_windows(m, *tight, g, windows, opt);
  CHECK(tight->cache().budget() == (size_t)1 << 20);  // a smaller budget the caller chose stays
}
