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

using VecFloat = VecF16;
using VecDouble = VecD8;
#include "isa_entries.inl"

}  // namespace avx512
}  // namespace cpu
}  // namespace aegui

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // AEGUI_HAVE_AVX512_PATH
