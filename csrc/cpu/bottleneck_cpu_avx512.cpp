// The CPU kernels compiled for AVX-512 (F, DQ, VL, BW): twice the vector width and
// register count of AVX2. Only this file is compiled for those instructions (by a pragma,
// so one wheel runs everywhere); bottleneck_cpu.cpp calls into it only after the processor
// said it has them.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../bottleneck.h"
#include "activation_scalar.h"
#include "isa_entry.h"

#if AEGUI_HAVE_AVX512_PATH

#include <immintrin.h>

// Everything from here to the pop is compiled for AVX-512, in its own namespace, so no
// inline function compiled with these instructions can stand in for a portable one.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
#endif

namespace aegui {
namespace cpu {
namespace avx512 {

#include "vec_avx512.h"
#include "kernels.inl"

void forward_f32(const ForwardParams& p, int64_t r0, int64_t r1) { forward_rows<VecF16>(p, r0, r1); }
void forward_f64(const ForwardParams& p, int64_t r0, int64_t r1) { forward_rows<VecD8>(p, r0, r1); }
void backward_f32(const BackwardParams& p, int64_t r0, int64_t r1, float* acc, float* scratch) {
  backward_rows<VecF16>(p, r0, r1, acc, scratch);
}
void backward_f64(const BackwardParams& p, int64_t r0, int64_t r1, double* acc, double* scratch) {
  backward_rows<VecD8>(p, r0, r1, acc, scratch);
}

}  // namespace avx512
}  // namespace cpu
}  // namespace aegui

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // AEGUI_HAVE_AVX512_PATH
