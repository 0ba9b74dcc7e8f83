// Vendor formats of the slide reader on the committed fixtures (tests/fixtures/slides/, written
// by scripts/gen_*.py with third-party writers; tests/test_slide_formats.py compares them with
// OpenSlide): partial tile decodes equal whole ones, threads agree, and damaged files fail with
// an InputError that names the file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "base/error.h"
#include "slide/reader/base64.h"
#include "slide/reader/slide.h"
#include "slide/reader/subpixel_paint.h"
#include "slide/reader/xml.h"
#include "tests/test_slide_util.h"

using ds::Slide;
using ds::SlideLevel;

namespace {

std::string fixture(const std::string& name) { return std::string(DS_FIXTURES) + "/slides/" + name; }

bool all_white(const ds::RgbImage& img) {
  return std::all_of(img.pixels.begin(), img.pixels.end(), [](uint8_t v) { return v == 255; });
}

// Random regions of every level (crossing tile and level edges): `part` (no cache, every tile a
// region clips decoded only in the part it needs) must equal `whole` (whole tiles, cached).
void check_partial_equals_whole(const std::string& path) {
  auto whole = Slide::open(path);
  whole->set_partial_decode(Slide::PartialDecode::kNever);
  auto part = Slide::open(path, 0);
  part->set_partial_decode(Slide::PartialDecode::kAlways);
  std::mt19937 rng(5);
  for (int k = 0; k < 80; ++k) {
    int L = (int)(rng() % (unsigned)whole->level_count());
    const SlideLevel& sl = whole->level(L);
    int w = 1 + (int)(rng() % 300), h = 1 + (int)(rng() % 300);
    int64_t x = (int64_t)(rng() % (uint64_t)(sl.width + 20)) - 10;
    int64_t y = (int64_t)(rng() % (uint64_t)(sl.height + 20)) - 10;
    int64_t x0 = (int64_t)(x * sl.downsample), y0 = (int64_t)(y * sl.downsample);
    INFO(path << " level " << L << " at " << x0 << "," << y0 << " " << w << "x" << h);
    REQUIRE(part->read_region(x0, y0, L, w, h, 1).pixels == whole->read_region(x0, y0, L, w, h, 1).pixels);
  }
  CHECK(part->tiles_decoded_in_part() > 0);
  std::atomic<int> wrong{0};
  auto reader = [&](uint32_t seed) {
    std::mt19937 r(seed);
    const SlideLevel& l0 = whole->level(0);
    for (int k = 0; k < 30; ++k) {
      int64_t x0 = (int64_t)(r() % (uint64_t)l0.width), y0 = (int64_t)(r() % (uint64_t)l0.height);
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

// The message of the InputError `f` throws; fails the test when it throws nothing.
template <class F>
std::string input_error(F f) {
  try {
    f();
  } catch (const ds::InputError& e) {
    return e.what();
  }
  FAIL("no InputError");
  return "";
}

}  // namespace

TEST_CASE("Aperio JPEG 2000: partial tile decodes equal whole ones", "[slide][formats]") {
  for (const char* name : {"aperio_jp2k_33003.svs", "aperio_jp2k_33005.svs"}) {
    auto s = Slide::open(fixture(name));
    CHECK(s->vendor() == "aperio");
    CHECK(s->level_count() == 2);
    CHECK(s->associated_names().size() == 3);
    check_partial_equals_whole(fixture(name));
    // While reuse is low (random regions), PartialDecode::kAuto still decodes JPEG 2000 tiles
    // whole and caches them: in part they cost nearly as much.
    for (int L = 0; L < s->level_count(); ++L) CHECK_FALSE(s->partial_decode_pays(L));
  }
}

TEST_CASE("Aperio JPEG 2000: a corrupt codestream is an InputError naming the file", "[slide][formats]") {
  std::string dir = ds::test::temp_dir("slide_j2k_bad");
  std::string good = ds::test::read_bytes(fixture("aperio_jp2k_33003.svs"));
  // The first tile's codestream starts with SOC + SIZ; its first occurrence in the file is tile 0.
  size_t soc = good.find(std::string("\xFF\x4F\xFF\x51", 4));
  REQUIRE(soc != std::string::npos);
  struct Case {
    const char* name;
    std::string bytes;
    const char* reason;
  };
  // (Garbled code-block data decodes to garbage without complaint, as in any JPEG 2000 decoder;
  // what can be detected is a broken header or a tile part that claims more than there is.)
  std::string wrong_size = good, no_soc = good, cod = good, truncated = good;
  wrong_size[soc + 4 + 4 + 2] = 0x7F;  // Xsiz: a far larger image than the tile
  no_soc[soc + 1] = 0x00;
  size_t after_siz = soc + 4 + (((uint8_t)good[soc + 4] << 8) | (uint8_t)good[soc + 5]);
  REQUIRE(good.substr(after_siz, 2) == std::string("\xFF\x52", 2));  // COD
  cod[after_siz + 9] = 40;                                           // 40 decomposition levels
  size_t sot = good.find(std::string("\xFF\x90", 2), soc);
  REQUIRE(sot != std::string::npos);
  truncated[sot + 6] = 0x10;  // Psot: a tile part of 256 MB in a tile of a few KB
  for (const Case& c : {Case{"size.svs", wrong_size, "where the directory declares 240x240 tiles"},
                        Case{"nosoc.svs", no_soc, "no SOC marker"}, Case{"cod.svs", cod, "corrupt JPEG 2000 data"},
                        Case{"truncated.svs", truncated, "corrupt JPEG 2000 data"}}) {
    std::string path = dir + "/" + c.name;
    ds::test::write_bytes(path, c.bytes);
    auto s = Slide::open(path);
    std::string msg = input_error([&] { s->read_region(0, 0, 0, 100, 100); });
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(c.reason) != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("NDPI: threads reading restart-interval tiles agree, with recorded and scanned restart markers",
          "[slide][formats]") {
  std::string dir = ds::test::temp_dir("slide_ndpi");
  std::string recorded = fixture("hamamatsu.ndpi");
  // The same file without tag 65426: the tile index comes from scanning for RSTn markers, lazily
  // and under a lock, from several threads at once.
  std::string bytes = ds::test::read_bytes(recorded);
  size_t tags = 0;
  for (size_t at = bytes.find(std::string("\x92\xFF\x04\x00", 4)); at != std::string::npos;
       at = bytes.find(std::string("\x92\xFF\x04\x00", 4), at + 4)) {
    bytes[at] = (char)0xDC;  // 65426 -> 65500, a tag nobody reads
    ++tags;
  }
  REQUIRE(tags == 2);  // the two levels with restart markers
  std::string scanned = dir + "/scanned.ndpi";
  ds::test::write_bytes(scanned, bytes);
  for (const std::string& path : {recorded, scanned}) {
    auto whole = Slide::open(path);
    CHECK(whole->vendor() == "hamamatsu");
    CHECK(whole->level_count() == 8);
    // OpenSlide's tile is one restart interval (512 x 8); the reader decodes 8 of a column at once.
    CHECK(whole->properties().at("openslide.level[0].tile-height") == "8");
    CHECK(whole->level(0).tile_height == 64);
    auto threaded = Slide::open(path, 1u << 20);  // a small cache: tiles come and go
    std::atomic<int> wrong{0};
    auto reader = [&](uint32_t seed) {
      std::mt19937 r(seed);
      for (int k = 0; k < 40; ++k) {
        int L = (int)(r() % 3);
        const SlideLevel& sl = whole->level(L);
        int64_t x = (int64_t)(r() % (uint64_t)sl.width), y = (int64_t)(r() % (uint64_t)sl.height);
        int w = 1 + (int)(r() % 300), h = 1 + (int)(r() % 300);
        int64_t x0 = (int64_t)(x * sl.downsample), y0 = (int64_t)(y * sl.downsample);
        auto a = threaded->read_region(x0, y0, L, w, h, 2);
        auto b = Slide::open(path, 0)->read_region(x0, y0, L, w, h, 1);
        if (a.pixels != b.pixels) ++wrong;
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

TEST_CASE("NDPI: partial tile decodes (the rows and columns a region needs) equal whole ones", "[slide][formats]") {
  check_partial_equals_whole(fixture("hamamatsu.ndpi"));
}

TEST_CASE("NDPI: a broken restart marker is an InputError naming the file", "[slide][formats]") {
  std::string dir = ds::test::temp_dir("slide_ndpi_bad");
  std::string bytes = ds::test::read_bytes(fixture("hamamatsu.ndpi"));
  // The 3rd restart marker of level 0 (the first JPEG in the file): RST2 made a plain byte.
  size_t sos = bytes.find(std::string("\xFF\xDA", 2));
  REQUIRE(sos != std::string::npos);
  size_t at = sos;
  for (int k = 0; k < 3; ++k) at = bytes.find(std::string("\xFF", 1) + (char)(0xD0 + k), at + 2);
  REQUIRE(at != std::string::npos);
  bytes[at + 1] = 0x00;
  std::string path = dir + "/broken.ndpi";
  ds::test::write_bytes(path, bytes);
  auto s = Slide::open(path);
  std::string msg = input_error([&] { s->read_region(0, 0, 0, 1024, 64); });
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("restart marker") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("Philips TIFF: levels clipped by the XML's pixel spacing, missing tiles white, partial decodes",
          "[slide][formats]") {
  // scripts/gen_philips.py 600x420, 3 levels of 128-px tiles; tiles 0 and 6 of levels 0 and 1 absent.
  auto s = Slide::open(fixture("philips.tiff"));
  CHECK(s->vendor() == "philips");
  REQUIRE(s->level_count() == 3);
  CHECK(s->level(1).width == 300);  // the directory is padded to 384 x 256
  CHECK(s->level(1).height == 210);
  CHECK(s->level(2).downsample == 4.0);
  CHECK(s->mpp_x() == 0.25);
  CHECK(s->properties().count("tiff.ImageDescription") == 0);
  CHECK(s->properties().at("philips.PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE[2].DICOM_PIXEL_SPACING") ==
        "\"0.001\" \"0.001\"");
  CHECK(s->associated_names() == std::vector<std::string>{"label", "macro"});
  CHECK(s->read_associated("label").width == 120);
  auto corner = s->read_region(0, 0, 0, 128, 128);
  CHECK(std::all_of(corner.pixels.begin(), corner.pixels.end(), [](uint8_t v) { return v == 255; }));
  check_partial_equals_whole(fixture("philips.tiff"));
}

TEST_CASE("Philips TIFF: broken XML and a pixel spacing short are InputErrors naming the file", "[slide][formats]") {
  std::string dir = ds::test::temp_dir("slide_philips_bad");
  std::string good = ds::test::read_bytes(fixture("philips.tiff"));
  struct Case {
    const char* name;
    std::string from, to;
    const char* reason;
  };
  for (const Case& c :
       {Case{"unclosed.tiff", "</Array>", "</Arrax>", "XML is broken"},
        Case{"entity.tiff", "&amp;", "&bad;", "unknown entity"},
        Case{"spacing.tiff", "&quot;0.001&quot;", "&quot;x.001&quot;", "cannot parse the pixel spacing"},
        Case{"root.tiff", "ObjectType=\"DPUfsImport\"", "ObjectTypo=\"DPUfsImport\"", "not a DataObject"}}) {
    std::string bytes = good;
    size_t at = bytes.find(c.from);
    REQUIRE(at != std::string::npos);
    bytes.replace(at, c.from.size(), c.to);
    std::string path = dir + "/" + c.name;
    ds::test::write_bytes(path, bytes);
    std::string msg = input_error([&] { Slide::open(path); });
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(c.reason) != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("XML reader: entities, CDATA, line ends, and bounded nesting", "[slide][formats]") {
  auto root = ds::parse_xml(
      "<?xml version=\"1.0\"?>\r\n<!DOCTYPE x [<!ENTITY e \"v\">]><!-- c --><r a='1&amp;2' b=\"x\r\ny\">"
      "t&lt;&#65;&#x42;<![CDATA[<raw>]]>\r\n<c/><c n=\"2\">in</c></r>");
  REQUIRE(root->name == "r");
  CHECK(*root->attribute("a") == "1&2");
  CHECK(*root->attribute("b") == "x y");
  CHECK(root->text == "t<AB<raw>\n");
  CHECK(root->children_named("c").size() == 2);
  CHECK(root->find("c")->children.empty());
  CHECK(*root->children_named("c")[1]->attribute("n") == "2");
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "<a>";
  CHECK_THROWS_AS(ds::parse_xml(deep), std::runtime_error);
  CHECK_THROWS_AS(ds::parse_xml("<a><b></a>"), std::runtime_error);
  std::string wide = "<a>";
  for (int i = 0; i < (1 << 21); ++i) wide += "<b/>";
  CHECK_THROWS_WITH(ds::parse_xml(wide + "</a>"), Catch::Contains("elements and attributes"));
  CHECK_THROWS_AS(ds::parse_xml("<a x=1/>"), std::runtime_error);
  CHECK_THROWS_AS(ds::parse_xml("<a/><b/>"), std::runtime_error);
  CHECK(ds::decode_base64("TWFu\nTWE=") == std::vector<uint8_t>{'M', 'a', 'n', 'M', 'a'});
}

TEST_CASE("Ventana BIF: levels sized to the scanned areas, white outside them, no tile-size properties",
          "[slide][formats]") {
  // scripts/gen_ventana.py: 4 x 3 tiles of 128 px, areas of 2 x 2 tiles at (0, 0) and (2, 1).
  auto s = Slide::open(fixture("ventana.bif"));
  CHECK(s->vendor() == "ventana");
  REQUIRE(s->level_count() == 2);
  CHECK(s->level(0).width == 512);
  CHECK(s->level(1).height == 192);
  CHECK(s->objective_power() == 40.0);
  CHECK(s->mpp_x() == 0.2325);
  CHECK(s->properties().at("openslide.region[1].y") == "128");
  CHECK(s->properties().count("openslide.level[0].tile-width") == 0);
  CHECK(all_white(s->read_region(256, 0, 0, 256, 128)));  // above the second area
  CHECK(all_white(s->read_region(0, 256, 0, 256, 128)));  // below the first
  CHECK(!all_white(s->read_region(0, 0, 0, 256, 256)));
  CHECK(all_white(s->read_region(256, 0, 1, 128, 64)));  // the first gap at level 1 (level-0 coordinates)
  check_partial_equals_whole(fixture("ventana.bif"));    // partial decodes masked like whole ones
  // A region across both areas and a gap, from several threads with a small cache.
  auto ref = Slide::open(fixture("ventana.bif"), 0)->read_region(100, 50, 0, 400, 300, 1);
  auto shared = Slide::open(fixture("ventana.bif"), 1u << 18);
  std::atomic<int> wrong{0};
  auto reader = [&] {
    for (int k = 0; k < 10; ++k)
      if (shared->read_region(100, 50, 0, 400, 300, 2).pixels != ref.pixels) ++wrong;
  };
  std::thread t1(reader), t2(reader);
  t1.join();
  t2.join();
  CHECK(wrong == 0);
}

TEST_CASE("Sub-pixel painting: pixman's bilinear taps and weights, SATURATE keeps what was painted first",
          "[slide][formats]") {
  // A 4 x 1 tile of greys 0, 40, 80, 120 (opaque), painted on a 6 x 1 canvas.
  const uint8_t grey[12] = {0, 0, 0, 40, 40, 40, 80, 80, 80, 120, 120, 120};
  ds::SaturateCanvas c;
  auto paint = [&](double x) {
    auto at = ds::place_at(x, 0);
    ds::SampleRect r = ds::sampled_rect(c, at, 4, 1);
    REQUIRE(!r.empty());
    ds::paint_saturate(c, at, 4, 1, r, grey + r.x0 * 3, 12);
  };
  auto rgba = [&](int i) { return std::vector<int>(c.rgba.begin() + i * 4, c.rgba.begin() + i * 4 + 4); };
  c.reset(6, 1);
  paint(1.0);  // whole pixels: a copy
  CHECK(rgba(0) == std::vector<int>{0, 0, 0, 0});
  CHECK(rgba(1) == std::vector<int>{0, 0, 0, 255});
  CHECK(rgba(4) == std::vector<int>{120, 120, 120, 255});
  CHECK(rgba(5) == std::vector<int>{0, 0, 0, 0});
  c.reset(6, 1);
  paint(1.5);  // half a pixel: weights 128/256 each, sums truncated, the edges half transparent
  CHECK(rgba(1) == std::vector<int>{0, 0, 0, 127});  // (0 + 0) / 2, alpha 255 * 128 / 256
  CHECK(rgba(2) == std::vector<int>{20, 20, 20, 255});
  CHECK(rgba(4) == std::vector<int>{100, 100, 100, 255});
  CHECK(rgba(5) == std::vector<int>{60, 60, 60, 127});
  c.reset(6, 1);
  paint(1.25);                                          // i - x = 0.75 - 1: the right pixel weighs 96/128
  CHECK(rgba(1) == std::vector<int>{0, 0, 0, 191});     // 255 * 192 * 256 >> 16
  CHECK(rgba(2) == std::vector<int>{30, 30, 30, 255});  // (0 * 64 + 40 * 192) * 256 >> 16
  CHECK(rgba(5) == std::vector<int>{30, 30, 30, 63});
  // SATURATE: a later tile fills only what is left transparent, scaled down to the room left.
  paint(1.5);
  CHECK(rgba(1) == std::vector<int>{0, 0, 0, 255});     // 127 scaled to the 64 left
  CHECK(rgba(2) == std::vector<int>{30, 30, 30, 255});  // opaque already: kept
  CHECK(rgba(5) == std::vector<int>{90, 90, 90, 190});  // room enough: added
  uint8_t out[18];
  ds::flatten_over_white(c, out, 18);
  CHECK(out[5 * 3] == 90 + 65);  // premultiplied grey + the white left showing
  CHECK(out[0] == 255);
}

TEST_CASE("Ventana BIF with overlapping tiles: OpenSlide's tilemap, levels sized by it, partial draws equal whole",
          "[slide][formats]") {
  // scripts/gen_ventana.py --cols 5 --rows 3 --tile 128 --levels 3 --overlap 11 7 (tests/test_slide_formats.py
  // compares it with OpenSlide).
  auto s = Slide::open(fixture("ventana_overlap.bif"));
  CHECK(s->vendor() == "ventana");
  REQUIRE(s->level_count() == 3);
  CHECK(s->level(0).width == 601);
  CHECK(s->level(0).height == 372);
  CHECK(s->level(2).width == 151);
  CHECK(s->properties().at("openslide.region[1].x") == "234");
  CHECK(s->properties().at("openslide.region[0].height") == "370");
  CHECK(all_white(s->read_region(300, 0, 0, 250, 100)));  // above the second area
  CHECK(!all_white(s->read_region(0, 0, 0, 200, 200)));
  check_partial_equals_whole(fixture("ventana_overlap.bif"));
}

TEST_CASE("Leica SCN: main images composited at their offsets on a white slide, the earlier on top",
          "[slide][formats]") {
  // scripts/gen_leica.py at 1000 nm/px: a 1000 x 600 px slide; main images of 500 x 300 at
  // (250, 150) and 200 x 200 at (60, 60); a macro of 80 x 48.
  auto s = Slide::open(fixture("leica.scn"));
  CHECK(s->vendor() == "leica");
  REQUIRE(s->level_count() == 3);
  CHECK(s->level(0).width == 1000);
  CHECK(s->level(2).height == 150);
  CHECK(s->mpp_x() == 1.0);
  CHECK(s->objective_power() == 20.0);
  CHECK(s->properties().at("leica.barcode") == "LS-1234");
  CHECK(s->properties().at("openslide.region[1].x") == "60");
  CHECK(s->properties().at("openslide.bounds-width") == "690");
  CHECK(s->properties().count("tiff.ImageDescription") == 0);
  CHECK(s->read_associated("macro").width == 80);
  CHECK(all_white(s->read_region(0, 0, 0, 60, 60)));
  CHECK(all_white(s->read_region(800, 500, 0, 200, 100)));
  check_partial_equals_whole(fixture("leica.scn"));  // each image's tiles decoded only in the part shown
  // Across the overlap (x 250..260, y 150..260; which image shows there is checked against
  // OpenSlide by tests/test_slide_formats.py), from several threads with a small cache.
  auto shared = Slide::open(fixture("leica.scn"), 1u << 18);
  auto ref = Slide::open(fixture("leica.scn"), 0)->read_region(40, 40, 0, 600, 400, 1);
  std::atomic<int> wrong{0};
  auto reader = [&] {
    for (int k = 0; k < 6; ++k)
      if (shared->read_region(40, 40, 0, 600, 400, 2).pixels != ref.pixels) ++wrong;
  };
  std::thread t1(reader), t2(reader);
  t1.join();
  t2.join();
  CHECK(wrong == 0);
}
