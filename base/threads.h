// Thread-count control for the OpenMP kernels: `--threads N` (default: all cores).
#pragma once
#include <string>

namespace ds {

// The most threads a flag may ask for: beyond the largest machines' hardware threads, and far
// below where creating them fails (`--threads 100000` crashed in the OpenMP runtime).
constexpr int kMaxThreads = 1024;
// InputError naming `flag` when n > kMaxThreads.
void check_thread_count(int n, const std::string& flag);

void set_num_threads(int n);  // n <= 0 means all cores; at most kMaxThreads (check_thread_count)
int num_threads();
int hardware_threads();

}  // namespace ds
