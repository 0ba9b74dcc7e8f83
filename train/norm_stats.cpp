// Mean/std of the training patches (see norm_stats.h). Sums are kept per patch in double and added
// in patch order, so the result does not depend on the thread count (nor does the list of
// unreadable patches).
#include "train/norm_stats.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "base/parallel.h"
#include "train/stain_fit.h"

namespace ds {

NormStats compute_norm_stats(const Dataset& data, int64_t max_samples, int threads, const StainReference& stain,
                             const std::vector<SlideStain>& slide_stains) {
  const int64_t n = (int64_t)data.train.size();
  const int64_t k = std::min(n, max_samples);
  std::vector<std::array<double, 6>> sums((size_t)k);
  std::vector<std::string> error((size_t)k);
  parallel_for(k, threads, [&](int64_t i) {
    RgbImage img;
    try {
      const Sample& s = data.train[(size_t)(i * n / k)];
      img = data.read(s);
      normalize_sample_stain(img, s, stain, slide_stains);
    } catch (const InputError& e) {
      error[(size_t)i] = e.what();
      return;
    }
    std::array<double, 6> s{};
    const size_t px = (size_t)img.width * img.height;
    for (size_t p = 0; p < px; ++p)
      for (int c = 0; c < 3; ++c) {
        const double v = img.pixels[p * 3 + c] / 255.0;
        s[c] += v;
        s[3 + c] += v * v;
      }
    for (double& v : s) v /= (double)px;
    sums[(size_t)i] = s;
  });
  std::array<double, 6> tot{};
  NormStats out;
  for (int64_t i = 0; i < k; ++i) {
    if (!error[(size_t)i].empty()) {
      out.failed.push_back({i * n / k, error[(size_t)i]});
      continue;
    }
    for (int j = 0; j < 6; ++j) tot[j] += sums[(size_t)i][j];
    out.patches++;
  }
  const double used = (double)std::max<int64_t>(out.patches, 1);
  for (int c = 0; c < 3; ++c) {
    const double mean = tot[c] / used;
    const double var = std::max(0.0, tot[3 + c] / used - mean * mean);
    out.mean[c] = (float)mean;
    // A constant channel would divide by zero; fall back to 1 (no scaling).
    out.std[c] = var > 1e-12 ? (float)std::sqrt(var) : 1.0f;
  }
  return out;
}

}  // namespace ds
