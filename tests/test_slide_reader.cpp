// Slide reader round trips through our pyramid writer (lossless: exact pixels at every level;
// JPEG: close to the source), Aperio layout and properties, regions across tile and slide
// edges, the tile cache, concurrent readers, stripped TIFF and plain images.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "base/error.h"
#include "slide/reader/slide.h"
#include "slide/synth/pyramid_writer.h"
#include "test_slide_util.h"

using namespace ds;
using ds::test::pattern_image;

namespace {

// Expected pixels of a region: crop of `img` at (x, y), white outside.
RgbImage crop(const RgbImage& img, int64_t x, int64_t y, int w, int h) {
  RgbImage out(w, h);
  for (int yy = 0; yy < h; ++yy)
    for (int xx = 0; xx < w; ++xx) {
      int64_t sx = x + xx, sy = y + yy;
      if (sx < 0 || sy < 0 || sx >= img.width || sy >= img.height) continue;
      std::memcpy(out.row(yy) + (size_t)xx * 3, img.row((int)sy) + (size_t)sx * 3, 3);
    }
  return out;
}

// Largest difference of the per-channel means: JPEG keeps the mean colour, a wrong colour space
// (YCbCr decoded as RGB or the reverse) moves it by tens of levels.
double channel_mean_diff(const RgbImage& a, const RgbImage& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  double s[3] = {0, 0, 0};
  for (size_t i = 0; i < a.pixels.size(); ++i) s[i % 3] += (int)a.pixels[i] - (int)b.pixels[i];
  double n = (double)a.pixels.size() / 3;
  return std::max({std::abs(s[0]), std::abs(s[1]), std::abs(s[2])}) / n;
}

double mean_abs_diff(const RgbImage& a, const RgbImage& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) s += std::abs((int)a.pixels[i] - (int)b.pixels[i]);
  return s / (double)a.pixels.size();
}

// Every level of `slide` against the box-filter pyramid of `src`, on regions crossing tile
// edges and the slide border.
void check_levels_exact(const Slide& slide, const RgbImage& src, int factor) {
  RgbImage level = src;
  std::mt19937 rng(7);
  for (int L = 0; L < slide.level_count(); ++L) {
    if (L > 0) level = shrink_box(level, factor);
    const SlideLevel& sl = slide.level(L);
    REQUIRE(sl.width == level.width);
    REQUIRE(sl.height == level.height);
    for (int k = 0; k < 6; ++k) {
      int w = 1 + (int)(rng() % 300), h = 1 + (int)(rng() % 300);
      int64_t lx = (int64_t)(rng() % (uint64_t)(level.width + 40)) - 20;
      int64_t ly = (int64_t)(rng() % (uint64_t)(level.height + 40)) - 20;
      double ds = sl.downsample;
      int64_t x = (int64_t)std::llround(lx * ds), y = (int64_t)std::llround(ly * ds);
      if (std::floor((double)x / ds) != (double)lx || std::floor((double)y / ds) != (double)ly) continue;
      RgbImage got = slide.read_region(x, y, L, w, h);
      RgbImage want = crop(level, lx, ly, w, h);
      INFO("level " << L << " region " << lx << "," << ly << " " << w << "x" << h);
      REQUIRE(got.pixels == want.pixels);
    }
  }
}

}  // namespace

TEST_CASE("lossless pyramids round-trip exactly at every level", "[slide]") {
  std::string dir = ds::test::temp_dir("slide_rt");
  RgbImage src = pattern_image(1037, 781);
  struct Case {
    const char* compression;
    int tile, factor;
    bool subifds, bigtiff;
  };
  for (Case c : {Case{"lzw", 256, 2, false, false}, Case{"deflate", 128, 4, true, false},
                 Case{"none", 240, 2, false, true}, Case{"deflate", 512, 2, true, true}}) {
    PyramidWriteOptions o;
    o.compression = c.compression;
    o.tile_size = c.tile;
    o.level_factor = c.factor;
    o.subifds = c.subifds;
    o.bigtiff = c.bigtiff;
    std::string path = dir + "/rt_" + c.compression + std::to_string(c.tile) + ".tif";
    write_pyramid(path, src, o);
    auto slide = Slide::open(path);
    INFO(path);
    CHECK(slide->vendor() == "generic-tiff");
    CHECK(slide->level(0).tile_width == c.tile);
    CHECK(slide->level_count() >= 2);
    check_levels_exact(*slide, src, c.factor);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("JPEG pyramids (YCbCr and RGB) decode close to the source", "[slide]") {
  std::string dir = ds::test::temp_dir("slide_jpeg");
  RgbImage src = pattern_image(900, 700);
  for (bool rgb : {false, true}) {
    PyramidWriteOptions o;
    o.quality = 95;
    o.jpeg_rgb = rgb;
    std::string path = dir + (rgb ? "/rgb.tif" : "/ycc.tif");
    write_pyramid(path, src, o);
    auto slide = Slide::open(path);
    RgbImage got = slide->read_region(0, 0, 0, 900, 700);
    CHECK(mean_abs_diff(got, src) < 6.0);
    CHECK(channel_mean_diff(got, src) < 1.0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("Aperio layout: levels, associated images, MPP and magnification", "[slide]") {
  std::string dir = ds::test::temp_dir("slide_svs");
  RgbImage src = pattern_image(1200, 900);
  RgbImage label = pattern_image(120, 100, 5), macro = pattern_image(300, 110, 6);
  PyramidWriteOptions o;
  o.aperio = true;
  o.quality = 95;
  o.mpp = 0.2527;
  o.app_mag = 40;
  o.level_factor = 4;
  o.associated = {{"thumbnail", shrink_box(src, 8)}, {"label", label}, {"macro", macro}};
  std::string path = dir + "/slide.svs";
  write_pyramid(path, src, o);
  auto slide = Slide::open(path);
  CHECK(slide->vendor() == "aperio");
  REQUIRE(slide->level_count() == 3);
  CHECK(slide->level(1).width == 300);
  CHECK(slide->level(1).downsample == Approx(4.0));
  REQUIRE(slide->mpp_x().has_value());
  CHECK(*slide->mpp_x() == Approx(0.2527));
  CHECK(*slide->objective_power() == Approx(40));
  CHECK(slide->properties().at("aperio.AppMag") == "40");
  CHECK(slide->properties().at("openslide.vendor") == "aperio");
  CHECK(slide->associated_names() == std::vector<std::string>{"thumbnail", "label", "macro"});
  RgbImage l = slide->read_associated("label");
  CHECK(l.pixels == label.pixels);  // LZW: exact
  RgbImage m = slide->read_associated("macro");
  CHECK(m.width == 300);
  CHECK(mean_abs_diff(m, macro) < 6.0);
  CHECK(channel_mean_diff(m, macro) < 1.0);
  RgbImage t = slide->read_associated("thumbnail");
  CHECK(t.width == 150);
  CHECK_THROWS_AS(slide->read_associated("nope"), InputError);
  CHECK(slide->best_level_for_downsample(1.0) == 0);
  CHECK(slide->best_level_for_downsample(3.9) == 0);
  CHECK(slide->best_level_for_downsample(4.0) == 1);
  CHECK(slide->best_level_for_downsample(100.0) == 2);
  CHECK(slide->best_level_for_downsample(0.5) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("regions outside the slide are white; bad levels and sizes are input errors", "[slide]") {
  std::string dir = ds::test::temp_dir("slide_edge");
  RgbImage src = pattern_image(300, 200);
  PyramidWriteOptions o;
  o.compression = "lzw";
  o.tile_size = 128;
  write_pyramid(dir + "/s.tif", src, o);
  auto slide = Slide::open(dir + "/s.tif");
  RgbImage far = slide->read_region(10000, -5000, 0, 50, 40);
  CHECK(std::all_of(far.pixels.begin(), far.pixels.end(), [](uint8_t v) { return v == 255; }));
  RgbImage part = slide->read_region(-10, 190, 0, 30, 20);
  CHECK(part.pixels == crop(src, -10, 190, 30, 20).pixels);
  CHECK_THROWS_AS(slide->read_region(0, 0, 7, 10, 10), InputError);
  CHECK_THROWS_AS(slide->read_region(0, 0, 0, 0, 10), InputError);
  CHECK_THROWS_AS(slide->read_region(0, 0, 0, 1 << 21, 10), InputError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tile cache keeps to its budget, hits on repeats, and concurrent reads agree", "[slide]") {
  std::string dir = ds::test::temp_dir("slide_cache");
  RgbImage src = pattern_image(1024, 1024);
  PyramidWriteOptions o;
  o.tile_size = 128;
  write_pyramid(dir + "/c.tif", src, o);
  size_t tile_bytes = 128 * 128 * 3;
  auto slide = Slide::open(dir + "/c.tif", tile_bytes * 10);
  slide->set_partial_decode(
      ds::Slide::PartialDecode::kNever);                   // whole tiles only, so every tile goes through the cache
  RgbImage a = slide->read_region(100, 100, 0, 300, 300);  // 4x4 = 16 tiles, more than the budget
  CHECK(slide->cache().bytes() <= tile_bytes * 10);
  uint64_t hits = slide->cache().hits();
  slide->read_region(390, 390, 0, 50, 50);  // inside the last tile decoded
  CHECK(slide->cache().hits() > hits);
  RgbImage b = slide->read_region(100, 100, 0, 300, 300, 1);  // serial decode gives the same pixels
  CHECK(a.pixels == b.pixels);

  auto reference = Slide::open(dir + "/c.tif");
  std::vector<RgbImage> want;
  for (int i = 0; i < 24; ++i) want.push_back(reference->read_region(i * 37, i * 29, 0, 224, 224));
  std::vector<int> bad(4, 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int r = 0; r < 3; ++r)
        for (int i = 0; i < 24; ++i)
          if (slide->read_region(i * 37, i * 29, 0, 224, 224, (t % 2) + 1).pixels != want[(size_t)i].pixels)
            ++bad[(size_t)t];
    });
  for (auto& t : ts) t.join();
  CHECK(bad == std::vector<int>(4, 0));
  std::filesystem::remove_all(dir);
}

TEST_CASE("plain PNG and JPEG images open as one-level slides", "[slide]") {
  std::string dir = ds::test::temp_dir("slide_plain");
  RgbImage src = pattern_image(700, 530);
  save_png(dir + "/p.png", src);
  auto slide = Slide::open(dir + "/p.png");
  CHECK(slide->vendor() == "image");
  CHECK(slide->level_count() == 1);
  CHECK(slide->read_region(500, 400, 0, 300, 200).pixels == crop(src, 500, 400, 300, 200).pixels);
  CHECK(slide->associated_names().empty());
  save_jpeg(dir + "/p.jpg", src, 95);
  auto j = Slide::open(dir + "/p.jpg");
  CHECK(j->level(0).width == 700);
  CHECK(mean_abs_diff(j->read_region(0, 0, 0, 700, 530), src) < 4.0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("partial JPEG tile decoding gives the same pixels as whole-tile decoding", "[slide]") {
  std::string dir = ds::test::temp_dir("slide_partial");
  RgbImage src = pattern_image(1100, 900);
  for (bool rgb : {false, true}) {
    PyramidWriteOptions o;
    o.quality = 85;
    o.jpeg_rgb = rgb;
    o.tile_size = 256;
    std::string path = dir + (rgb ? "/rgb.tif" : "/ycc.tif");
    write_pyramid(path, src, o);
    auto whole = Slide::open(path);
    whole->set_partial_decode(ds::Slide::PartialDecode::kNever);
    auto part = Slide::open(path, 0);  // no cache: every tile a region touches is decoded again
    part->set_partial_decode(ds::Slide::PartialDecode::kAlways);
    std::mt19937 rng(11);
    for (int k = 0; k < 60; ++k) {
      int L = (int)(rng() % (unsigned)whole->level_count());
      const SlideLevel& sl = whole->level(L);
      int w = 1 + (int)(rng() % 400), h = 1 + (int)(rng() % 400);
      int64_t x = (int64_t)(rng() % (uint64_t)(sl.width + 20)) - 10;
      int64_t y = (int64_t)(rng() % (uint64_t)(sl.height + 20)) - 10;
      int64_t x0 = (int64_t)(x * sl.downsample), y0 = (int64_t)(y * sl.downsample);
      INFO("level " << L << " at " << x0 << "," << y0 << " " << w << "x" << h);
      REQUIRE(part->read_region(x0, y0, L, w, h).pixels == whole->read_region(x0, y0, L, w, h).pixels);
    }
    CHECK(part->cache().bytes() == 0);
    // Threads cutting tiles at once (per-thread decoder state) agree with the whole decode.
    std::atomic<int> wrong{0};
    auto reader = [&](uint32_t seed) {
      std::mt19937 r(seed);
      for (int k = 0; k < 40; ++k) {
        int64_t x0 = (int64_t)(r() % 1000), y0 = (int64_t)(r() % 800);
        int w = 1 + (int)(r() % 200), h = 1 + (int)(r() % 200);
        if (part->read_region(x0, y0, 0, w, h, 1).pixels != whole->read_region(x0, y0, 0, w, h, 1).pixels) ++wrong;
      }
    };
    std::thread t1(reader, 1u), t2(reader, 2u), t3(reader, 3u);
    t1.join();
    t2.join();
    t3.join();
    CHECK(wrong == 0);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("tile cache tracks reuse: raster windows keep whole tiles, random regions decode in part", "[slide]") {
  // The cache's own bookkeeping first: hits and repeated misses count as reuse, fresh misses not.
  TileCache c(10 * 64 * 64 * 3);
  CHECK(c.reuse_rate() == 1.0);
  bool again = true;
  for (uint64_t k = 0; k < 400; ++k) CHECK(c.get(k, &again) == nullptr);
  CHECK(c.reuse_rate() < 0.01);
  c.get(399, &again);  // missed once before: not yet "often"
  CHECK_FALSE(again);
  c.get(399, &again);
  CHECK(again);
  c.get(0, &again);
  c.get(0, &again);  // long forgotten: the ghost list holds about as many keys as the cache tiles
  CHECK_FALSE(again);
  auto t = std::make_shared<Tile>(64, 64);
  std::memset(t->rgb.get(), 7, t->bytes());
  c.put(5, t);
  for (int i = 0; i < 400; ++i) CHECK(c.get(5) == t);
  CHECK(c.reuse_rate() > 0.99);

  std::string dir = ds::test::temp_dir("slide_reuse");
  RgbImage src = pattern_image(2048, 4096);
  PyramidWriteOptions o;
  o.tile_size = 128;
  write_pyramid(dir + "/r.tif", src, o);
  auto whole = Slide::open(dir + "/r.tif");
  whole->set_partial_decode(Slide::PartialDecode::kNever);
  size_t budget = (size_t)128 * 128 * 3 * 40;  // 40 tiles: two rows of the 16-tile-wide level

  auto raster = Slide::open(dir + "/r.tif", budget);
  for (int y = 0; y + 100 <= 4096; y += 100)
    for (int x = 0; x + 100 <= 2048; x += 100)
      REQUIRE(raster->read_region(x, y, 0, 100, 100).pixels == whole->read_region(x, y, 0, 100, 100).pixels);
  CHECK(raster->cache().reuse_rate() > 0.5);
  // Every tile decoded once, whole, then read from the cache; only the first window, before the
  // reuse shows, may decode a tile in part (and so decode it twice).
  CHECK(raster->tiles_decoded_in_part() <= 2);
  CHECK(raster->cache().misses() <= 16 * 32 + raster->tiles_decoded_in_part());

  auto random = Slide::open(dir + "/r.tif", budget);
  std::mt19937 rng(3);
  uint64_t misses0 = 0, part0 = 0;
  for (int k = 0; k < 300; ++k) {
    if (k == 10) {  // the rate is a plain mean of the first lookups, so it is low at once
      CHECK(random->cache().reuse_rate() < 0.25);
      misses0 = random->cache().misses();
      part0 = random->tiles_decoded_in_part();
    }
    int64_t x = rng() % 1900, y = rng() % 3900;
    REQUIRE(random->read_region(x, y, 0, 100, 100).pixels == whole->read_region(x, y, 0, 100, 100).pixels);
  }
  CHECK(random->cache().reuse_rate() < 0.25);
  // With reuse low, the tiles a region only clips are decoded in part, not cached (all but
  // those missed three times in a short while).
  CHECK(random->tiles_decoded_in_part() - part0 > (random->cache().misses() - misses0) * 8 / 10);
  CHECK(whole->tiles_decoded_in_part() == 0);
  // A region that covers tiles whole takes them the same way: decoded straight into it, uncached.
  const uint64_t before = random->tiles_decoded_in_part(), cached = random->cache().bytes();
  REQUIRE(random->read_region(1024, 1536, 0, 256, 128).pixels == whole->read_region(1024, 1536, 0, 256, 128).pixels);
  CHECK(random->tiles_decoded_in_part() >= before + 1);
  CHECK(random->cache().bytes() <= cached);
  CHECK(random->partial_decode_pays(0));  // JPEG tiles
  std::filesystem::remove_all(dir);
}

TEST_CASE("tile cache decodes a tile once when threads ask for it together", "[slide]") {
  TileCache c(size_t(1) << 20);
  std::atomic<int> calls{0};
  std::atomic<bool> started{false}, release{false};
  auto slow = [&] {
    ++calls;
    started = true;
    while (!release) std::this_thread::yield();
    auto t = std::make_shared<Tile>(16, 16);
    std::memset(t->rgb.get(), 9, t->bytes());
    return TilePtr(t);
  };
  std::vector<TilePtr> got(4);
  std::vector<std::thread> ts;
  ts.emplace_back([&] { got[0] = c.load(42, slow); });
  while (!started) std::this_thread::yield();
  CHECK(c.load(42, slow, /*wait=*/false) == nullptr);  // busy elsewhere: no second decode
  for (int t = 1; t < 4; ++t) ts.emplace_back([&, t] { got[(size_t)t] = c.load(42, slow); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  release = true;
  for (auto& t : ts) t.join();
  CHECK(calls == 1);
  for (auto& g : got) CHECK(g == got[0]);
  CHECK(c.load(42, slow) == got[0]);  // cached now
  CHECK(calls == 1);

  // A failed decode reaches every waiter and is not cached.
  auto bad = [&]() -> TilePtr {
    ++calls;
    throw InputError("tile.tif", "corrupt tile");
  };
  CHECK_THROWS_AS(c.load(7, bad), InputError);
  CHECK_THROWS_AS(c.load(7, bad), InputError);
  CHECK(calls == 3);
}
