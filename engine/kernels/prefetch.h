// A cache-line prefetch the compiler keeps. GCC 12 removes __builtin_prefetch as dead code in some
// loops: every prefetch of the Winograd passes' next tile (conv_winograd.h), whose addresses come
// from a local array of pixel pointers, vanished from the object code under -O2 and -O3 (its
// tree-level dead code elimination; -fno-tree-dce kept them). An asm volatile is never removed.
#pragma once

namespace ds {

// prefetcht0 of p's cache line (any x86-64; a hint: no fault whatever the address).
inline void prefetch_line(const void* p) { asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p))); }

}  // namespace ds
