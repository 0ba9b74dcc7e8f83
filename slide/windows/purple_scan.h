// DeepSlide's purple filter over a band of candidate windows, a chunk of neighbouring windows at
// a time: each chunk's pixels are read once into a summed-area table and every window's blocks
// are taken from it. The decisions equal reading each window alone and testing it (read_window,
// is_purple: the block sums are the same integers), with far fewer pixels read where windows
// overlap (DeepSlide's overlap 3 reads each pixel about 9 times window by window; an 18 x 18
// chunk of 224-px windows reads 1.5 Mpx instead of 16 Mpx).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "slide/windows/slide_windows.h"

namespace ds {

// Whether the chunked scan computes what the per-window one does: windows read at their own
// size (no resize to the patch size, as --mpp may need) of at most 4096 px.
bool chunked_purple_applies(const ReadGeometry& g);

// Tests the candidates b0 .. b0 + n - 1 of `grid` and sets keep[i - b0]. A chunk whose pixels
// cannot be read is tested window by window with `one_window` (the per-window test, which knows
// what an unreadable window means). on_checked (may be null) is called with each chunk's count.
void chunked_purple_band(const Slide& slide, const ReadGeometry& g, const CandidateGrid& grid, int64_t b0, int64_t n,
                         const PurpleParams& params, int threads, std::vector<uint8_t>& keep,
                         const std::function<bool(const Window&)>& one_window,
                         const std::function<void(int64_t)>& on_checked);

}  // namespace ds
