// Classifying patch images (PNG/JPEG, each the model's patch size) with a model file: batches of
// images through the network in eval mode, each image's class probabilities and prediction.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "weights/model.h"

namespace ds {

struct ImageClass {
  std::string image;         // the path given
  int prediction = 0;        // class index of the largest probability (the first on ties)
  std::vector<float> probs;  // one per class
};

// Classifies `images` in batches of batch_size, handing each batch's results to on_batch as it
// completes (so they can be printed as they come). InputError naming an unreadable image or one
// of the wrong size. precision: the convolutions' arithmetic (weights/model_forward.h).
void classify_images(Model& model, const std::vector<std::string>& images, int batch_size,
                     const std::function<void(const std::vector<ImageClass>&)>& on_batch,
                     Precision precision = Precision::fp32);

}  // namespace ds
