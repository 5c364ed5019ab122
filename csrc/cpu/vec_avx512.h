// AVX-512 (F, DQ, VL, BW) vectors with the interface of vec_generic.h: 16 floats or 8
// doubles, and 32 vector registers, which the kernels spend on larger register tiles.
//
// Included only by bottleneck_cpu_avx512.cpp, inside the region compiled for AVX-512.
// Small batches run on the 256-bit vectors (`Narrow`): there a row's few dot products are
// finished by horizontal sums, which cost more at 512 bits than they save.

#include "vec_avx2.h"

inline __mmask16 lanes16(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }
inline __mmask8 lanes8(int n) { return n >= 8 ? __mmask8(0xFF) : __mmask8((1u << n) - 1u); }

struct VecF16 {
  using scalar_t = float;
  static constexpr int L = 16;
  static constexpr int kRegisters = 32;
  using Narrow = VecF8;
  __m512 v;

  static VecF16 load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static VecF16 load_partial(const float* p, int n) { return {_mm512_maskz_loadu_ps(lanes16(n), p)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, lanes16(n), v); }
  static VecF16 set1(float x) { return {_mm512_set1_ps(x)}; }
  static VecF16 zero() { return {_mm512_setzero_ps()}; }
};

inline VecF16 fma(VecF16 a, VecF16 b, VecF16 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline VecF16 fnma(VecF16 a, VecF16 b, VecF16 c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
inline VecF16 operator+(VecF16 a, VecF16 b) { return {_mm512_add_ps(a.v, b.v)}; }
inline VecF16 operator-(VecF16 a, VecF16 b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline VecF16 operator*(VecF16 a, VecF16 b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline VecF16 div(VecF16 a, VecF16 b) { return {_mm512_div_ps(a.v, b.v)}; }
inline VecF16 vmin(VecF16 a, VecF16 b) { return {_mm512_min_ps(a.v, b.v)}; }
inline VecF16 vmax(VecF16 a, VecF16 b) { return {_mm512_max_ps(a.v, b.v)}; }
inline VecF16 round_nearest(VecF16 a) {
  return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
}
inline VecF16 pow2_of(VecF16 n) {
  const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
}
inline VecF16 vabs(VecF16 a) { return {_mm512_abs_ps(a.v)}; }
inline VecF16 copysign_of(VecF16 mag, VecF16 sign) {
  return {_mm512_or_ps(mag.v, _mm512_and_ps(_mm512_set1_ps(-0.0f), sign.v))};
}
inline VecF16 select_lt(VecF16 a, VecF16 b, VecF16 if_less, VecF16 otherwise) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ), otherwise.v, if_less.v)};
}
inline VecF16 relu_slope(VecF16 a) {
  return {_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a.v, _mm512_setzero_ps(), _CMP_NLE_UQ), _mm512_set1_ps(1.0f))};
}
inline float hsum(VecF16 a) { return _mm512_reduce_add_ps(a.v); }

// Eight 256-bit dot-product accumulators finished at once (see vec_avx2.h).
inline __m256 reduce8(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]);
  const __m256 t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);
  const __m256 u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Sixteen accumulators: fold each to 256 bits, then two trees of eight.
inline VecF16 transpose_reduce(const VecF16* acc) {
  __m256 f[16];
  for (int i = 0; i < 16; ++i)
    f[i] = _mm256_add_ps(_mm512_castps512_ps256(acc[i].v), _mm512_extractf32x8_ps(acc[i].v, 1));
  return {_mm512_insertf32x8(_mm512_castps256_ps512(reduce8(f)), reduce8(f + 8), 1)};
}

struct VecD8 {
  using scalar_t = double;
  static constexpr int L = 8;
  static constexpr int kRegisters = 32;
  using Narrow = VecD4;
  __m512d v;

  static VecD8 load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static VecD8 load_partial(const double* p, int n) { return {_mm512_maskz_loadu_pd(lanes8(n), p)}; }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void store_partial(double* p, int n) const { _mm512_mask_storeu_pd(p, lanes8(n), v); }
  static VecD8 set1(double x) { return {_mm512_set1_pd(x)}; }
  static VecD8 zero() { return {_mm512_setzero_pd()}; }
};

inline VecD8 fma(VecD8 a, VecD8 b, VecD8 c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
inline VecD8 fnma(VecD8 a, VecD8 b, VecD8 c) { return {_mm512_fnmadd_pd(a.v, b.v, c.v)}; }
inline VecD8 operator+(VecD8 a, VecD8 b) { return {_mm512_add_pd(a.v, b.v)}; }
inline VecD8 operator-(VecD8 a, VecD8 b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline VecD8 operator*(VecD8 a, VecD8 b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline VecD8 vmax(VecD8 a, VecD8 b) { return {_mm512_max_pd(a.v, b.v)}; }
inline VecD8 relu_slope(VecD8 a) {
  return {_mm512_maskz_mov_pd(_mm512_cmp_pd_mask(a.v, _mm512_setzero_pd(), _CMP_NLE_UQ), _mm512_set1_pd(1.0))};
}
inline double hsum(VecD8 a) { return _mm512_reduce_add_pd(a.v); }

inline VecD8 transpose_reduce(const VecD8* acc) {
  alignas(64) double out[8];
  for (int i = 0; i < 8; ++i) out[i] = _mm512_reduce_add_pd(acc[i].v);
  return {_mm512_load_pd(out)};
}

#include "vec_math.inl"

inline VecF16 act_forward(Activation act, VecF16 x) { return act_forward_fast(act, x); }
inline VecF16 act_derivative(Activation act, VecF16 x) { return act_derivative_fast(act, x); }
inline VecF16 act_derivative_from_output(Activation act, VecF16 y) { return act_derivative_from_y(act, y); }
inline VecF16 exp_vec(VecF16 x) { return exp_fast(x); }
inline VecD8 act_forward(Activation act, VecD8 x) { return act_forward_lanewise(act, x); }
inline VecD8 act_derivative(Activation act, VecD8 x) { return act_derivative_lanewise(act, x); }
inline VecD8 act_derivative_from_output(Activation act, VecD8 y) { return act_derivative_from_y(act, y); }
inline VecD8 exp_vec(VecD8 x) { return exp_lanewise(x); }
