// The activations and their derivatives, one value at a time: the definition the vector
// versions are tested against, and the lane-wise fallback for types without one.
#pragma once

#include <cmath>

#include "../bottleneck.h"

namespace aegui {
namespace cpu {

template <typename T>
inline T act_scalar(Activation act, T x) {
  switch (act) {
    case Activation::Relu:
      return x < T(0) ? T(0) : x;  // NaN stays NaN, as in torch.relu
    case Activation::Gelu:
      return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
    case Activation::Silu:
      return x / (T(1) + std::exp(-x));
    case Activation::Tanh:
      return std::tanh(x);
    case Activation::Identity:
    default:
      return x;
  }
}

template <typename T>
inline T act_grad_scalar(Activation act, T x) {
  switch (act) {
    case Activation::Relu:
      return x <= T(0) ? T(0) : T(1);  // NaN passes the gradient on, as in torch
    case Activation::Gelu: {
      const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
      const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
      return cdf + x * pdf;
    }
    case Activation::Silu: {
      const T s = T(1) / (T(1) + std::exp(-x));
      return s * (T(1) + x * (T(1) - s));
    }
    case Activation::Tanh: {
      const T t = std::tanh(x);
      return T(1) - t * t;
    }
    case Activation::Identity:
    default:
      return T(1);
  }
}

}  // namespace cpu
}  // namespace aegui
