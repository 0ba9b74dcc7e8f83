// Macenko et al. 2009, "A method for normalizing histology slides for quantitative analysis"
// (ISBI), with the constants of the authors' reference code (stain/stain_norm.h):
//   1. optical density per channel, OD = -ln((I + 1) / Io);
//   2. drop background: pixels with OD < beta in any channel;
//   3. the plane of the two largest eigenvectors of the remaining ODs' covariance (the SVD
//      directions of the paper; the first oriented towards positive OD);
//   4. each pixel's angle in that plane; the stain vectors are the directions at the alpha-th and
//      (100 - alpha)-th percentile angles, haematoxylin the one with the larger red OD;
//   5. every pixel's two concentrations by least squares, and their 99th percentiles.
// Normalising redraws each pixel as Io * exp(-HE_ref * C * maxC_ref / maxC), C its least-squares
// concentrations: a 3x3 linear map of OD per image (steps 5 and the redraw: stain/two_stain.h).
#pragma once
#include <array>

#include "base/rgb_image.h"
#include "stain/two_stain.h"

namespace ds {

using MacenkoFit = TwoStainFit;

MacenkoFit macenko_fit(const RgbImage& img);
// Steps 1-4 alone (Vahadane's start); false when there is too little tissue.
bool macenko_vectors(const RgbImage& img, StainPair& stains);

}  // namespace ds
