// SHA-256 (FIPS 180-4), for content fingerprints that must change whenever a file's bytes do
// (the stage stamps of `deepslide run`, the slides predict and diagnose key results by). Plain
// C++ (~220 MB/s), or the x86 SHA extensions where the CPU has them (~1.16 GB/s; sha256_blocks.h).
// Both figures: Intel(R) Xeon(R) Processor, family 6 model 207, BENCHMARKS.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ds {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finishes the hash: 64 lowercase hex digits; the object is spent

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& bytes);
// The SHA-256 of a file's contents, read in 1 MB pieces; InputError naming it when unreadable.
std::string sha256_file_hex(const std::string& path);

}  // namespace ds
