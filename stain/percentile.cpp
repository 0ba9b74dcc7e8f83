// Percentiles by selection (see percentile.h). Small inputs: std::nth_element. Large ones (a
// window's 50 K pixels): a histogram of the values finds the bin holding the wanted rank, and only
// that bin's values are selected among, so the cost is a few streaming passes rather than
// nth_element's data-dependent partitioning. The range is found with SSE min/max, the counts go to
// four interleaved histograms, each value's bin is kept so finding a bin's values is a vectorised
// scan, and two percentiles of the same values (Macenko's two angles) share one histogram. Both
// paths give the exact order statistics.
#include "stain/percentile.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "base/error.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace ds {

namespace {

constexpr size_t kHistogramFrom = 4096;
constexpr int kBins = 4096;

Ranked by_nth_element(float* v, size_t n, size_t k, double frac) {
  std::nth_element(v, v + k, v + n);
  Ranked r;
  r.lo = r.hi = v[k];
  r.frac = frac;
  if (k + 1 < n) r.hi = *std::min_element(v + k + 1, v + n);
  return r;
}

// The values' range and a histogram of kBins bins over it: bin(x) is monotone in x, so the bins
// partition the values in order. Built once for any number of ranks.
struct Histogram {
  float lo = 0, hi = 0, scale = 0;
  std::vector<uint32_t> count;
  std::vector<uint16_t> bin;  // each value's bin, for the passes that look for one bin's values
};

// The smallest and largest of n > 0 values. On x86 four lanes of SSE (baseline x86-64): GCC does
// not vectorise a float min reduction without -ffast-math, which the project does not use.
void min_max(const float* v, size_t n, float& lo, float& hi) {
  lo = hi = v[0];
  size_t i = 0;
#ifdef __SSE2__
  if (n >= 4) {
    __m128 l = _mm_loadu_ps(v), h = l;
    for (; i + 4 <= n; i += 4) {
      const __m128 x = _mm_loadu_ps(v + i);
      l = _mm_min_ps(l, x);
      h = _mm_max_ps(h, x);
    }
    alignas(16) float ls[4], hs[4];
    _mm_store_ps(ls, l);
    _mm_store_ps(hs, h);
    lo = *std::min_element(ls, ls + 4);
    hi = *std::max_element(hs, hs + 4);
  }
#endif
  for (; i < n; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
}

void build_histogram(const float* v, size_t n, Histogram& h) {
  min_max(v, n, h.lo, h.hi);
  h.count.assign(kBins, 0);
  if (!(h.hi > h.lo)) return;
  h.bin.resize(n);  // all equal (or NaN: the caller's values are finite)
  h.scale = (float)(kBins - 1) / (h.hi - h.lo);
  // Bins computed a chunk at a time (vectorised), then counted into four histograms in turn:
  // runs of one bin (a window's background) would otherwise wait on the previous increment.
  thread_local std::vector<uint32_t> sub;
  sub.assign((size_t)4 * kBins, 0);
  uint32_t* c = sub.data();
  constexpr size_t kChunk = 256;
  alignas(64) int b[kChunk];
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t m = std::min(kChunk, n - start);
    const float* x = v + start;
    uint16_t* stored = h.bin.data() + start;
    for (size_t j = 0; j < m; ++j) {
      const int k = (int)((x[j] - h.lo) * h.scale);
      b[j] = k < kBins - 1 ? k : kBins - 1;
      stored[j] = (uint16_t)b[j];
    }
    size_t j = 0;
    for (; j + 4 <= m; j += 4) {
      c[b[j]]++;
      c[kBins + b[j + 1]]++;
      c[2 * kBins + b[j + 2]]++;
      c[3 * kBins + b[j + 3]]++;
    }
    for (; j < m; ++j) c[b[j]]++;
  }
  for (int k = 0; k < kBins; ++k) h.count[(size_t)k] = c[k] + c[kBins + k] + c[2 * kBins + k] + c[3 * kBins + k];
}

// f(i) for each i with bin[i] == b, in order. Blocks of 32 are tested first with a vectorised
// "any": a bin holds a small share of the values, so most blocks are passed over.
template <class F>
void for_each_in_bin(const uint16_t* bin, size_t n, int b, F&& f) {
  constexpr size_t kBlock = 32;
  const uint16_t want = (uint16_t)b;
  for (size_t i0 = 0; i0 < n; i0 += kBlock) {
    const size_t len = std::min(kBlock, n - i0);
    const uint16_t* x = bin + i0;
    int any = 0;
    for (size_t i = 0; i < len; ++i) any |= x[i] == want;
    if (!any) continue;
    for (size_t i = 0; i < len; ++i)
      if (x[i] == want) f(i0 + i);
  }
}

Ranked by_histogram(const float* v, size_t n, const Histogram& h, size_t k, double frac) {
  Ranked r;
  r.frac = frac;
  if (!(h.hi > h.lo)) {
    r.lo = r.hi = h.lo;
    return r;
  }
  size_t before = 0;
  int b = 0;
  while (before + h.count[(size_t)b] <= k) before += h.count[(size_t)b++];
  thread_local std::vector<float> in_bin;
  in_bin.clear();
  const uint16_t* bin = h.bin.data();
  for_each_in_bin(bin, n, b, [&](size_t i) { in_bin.push_back(v[i]); });
  const size_t kk = k - before;
  std::nth_element(in_bin.begin(), in_bin.begin() + (ptrdiff_t)kk, in_bin.end());
  r.lo = r.hi = in_bin[kk];
  if (kk + 1 < in_bin.size()) {
    r.hi = *std::min_element(in_bin.begin() + (ptrdiff_t)kk + 1, in_bin.end());
  } else if (k + 1 < n) {  // the next value is the smallest of the next non-empty bin
    int b2 = b + 1;
    while (h.count[(size_t)b2] == 0) ++b2;
    float m = h.hi;
    for_each_in_bin(bin, n, b2, [&](size_t i) { m = std::min(m, v[i]); });
    r.hi = m;
  }
  return r;
}

// The rank k and interpolation weight of percentile q of n values.
std::pair<size_t, double> rank_of(size_t n, double q) {
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * (double)(n - 1);
  const size_t k = (size_t)std::floor(pos);
  return {k, pos - (double)k};
}

}  // namespace

Ranked percentile_neighbours(float* v, size_t n, double q) {
  DS_CHECK(n > 0, "percentile of no values");
  const auto [k, frac] = rank_of(n, q);
  if (n < kHistogramFrom) return by_nth_element(v, n, k, frac);
  thread_local Histogram h;
  build_histogram(v, n, h);
  return by_histogram(v, n, h, k, frac);
}

std::pair<Ranked, Ranked> percentile_neighbours(float* v, size_t n, double q1, double q2) {
  if (n < kHistogramFrom) return {percentile_neighbours(v, n, q1), percentile_neighbours(v, n, q2)};
  const auto [k1, f1] = rank_of(n, q1);
  const auto [k2, f2] = rank_of(n, q2);
  thread_local Histogram h;
  build_histogram(v, n, h);
  return {by_histogram(v, n, h, k1, f1), by_histogram(v, n, h, k2, f2)};
}

double percentile(float* v, size_t n, double q) {
  const Ranked r = percentile_neighbours(v, n, q);
  return (double)r.lo + ((double)r.hi - (double)r.lo) * r.frac;
}

}  // namespace ds
