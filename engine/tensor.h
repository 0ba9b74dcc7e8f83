// Tensor: a float32 array of up to 4 dimensions, contiguous row-major, 64-byte aligned.
// Owning, with cheap views: copies share storage (like torch.Tensor), clone() copies data.
// view() reshapes and slice() takes a range of the first dimension without copying.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace ds {

struct Shape {
  static constexpr int kMaxDims = 4;
  int ndim = 0;
  int64_t d[kMaxDims] = {0, 0, 0, 0};

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);
  int64_t numel() const;
  int64_t operator[](int i) const { return d[i]; }
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "[16, 64, 56, 56]"
};

class Tensor {
 public:
  Tensor() = default;                   // undefined (no storage)
  explicit Tensor(const Shape& shape);  // zero-filled
  static Tensor zeros(const Shape& shape) { return Tensor(shape); }
  static Tensor empty(const Shape& shape);  // uninitialised
  static Tensor full(const Shape& shape, float value);
  static Tensor from_data(const Shape& shape, const float* src);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& v);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int dim() const { return shape_.ndim; }
  int64_t size(int i) const { return shape_.d[i]; }
  int64_t numel() const { return shape_.numel(); }
  float* data() { return storage_.get() + offset_; }
  const float* data() const { return storage_.get() + offset_; }
  float& operator[](int64_t i) { return data()[i]; }
  float operator[](int64_t i) const { return data()[i]; }

  Tensor view(const Shape& shape) const;           // same storage, new shape (same numel)
  Tensor slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0, same storage
  Tensor clone() const;                            // deep copy
  // No other Tensor (a view, a slice, a copy) shares this one's storage: writing it changes only this one.
  bool sole_owner() const { return storage_.use_count() == 1; }

  void fill(float v);
  void zero() { fill(0.0f); }
  void copy_from(const Tensor& src);  // same numel required
  std::vector<float> to_vector() const;

 private:
  std::shared_ptr<float> storage_;
  int64_t offset_ = 0;
  Shape shape_;
};

// Largest |a - b| over all elements and the largest |b|: for error reports in tests and checks.
float max_abs_diff(const Tensor& a, const Tensor& b);
float max_abs(const Tensor& a);

}  // namespace ds
