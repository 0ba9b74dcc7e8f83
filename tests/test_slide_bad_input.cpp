// Bad slides give one clear InputError, never a crash, hang or huge allocation: not a TIFF,
// empty, truncated, corrupted tiles, absurd sizes in tags, 16-bit samples, planar-separate RGB,
// JPEG 2000. Missing (zero-length) tiles read as white.
#include <catch2/catch.hpp>

#include <algorithm>

#include "base/error.h"
#include "slide/reader/slide.h"
#include "slide/reader/tiff_dir.h"
#include "slide/synth/pyramid_writer.h"
#include "test_slide_util.h"

using namespace ds;
using namespace ds::test;

namespace {

std::string error_of(const std::string& path) {
  try {
    auto s = Slide::open(path);
    for (int L = 0; L < s->level_count(); ++L)
      s->read_region(0, 0, L, (int)std::min<int64_t>(s->level(L).width, 4096),
                     (int)std::min<int64_t>(s->level(L).height, 4096));
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& msg, const std::string& word) { return msg.find(word) != std::string::npos; }

}  // namespace

TEST_CASE("not a slide, empty, missing", "[slide][bad]") {
  std::string dir = temp_dir("slide_bad");
  write_bytes(dir + "/text.tif", "hello, this is not a TIFF file at all\n");
  write_bytes(dir + "/empty.tif", "");
  CHECK(has(error_of(dir + "/text.tif"), "not a slide"));
  CHECK(has(error_of(dir + "/empty.tif"), "empty file"));
  CHECK(has(error_of(dir + "/missing.tif"), "no such file"));
  write_bytes(dir + "/hdr.tif", std::string("II*\0\xff\xff\xff\x7f", 8));
  CHECK(has(error_of(dir + "/hdr.tif"), dir + "/hdr.tif"));
  CHECK(
      has(error_of(dir + "/hdr.tif"), "its first directory is at byte 2147483647, past the end of the file (8 bytes)"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("truncated files and tiles past the end are errors", "[slide][bad]") {
  std::string dir = temp_dir("slide_trunc");
  PyramidWriteOptions o;
  o.tile_size = 128;
  write_pyramid(dir + "/full.tif", pattern_image(600, 500), o);
  std::string bytes = read_bytes(dir + "/full.tif");
  for (double frac : {0.1, 0.5, 0.9, 0.99}) {
    std::string p = dir + "/cut.tif";
    write_bytes(p, bytes.substr(0, (size_t)(bytes.size() * frac)));
    INFO(frac);
    CHECK(!error_of(p).empty());
  }
  // Cut exactly where the second directory starts (the writer puts each level's data before its
  // directory): the message says the file is cut short, not that it is no TIFF.
  uint64_t second = 0;
  {
    TiffHandle h(dir + "/full.tif");
    REQUIRE(TIFFReadDirectory(h.get()));
    second = TIFFCurrentDirOffset(h.get());
  }
  write_bytes(dir + "/cut.tif", bytes.substr(0, (size_t)second));
  CHECK(error_of(dir + "/cut.tif") == dir + "/cut.tif: directory 1 is at byte " + std::to_string(second) +
                                          ", past the end of the file (" + std::to_string(second) +
                                          " bytes): the file is cut short");
  // Well-formed directories whose tile offsets point past the end of the file.
  std::string data(48, '\x80');
  auto es = stripped_entries(4, 4, 3, 8, 48);
  set_entry(es, {273, 4, {1000000}});
  write_bytes(dir + "/past.tif", make_tiff(es, data));
  CHECK(has(error_of(dir + "/past.tif"), "past the end"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("corrupted JPEG tile bytes are reported with the tile", "[slide][bad]") {
  std::string dir = temp_dir("slide_corrupt");
  PyramidWriteOptions o;
  o.tile_size = 128;
  write_pyramid(dir + "/ok.tif", pattern_image(256, 256), o);
  std::string bytes = read_bytes(dir + "/ok.tif");
  TiffHandle h(dir + "/ok.tif");
  TiffDir d = read_tiff_dirs(h)[0];
  size_t off = d.offsets[1], len = d.byte_counts[1];

  std::string bad_start = bytes;
  std::fill(bad_start.begin() + (long)off, bad_start.begin() + (long)off + 4, '\0');
  write_bytes(dir + "/start.tif", bad_start);
  std::string e1 = error_of(dir + "/start.tif");
  CHECK(has(e1, "corrupt JPEG"));
  CHECK(has(e1, "tile (1, 0)"));

  std::string early_end = bytes;  // an EOI marker halfway through the entropy-coded data
  early_end[off + len / 2] = '\xff';
  early_end[off + len / 2 + 1] = '\xd9';
  write_bytes(dir + "/eoi.tif", early_end);
  CHECK(has(error_of(dir + "/eoi.tif"), "corrupt JPEG"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("absurd sizes in tags are rejected before any allocation", "[slide][bad]") {
  std::string dir = temp_dir("slide_absurd");
  std::string data(48, '\x80');
  auto huge = stripped_entries(4, 4, 3, 8, 48);
  set_entry(huge, {256, 4, {4000000000u}});
  set_entry(huge, {257, 4, {4000000000u}});
  write_bytes(dir + "/huge.tif", make_tiff(huge, data));
  CHECK(!error_of(dir + "/huge.tif").empty());

  auto tiles = stripped_entries(64, 64, 3, 8, 48);
  tiles.erase(
      std::remove_if(tiles.begin(), tiles.end(), [](auto& e) { return e.tag == 273 || e.tag == 278 || e.tag == 279; }),
      tiles.end());
  tiles.push_back({322, 4, {1u << 20}});
  tiles.push_back({323, 4, {1u << 20}});
  tiles.push_back({324, 4, {8}});
  tiles.push_back({325, 4, {48}});
  write_bytes(dir + "/tile.tif", make_tiff(tiles, data));
  CHECK(!error_of(dir + "/tile.tif").empty());

  auto strip = stripped_entries(16000, 16000, 3, 8, 48);  // one 768 MB LZW strip
  set_entry(strip, {259, 3, {5}});
  write_bytes(dir + "/strip.tif", make_tiff(strip, data));
  CHECK(has(error_of(dir + "/strip.tif"), "too large"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("unsupported sample layouts and codecs name the problem and the fix", "[slide][bad]") {
  std::string dir = temp_dir("slide_unsupported");
  std::string data(4 * 4 * 6, '\x10');
  write_bytes(dir + "/16bit.tif", make_tiff(stripped_entries(4, 4, 3, 16, 96), data));
  CHECK(has(error_of(dir + "/16bit.tif"), "16-bit"));

  auto planar = stripped_entries(4, 4, 3, 8, 48);
  planar.push_back({284, 3, {2}});
  set_entry(planar, {273, 4, {8, 24, 40}});
  set_entry(planar, {279, 4, {16, 16, 16}});
  write_bytes(dir + "/planar.tif", make_tiff(planar, data));
  CHECK(has(error_of(dir + "/planar.tif"), "planar-separate"));

  // Generic JPEG 2000 in TIFF (34712) is refused with the conversion; Aperio's 33003 is read, and
  // a chunk that is not a J2K codestream is an error when it is decoded.
  auto j2k = stripped_entries(4, 4, 3, 8, 48);
  set_entry(j2k, {259, 3, {34712}});
  write_bytes(dir + "/j2k.tif", make_tiff(j2k, data));
  std::string e = error_of(dir + "/j2k.tif");
  CHECK(has(e, "JPEG 2000"));
  CHECK(has(e, "vips tiffsave"));
  set_entry(j2k, {259, 3, {33003}});
  write_bytes(dir + "/j2k.svs", make_tiff(j2k, data));
  e = error_of(dir + "/j2k.svs");
  CHECK(has(e, dir + "/j2k.svs"));
  CHECK(has(e, "not a JPEG 2000 codestream"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("grey images expand to RGB; zero-length tiles read as white", "[slide]") {
  std::string dir = temp_dir("slide_grey");
  std::string grey;
  for (int i = 0; i < 16; ++i) grey += (char)(i * 16);
  write_bytes(dir + "/grey.tif", make_tiff(stripped_entries(4, 4, 1, 8, 16, 1), grey));
  auto s = Slide::open(dir + "/grey.tif");
  RgbImage g = s->read_region(0, 0, 0, 4, 4);
  for (int i = 0; i < 16; ++i)
    for (int c = 0; c < 3; ++c) CHECK(g.pixels[(size_t)i * 3 + c] == i * 16);

  std::string rgba(4 * 4 * 4, '\x20');
  auto es = stripped_entries(4, 4, 4, 8, 64);
  es.push_back({338, 3, {2}});
  write_bytes(dir + "/rgba.tif", make_tiff(es, rgba));
  RgbImage a = Slide::open(dir + "/rgba.tif")->read_region(0, 0, 0, 4, 4);
  CHECK(std::all_of(a.pixels.begin(), a.pixels.end(), [](uint8_t v) { return v == 0x20; }));

  auto tiled = stripped_entries(32, 16, 3, 8, 0);
  tiled.erase(
      std::remove_if(tiled.begin(), tiled.end(), [](auto& e) { return e.tag == 273 || e.tag == 278 || e.tag == 279; }),
      tiled.end());
  tiled.push_back({322, 4, {16}});
  tiled.push_back({323, 4, {16}});
  tiled.push_back({324, 4, {8, 8}});
  tiled.push_back({325, 4, {768, 0}});  // tile 0 present (grey 0x40), tile 1 missing
  write_bytes(dir + "/missing.tif", make_tiff(tiled, std::string(768, '\x40')));
  RgbImage m = Slide::open(dir + "/missing.tif")->read_region(0, 0, 0, 32, 16);
  CHECK(m.row(5)[3 * 3] == 0x40);
  CHECK(m.row(5)[20 * 3] == 255);
  std::filesystem::remove_all(dir);
}

TEST_CASE("fuzz findings: corrupt JPEG headers are refused before allocating or parsing further", "[slide][bad]") {
  // Found by tests/fuzz (libFuzzer out-of-memory): a lenient size scan saw ~1.5 Gpx.
  std::string e = error_of(std::string(DS_FIXTURES) + "/slides/fuzz_huge_jpeg_header.jpg");
  CHECK(has(e, "image header"));
  // Found by tests/fuzz (UBSan): stb's JPEG header parser indexed out of bounds on this one.
  CHECK(has(error_of(std::string(DS_FIXTURES) + "/slides/fuzz_stb_jpeg_header.jpg"), "image header"));
}

TEST_CASE("fuzz findings: a PNG chunk longer than the file is refused before stb allocates it", "[slide][bad]") {
  // Found by tests/fuzz (libFuzzer out-of-memory): stb_image grew its IDAT buffer to a 2.5 GB
  // chunk length read from the file.
  std::string dir = temp_dir("slide_bad_png");
  std::string png("\x89PNG\r\n\x1a\n", 8);
  png += std::string("\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0", 21) + "CRC!";
  png += std::string("\x7f\xff\xff\xf0IDAT", 8) + "some bytes, nowhere near 2 GB";
  write_bytes(dir + "/long_chunk.png", png);
  std::string e = error_of(dir + "/long_chunk.png");
  CHECK(has(e, "long_chunk.png"));
  CHECK(has(e, "runs past the end of the file"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("DICOM: truncated, corrupted and empty inputs are one InputError", "[slide][bad][dicom]") {
  // Instances written by pydicom (tests/fuzz/make_seeds.py, scripts/gen_dicom.py). Each damaged
  // copy sits alone in its folder: opening an instance reads the rest of its series from there.
  std::string dir = temp_dir("slide_dicom");
  const std::string seeds = std::string(DS_SOURCE_DIR) + "/tests/fuzz/seeds/slide/";
  for (const char* name : {"dicom_jpeg.dcm", "dicom_sparse.dcm", "dicom_jp2k.dcm", "dicom_native.dcm"}) {
    const std::string bytes = read_bytes(seeds + name);
    INFO(name);
    std::string p = dir + "/x.dcm";
    write_bytes(p, bytes);
    CHECK(error_of(p).empty());
    for (double frac : {0.05, 0.2, 0.5, 0.9, 0.999}) {
      write_bytes(p, bytes.substr(0, (size_t)(bytes.size() * frac)));
      INFO(frac);
      const std::string e = error_of(p);
      CHECK(has(e, p));
    }
    // Bytes overwritten across the header and the frames: opens and reads, or one InputError.
    for (size_t at = 132; at < bytes.size(); at += 61) {
      std::string bad = bytes;
      bad[at] = (char)(bad[at] ^ 0x5a);
      write_bytes(p, bad);
      CHECK_NOTHROW(error_of(p));
    }
  }
  std::filesystem::create_directories(dir + "/none");
  write_bytes(dir + "/none/a.txt", "not DICOM");
  CHECK(has(error_of(dir + "/none"), "no DICOM files"));
  std::filesystem::remove_all(dir);
}
