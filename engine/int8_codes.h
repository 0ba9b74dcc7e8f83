// An activation's int8 codes, made by the convolution that produced it for the one that reads it
// next (Var::int8_codes; issue 20: activations converted where they are produced, not in a pass
// of the reader's own): the bytes, the spec they were made for (layout and quantization, which
// the reader compares with its own before using them), and the activation's shape, since its
// fp32 value is not stored when every reader takes the codes.
#pragma once
#include <cstdint>
#include <cstring>

#include "base/int_math.h"
#include "engine/kernels/conv_int8.h"
#include "engine/tensor.h"

namespace ds {

struct Int8Codes {
  Int8CodesSpec spec;
  Shape shape;  // the activation's, [N, H, W, C]
  Int8Codes(const Int8CodesSpec& s, const Shape& activation)
      : spec(s),
        shape(activation),
        storage_(Tensor::empty(Shape{ceil_div(s.bytes() + kLowpCopySlack, (int64_t)sizeof(float))})) {
    std::memset(data() + s.bytes(), 0, kLowpCopySlack);  // read past the last row, times zero weights
  }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(storage_.data()); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(storage_.data()); }

 private:
  Tensor storage_;  // spec.bytes() bytes in a tensor's storage: the block cache's reuse, 64-byte aligned
};

}  // namespace ds
