// AVX2 + FMA vectors with the interface of vec_generic.h: 8 floats or 4 doubles.
//
// Included only by bottleneck_cpu_avx2.cpp, inside the region compiled for AVX2, so that
// nothing here can leak into code that runs on a processor without it.

struct VecF8 {
  using scalar_t = float;
  static constexpr int L = 8;
  static constexpr int kRegisters = 16;
  using Narrow = VecF8;
  __m256 v;

  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static VecF8 load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static VecF8 load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, mask(n))}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, mask(n), v); }
  static VecF8 set1(float x) { return {_mm256_set1_ps(x)}; }
  static VecF8 zero() { return {_mm256_setzero_ps()}; }
};

inline VecF8 fma(VecF8 a, VecF8 b, VecF8 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline VecF8 operator+(VecF8 a, VecF8 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline VecF8 operator-(VecF8 a, VecF8 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline VecF8 operator*(VecF8 a, VecF8 b) { return {_mm256_mul_ps(a.v, b.v)}; }

inline float hsum(VecF8 a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight dot products finished at once: lane i is the sum of acc[i]'s lanes. A tree of
// horizontal adds costs 7 instructions for all eight, instead of ~4 per hsum.
inline VecF8 transpose_reduce(const VecF8* acc) {
  const __m256 t0 = _mm256_hadd_ps(acc[0].v, acc[1].v);
  const __m256 t1 = _mm256_hadd_ps(acc[2].v, acc[3].v);
  const __m256 t2 = _mm256_hadd_ps(acc[4].v, acc[5].v);
  const __m256 t3 = _mm256_hadd_ps(acc[6].v, acc[7].v);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);  // low half: acc0..3 (lanes 0-3), high: lanes 4-7
  const __m256 u1 = _mm256_hadd_ps(t2, t3);
  const __m256 lo = _mm256_permute2f128_ps(u0, u1, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(u0, u1, 0x31);
  return {_mm256_add_ps(lo, hi)};
}

inline VecF8 div(VecF8 a, VecF8 b) { return {_mm256_div_ps(a.v, b.v)}; }
inline VecF8 fnma(VecF8 a, VecF8 b, VecF8 c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
inline VecF8 vmin(VecF8 a, VecF8 b) { return {_mm256_min_ps(a.v, b.v)}; }
inline VecF8 vmax(VecF8 a, VecF8 b) { return {_mm256_max_ps(a.v, b.v)}; }
inline VecF8 round_nearest(VecF8 a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
// 2^n for whole-numbered n in the normal range, by writing n + 127 into the exponent bits.
inline VecF8 pow2_of(VecF8 n) {
  const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
}
inline VecF8 vabs(VecF8 a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
// |mag| with the sign of `sign` (mag must be non-negative).
inline VecF8 copysign_of(VecF8 mag, VecF8 sign) {
  return {_mm256_or_ps(mag.v, _mm256_and_ps(_mm256_set1_ps(-0.0f), sign.v))};
}
inline VecF8 select_lt(VecF8 a, VecF8 b, VecF8 if_less, VecF8 otherwise) {
  return {_mm256_blendv_ps(otherwise.v, if_less.v, _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ))};
}
// relu's slope: 1 where a > 0 and where a is NaN (a gradient passes through NaN, as in
// torch's relu backward), else 0.
inline VecF8 relu_slope(VecF8 a) {
  return {_mm256_and_ps(_mm256_cmp_ps(a.v, _mm256_setzero_ps(), _CMP_NLE_UQ), _mm256_set1_ps(1.0f))};
}

struct VecD4 {
  using scalar_t = double;
  static constexpr int L = 4;
  static constexpr int kRegisters = 16;
  using Narrow = VecD4;
  __m256d v;

  static __m256i mask(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static VecD4 load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static VecD4 load_partial(const double* p, int n) { return {_mm256_maskload_pd(p, mask(n))}; }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  void store_partial(double* p, int n) const { _mm256_maskstore_pd(p, mask(n), v); }
  static VecD4 set1(double x) { return {_mm256_set1_pd(x)}; }
  static VecD4 zero() { return {_mm256_setzero_pd()}; }
};

inline VecD4 fma(VecD4 a, VecD4 b, VecD4 c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
inline VecD4 operator+(VecD4 a, VecD4 b) { return {_mm256_add_pd(a.v, b.v)}; }
inline VecD4 operator-(VecD4 a, VecD4 b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline VecD4 operator*(VecD4 a, VecD4 b) { return {_mm256_mul_pd(a.v, b.v)}; }

inline double hsum(VecD4 a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

inline VecD4 transpose_reduce(const VecD4* acc) {
  const __m256d t0 = _mm256_hadd_pd(acc[0].v, acc[1].v);  // a0_01 a1_01 a0_23 a1_23
  const __m256d t1 = _mm256_hadd_pd(acc[2].v, acc[3].v);
  const __m256d lo = _mm256_permute2f128_pd(t0, t1, 0x20);
  const __m256d hi = _mm256_permute2f128_pd(t0, t1, 0x31);
  return {_mm256_add_pd(lo, hi)};
}

inline VecD4 fnma(VecD4 a, VecD4 b, VecD4 c) { return {_mm256_fnmadd_pd(a.v, b.v, c.v)}; }
inline VecD4 vmax(VecD4 a, VecD4 b) { return {_mm256_max_pd(a.v, b.v)}; }
inline VecD4 relu_slope(VecD4 a) {
  return {_mm256_and_pd(_mm256_cmp_pd(a.v, _mm256_setzero_pd(), _CMP_NLE_UQ), _mm256_set1_pd(1.0))};
}

#include "vec_math.inl"

inline VecF8 act_forward(Activation act, VecF8 x) { return act_forward_fast(act, x); }
inline VecF8 act_derivative(Activation act, VecF8 x) { return act_derivative_fast(act, x); }
inline VecF8 act_derivative_from_output(Activation act, VecF8 y) { return act_derivative_from_y(act, y); }
inline VecF8 exp_vec(VecF8 x) { return exp_fast(x); }
inline VecD4 act_forward(Activation act, VecD4 x) { return act_forward_lanewise(act, x); }
inline VecD4 act_derivative(Activation act, VecD4 x) { return act_derivative_lanewise(act, x); }
inline VecD4 act_derivative_from_output(Activation act, VecD4 y) { return act_derivative_from_y(act, y); }
inline VecD4 exp_vec(VecD4 x) { return exp_lanewise(x); }
