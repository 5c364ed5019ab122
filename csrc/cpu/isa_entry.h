// Entry points that each instruction-set build of kernels.inl defines (one namespace per
// set), and whether this compiler and target can build the AVX2 one.
#pragma once

#include <cstdint>

#include "../bottleneck.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define AEGUI_HAVE_AVX2_PATH 1
#define AEGUI_HAVE_AVX512_PATH 1
#else
#define AEGUI_HAVE_AVX2_PATH 0
#define AEGUI_HAVE_AVX512_PATH 0
#endif

namespace aegui {
namespace cpu {

#define AEGUI_DECLARE_ISA_ENTRIES(ns)                                                          \
  namespace ns {                                                                               \
  void forward_f32(const ForwardParams& p, int64_t r0, int64_t r1);                            \
  void forward_f64(const ForwardParams& p, int64_t r0, int64_t r1);                            \
  void backward_f32(const BackwardParams& p, int64_t r0, int64_t r1, float* acc, float* scratch); \
  void backward_f64(const BackwardParams& p, int64_t r0, int64_t r1, double* acc, double* scratch); \
  }

AEGUI_DECLARE_ISA_ENTRIES(generic)
#if AEGUI_HAVE_AVX2_PATH
AEGUI_DECLARE_ISA_ENTRIES(avx2)
#endif
#if AEGUI_HAVE_AVX512_PATH
AEGUI_DECLARE_ISA_ENTRIES(avx512)
#endif

#undef AEGUI_DECLARE_ISA_ENTRIES

}  // namespace cpu
}  // namespace aegui
