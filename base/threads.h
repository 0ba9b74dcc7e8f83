// Thread-count control for the OpenMP kernels: `--threads N` (default: all cores).
#pragma once

namespace ds {

void set_num_threads(int n);  // n <= 0 means all cores
int num_threads();
int hardware_threads();

}  // namespace ds
