// A synthetic whole-slide dataset for demos and tests: DIR/<class>/<class>_<nnn>.tif, each an
// Aperio-style pyramidal JPEG TIFF (MPP, AppMag, thumbnail, label, macro) of procedural H&E
// tissue (slide/synth/synth_tissue.h). Deterministic by seed; slides are rendered in parallel.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ds {

struct SynthOptions {
  std::string out;
  int classes = 3;
  int slides_per_class = 10;
  int width = 3000, height = 2400;
  uint64_t seed = 1;
  double mpp = 0.5;  // written to the file (20x)
  int quality = 85;
  int threads = 0;
  // Another lab's stain (stain/stain_shift.h): other H and E vectors and a colour cast, growing
  // with the value (0: none, 1: strong). Morphology and everything else stay as without it.
  double stain_shift = 0;
};

std::vector<std::string> synth_class_names(int classes);
// Returns the written slide paths (class-major order). Prints nothing.
std::vector<std::string> write_synth_dataset(const SynthOptions& opt);

}  // namespace ds
