// Adam and SGD, written to reproduce torch 1.13's single-tensor implementations operation by
// operation: scalar coefficients are computed in double as Python does and rounded to float where
// PyTorch's CPU kernels round them, so a few steps agree with PyTorch to within float rounding (PyTorch's vector
// kernels use fused multiply-adds where these loops round twice).
#include "train/optimizer.h"

#include <cmath>

#include "base/error.h"
#include "engine/kernels/elementwise.h"

namespace ds {

Optimizer::Optimizer(const ParamSet& ps, double lr) : params_(ps.params), lr_(lr) {
  set_lr(lr);
  for (const Param* p : params_) {
    DS_CHECK(p != nullptr, "optimizer: null parameter");
    DS_CHECK(p->grad.defined() && p->grad.numel() == p->value.numel(),
             "optimizer: parameter " + p->name + " has no gradient of its shape");
  }
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0) || !std::isfinite(lr))
    throw InputError("optimizer: learning rate must be finite and >= 0, got " + std::to_string(lr));
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (Param* p : params_) p->grad.zero();
}

OptimizerState Optimizer::state() const {
  OptimizerState st;
  st.kind = kind();
  st.step = step_;
  st.lr = lr_;
  for (const Slot& s : slots()) {
    st.names.push_back(s.name);
    st.tensors.push_back(to_file_layout(*s.param, s.t));
  }
  return st;
}

void Optimizer::load_state(const OptimizerState& st) {
  if (st.kind != kind()) throw InputError("optimizer state: kind '" + st.kind + "' does not match '" + kind() + "'");
  if (st.step < 0) throw InputError("optimizer state: negative step count");
  if (st.names.size() != st.tensors.size())
    throw InputError("optimizer state: " + std::to_string(st.names.size()) + " names but " +
                     std::to_string(st.tensors.size()) + " tensors");
  auto mine = slots();
  if (mine.size() != st.names.size())
    throw InputError("optimizer state: expected " + std::to_string(mine.size()) + " tensors, got " +
                     std::to_string(st.names.size()));
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i].name != st.names[i])
      throw InputError("optimizer state: tensor " + std::to_string(i) + " is '" + st.names[i] + "', expected '" +
                       mine[i].name + "'");
    const Shape want = file_shape(*mine[i].param);
    if (want != st.tensors[i].shape())
      throw InputError("optimizer state: " + st.names[i] + " has shape " + st.tensors[i].shape().str() + ", expected " +
                       want.str());
  }
  set_lr(st.lr);
  for (size_t i = 0; i < mine.size(); ++i) from_file_layout(*mine[i].param, st.tensors[i].data(), mine[i].t);
  step_ = st.step;
}

// ---- Adam ----

Adam::Adam(const ParamSet& ps, const AdamOptions& opt) : Optimizer(ps, opt.lr), opt_(opt) {
  if (!(opt.beta1 >= 0 && opt.beta1 < 1) || !(opt.beta2 >= 0 && opt.beta2 < 1))
    throw InputError("Adam: betas must be in [0, 1)");
  if (!(opt.eps >= 0)) throw InputError("Adam: eps must be >= 0");
  if (!(opt.weight_decay >= 0)) throw InputError("Adam: weight_decay must be >= 0");
  for (const Param* p : params_) {
    exp_avg_.emplace_back(p->value.shape());
    exp_avg_sq_.emplace_back(p->value.shape());
  }
}

void Adam::step() {
  ++step_;
  const double t = (double)step_;
  const double bias_correction1 = 1.0 - std::pow(opt_.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(opt_.beta2, t);
  // PyTorch casts Python scalars to the tensor's float type inside each kernel.
  const float step_size = (float)(lr_ / bias_correction1);
  const float bc2_sqrt = (float)std::sqrt(bias_correction2);
  const AdamCoeffs a{step_size,
                     bc2_sqrt,
                     (float)opt_.beta1,
                     (float)(1.0 - opt_.beta1),
                     (float)opt_.beta2,
                     (float)(1.0 - opt_.beta2),
                     (float)opt_.eps,
                     (float)opt_.weight_decay,
                     opt_.weight_decay != 0};
  for (size_t k = 0; k < params_.size(); ++k)
    adam_update(params_[k]->value.data(), exp_avg_[k].data(), exp_avg_sq_[k].data(), params_[k]->grad.data(),
                params_[k]->value.numel(), a);
}

std::vector<Optimizer::Slot> Adam::slots() const {
  std::vector<Slot> out;
  for (size_t k = 0; k < params_.size(); ++k) out.push_back({"exp_avg/" + params_[k]->name, exp_avg_[k], params_[k]});
  for (size_t k = 0; k < params_.size(); ++k)
    out.push_back({"exp_avg_sq/" + params_[k]->name, exp_avg_sq_[k], params_[k]});
  return out;
}

// ---- SGD ----

Sgd::Sgd(const ParamSet& ps, const SgdOptions& opt) : Optimizer(ps, opt.lr), opt_(opt) {
  if (!(opt.momentum >= 0)) throw InputError("SGD: momentum must be >= 0");
  if (!(opt.weight_decay >= 0)) throw InputError("SGD: weight_decay must be >= 0");
  if (opt.nesterov && (opt.momentum <= 0 || opt.dampening != 0))
    throw InputError("SGD: nesterov momentum requires a momentum and zero dampening");
  if (opt.momentum != 0)
    for (const Param* p : params_) momentum_buffer_.emplace_back(p->value.shape());
}

void Sgd::step() {
  const bool first = step_ == 0;
  ++step_;
  const float lr = (float)lr_, wd = (float)opt_.weight_decay;
  const float momentum = (float)opt_.momentum, one_minus_damp = (float)(1.0 - opt_.dampening);
  const bool decay = opt_.weight_decay != 0, use_momentum = opt_.momentum != 0;
  for (size_t k = 0; k < params_.size(); ++k) {
    float* p = params_[k]->value.data();
    const float* d_p = params_[k]->grad.data();
    float* buf = use_momentum ? momentum_buffer_[k].data() : nullptr;
    const int64_t n = params_[k]->value.numel();
    for (int64_t i = 0; i < n; ++i) {
      float g = decay ? d_p[i] + wd * p[i] : d_p[i];
      if (use_momentum) {
        buf[i] = first ? g : buf[i] * momentum + one_minus_damp * g;
        g = opt_.nesterov ? g + momentum * buf[i] : buf[i];
      }
      p[i] = p[i] + (-lr) * g;
    }
  }
}

std::vector<Optimizer::Slot> Sgd::slots() const {
  std::vector<Slot> out;
  for (size_t k = 0; k < momentum_buffer_.size(); ++k)
    out.push_back({"momentum_buffer/" + params_[k]->name, momentum_buffer_[k], params_[k]});
  return out;
}

}  // namespace ds
