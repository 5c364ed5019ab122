// The torch side of the bottleneck ops: their schemas and kernels' marshalling, derived from
// the op tables (op_table.h), input checks (checks.h), allocation, streams, and one
// registration per backend. The kernels themselves take plain pointers (bottleneck.h).
#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bottleneck.h"
#include "checks.h"
#include "op_table.h"

#ifdef WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace aegui {
namespace {

using at::Tensor;
using c10::string_view;

// An uninitialised tensor like `like`. On the CPU this skips the dispatcher: at batch
// size 1 the op's own overhead is what it is measured by.
Tensor new_like(const Tensor& like, at::IntArrayRef sizes) {
  if (like.is_cpu()) return at::detail::empty_cpu(sizes, like.scalar_type());
  return at::empty(sizes, like.options());
}

// Rows per parallel chunk: enough multiply-adds (~64K) that a thread's start-up cost is
// small beside its work, so a single drawing (B = 1) never leaves the calling thread.
int64_t grain_rows(int64_t H, int64_t Z) {
  const int64_t per_row = 2 * (H > 0 ? H : 1) * (Z > 0 ? Z : 1);
  const int64_t g = (65536 + per_row - 1) / per_row;
  return g < 1 ? 1 : g;
}

void run(const Tensor& like, ForwardParams& p) {
  const DType dt = to_dtype(like.scalar_type());
  if (like.is_cuda()) {
#ifdef WITH_CUDA
    const c10::cuda::CUDAGuard guard(like.device());
    const int64_t bytes = cuda::forward_workspace_bytes(dt, p);
    Tensor ws = bytes > 0 ? at::empty({bytes}, like.options().dtype(at::kByte)) : Tensor();
    const char* err = cuda::forward(dt, p, ws.defined() ? ws.data_ptr() : nullptr,
                                    at::cuda::getCurrentCUDAStream().stream());
    TORCH_CHECK(err == nullptr, "aegui: CUDA forward kernel failed: ", err);
#else
    TORCH_CHECK(false, "aegui: this build of the extension has no CUDA kernels");
#endif
    return;
  }
  Tensor ws;
  if (const int64_t n = cpu::forward_workspace_size(p)) {
    ws = new_like(like, {n});
    cpu::forward_prepare(dt, p, ws.data_ptr());
  }
  const int64_t grain = grain_rows(p.H, p.Z);
  if (p.B <= grain) {
    cpu::forward(dt, p, 0, p.B);  // too little work to share between threads
    return;
  }
  at::parallel_for(0, p.B, grain, [&](int64_t b0, int64_t b1) { cpu::forward(dt, p, b0, b1); });
}

// Runs the backward; the caller has allocated every wanted output and points `p` at them.
void run(const Tensor& like, BackwardParams& p) {
  const DType dt = to_dtype(like.scalar_type());
  if (like.is_cuda()) {
#ifdef WITH_CUDA
    const c10::cuda::CUDAGuard guard(like.device());
    if (cuda::backward_uses_atomics(p))
      at::globalContext().alertNotDeterministic("aegui backward on CUDA (weight gradients summed with float atomics)");
    const int64_t bytes = cuda::backward_workspace_bytes(dt, p);
    Tensor ws = at::empty({bytes > 0 ? bytes : 1}, like.options().dtype(at::kByte));
    const char* err = cuda::backward(dt, p, ws.data_ptr(), at::cuda::getCurrentCUDAStream().stream());
    TORCH_CHECK(err == nullptr, "aegui: CUDA backward kernel failed: ", err);
#else
    TORCH_CHECK(false, "aegui: this build of the extension has no CUDA kernels");
#endif
    return;
  }
  Tensor ws;
  if (const int64_t n = cpu::backward_workspace_size(p)) {
    ws = new_like(like, {n});
    cpu::backward_prepare(dt, p, ws.data_ptr());
  }
  // One zeroed accumulator block per thread for the weight gradients, summed at the end:
  // threads never write to the same memory, and the sum does not depend on timing.
  const int64_t grain = grain_rows(p.H, p.Z);
  const int64_t n_blocks = p.B <= grain ? 1 : at::get_num_threads();
  const int64_t acc_size = cpu::backward_accumulator_size(p);
  Tensor acc = new_like(like, {n_blocks, acc_size});
  if (acc.nbytes()) std::memset(acc.data_ptr(), 0, acc.nbytes());  // none when no weight gradient is wanted
  char* base = static_cast<char*>(acc.data_ptr());
  const int64_t stride = acc_size * static_cast<int64_t>(acc.element_size());
  if (n_blocks == 1) {
    cpu::backward_rows(dt, p, 0, p.B, base);
  } else {
    at::parallel_for(0, p.B, grain, [&](int64_t b0, int64_t b1) {
      cpu::backward_rows(dt, p, b0, b1, base + at::get_thread_num() * stride);
    });
  }
  cpu::backward_finish(dt, p, base, n_blocks);
}

// ------------------------------------------------------ tensors -> kernel parameters
// Every op and every backward goes through run_kernel below, driven by a signature derived
// from the op's table (op_table.h): no op has marshalling code of its own.

// A tensor argument, as the kernel sees it.
template <class Params>
struct ArgSlot {
  std::string name;  // as the schema names it: "h", "grad_y"
  const char* dims;
  bool required;
  const void* Params::*field;
};

// A tensor result, allocated with `dims`; its data pointer goes to `field`.
template <class Params>
struct ResultSlot {
  const char* dims;
  void* Params::*field;
  int absent_with = -1;  // an argument whose None makes this result undefined (the gradient of an absent input)
};

template <class Params>
struct KernelSignature {
  std::string qualified;  // "aegui.bottleneck", for messages
  Mode mode = Mode::Plain;
  std::vector<ArgSlot<Params>> args;  // schema order; then `str activation`, then (backward) the mask
  std::vector<size_t> check_order;    // required ones first: they fix the sizes a message quotes
  std::vector<ResultSlot<Params>> results;
  bool masked = false;
};

template <class Params>
void order_checks(KernelSignature<Params>& sig) {
  for (bool required : {true, false})
    for (size_t i = 0; i < sig.args.size(); ++i)
      if (sig.args[i].required == required) sig.check_order.push_back(i);
}

KernelSignature<ForwardParams> forward_signature(const OpTable& op) {
  KernelSignature<ForwardParams> sig;
  sig.qualified = std::string("aegui.") + op.name;
  sig.mode = op.mode;
  for (size_t i = 0; i < op.n_rows; ++i) {
    const TensorRow& r = op.rows[i];
    if (r.is_output)
      sig.results.push_back({r.dims, r.out});
    else
      sig.args.push_back({r.name, r.dims, !r.optional, r.in});
  }
  order_checks(sig);
  return sig;
}

KernelSignature<BackwardParams> backward_signature(const OpTable& op) {
  KernelSignature<BackwardParams> sig;
  sig.qualified = "aegui." + backward_name(op);
  sig.mode = op.mode;
  sig.masked = true;
  std::vector<int> saved_at(op.n_rows, -1);  // row -> its argument
  for_each_backward_arg(op, [&](BackwardArg a) {
    const TensorRow& r = op.rows[a.row];
    if (a.is_grad) {
      sig.args.push_back({std::string("grad_") + r.name, r.dims, false, r.grad_in});
    } else {
      saved_at[a.row] = static_cast<int>(sig.args.size());
      sig.args.push_back({r.name, r.dims, !r.optional && r.keep == Keep::Yes, r.saved});
    }
  });
  for (size_t i = 0; i < op.n_rows; ++i) {
    const TensorRow& r = op.rows[i];
    if (!r.is_output) sig.results.push_back({r.dims, r.grad_out, r.optional ? saved_at[i] : -1});
  }
  order_checks(sig);
  return sig;
}

template <class Params>
void run_kernel(const KernelSignature<Params>& sig, torch::jit::Stack* stack) {
  const size_t n_args = sig.args.size(), n_values = n_args + (sig.masked ? 2 : 1);
  const auto values = torch::jit::last(stack, n_values);
  const char* op = sig.qualified.c_str();
  Params p;
  p.mode = sig.mode;
  p.act = parse_activation(op, values[n_args].toStringView());
  ArgChecker c(op);
  const Tensor* like = nullptr;  // the first required tensor: its dtype and device are the op's
  for (size_t i : sig.check_order) {
    if (values[i].isNone()) continue;  // only a Tensor? can be None: the schema sees to that
    c.check(sig.args[i].name.c_str(), values[i].toTensor(), sig.args[i].dims);
    if (!like) like = &values[i].toTensor();
  }
  p.B = c.size('B');
  p.H = c.size('H');
  p.Z = c.size('Z');
  uint32_t wanted = ~0u;  // bit k: result k is wanted (the output mask; all for a forward)
  if (sig.masked) {
    const c10::List<bool> mask = values[n_args + 1].toBoolList();
    TORCH_CHECK_VALUE(mask.size() == sig.results.size(), op, ": output_mask has ", mask.size(),
                      " flags; expected ", sig.results.size());
    for (size_t k = 0; k < mask.size(); ++k)
      if (!mask.get(k)) wanted &= ~(1u << k);
  }
  // An empty batch is no work: the outputs are empty or zero (a weight gradient summed over
  // no rows), and nothing is made contiguous, so weights that are stride-0 views of a huge
  // declared size cost nothing, as in the reference.
  const bool no_work = p.B == 0;
  c10::SmallVector<Tensor, kMaxRows> results(sig.results.size());
  for (size_t k = 0; k < sig.results.size(); ++k) {
    const ResultSlot<Params>& r = sig.results[k];
    if (!(wanted >> k & 1u) || (r.absent_with >= 0 && values[r.absent_with].isNone())) continue;
    c10::SmallVector<int64_t, 2> sizes;
    for (const char* d = r.dims; *d; ++d) sizes.push_back(c.size(*d));
    results[k] = no_work ? at::zeros(sizes, like->options()) : new_like(*like, sizes);
    p.*r.field = results[k].data_ptr();
  }
  if (!no_work) {
    c10::SmallVector<c10::MaybeOwned<Tensor>, kMaxRows> contiguous;
    contiguous.reserve(n_args);
    for (size_t i = 0; i < n_args; ++i) {
      if (values[i].isNone()) continue;
      contiguous.push_back(values[i].toTensor().expect_contiguous());
      p.*sig.args[i].field = contiguous.back()->const_data_ptr();
    }
    run(*like, p);
  }
  torch::jit::drop(stack, n_values);
  for (Tensor& t : results) torch::jit::push(stack, std::move(t));
}

// A boxed kernel for one op (or its backward), for the CPU and CUDA dispatch keys.
template <class Params>
class Kernel final : public c10::OperatorKernel {
 public:
  explicit Kernel(KernelSignature<Params> sig) : sig_(std::move(sig)) {}
  void operator()(const c10::OperatorHandle&, c10::DispatchKeySet, torch::jit::Stack* stack) {
    run_kernel(sig_, stack);
  }

 private:
  const KernelSignature<Params> sig_;
};

void register_kernels(torch::Library& m) {
  for (const OpTable* op : kOps) {
    m.impl(op->name, torch::CppFunction::makeFromBoxedFunctor(
                         std::make_unique<Kernel<ForwardParams>>(forward_signature(*op))));
    m.impl(backward_name(*op).c_str(), torch::CppFunction::makeFromBoxedFunctor(
                                           std::make_unique<Kernel<BackwardParams>>(backward_signature(*op))));
  }
}

// Which CPU instruction set the kernels use; a non-empty request switches to it (tests use
// this to run both paths). Returns the set in use afterwards.
std::string cpu_isa(string_view request) {
  if (!request.empty()) {
    const std::string name(request);
    TORCH_CHECK_VALUE(cpu::set_isa(name.c_str()), "aegui.cpu_isa: '", name,
                      "' is not available on this processor (generic, avx2, avx512; up to the widest it supports)");
  }
  return cpu::isa_name();
}

bool has_cuda_kernels() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace

TORCH_LIBRARY(aegui, m) {
  for (const OpTable* op : kOps) {
    m.def(schema(*op, false).c_str());
    m.def(schema(*op, true).c_str());
  }
  m.def("cpu_isa(str request='') -> str", &cpu_isa);
  m.def("has_cuda_kernels() -> bool", &has_cuda_kernels);
}

TORCH_LIBRARY_IMPL(aegui, CPU, m) { register_kernels(m); }

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(aegui, CUDA, m) { register_kernels(m); }
#endif

}  // namespace aegui
