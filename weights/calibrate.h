// int8 calibration (issue 20): the range of each convolution's input over representative
// windows, from which `--precision int8` quantizes that input per tensor (engine/kernels/
// conv_int8.h). A conv whose inputs were all >= 0 (every ResNet conv but conv1) gets int8_act_max
// = the range 0..c whose uint8 quantization of the inputs seen has the least squared error (from a
// histogram of them: rounding error below c, saturation above; c is at most the largest input,
// lower when a few outliers would coarsen the step for all). A conv with negative inputs (conv1,
// whose input is the normalized image) gets the whole range seen, int8_act_min..int8_act_max,
// quantized with a zero point.
// The ranges travel with the model file as metadata `int8_act_max` (docs/formats.md), so a
// calibrated bundle runs int8 anywhere.
#pragma once
#include <string>

#include "engine/tensor.h"
#include "weights/model.h"

namespace ds {

constexpr const char* kInt8MetadataKey = "int8_act_max";

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

// The ranges as the metadata value: a JSON object {"conv1": [-2.1, 2.6], "layer1.0.conv1": 3.25,
// ...} of the convs with a range (a pair for a signed one), or "" when there is none.
std::string int8_metadata(const Model& model);
// Sets the ranges from a metadata value; InputError naming `path` if it is not such an object,
// names a conv the network lacks, or holds a value that is neither a finite number >= 0 nor a pair
// [min < 0, max > 0] of finite numbers, or a range whose width is not a normal float or too narrow
// for 255 / width to be finite.
void apply_int8_metadata(const std::string& path, Model& model, const std::string& text);

}  // namespace ds
