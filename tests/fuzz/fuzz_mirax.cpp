// fuzz-links: ds_slide_reader
// libFuzzer harness for the MIRAX reader (slide/reader/mirax_layout.h): a MIRAX slide is a folder
// of files, so the input is cut into them: three little-endian uint32 lengths, then Slidedat.ini,
// Index.dat and Data0000.dat of those lengths, and the rest Data0001.dat. They are written to a
// folder of this process's (S/ beside an empty S.mrxs) and the slide is opened and read
// (fuzz_slide_reads.h). Bad input must end in ds::InputError; anything else is a finding. Seeds:
// tests/fuzz/seeds/mirax/ (tests/fuzz/make_seeds.py: scripts/gen_mirax.py slides, packed so).
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "base/error.h"
#include "fuzz_input.h"
#include "fuzz_slide_reads.h"

namespace {

void write_file(const std::string& path, const uint8_t* p, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  if (n) std::fwrite(p, 1, n, f);
  std::fclose(f);
}

const std::string& folder() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ds_fuzz_mirax_XXXXXX";
    const char* d = mkdtemp(tmpl);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ds::fuzz::Bytes in{data, size};
  uint32_t len[3];
  for (uint32_t& l : len) l = (uint32_t)in.u16() | (uint32_t)in.u16() << 16;
  const std::string slide = folder() + "/S.mrxs", dir = folder() + "/S";
  static const bool made = [&] {
    write_file(slide, nullptr, 0);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    return !ec;
  }();
  if (!made) return 0;
  const char* names[] = {"Slidedat.ini", "Index.dat", "Data0000.dat"};
  for (int i = 0; i < 3; ++i) {
    const size_t n = std::min<size_t>(len[i], in.n);
    write_file(dir + "/" + names[i], in.p, n);
    in.p += n;
    in.n -= n;
  }
  write_file(dir + "/Data0001.dat", in.p, in.n);
  try {
    ds::fuzz::exercise_slide(slide);
  } catch (const ds::InputError&) {
  }
  return 0;
}
