// Batches of patch images through the model.
#include "infer/classify.h"

#include <algorithm>

#include "infer/prediction_csv.h"
#include "slide/reader/image_io.h"
#include "weights/model_forward.h"

namespace ds {

void classify_images(Model& model, const std::vector<std::string>& images, int batch_size,
                     const std::function<void(const std::vector<ImageClass>&)>& on_batch, Precision precision) {
  const size_t K = model.classes.size();
  for (size_t start = 0; start < images.size(); start += (size_t)batch_size) {
    const size_t end = std::min(images.size(), start + (size_t)batch_size);
    const std::vector<std::string> names(images.begin() + start, images.begin() + end);
    std::vector<RgbImage> patches;
    for (const std::string& p : names) patches.push_back(load_image(p));
    const Tensor probs = predict_probabilities(model, make_batch(patches, model, names), precision);
    std::vector<ImageClass> batch;
    for (size_t i = 0; i < names.size(); ++i) {
      const float* row = probs.data() + i * K;
      batch.push_back({names[i], argmax_class(row, K), std::vector<float>(row, row + K)});
    }
    on_batch(batch);
  }
}

}  // namespace ds
