// The ops, declared once: one table per op lists its tensors, in schema order, with the
// dimensions each must have and where each goes in the kernels' parameter structs
// (bottleneck.h). Everything else about an op is derived from its table:
//   - the schemas of the op and of its backward (schema() below),
//   - the input checks and the marshalling of tensors into ForwardParams / BackwardParams,
//     once for every op (bindings.cpp),
//   - the autograd wiring: what is saved, which gradient belongs to which input
//     (autograd.cpp).
// aegui/ops/bottleneck.py declares the same tables for the Python side (fake kernels,
// reference, dispatch); a test checks that both derive the same schemas.
//
// The backward op of `name` is `name_backward`. Its arguments: the gradient flowing into
// each output (Tensor?: None means zero), then every tensor kept for the backward (inputs
// first, then outputs), the activation, and an output mask with one flag per input; it
// returns the gradient of each input, undefined where the mask says it is not wanted or the
// input was None.
#pragma once

#include <cstddef>
#include <string>

#include "bottleneck.h"

namespace aegui {

// Whether the backward keeps a tensor (it is then an argument of the backward op).
enum class Keep : unsigned char {
  No,
  Yes,
  // Only for relu, tanh and identity, whose derivative can be read off y = act(pre): for the
  // others the backward recomputes pre from z instead of keeping a (B, H) tensor alive.
  IfActFromOutput,
};

struct TensorRow {
  const char* name;
  const char* dims;  // one letter per dimension: B (batch), H (hidden), Z (latent)
  bool is_output;
  bool optional;     // an input that may be None
  Keep keep;
  // Where the tensor goes. An input: `in` (the forward reads it) and `grad_out` (the
  // backward writes its gradient). An output: `out` (the forward writes it) and `grad_in`
  // (the backward reads the gradient flowing into it). Kept ones: `saved` (the backward
  // reads it).
  const void* ForwardParams::*in;
  void* ForwardParams::*out;
  const void* BackwardParams::*saved;
  const void* BackwardParams::*grad_in;
  void* BackwardParams::*grad_out;
};

using FP = ForwardParams;
using BP = BackwardParams;

constexpr TensorRow input(const char* name, const char* dims, const void* FP::*in, const void* BP::*saved,
                          void* BP::*grad) {
  return {name, dims, false, false, saved ? Keep::Yes : Keep::No, in, nullptr, saved, nullptr, grad};
}
constexpr TensorRow optional_input(const char* name, const char* dims, const void* FP::*in,
                                   const void* BP::*saved, void* BP::*grad) {
  return {name, dims, false, true, saved ? Keep::Yes : Keep::No, in, nullptr, saved, nullptr, grad};
}
constexpr TensorRow output(const char* name, const char* dims, void* FP::*out, const void* BP::*saved,
                           const void* BP::*grad, Keep keep = Keep::Yes) {
  return {name, dims, true, false, saved ? keep : Keep::No, nullptr, out, saved, grad, nullptr};
}

constexpr size_t kMaxRows = 12;

struct OpTable {
  const char* name;  // "bottleneck"; the backward is "bottleneck_backward"
  Mode mode;
  size_t n_rows;
  TensorRow rows[kMaxRows];

  constexpr size_t count(bool outputs) const {
    size_t n = 0;
    for (size_t i = 0; i < n_rows; ++i) n += rows[i].is_output == outputs ? 1 : 0;
    return n;
  }
  constexpr size_t n_inputs() const { return count(false); }
  constexpr size_t n_outputs() const { return count(true); }
};

// ------------------------------------------------------------------------ the tables

inline constexpr OpTable kBottleneck = {
    "bottleneck", Mode::Plain, 7,
    {input("h", "BH", &FP::h, &BP::h, &BP::grad_h),
     input("w_enc", "ZH", &FP::w_enc, &BP::w_enc, &BP::grad_w_enc),
     input("b_enc", "Z", &FP::b_enc, nullptr, &BP::grad_b_enc),
     input("w_dec", "HZ", &FP::w_dec, &BP::w_dec, &BP::grad_w_dec),
     input("b_dec", "H", &FP::b_dec, &BP::b_dec, &BP::grad_b_dec),
     output("z", "BZ", &FP::z, &BP::z, &BP::grad_z),
     output("y", "BH", &FP::y, &BP::y, &BP::grad_y, Keep::IfActFromOutput)}};

inline constexpr OpTable kVariationalBottleneck = {
    "variational_bottleneck", Mode::Variational, 12,
    {input("h", "BH", &FP::h, &BP::h, &BP::grad_h),
     input("w_mu", "ZH", &FP::w_enc, &BP::w_enc, &BP::grad_w_enc),
     input("b_mu", "Z", &FP::b_enc, nullptr, &BP::grad_b_enc),
     input("w_logvar", "ZH", &FP::w_lv, &BP::w_lv, &BP::grad_w_lv),
     input("b_logvar", "Z", &FP::b_lv, nullptr, &BP::grad_b_lv),
     input("w_dec", "HZ", &FP::w_dec, &BP::w_dec, &BP::grad_w_dec),
     input("b_dec", "H", &FP::b_dec, &BP::b_dec, &BP::grad_b_dec),
     optional_input("eps", "BZ", &FP::eps, &BP::eps, &BP::grad_eps),  // None: z = mu
     output("mu", "BZ", &FP::mu, nullptr, &BP::grad_mu),
     output("logvar", "BZ", &FP::logvar, &BP::logvar, &BP::grad_logvar),
     output("z", "BZ", &FP::z, &BP::z, &BP::grad_z),
     output("y", "BH", &FP::y, &BP::y, &BP::grad_y, Keep::IfActFromOutput)}};

inline constexpr OpTable kDecodeHead = {
    "decode_head", Mode::DecodeOnly, 4,
    {input("z", "BZ", &FP::z_in, &BP::z, &BP::grad_z_in),
     input("w_dec", "HZ", &FP::w_dec, &BP::w_dec, &BP::grad_w_dec),
     input("b_dec", "H", &FP::b_dec, &BP::b_dec, &BP::grad_b_dec),
     output("y", "BH", &FP::y, &BP::y, &BP::grad_y, Keep::IfActFromOutput)}};

inline constexpr const OpTable* kOps[] = {&kBottleneck, &kVariationalBottleneck, &kDecodeHead};

// ---------------------------------------------------------------- derived: arguments

// The tensors of the backward op's arguments, in order: the gradient of every output, then
// what is kept (inputs, then outputs). `row` indexes OpTable::rows; `is_grad` tells the
// gradient of an output from the output itself.
struct BackwardArg {
  size_t row;
  bool is_grad;
};

template <class F>
void for_each_backward_arg(const OpTable& op, F&& f) {
  for (size_t i = 0; i < op.n_rows; ++i)
    if (op.rows[i].is_output) f(BackwardArg{i, true});
  for (bool outputs : {false, true})
    for (size_t i = 0; i < op.n_rows; ++i)
      if (op.rows[i].is_output == outputs && op.rows[i].keep != Keep::No) f(BackwardArg{i, false});
}

inline std::string backward_name(const OpTable& op) { return std::string(op.name) + "_backward"; }

// "bottleneck(Tensor h, ..., str activation='relu') -> (Tensor z, Tensor y)" and the
// backward's "bottleneck_backward(Tensor? grad_z, ..., str activation, bool[5] output_mask)
// -> (Tensor grad_h, ...)".
inline std::string schema(const OpTable& op, bool backward) {
  std::string s = backward ? backward_name(op) : std::string(op.name);
  s += "(";
  if (!backward) {
    for (size_t i = 0; i < op.n_rows; ++i) {
      const TensorRow& r = op.rows[i];
      if (r.is_output) continue;
      s += std::string(r.optional ? "Tensor? " : "Tensor ") + r.name + (r.optional ? "=None, " : ", ");
    }
    s += "str activation='relu') -> ";
  } else {
    for_each_backward_arg(op, [&](BackwardArg a) {
      const TensorRow& r = op.rows[a.row];
      const bool maybe_none = a.is_grad || r.optional || r.keep == Keep::IfActFromOutput;
      s += std::string(maybe_none ? "Tensor? " : "Tensor ") + (a.is_grad ? "grad_" : "") + r.name + ", ";
    });
    s += "str activation, bool[" + std::to_string(op.n_inputs()) + "] output_mask) -> ";
  }
  const bool outputs = !backward;  // the op returns its outputs; its backward, the inputs' gradients
  const size_t n = outputs ? op.n_outputs() : op.n_inputs();
  if (n == 1) return s + "Tensor";
  s += "(";
  size_t k = 0;
  for (size_t i = 0; i < op.n_rows; ++i) {
    const TensorRow& r = op.rows[i];
    if (r.is_output != outputs) continue;
    s += std::string(k++ ? ", " : "") + "Tensor " + (backward ? "grad_" : "") + r.name;
  }
  return s + ")";
}

}  // namespace aegui
