// A cache of freed large blocks for tensor storage. A training step allocates the same
// activation and gradient sizes every time; handing those blocks back instead of returning them
// to the OS avoids re-faulting and re-zeroing fresh pages each step (at 224 px that was a fifth
// of the time). Blocks are reused only for an exact size match; small blocks go straight to
// malloc; a fresh large block is mapped with its pages populated at once (first-touch faults one
// page at a time cost ~4x as much). Thread-safe.
#pragma once
#include <cstddef>

namespace ds {

void* block_alloc(size_t bytes);         // 64-byte aligned; throws std::bad_alloc
void block_free(void* p, size_t bytes);  // bytes as passed to block_alloc

}  // namespace ds
