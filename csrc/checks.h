// Input checks shared by every op and every backend, written once: a bad argument becomes a
// Python exception whose message names that argument, never a crash inside a kernel.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/string_view.h>

#include <initializer_list>
#include <sstream>
#include <string>

#include "bottleneck.h"

namespace aegui {

inline std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << (s.size() == 1 ? ",)" : ")");
  return o.str();
}

// "float32", as torch prints dtypes in Python (c10 alone would say "Float").
inline std::string dtype_name(at::ScalarType t) { return std::string(c10::getDtypeNames(t).first); }

inline Activation parse_activation(const char* op, c10::string_view name) {
  if (name == "relu") return Activation::Relu;
  if (name == "gelu") return Activation::Gelu;
  if (name == "silu") return Activation::Silu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "identity") return Activation::Identity;
  TORCH_CHECK_VALUE(false, op, ": activation: unknown activation '", std::string(name),
                    "'; expected one of relu, gelu, silu, tanh, identity");
}

inline DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return DType::F64;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    default: return DType::F32;
  }
}

// The first tensor checked fixes the dtype and device that all others must share.
// Dimensions are given by letter ('B', 'H', 'Z'); the first tensor to use a letter fixes
// its size, so the message can say where an expected size came from.
class ArgChecker {
 public:
  explicit ArgChecker(const char* op) : op_(op) {}

  void check(const char* name, const at::Tensor& t, const char* dims) {
    TORCH_CHECK_VALUE(t.defined(), op_, ": ", name, " is missing (None)");
    const size_t ndim = std::char_traits<char>::length(dims);
    TORCH_CHECK_VALUE(t.dim() == static_cast<int64_t>(ndim), op_, ": ", name, " must be ", ndim,
                      "-D ", letters(dims), ", got a ", t.dim(), "-D tensor of shape ",
                      shape_str(t.sizes()));
    if (!first_) {
      first_ = name;
      dtype_ = t.scalar_type();
      device_ = t.device();
      const bool cuda = t.is_cuda();
      TORCH_CHECK_TYPE(dtype_ == at::kFloat || dtype_ == at::kDouble ||
                           (cuda && (dtype_ == at::kHalf || dtype_ == at::kBFloat16)),
                       op_, ": ", name, " has dtype ", dtype_name(dtype_),
                       cuda ? "; supported: float32, float64, float16, bfloat16"
                            : "; supported on the CPU: float32, float64");
    } else {
      TORCH_CHECK_TYPE(t.scalar_type() == dtype_, op_, ": ", name, " has dtype ", dtype_name(t.scalar_type()),
                       " but ", first_, " has ", dtype_name(dtype_), "; all inputs must share one dtype");
      TORCH_CHECK_VALUE(t.device() == device_, op_, ": ", name, " is on ", t.device(), " but ",
                        first_, " is on ", device_, "; all inputs must be on one device");
    }
    for (size_t i = 0; i < ndim; ++i) {
      const int slot = slot_of(dims[i]);
      const int64_t got = t.size(static_cast<int64_t>(i));
      if (!owner_[slot]) {
        owner_[slot] = name;
        size_[slot] = got;
      } else {
        TORCH_CHECK_VALUE(got == size_[slot], op_, ": ", name, " has shape ", shape_str(t.sizes()),
                          " but must be ", letters(dims), " with ", dims[i], " = ", size_[slot],
                          " (from ", owner_[slot], ")");
      }
    }
  }

  int64_t size(char letter) const { return size_[slot_of(letter)]; }

 private:
  static int slot_of(char c) { return c == 'B' ? 0 : c == 'H' ? 1 : 2; }
  static std::string letters(const char* dims) {
    std::string s = "(";
    for (size_t i = 0; dims[i]; ++i) {
      if (i) s += ", ";
      s += dims[i];
    }
    return s + (std::char_traits<char>::length(dims) == 1 ? ",)" : ")");
  }

  const char* op_;
  const char* first_ = nullptr;
  at::ScalarType dtype_ = at::kFloat;
  at::Device device_ = at::kCPU;
  const char* owner_[3] = {nullptr, nullptr, nullptr};
  int64_t size_[3] = {0, 0, 0};
};

}  // namespace aegui
