// Tensor storage, views, fills and copies.
#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "base/block_cache.h"
#include "base/error.h"

namespace ds {

Shape::Shape(std::initializer_list<int64_t> dims) {
  DS_CHECK(dims.size() <= (size_t)kMaxDims, "tensor rank above 4");
  for (int64_t v : dims) d[ndim++] = v;
}

Shape::Shape(const std::vector<int64_t>& dims) {
  DS_CHECK(dims.size() <= (size_t)kMaxDims, "tensor rank above 4");
  for (int64_t v : dims) d[ndim++] = v;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= d[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (d[i] != o.d[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) {
    if (i) s += ", ";
    s += std::to_string(d[i]);
  }
  return s + "]";
}

static std::shared_ptr<float> alloc_aligned(int64_t n) {
  DS_CHECK(n >= 0, "negative tensor size");
  const size_t bytes = (size_t)std::max<int64_t>(n, 1) * sizeof(float);
  void* p = block_alloc(bytes);
  return std::shared_ptr<float>(static_cast<float*>(p), [bytes](float* q) { block_free(q, bytes); });
}

Tensor Tensor::empty(const Shape& shape) {
  for (int i = 0; i < shape.ndim; ++i) DS_CHECK(shape.d[i] >= 0, "negative dimension " + shape.str());
  Tensor t;
  t.shape_ = shape;
  t.storage_ = alloc_aligned(shape.numel());
  return t;
}

Tensor::Tensor(const Shape& shape) {
  *this = empty(shape);
  zero();
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::from_data(const Shape& shape, const float* src) {
  Tensor t = empty(shape);
  if (t.numel()) std::memcpy(t.data(), src, sizeof(float) * t.numel());
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& v) {
  DS_CHECK((int64_t)v.size() == shape.numel(),
           "from_vector: " + std::to_string(v.size()) + " values for shape " + shape.str());
  return from_data(shape, v.data());
}

Tensor Tensor::view(const Shape& shape) const {
  DS_CHECK(shape.numel() == numel(), "view " + shape_.str() + " as " + shape.str());
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  DS_CHECK(dim() >= 1 && 0 <= begin && begin <= end && end <= size(0),
           "slice [" + std::to_string(begin) + "," + std::to_string(end) + ") of " + shape_.str());
  int64_t row = size(0) ? numel() / size(0) : 0;
  Tensor t = *this;
  t.offset_ += begin * row;
  t.shape_.d[0] = end - begin;
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  return from_data(shape_, data());
}

void Tensor::fill(float v) { std::fill(data(), data() + numel(), v); }

void Tensor::copy_from(const Tensor& src) {
  DS_CHECK(src.numel() == numel(), "copy " + src.shape_.str() + " into " + shape_.str());
  if (numel()) std::memmove(data(), src.data(), sizeof(float) * numel());
}

std::vector<float> Tensor::to_vector() const { return std::vector<float>(data(), data() + numel()); }

float max_abs_diff(const Tensor& a, const Tensor& b) {
  DS_CHECK(a.numel() == b.numel(), "compare " + a.shape().str() + " with " + b.shape().str());
  float m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    float d = std::fabs(a[i] - b[i]);
    if (!(d <= m)) m = d;  // propagates NaN
  }
  return m;
}

float max_abs(const Tensor& a) {
  float m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a[i]));
  return m;
}

}  // namespace ds
