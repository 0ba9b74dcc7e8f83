// Scratch folders for the C++ tests, removed when the test program exits, so repeated test runs
// do not fill the temp dir (set DEEPSLIDE_KEEP_TMP to keep them for a look).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace ds::test {

class ScratchDirs {
 public:
  ~ScratchDirs() {
    if (std::getenv("DEEPSLIDE_KEEP_TMP")) return;
    std::error_code ec;
    for (const auto& d : dirs_) std::filesystem::remove_all(d, ec);
  }
  std::filesystem::path make(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() / ("ds_" + name + "_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(d);
    dirs_.push_back(d);
    return d;
  }

 private:
  std::vector<std::filesystem::path> dirs_;
};

// A fresh folder ds_<name>_<random> under the temp dir, removed at exit.
inline std::filesystem::path scratch_dir(const std::string& name) {
  static ScratchDirs dirs;
  return dirs.make(name);
}

}  // namespace ds::test
