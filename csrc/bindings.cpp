// The torch side of the bottleneck ops: schemas (declared once), input checks (checks.h),
// allocation, streams, and one registration per backend. The kernels themselves take
// plain pointers (bottleneck.h).
#include <Python.h>

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstring>
#include <string>
#include <vector>
#include <tuple>

#include "bottleneck.h"
#include "checks.h"

#ifdef WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

// `import aegui._C` loads this library, which registers the ops; it has no Python API.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&def);
}

namespace aegui {
namespace {

using at::Tensor;
using c10::optional;
using c10::string_view;

const void* ptr_or_null(const c10::MaybeOwned<Tensor>& t) { return t->defined() ? t->data_ptr() : nullptr; }

// An uninitialised tensor like `like`. On the CPU this skips the dispatcher: at batch
// size 1 the op's own overhead is what it is measured by.
Tensor new_like(const Tensor& like, at::IntArrayRef sizes) {
  if (like.is_cpu()) return at::detail::empty_cpu(sizes, like.scalar_type());
  return at::empty(sizes, like.options());
}

c10::MaybeOwned<Tensor> contiguous_or_undefined(const optional<Tensor>& t) {
  if (t.has_value() && t->defined()) return t->expect_contiguous();
  return c10::MaybeOwned<Tensor>::owned(Tensor());
}

// Rows per parallel chunk: enough multiply-adds (~64K) that a thread's start-up cost is
// small beside its work, so a single drawing (B = 1) never leaves the calling thread.
int64_t grain_rows(int64_t H, int64_t Z) {
  const int64_t per_row = 2 * (H > 0 ? H : 1) * (Z > 0 ? Z : 1);
  const int64_t g = (65536 + per_row - 1) / per_row;
  return g < 1 ? 1 : g;
}

void run_forward(const Tensor& like, ForwardParams& p) {
  if (p.B == 0) return;
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

// Runs the backward; the caller has allocated every output and points `p` at them.
void run_backward(const Tensor& like, BackwardParams& p) {
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
  const int64_t acc_size = cpu::backward_accumulator_size(p.mode, p.H, p.Z);
  Tensor acc = new_like(like, {n_blocks, acc_size});
  std::memset(acc.data_ptr(), 0, acc.nbytes());
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

// ------------------------------------------------------------------------------ ops

std::tuple<Tensor, Tensor> bottleneck(const Tensor& h, const Tensor& w_enc, const Tensor& b_enc,
                                      const Tensor& w_dec, const Tensor& b_dec, string_view activation) {
  const char* op = "aegui.bottleneck";
  const Activation act = parse_activation(op, activation);
  ArgChecker c(op);
  c.check("h", h, "BH");
  c.check("w_enc", w_enc, "ZH");
  c.check("b_enc", b_enc, "Z");
  c.check("w_dec", w_dec, "HZ");
  c.check("b_dec", b_dec, "H");
  const int64_t B = c.size('B'), H = c.size('H'), Z = c.size('Z');
  auto hc = h.expect_contiguous(), wec = w_enc.expect_contiguous(), bec = b_enc.expect_contiguous();
  auto wdc = w_dec.expect_contiguous(), bdc = b_dec.expect_contiguous();
  Tensor z = new_like(h, {B, Z});
  Tensor y = new_like(h, {B, H});
  ForwardParams p;
  p.mode = Mode::Plain;
  p.act = act;
  p.B = B; p.H = H; p.Z = Z;
  p.h = hc->data_ptr(); p.w_enc = wec->data_ptr(); p.b_enc = bec->data_ptr();
  p.w_dec = wdc->data_ptr(); p.b_dec = bdc->data_ptr();
  p.z = z.data_ptr(); p.y = y.data_ptr();
  run_forward(h, p);
  return {z, y};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> bottleneck_backward(
    const optional<Tensor>& grad_z, const optional<Tensor>& grad_y, const Tensor& h, const Tensor& w_enc,
    const Tensor& z, const optional<Tensor>& y, const Tensor& w_dec, const Tensor& b_dec, string_view activation) {
  const char* op = "aegui.bottleneck_backward";
  const Activation act = parse_activation(op, activation);
  ArgChecker c(op);
  c.check("h", h, "BH");
  c.check("w_enc", w_enc, "ZH");
  c.check("z", z, "BZ");
  c.check("w_dec", w_dec, "HZ");
  c.check("b_dec", b_dec, "H");
  c.check_optional("y", y, "BH");
  c.check_optional("grad_z", grad_z, "BZ");
  c.check_optional("grad_y", grad_y, "BH");
  const int64_t B = c.size('B'), H = c.size('H'), Z = c.size('Z');
  auto gzc = contiguous_or_undefined(grad_z), gyc = contiguous_or_undefined(grad_y);
  auto yc = contiguous_or_undefined(y);
  auto hc = h.expect_contiguous(), wec = w_enc.expect_contiguous(), zc = z.expect_contiguous();
  auto wdc = w_dec.expect_contiguous(), bdc = b_dec.expect_contiguous();
  Tensor g_h = new_like(h, {B, H});
  Tensor g_we = new_like(h, {Z, H}), g_be = new_like(h, {Z});
  Tensor g_wd = new_like(h, {H, Z}), g_bd = new_like(h, {H});
  BackwardParams p;
  p.mode = Mode::Plain;
  p.act = act;
  p.B = B; p.H = H; p.Z = Z;
  p.grad_z = ptr_or_null(gzc); p.grad_y = ptr_or_null(gyc);
  p.h = hc->data_ptr(); p.w_enc = wec->data_ptr(); p.z = zc->data_ptr(); p.y = ptr_or_null(yc);
  p.w_dec = wdc->data_ptr(); p.b_dec = bdc->data_ptr();
  p.grad_h = g_h.data_ptr(); p.grad_w_enc = g_we.data_ptr(); p.grad_b_enc = g_be.data_ptr();
  p.grad_w_dec = g_wd.data_ptr(); p.grad_b_dec = g_bd.data_ptr();
  run_backward(h, p);
  return {g_h, g_we, g_be, g_wd, g_bd};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> variational_bottleneck(
    const Tensor& h, const Tensor& w_mu, const Tensor& b_mu, const Tensor& w_logvar, const Tensor& b_logvar,
    const Tensor& w_dec, const Tensor& b_dec, const optional<Tensor>& eps, string_view activation) {
  const char* op = "aegui.variational_bottleneck";
  const Activation act = parse_activation(op, activation);
  ArgChecker c(op);
  c.check("h", h, "BH");
  c.check("w_mu", w_mu, "ZH");
  c.check("b_mu", b_mu, "Z");
  c.check("w_logvar", w_logvar, "ZH");
  c.check("b_logvar", b_logvar, "Z");
  c.check("w_dec", w_dec, "HZ");
  c.check("b_dec", b_dec, "H");
  c.check_optional("eps", eps, "BZ");
  const int64_t B = c.size('B'), H = c.size('H'), Z = c.size('Z');
  auto hc = h.expect_contiguous(), wmc = w_mu.expect_contiguous(), bmc = b_mu.expect_contiguous();
  auto wlc = w_logvar.expect_contiguous(), blc = b_logvar.expect_contiguous();
  auto wdc = w_dec.expect_contiguous(), bdc = b_dec.expect_contiguous();
  auto epsc = contiguous_or_undefined(eps);
  Tensor mu = new_like(h, {B, Z}), logvar = new_like(h, {B, Z});
  Tensor z = new_like(h, {B, Z}), y = new_like(h, {B, H});
  ForwardParams p;
  p.mode = Mode::Variational;
  p.act = act;
  p.B = B; p.H = H; p.Z = Z;
  p.h = hc->data_ptr(); p.w_enc = wmc->data_ptr(); p.b_enc = bmc->data_ptr();
  p.w_lv = wlc->data_ptr(); p.b_lv = blc->data_ptr(); p.eps = ptr_or_null(epsc);
  p.w_dec = wdc->data_ptr(); p.b_dec = bdc->data_ptr();
  p.mu = mu.data_ptr(); p.logvar = logvar.data_ptr(); p.z = z.data_ptr(); p.y = y.data_ptr();
  run_forward(h, p);
  return {mu, logvar, z, y};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> variational_bottleneck_backward(
    const optional<Tensor>& grad_mu, const optional<Tensor>& grad_logvar, const optional<Tensor>& grad_z,
    const optional<Tensor>& grad_y, const Tensor& h, const Tensor& w_mu, const Tensor& w_logvar,
    const optional<Tensor>& eps, const Tensor& logvar, const Tensor& z, const optional<Tensor>& y,
    const Tensor& w_dec, const Tensor& b_dec, string_view activation) {
  const char* op = "aegui.variational_bottleneck_backward";
  const Activation act = parse_activation(op, activation);
  ArgChecker c(op);
  c.check("h", h, "BH");
  c.check("w_mu", w_mu, "ZH");
  c.check("w_logvar", w_logvar, "ZH");
  c.check("logvar", logvar, "BZ");
  c.check("z", z, "BZ");
  c.check("w_dec", w_dec, "HZ");
  c.check("b_dec", b_dec, "H");
  c.check_optional("eps", eps, "BZ");
  c.check_optional("y", y, "BH");
  c.check_optional("grad_mu", grad_mu, "BZ");
  c.check_optional("grad_logvar", grad_logvar, "BZ");
  c.check_optional("grad_z", grad_z, "BZ");
  c.check_optional("grad_y", grad_y, "BH");
  const int64_t B = c.size('B'), H = c.size('H'), Z = c.size('Z');
  auto gmc = contiguous_or_undefined(grad_mu), glc = contiguous_or_undefined(grad_logvar);
  auto gzc = contiguous_or_undefined(grad_z), gyc = contiguous_or_undefined(grad_y);
  auto epsc = contiguous_or_undefined(eps), yc = contiguous_or_undefined(y);
  auto hc = h.expect_contiguous(), wmc = w_mu.expect_contiguous(), wlc = w_logvar.expect_contiguous();
  auto lvc = logvar.expect_contiguous(), zc = z.expect_contiguous();
  auto wdc = w_dec.expect_contiguous(), bdc = b_dec.expect_contiguous();
  const auto o = h.options();
  Tensor g_h = new_like(h, {B, H});
  Tensor g_wm = new_like(h, {Z, H}), g_bm = new_like(h, {Z});
  Tensor g_wl = new_like(h, {Z, H}), g_bl = new_like(h, {Z});
  Tensor g_wd = new_like(h, {H, Z}), g_bd = new_like(h, {H});
  // Without eps, z does not depend on eps: its gradient is zero (the schema has no optional
  // outputs).
  Tensor g_eps = epsc->defined() ? new_like(h, {B, Z}) : at::zeros({B, Z}, o);
  BackwardParams p;
  p.mode = Mode::Variational;
  p.act = act;
  p.B = B; p.H = H; p.Z = Z;
  p.grad_mu = ptr_or_null(gmc); p.grad_logvar = ptr_or_null(glc);
  p.grad_z = ptr_or_null(gzc); p.grad_y = ptr_or_null(gyc);
  p.h = hc->data_ptr(); p.w_enc = wmc->data_ptr(); p.w_lv = wlc->data_ptr(); p.eps = ptr_or_null(epsc);
  p.logvar = lvc->data_ptr(); p.z = zc->data_ptr(); p.y = ptr_or_null(yc);
  p.w_dec = wdc->data_ptr(); p.b_dec = bdc->data_ptr();
  p.grad_h = g_h.data_ptr(); p.grad_w_enc = g_wm.data_ptr(); p.grad_b_enc = g_bm.data_ptr();
  p.grad_w_lv = g_wl.data_ptr(); p.grad_b_lv = g_bl.data_ptr();
  p.grad_eps = epsc->defined() ? g_eps.data_ptr() : nullptr;
  p.grad_w_dec = g_wd.data_ptr(); p.grad_b_dec = g_bd.data_ptr();
  run_backward(h, p);
  return {g_h, g_wm, g_bm, g_wl, g_bl, g_eps, g_wd, g_bd};
}

Tensor decode_head(const Tensor& z, const Tensor& w_dec, const Tensor& b_dec, string_view activation) {
  const char* op = "aegui.decode_head";
  const Activation act = parse_activation(op, activation);
  ArgChecker c(op);
  c.check("z", z, "BZ");
  c.check("w_dec", w_dec, "HZ");
  c.check("b_dec", b_dec, "H");
  const int64_t B = c.size('B'), H = c.size('H'), Z = c.size('Z');
  auto zc = z.expect_contiguous(), wdc = w_dec.expect_contiguous(), bdc = b_dec.expect_contiguous();
  Tensor y = new_like(z, {B, H});
  ForwardParams p;
  p.mode = Mode::DecodeOnly;
  p.act = act;
  p.B = B; p.H = H; p.Z = Z;
  p.z_in = zc->data_ptr(); p.w_dec = wdc->data_ptr(); p.b_dec = bdc->data_ptr(); p.y = y.data_ptr();
  run_forward(z, p);
  return y;
}

std::tuple<Tensor, Tensor, Tensor> decode_head_backward(const optional<Tensor>& grad_y, const Tensor& z,
                                                        const optional<Tensor>& y, const Tensor& w_dec,
                                                        const Tensor& b_dec, string_view activation) {
  const char* op = "aegui.decode_head_backward";
  const Activation act = parse_activation(op, activation);
  ArgChecker c(op);
  c.check("z", z, "BZ");
  c.check("w_dec", w_dec, "HZ");
  c.check("b_dec", b_dec, "H");
  c.check_optional("y", y, "BH");
  c.check_optional("grad_y", grad_y, "BH");
  const int64_t B = c.size('B'), H = c.size('H'), Z = c.size('Z');
  auto gyc = contiguous_or_undefined(grad_y), yc = contiguous_or_undefined(y);
  auto zc = z.expect_contiguous(), wdc = w_dec.expect_contiguous(), bdc = b_dec.expect_contiguous();
  Tensor g_z = new_like(z, {B, Z});
  Tensor g_wd = new_like(z, {H, Z}), g_bd = new_like(z, {H});
  BackwardParams p;
  p.mode = Mode::DecodeOnly;
  p.act = act;
  p.B = B; p.H = H; p.Z = Z;
  p.grad_y = ptr_or_null(gyc);
  p.z = zc->data_ptr(); p.y = ptr_or_null(yc); p.w_dec = wdc->data_ptr(); p.b_dec = bdc->data_ptr();
  p.grad_z_in = g_z.data_ptr(); p.grad_w_dec = g_wd.data_ptr(); p.grad_b_dec = g_bd.data_ptr();
  run_backward(z, p);
  return {g_z, g_wd, g_bd};
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
  m.def("bottleneck(Tensor h, Tensor w_enc, Tensor b_enc, Tensor w_dec, Tensor b_dec, str activation='relu')"
        " -> (Tensor z, Tensor y)");
  m.def("bottleneck_backward(Tensor? grad_z, Tensor? grad_y, Tensor h, Tensor w_enc, Tensor z, Tensor? y,"
        " Tensor w_dec, Tensor b_dec, str activation)"
        " -> (Tensor grad_h, Tensor grad_w_enc, Tensor grad_b_enc, Tensor grad_w_dec, Tensor grad_b_dec)");
  m.def("variational_bottleneck(Tensor h, Tensor w_mu, Tensor b_mu, Tensor w_logvar, Tensor b_logvar,"
        " Tensor w_dec, Tensor b_dec, Tensor? eps=None, str activation='relu')"
        " -> (Tensor mu, Tensor logvar, Tensor z, Tensor y)");
  m.def("variational_bottleneck_backward(Tensor? grad_mu, Tensor? grad_logvar, Tensor? grad_z, Tensor? grad_y,"
        " Tensor h, Tensor w_mu, Tensor w_logvar, Tensor? eps, Tensor logvar, Tensor z, Tensor? y,"
        " Tensor w_dec, Tensor b_dec, str activation)"
        " -> (Tensor grad_h, Tensor grad_w_mu, Tensor grad_b_mu, Tensor grad_w_logvar, Tensor grad_b_logvar,"
        " Tensor grad_eps, Tensor grad_w_dec, Tensor grad_b_dec)");
  m.def("decode_head(Tensor z, Tensor w_dec, Tensor b_dec, str activation='relu') -> Tensor");
  m.def("decode_head_backward(Tensor? grad_y, Tensor z, Tensor? y, Tensor w_dec, Tensor b_dec, str activation)"
        " -> (Tensor grad_z, Tensor grad_w_dec, Tensor grad_b_dec)");
  m.def("cpu_isa(str request='') -> str", &cpu_isa);
  m.def("has_cuda_kernels() -> bool", &has_cuda_kernels);
}

TORCH_LIBRARY_IMPL(aegui, CPU, m) {
  m.impl("bottleneck", &bottleneck);
  m.impl("bottleneck_backward", &bottleneck_backward);
  m.impl("variational_bottleneck", &variational_bottleneck);
  m.impl("variational_bottleneck_backward", &variational_bottleneck_backward);
  m.impl("decode_head", &decode_head);
  m.impl("decode_head_backward", &decode_head_backward);
}

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(aegui, CUDA, m) {
  m.impl("bottleneck", &bottleneck);
  m.impl("bottleneck_backward", &bottleneck_backward);
  m.impl("variational_bottleneck", &variational_bottleneck);
  m.impl("variational_bottleneck_backward", &variational_bottleneck_backward);
  m.impl("decode_head", &decode_head);
  m.impl("decode_head_backward", &decode_head_backward);
}
#endif

}  // namespace aegui
