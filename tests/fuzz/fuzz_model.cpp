// fuzz-links: ds_train ds_infer
// libFuzzer harness for safetensors files and what is read from them: the input is parsed in
// memory (weights/safetensors.h parse_safetensors), read as a training state file
// (train/checkpoint.h train_state_from) and as a bundle's recipe (infer/bundle.h
// recipe_from_metadata, for a three-class model), and loaded as a model file by path
// (weights/model.h load_model, the input as a memfd). Bad input must end in ds::InputError.
// Seeds: tests/fuzz/seeds/model/ (tests/fuzz/make_seeds.py).
#include <cstdint>

#include "base/error.h"
#include "fuzz_input.h"
#include "infer/bundle.h"
#include "train/checkpoint.h"
#include "weights/model.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ds::StFile f = ds::parse_safetensors("fuzz.safetensors", data, size);
    ds::train_state_from(f, "fuzz.state.safetensors");
  } catch (const ds::InputError&) {
  }
  try {
    const ds::StFile f = ds::parse_safetensors("fuzz.safetensors", data, size);
    ds::recipe_from_metadata("fuzz.bundle.safetensors", f.metadata, {"a", "b", "c"}, 224);
  } catch (const ds::InputError&) {
  }
  ds::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    ds::load_model(file.path());
  } catch (const ds::InputError&) {
  }
  return 0;
}
