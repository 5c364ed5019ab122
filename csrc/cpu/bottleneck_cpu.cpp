// CPU kernels: the portable build of kernels.inl, and the dispatcher that picks the
// instruction set once (AVX2 + FMA where the processor has it) instead of baking
// -march=native into a wheel.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../bottleneck.h"
#include "activation_scalar.h"
#include "isa_entry.h"

namespace aegui {
namespace cpu {

namespace generic {
#include "vec_generic.h"
#include "kernels.inl"

void forward_f32(const ForwardParams& p, int64_t r0, int64_t r1) { forward_rows<VecScalar<float>>(p, r0, r1); }
void forward_f64(const ForwardParams& p, int64_t r0, int64_t r1) { forward_rows<VecScalar<double>>(p, r0, r1); }
void backward_f32(const BackwardParams& p, int64_t r0, int64_t r1, const GradAccumulators& acc, float* scratch) {
  backward_rows<VecScalar<float>>(p, r0, r1, acc, scratch);
}
void backward_f64(const BackwardParams& p, int64_t r0, int64_t r1, const GradAccumulators& acc,
                  double* scratch) {
  backward_rows<VecScalar<double>>(p, r0, r1, acc, scratch);
}
}  // namespace generic

namespace {

enum class Isa { Generic, Avx2 };

bool cpu_has_avx2() {
#if AEGUI_HAVE_AVX2_PATH
  // __builtin_cpu_supports also checks that the OS saves the AVX registers.
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

Isa initial_isa() {
  const char* forced = std::getenv("AEGUI_CPU_ISA");
  if (forced && std::strcmp(forced, "generic") == 0) return Isa::Generic;
  return cpu_has_avx2() ? Isa::Avx2 : Isa::Generic;
}

Isa& current_isa() {
  static Isa isa = initial_isa();
  return isa;
}

// Scratch for one thread's row blocks, kept between calls so that the hot path at batch
// size 1 allocates nothing.
template <typename T>
T* thread_scratch(int64_t n) {
  thread_local std::vector<double> buf;
  const size_t words = static_cast<size_t>((n * static_cast<int64_t>(sizeof(T)) + 7) / 8);
  if (buf.size() < words) buf.resize(words);
  return reinterpret_cast<T*>(buf.data());
}

void forward_f32(const ForwardParams& p, int64_t r0, int64_t r1) {
#if AEGUI_HAVE_AVX2_PATH
  if (current_isa() == Isa::Avx2) return avx2::forward_f32(p, r0, r1);
#endif
  generic::forward_f32(p, r0, r1);
}

void forward_f64(const ForwardParams& p, int64_t r0, int64_t r1) {
#if AEGUI_HAVE_AVX2_PATH
  if (current_isa() == Isa::Avx2) return avx2::forward_f64(p, r0, r1);
#endif
  generic::forward_f64(p, r0, r1);
}

void backward_f32(const BackwardParams& p, int64_t r0, int64_t r1, const GradAccumulators& acc) {
  float* scratch = thread_scratch<float>(generic::backward_scratch_size(p.H, p.Z));
#if AEGUI_HAVE_AVX2_PATH
  if (current_isa() == Isa::Avx2) return avx2::backward_f32(p, r0, r1, acc, scratch);
#endif
  generic::backward_f32(p, r0, r1, acc, scratch);
}

void backward_f64(const BackwardParams& p, int64_t r0, int64_t r1, const GradAccumulators& acc) {
  double* scratch = thread_scratch<double>(generic::backward_scratch_size(p.H, p.Z));
#if AEGUI_HAVE_AVX2_PATH
  if (current_isa() == Isa::Avx2) return avx2::backward_f64(p, r0, r1, acc, scratch);
#endif
  generic::backward_f64(p, r0, r1, acc, scratch);
}

// Below this batch size the transposed weight copies cost more than they save.
constexpr int64_t kTransposeMinBatch = 8;

template <typename T>
void transpose(const void* src, int64_t rows, int64_t cols, T* dst) {
  const T* s = static_cast<const T*>(src);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = s[r * cols + c];
}

template <typename T>
void forward_prepare_typed(ForwardParams& p, T* ws) {
  const int64_t HZ = p.H * p.Z;
  if (p.mode != Mode::DecodeOnly) {
    transpose(p.w_enc, p.Z, p.H, ws);
    p.w_enc_t = ws;
    ws += HZ;
  }
  if (p.mode == Mode::Variational) {
    transpose(p.w_lv, p.Z, p.H, ws);
    p.w_lv_t = ws;
    ws += HZ;
  }
  transpose(p.w_dec, p.H, p.Z, ws);
  p.w_dec_t = ws;
}

bool backward_needs_pre(const BackwardParams& p) {
  const bool from_y = p.y != nullptr && (p.act == Activation::Relu || p.act == Activation::Tanh ||
                                         p.act == Activation::Identity);
  return p.grad_y != nullptr && !from_y;
}

}  // namespace

const char* isa_name() { return current_isa() == Isa::Avx2 ? "avx2" : "generic"; }

bool set_isa(const char* name) {
  if (std::strcmp(name, "generic") == 0) {
    current_isa() = Isa::Generic;
    return true;
  }
  if (std::strcmp(name, "avx2") == 0 && cpu_has_avx2()) {
    current_isa() = Isa::Avx2;
    return true;
  }
  return false;
}

int64_t forward_workspace_size(const ForwardParams& p) {
  if (p.B < kTransposeMinBatch) return 0;
  const int64_t n = p.mode == Mode::Plain ? 2 : p.mode == Mode::Variational ? 3 : 1;
  return n * p.H * p.Z;
}

void forward_prepare(DType dtype, ForwardParams& p, void* workspace) {
  if (forward_workspace_size(p) == 0) return;
  if (dtype == DType::F64)
    forward_prepare_typed(p, static_cast<double*>(workspace));
  else
    forward_prepare_typed(p, static_cast<float*>(workspace));
}

int64_t backward_workspace_size(const BackwardParams& p) {
  return (p.B >= kTransposeMinBatch && backward_needs_pre(p)) ? p.H * p.Z : 0;
}

void backward_prepare(DType dtype, BackwardParams& p, void* workspace) {
  if (backward_workspace_size(p) == 0) return;
  if (dtype == DType::F64)
    transpose(p.w_dec, p.H, p.Z, static_cast<double*>(workspace));
  else
    transpose(p.w_dec, p.H, p.Z, static_cast<float*>(workspace));
  p.w_dec_t = workspace;
}

void forward(DType dtype, const ForwardParams& p, int64_t row_begin, int64_t row_end) {
  if (dtype == DType::F64)
    forward_f64(p, row_begin, row_end);
  else
    forward_f32(p, row_begin, row_end);
}

void backward_rows(DType dtype, const BackwardParams& p, int64_t row_begin, int64_t row_end,
                   const GradAccumulators& acc) {
  if (dtype == DType::F64)
    backward_f64(p, row_begin, row_end, acc);
  else
    backward_f32(p, row_begin, row_end, acc);
}

}  // namespace cpu
}  // namespace aegui
