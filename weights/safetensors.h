// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header (per tensor: dtype, shape, data_offsets; optional "__metadata__" string
// map), then the raw little-endian tensor bytes. The reader validates everything that comes from
// the file and decodes F32/F16/BF16/F64 to float32; entries named "*num_batches_tracked" are
// dropped whatever their dtype (PyTorch's BN counter, which we do not use). The writer emits F32.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ds {

// One tensor decoded to float32 (row-major, shape as in the file; [] is a scalar).
struct StTensor {
  std::string name;
  std::string dtype;  // dtype as stored in the file ("F32", "F16", "BF16", "F64")
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct StFile {
  bool has_metadata = false;  // a "__metadata__" entry was present
  std::map<std::string, std::string> metadata;
  std::vector<StTensor> tensors;                        // in file (data offset) order, num_batches_tracked dropped
  int ignored = 0;                                      // number of num_batches_tracked entries dropped
  const StTensor* find(const std::string& name) const;  // nullptr when absent
};

// A tensor to write: F32 values, row-major, numel(shape) of them.
struct StTensorRef {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

// Headers above this size are rejected as corrupt (the reference implementation uses 100 MB).
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;

// Reads and validates `path`; every problem is an InputError naming the file (and the tensor).
StFile read_safetensors(const std::string& path);
// Same, from bytes already in memory; `label` names the source in error messages.
StFile parse_safetensors(const std::string& label, const uint8_t* bytes, size_t size);

// Serialises tensors (F32, in the given order, contiguous) and metadata; the header is padded
// with spaces to a multiple of 8 bytes so the data is 8-byte aligned. Names must be unique.
std::vector<uint8_t> encode_safetensors(const std::vector<StTensorRef>& tensors,
                                        const std::map<std::string, std::string>& metadata);
// encode_safetensors + atomic replace of `path` (temporary file, fsync, rename).
void write_safetensors(const std::string& path, const std::vector<StTensorRef>& tensors,
                       const std::map<std::string, std::string>& metadata);

// "[64, 3, 7, 7]"
std::string shape_str(const std::vector<int64_t>& shape);

// IEEE half and bfloat16 to float32 (exact; subnormals, infinities and NaN preserved).
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);

}  // namespace ds
