// Stand-in for libFuzzer's main, for `run_fuzz.sh --check` (the harness built with g++ and run
// once on every file given): proves the harness and its source list still build and that the
// seed files go through it. Any exception other than InputError ends the program non-zero.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("fuzz harness: ran %d inputs\n", argc - 1);
  return 0;
}
