// Stand-in for libFuzzer's main in the ordinary (g++) build: fuzz_<name>_replay runs the harness
// once on every file given, or on every file of every folder given (the ctest fuzz_<name>_seeds
// replays tests/fuzz/seeds/<name>/). Proves each harness still builds against its layers and that
// every committed seed, regression inputs included, still goes through it. A crash, or any
// exception other than the InputError the harness catches, fails the run and names the file.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& e : std::filesystem::directory_iterator(argv[i]))
        if (e.is_regular_file()) files.push_back(e.path().string());
    } else {
      files.push_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& name : files) {
    std::ifstream f(name, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
    std::fprintf(stderr, "replay: %s\n", name.c_str());
    try {
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "replay: %s: uncaught exception: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::printf("fuzz harness: ran %zu inputs\n", files.size());
  return files.empty() ? 1 : 0;
}
