// Autograd for the bottleneck ops, registered in C++ (the Autograd dispatch key) so that a
// training step pays a few microseconds for it, not the ~10 us of a Python autograd.Function:
// that is most of the op's time at small batch sizes. One kernel serves every op, wired by
// its table (op_table.h): the forward calls the op below autograd and keeps what the
// backward op needs; the backward is one call of that op (CPU or CUDA), asking only for
// the gradients autograd needs (its output mask). torch.compile traces through it like
// through any native op with a derivative; the fake kernels are registered from Python.
//
// Double backward is refused, with an error that says so when it is attempted (not when
// create_graph=True merely builds a graph that is never differentiated): the backward op
// is a kernel with no derivative of its own, and giving it one would be a second backward
// implementation to keep exact, for something nothing in aegui needs (training is first
// order). The pure-PyTorch reference (AEGUI_BACKEND=reference) differentiates twice.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/SmallVector.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/basic_ops.h>
#include <torch/library.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "op_table.h"

namespace aegui {
namespace {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using torch::jit::Stack;

// act'(pre) can be read off y = act(pre) for these, so y is kept for the backward instead
// of recomputing pre; for the others y is not kept alive.
bool derivative_from_output(const std::string& activation) {
  return activation == "relu" || activation == "tanh" || activation == "identity";
}

// Which forward tensor each argument of the backward op is: its index among the op's
// inputs or outputs.
struct Wiring {
  struct Saved {
    bool is_output;
    size_t index;
    Keep keep;
  };
  std::vector<Saved> saved;
  c10::OperatorHandle forward, backward;
};

const Wiring& wiring(size_t op_index) {
  static const std::vector<Wiring> all = [] {
    std::vector<Wiring> w;
    for (const OpTable* op : kOps) {
      std::vector<size_t> index(op->n_rows);
      size_t n_in = 0, n_out = 0;
      for (size_t i = 0; i < op->n_rows; ++i) index[i] = op->rows[i].is_output ? n_out++ : n_in++;
      std::vector<Wiring::Saved> saved;
      for_each_backward_arg(*op, [&](BackwardArg a) {
        const TensorRow& r = op->rows[a.row];
        if (!a.is_grad) saved.push_back({r.is_output, index[a.row], r.keep});
      });
      auto& d = c10::Dispatcher::singleton();
      w.push_back({std::move(saved), d.findSchemaOrThrow((std::string("aegui::") + op->name).c_str(), ""),
                   d.findSchemaOrThrow(("aegui::" + backward_name(*op)).c_str(), "")});
    }
    return w;
  }();
  return all[op_index];
}

c10::IValue none_if_undefined(const Tensor& t) { return t.defined() ? c10::IValue(t) : c10::IValue(); }

// The gradients of a backward that create_graph=True asked to make differentiable: they get
// a grad_fn that raises when a second backward reaches it, connected to what they were
// computed from (`sources`), so that differentiating them towards any of it does reach it.
void refuse_double_backward(const OpTable& op, variable_list& grads, const variable_list& sources) {
  const std::string msg = std::string("aegui.") + op.name +
                          ": double backward (differentiating a gradient that create_graph=True built) is "
                          "not supported by the compiled op; its first derivatives are exact. For higher "
                          "derivatives run the pure-PyTorch reference (AEGUI_BACKEND=reference).";
  auto error = c10::make_intrusive<torch::autograd::Error>(msg, torch::autograd::collect_next_edges(sources));
  for (Tensor& g : grads)
    if (g.defined()) torch::autograd::create_gradient_edge(g, error);
}

// What the Autograd kernel hands the forward besides the tensors.
struct Call {
  size_t op_index;
  int64_t present;            // bit i: input i is not None (autograd takes no undefined tensor)
  c10::DispatchKeySet keys;   // of this call, to redispatch below autograd
  const c10::IValue* activation;
};

class OpFunction : public torch::autograd::Function<OpFunction> {
 public:
  // `given` holds the inputs that are not None, in order.
  static variable_list forward(AutogradContext* ctx, const Call& call, at::TensorList given) {
    at::AutoDispatchBelowADInplaceOrView below;
    const Wiring& w = wiring(call.op_index);
    const size_t n_in = kOps[call.op_index]->n_inputs();
    c10::SmallVector<Tensor, kMaxRows> inputs(n_in);  // (no heap: this runs for every training step)
    for (size_t i = 0, k = 0; i < n_in; ++i)
      if (call.present >> i & 1) inputs[i] = given[k++];
    Stack stack;
    stack.reserve(n_in + 1);
    for (const Tensor& t : inputs) stack.push_back(none_if_undefined(t));
    stack.push_back(*call.activation);
    w.forward.redispatchBoxed(call.keys & c10::after_autograd_keyset, &stack);
    variable_list outputs;
    outputs.reserve(stack.size());
    for (c10::IValue& v : stack) outputs.push_back(std::move(v).toTensor());
    variable_list saved;
    saved.reserve(w.saved.size());
    const bool keep_y = derivative_from_output(call.activation->toStringRef());
    for (const Wiring::Saved& s : w.saved) {
      const bool kept = s.keep == Keep::Yes || keep_y;
      saved.push_back(kept ? (s.is_output ? outputs[s.index] : inputs[s.index]) : Tensor());
    }
    ctx->saved_data["call"] = static_cast<int64_t>(call.op_index) | call.present << 8;
    ctx->saved_data["activation"] = *call.activation;
    ctx->save_for_backward(saved);
    ctx->set_materialize_grads(false);  // an unused output's gradient stays undefined: zero
    return outputs;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t packed = ctx->saved_data["call"].toInt();
    const size_t op_index = static_cast<size_t>(packed & 0xff);
    const int64_t present = packed >> 8;
    const OpTable& op = *kOps[op_index];
    const variable_list saved = ctx->get_saved_variables();
    Stack stack;
    variable_list sources;  // what requires grad here, when create_graph=True
    const bool create_graph = at::GradMode::is_enabled();
    for (const variable_list* list : std::initializer_list<const variable_list*>{&grads, &saved})
      for (const Tensor& t : *list) {
        stack.push_back(none_if_undefined(t));
        if (create_graph && t.defined() && t.requires_grad()) sources.push_back(t);
      }
    stack.emplace_back(ctx->saved_data["activation"]);
    c10::List<bool> mask;
    for (size_t i = 0, k = 0; i < op.n_inputs(); ++i) mask.push_back((present >> i & 1) && ctx->needs_input_grad(k++));
    stack.emplace_back(std::move(mask));
    {
      at::AutoDispatchBelowADInplaceOrView below;
      wiring(op_index).backward.callBoxed(&stack);
    }
    variable_list input_grads;
    for (c10::IValue& v : stack) input_grads.push_back(v.isNone() ? Tensor() : std::move(v).toTensor());
    if (!sources.empty()) refuse_double_backward(op, input_grads, sources);
    variable_list result{Tensor()};  // for the Call
    for (size_t i = 0; i < input_grads.size(); ++i)
      if (present >> i & 1) result.push_back(std::move(input_grads[i]));
    return result;
  }
};

// The Autograd kernel of one op. Without grad mode or any input that requires grad it goes
// straight to the kernel below, on the same stack.
class AutogradKernel final : public c10::OperatorKernel {
 public:
  explicit AutogradKernel(size_t op_index) : op_index_(op_index) {}

  void operator()(const c10::OperatorHandle& handle, c10::DispatchKeySet keys, Stack* stack) {
    const size_t n_in = kOps[op_index_]->n_inputs();
    const auto values = torch::jit::last(stack, n_in + 1);
    bool requires_grad = false;
    if (at::GradMode::is_enabled())
      for (size_t i = 0; i < n_in; ++i) requires_grad |= values[i].isTensor() && values[i].toTensor().requires_grad();
    if (!requires_grad) {
      at::AutoDispatchBelowADInplaceOrView below;
      handle.redispatchBoxed(keys & c10::after_autograd_keyset, stack);
      return;
    }
    c10::SmallVector<Tensor, kMaxRows> given;
    int64_t present = 0;
    for (size_t i = 0; i < n_in; ++i) {
      if (values[i].isNone()) continue;
      given.push_back(values[i].toTensor());
      present |= int64_t(1) << i;
    }
    const c10::IValue activation = values[n_in];
    torch::jit::drop(stack, n_in + 1);
    const Call call{op_index_, present, keys, &activation};
    for (Tensor& t : OpFunction::apply(call, at::TensorList(given))) torch::jit::push(stack, std::move(t));
  }

 private:
  const size_t op_index_;
};

}  // namespace

TORCH_LIBRARY_IMPL(aegui, Autograd, m) {
  for (size_t i = 0; i < sizeof(kOps) / sizeof(kOps[0]); ++i)
    m.impl(kOps[i]->name, torch::CppFunction::makeFromBoxedFunctor(std::make_unique<AutogradKernel>(i)));
}

}  // namespace aegui
