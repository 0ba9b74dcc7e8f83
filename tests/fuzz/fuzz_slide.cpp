// fuzz-links: ds_slide_reader
// libFuzzer harness for the slide reader: the input bytes become a file (memfd), which is opened
// as a slide and read (fuzz_slide_reads.h). Bad input must end in ds::InputError; anything else (crash,
// sanitizer report, other exception, hang, huge allocation) is a finding. Seeds:
// tests/fuzz/seeds/slide/ (tests/fuzz/make_seeds.py). Built and run by tests/fuzz/run_fuzz.sh.
#include <cstdint>
#include <string>

#include "base/error.h"
#include "fuzz_input.h"
#include "fuzz_slide_reads.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ds::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    ds::fuzz::exercise_slide(file.path());
  } catch (const ds::InputError&) {
  }
  return 0;
}
