// CPU kernels: the portable build of kernels.inl, and the dispatcher that picks the
// instruction set once (AVX-512 or AVX2 + FMA where the processor has them) instead of
// baking -march=native into a wheel.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../bottleneck.h"
#include "activation_scalar.h"
#include "isa_entry.h"

namespace aegui {
namespace cpu {

namespace generic {
#include "vec_generic.h"
#include "kernels.inl"

using VecFloat = VecScalar<float>;
using VecDouble = VecScalar<double>;
#include "isa_entries.inl"

}  // namespace generic

namespace {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

Isa best_supported() {
#if AEGUI_HAVE_AVX2_PATH
  // __builtin_cpu_supports also checks that the OS saves the wider registers.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Generic;
}

bool parse_isa(const char* name, Isa* out) {
  if (std::strcmp(name, "generic") == 0) *out = Isa::Generic;
  else if (std::strcmp(name, "avx2") == 0) *out = Isa::Avx2;
  else if (std::strcmp(name, "avx512") == 0) *out = Isa::Avx512;
  else return false;
  return true;
}

Isa initial_isa() {
  const Isa best = best_supported();
  Isa cap;
  const char* forced = std::getenv("AEGUI_CPU_ISA");
  if (forced && parse_isa(forced, &cap) && cap < best) return cap;
  return best;
}

Isa& current_isa() {
  static Isa isa = initial_isa();
  return isa;
}

// Scratch for one thread's row blocks. A small one is kept between calls, so that the hot
// path at batch size 1 allocates nothing; a larger one (a hidden layer of tens of
// thousands) is allocated for the call and freed after it: kept, one call at H = 4M would
// hold hundreds of MB per thread for the life of the process.
constexpr size_t kKeptScratchBytes = size_t(1) << 20;

template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    if (bytes > kKeptScratchBytes) {
      owned_.reset(new T[static_cast<size_t>(n)]);
      ptr_ = owned_.get();
      return;
    }
    thread_local std::vector<double> kept;
    const size_t words = (bytes + sizeof(double) - 1) / sizeof(double);
    if (kept.size() < words) kept.resize(words);
    ptr_ = reinterpret_cast<T*>(kept.data());
  }
  T* get() const { return ptr_; }

 private:
  std::unique_ptr<T[]> owned_;
  T* ptr_ = nullptr;
};

// One switch per entry point; the compiler turns each into a jump on current_isa().
#if AEGUI_HAVE_AVX512_PATH
#define AEGUI_ON_ISA(call)                                  \
  switch (current_isa()) {                                  \
    case Isa::Avx512: return avx512::call;                  \
    case Isa::Avx2: return avx2::call;                      \
    default: return generic::call;                          \
  }
#elif AEGUI_HAVE_AVX2_PATH
#define AEGUI_ON_ISA(call)                                  \
  if (current_isa() == Isa::Avx2) return avx2::call;        \
  return generic::call;
#else
#define AEGUI_ON_ISA(call) return generic::call;
#endif

void forward_f32(const ForwardParams& p, int64_t r0, int64_t r1) { AEGUI_ON_ISA(forward_f32(p, r0, r1)) }
void forward_f64(const ForwardParams& p, int64_t r0, int64_t r1) { AEGUI_ON_ISA(forward_f64(p, r0, r1)) }

void backward_f32(const BackwardParams& p, int64_t r0, int64_t r1, float* acc) {
  const Scratch<float> scratch(generic::backward_scratch_size(p.H, p.Z));
  AEGUI_ON_ISA(backward_f32(p, r0, r1, acc, scratch.get()))
}

void backward_f64(const BackwardParams& p, int64_t r0, int64_t r1, double* acc) {
  const Scratch<double> scratch(generic::backward_scratch_size(p.H, p.Z));
  AEGUI_ON_ISA(backward_f64(p, r0, r1, acc, scratch.get()))
}

template <typename T>
void finish_typed(const BackwardParams& p, const T* acc, int64_t n_blocks) {
  const generic::AccLayout lay(p);
  const int64_t H = p.H, Z = p.Z;
  auto sum = [&](int64_t offset, int64_t n, T* out) {
    if (!out) return;  // not wanted: it has no section
    for (int64_t i = 0; i < n; ++i) out[i] = acc[offset + i];
    for (int64_t b = 1; b < n_blocks; ++b) {
      const T* blk = acc + b * lay.total + offset;
      for (int64_t i = 0; i < n; ++i) out[i] += blk[i];
    }
  };
  sum(lay.w_enc, Z * H, static_cast<T*>(p.grad_w_enc));
  sum(lay.b_enc, Z, static_cast<T*>(p.grad_b_enc));
  sum(lay.w_lv, Z * H, static_cast<T*>(p.grad_w_lv));
  sum(lay.b_lv, Z, static_cast<T*>(p.grad_b_lv));
  sum(lay.b_dec, H, static_cast<T*>(p.grad_b_dec));
  if (T* out = static_cast<T*>(p.grad_w_dec)) {  // accumulated as (Z, H); the output is (H, Z)
    for (int64_t j = 0; j < Z; ++j)
      for (int64_t i = 0; i < H; ++i) {
        T s = T(0);
        for (int64_t b = 0; b < n_blocks; ++b) s += acc[b * lay.total + lay.w_dec_t + j * H + i];
        out[i * Z + j] = s;
      }
  }
}

// Below this batch size the transposed weight copies cost more than they save.
constexpr int64_t kTransposeMinBatch = 8;

// dst (cols, rows) = src (rows, cols).T, written in order: the strided reads walk down a
// column of a weight small enough to stay in cache.
template <typename T>
void transpose(const void* src, int64_t rows, int64_t cols, T* dst) {
  const T* s = static_cast<const T*>(src);
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r) dst[c * rows + r] = s[r * cols + c];
}

template <typename T>
void forward_prepare_typed(ForwardParams& p, T* ws) {
  transpose(p.w_dec, p.H, p.Z, ws);
  p.w_dec_t = ws;
}

}  // namespace

const char* isa_name() {
  switch (current_isa()) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

bool set_isa(const char* name) {
  Isa want;
  if (!parse_isa(name, &want) || want > best_supported()) return false;
  current_isa() = want;
  return true;
}

int64_t forward_workspace_size(const ForwardParams& p) { return p.B < kTransposeMinBatch ? 0 : p.H * p.Z; }

void forward_prepare(DType dtype, ForwardParams& p, void* workspace) {
  if (forward_workspace_size(p) == 0) return;
  if (dtype == DType::F64)
    forward_prepare_typed(p, static_cast<double*>(workspace));
  else
    forward_prepare_typed(p, static_cast<float*>(workspace));
}

int64_t backward_workspace_size(const BackwardParams& p) {
  return (p.B >= kTransposeMinBatch && p.grad_y != nullptr) ? p.H * p.Z : 0;
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

int64_t backward_accumulator_size(const BackwardParams& p) { return generic::AccLayout(p).total; }

void backward_rows(DType dtype, const BackwardParams& p, int64_t row_begin, int64_t row_end, void* acc_block) {
  if (dtype == DType::F64)
    backward_f64(p, row_begin, row_end, static_cast<double*>(acc_block));
  else
    backward_f32(p, row_begin, row_end, static_cast<float*>(acc_block));
}

void backward_finish(DType dtype, const BackwardParams& p, const void* acc_blocks, int64_t n_blocks) {
  if (dtype == DType::F64)
    finish_typed(p, static_cast<const double*>(acc_blocks), n_blocks);
  else
    finish_typed(p, static_cast<const float*>(acc_blocks), n_blocks);
}

}  // namespace cpu
}  // namespace aegui
