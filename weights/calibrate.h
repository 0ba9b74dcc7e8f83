// int8 calibration (issue 20): how `--precision int8` quantizes each convolution's input
// (engine/kernels/conv_int8.h). The first conv's input is the normalized 8-bit image: it is
// quantized per channel so that each code is the pixel value itself (from the model's mean and
// std, no calibration needed; a range would re-round every pixel onto a coarser grid, and clip
// pixels darker than any seen). Every other conv's input (post-ReLU, >= 0) is quantized per tensor
// over 0..c, c the range whose uint8 quantization of the inputs seen on representative windows
// has the least squared error (from a histogram of them: rounding error below c, saturation
// above; c is at most the largest input, lower when a few outliers would coarsen the step for all).
// A conv with negative inputs but not the image (a model whose mean/std cannot map pixels to codes)
// gets the whole range seen, int8_act_min..int8_act_max, quantized with a zero point.
// The choices travel with the model file as metadata `int8_act_max` (docs/formats.md), so a
// calibrated bundle runs int8 anywhere.
#pragma once
#include <string>

#include "engine/tensor.h"
#include "weights/model.h"

namespace ds {

constexpr const char* kInt8MetadataKey = "int8_act_max";
constexpr const char* kInt8ImageInput = "image";  // the metadata value of the conv that takes the image

// Forgets any range recorded so far (and the current int8 ranges stay until finish_calibration).
void begin_calibration(Model& model);
// One fp32 forward pass over a batch from make_batch (weights/model_forward.h), widening each
// conv's recorded input range. Not for concurrent use on one model.
void calibrate_batch(Model& model, const Tensor& batch);
// Sets each conv's int8_act_max (and int8_act_min) from the recorded inputs (the ranges above;
// 0 where none, or no positive one) and returns how many convs will run int8.
int finish_calibration(Model& model);
// Whether any conv has an int8 range (what Precision::int8 needs).
bool is_calibrated(const Model& model);

// The choices as the metadata value: a JSON object {"conv1": "image", "layer1.0.conv1": 3.25, ...}
// of the convs that run int8 (a pair [min, max] for a signed range), or "" when there is none.
std::string int8_metadata(const Model& model);
// Sets the choices from a metadata value (older files' [min, max] for conv1 still run, per
// tensor); InputError naming `path` if it is not such an object, names a conv the network lacks,
// or holds a value that is neither a finite number >= 0, a pair [min < 0, max > 0] of finite
// numbers nor "image" (the first conv only, with a mean/std that maps pixels to codes), or a range
// whose width is not a normal float or too narrow for 255 / width to be finite.
void apply_int8_metadata(const std::string& path, Model& model, const std::string& text);

}  // namespace ds
