// A lab-to-lab stain shift for synthetic slides (`deepslide synth --stain-shift S`): the image is
// deconvolved with skimage's H&E matrix (stain/colour.h) and redrawn with other stain vectors
// (haematoxylin turned towards blue, eosin towards magenta), heavier staining, and a scanner's
// colour cast (blue-channel gain up, red down), each growing linearly with S (0: unchanged, 1: a
// shift as large as two labs' H&E differ by eye). A fixed map, so every shifted slide shares it,
// as slides from one other lab would.
#pragma once
#include "base/rgb_image.h"

namespace ds {

void shift_stain(RgbImage& img, double strength);

}  // namespace ds
