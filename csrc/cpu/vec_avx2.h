// AVX2 + FMA vectors with the interface of vec_generic.h: 8 floats or 4 doubles.
//
// Included only by bottleneck_cpu_avx2.cpp, inside the region compiled for AVX2, so that
// nothing here can leak into code that runs on a processor without it.

struct VecF8 {
  using scalar_t = float;
  static constexpr int L = 8;
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

// exp for float lanes (Cephes' expf): relative error about 2 ulp. The input is clamped to
// [-87.3, 88.0] so the result stays a normal float; callers only need that range.
inline VecF8 exp_vec(VecF8 x) {
  __m256 v = _mm256_min_ps(_mm256_max_ps(x.v, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  v = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), v);
  v = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), v);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(v, v), _mm256_add_ps(v, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return {_mm256_mul_ps(p, _mm256_castsi256_ps(e))};
}

inline __m256 abs_ps(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
inline __m256 sign_bits(__m256 x) { return _mm256_and_ps(_mm256_set1_ps(-0.0f), x); }

// erf (Abramowitz & Stegun 7.1.26): absolute error below 1.5e-7, enough for float GELU.
inline __m256 erf_ps(__m256 x) {
  const __m256 a = abs_ps(x);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, one));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  const __m256 e = exp_vec({_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a)}).v;
  const __m256 y = _mm256_fnmadd_ps(p, e, one);
  return _mm256_or_ps(y, sign_bits(x));
}

// tanh: Cephes' polynomial near zero (keeps relative accuracy), 1 - 2/(e^2|x| + 1) beyond.
inline __m256 tanh_ps(__m256 x) {
  const __m256 a = abs_ps(x);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_vec({_mm256_add_ps(a, a)}).v;
  const __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 large = _mm256_or_ps(big, sign_bits(x));
  return _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

inline __m256 sigmoid_ps(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_vec({_mm256_sub_ps(_mm256_setzero_ps(), x)}).v;
  return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

inline VecF8 act_forward(Activation act, VecF8 x) {
  switch (act) {
    case Activation::Relu:
      // max(0, x) returns its second operand for NaN, so NaN stays NaN as in torch.relu.
      return {_mm256_max_ps(_mm256_setzero_ps(), x.v)};
    case Activation::Gelu: {
      const __m256 cdf = _mm256_mul_ps(
          _mm256_set1_ps(0.5f),
          _mm256_add_ps(_mm256_set1_ps(1.0f), erf_ps(_mm256_mul_ps(x.v, _mm256_set1_ps(0.70710678f)))));
      return {_mm256_mul_ps(x.v, cdf)};
    }
    case Activation::Silu:
      return {_mm256_mul_ps(x.v, sigmoid_ps(x.v))};
    case Activation::Tanh:
      return {tanh_ps(x.v)};
    case Activation::Identity:
    default:
      return x;
  }
}

inline VecF8 act_derivative(Activation act, VecF8 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  switch (act) {
    case Activation::Relu:
      return {_mm256_and_ps(_mm256_cmp_ps(x.v, _mm256_setzero_ps(), _CMP_GT_OQ), one)};
    case Activation::Gelu: {
      const __m256 cdf = _mm256_mul_ps(
          _mm256_set1_ps(0.5f), _mm256_add_ps(one, erf_ps(_mm256_mul_ps(x.v, _mm256_set1_ps(0.70710678f)))));
      const __m256 pdf = _mm256_mul_ps(
          exp_vec({_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(x.v, x.v))}).v,
          _mm256_set1_ps(0.39894228f));
      return {_mm256_fmadd_ps(x.v, pdf, cdf)};
    }
    case Activation::Silu: {
      const __m256 s = sigmoid_ps(x.v);
      return {_mm256_mul_ps(s, _mm256_fmadd_ps(x.v, _mm256_sub_ps(one, s), one))};
    }
    case Activation::Tanh: {
      const __m256 t = tanh_ps(x.v);
      return {_mm256_fnmadd_ps(t, t, one)};
    }
    case Activation::Identity:
    default:
      return {one};
  }
}

struct VecD4 {
  using scalar_t = double;
  static constexpr int L = 4;
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

// double precision is for checking, not speed: activations go lane by lane through libm.
inline VecD4 lanewise(VecD4 x, double (*f)(Activation, double), Activation act) {
  alignas(32) double t[4];
  _mm256_store_pd(t, x.v);
  for (int i = 0; i < 4; ++i) t[i] = f(act, t[i]);
  return {_mm256_load_pd(t)};
}
inline VecD4 act_forward(Activation act, VecD4 x) {
  if (act == Activation::Relu) return {_mm256_max_pd(_mm256_setzero_pd(), x.v)};
  if (act == Activation::Identity) return x;
  return lanewise(x, &act_scalar<double>, act);
}
inline VecD4 act_derivative(Activation act, VecD4 x) {
  if (act == Activation::Relu)
    return {_mm256_and_pd(_mm256_cmp_pd(x.v, _mm256_setzero_pd(), _CMP_GT_OQ), _mm256_set1_pd(1.0))};
  if (act == Activation::Identity) return {_mm256_set1_pd(1.0)};
  return lanewise(x, &act_grad_scalar<double>, act);
}
inline VecD4 exp_vec(VecD4 x) {
  alignas(32) double t[4];
  _mm256_store_pd(t, x.v);
  for (int i = 0; i < 4; ++i) t[i] = std::exp(t[i]);
  return {_mm256_load_pd(t)};
}

// act'(pre) from y = act(pre), for relu, tanh and identity.
inline VecF8 act_derivative_from_output(Activation act, VecF8 y) {
  const __m256 one = _mm256_set1_ps(1.0f);
  if (act == Activation::Relu) return {_mm256_and_ps(_mm256_cmp_ps(y.v, _mm256_setzero_ps(), _CMP_GT_OQ), one)};
  if (act == Activation::Tanh) return {_mm256_fnmadd_ps(y.v, y.v, one)};
  return {one};
}
inline VecD4 act_derivative_from_output(Activation act, VecD4 y) {
  const __m256d one = _mm256_set1_pd(1.0);
  if (act == Activation::Relu) return {_mm256_and_pd(_mm256_cmp_pd(y.v, _mm256_setzero_pd(), _CMP_GT_OQ), one)};
  if (act == Activation::Tanh) return {_mm256_fnmadd_pd(y.v, y.v, one)};
  return {one};
}
