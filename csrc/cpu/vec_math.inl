// Activations for SIMD vectors, written once over the primitives every vector header
// provides (fma, fnma, div, vmin, vmax, round_nearest, pow2_of, vabs, copysign_of,
// select_lt, relu_slope). float lanes get polynomial approximations accurate to a few
// ulp; double lanes go through libm one lane at a time, since double precision is for
// checking, not speed.
//
// Included at the end of a vector header, inside its instruction set's namespace (once per
// translation unit: the AVX-512 one has the AVX2 vectors too).
#ifndef AEGUI_VEC_MATH_INCLUDED
#define AEGUI_VEC_MATH_INCLUDED

// exp (Cephes' expf): relative error about 2 ulp where the result is a normal float, and
// IEEE behaviour at the edges, as std::exp and torch give it: NaN stays NaN, overflow
// (x > 88.72, +inf included) gives inf, underflow goes through the denormals to 0.
template <class V>
inline V exp_fast(V x) {
  // vmin/vmax return their second operand when either is NaN: with x second, NaN passes
  // the clamp. The clamp only keeps n below within what the scaling handles; it lies past
  // both overflow and underflow, so it changes no result.
  x = vmin(V::set1(89.0f), vmax(V::set1(-104.0f), x));
  const V n = round_nearest(x * V::set1(1.44269504088896341f));
  V r = fnma(n, V::set1(0.693359375f), x);
  r = fnma(n, V::set1(-2.12194440e-4f), r);
  V p = V::set1(1.9875691500e-4f);
  p = fma(p, r, V::set1(1.3981999507e-3f));
  p = fma(p, r, V::set1(8.3334519073e-3f));
  p = fma(p, r, V::set1(4.1665795894e-2f));
  p = fma(p, r, V::set1(1.6666665459e-1f));
  p = fma(p, r, V::set1(5.0000001201e-1f));
  p = fma(p, r * r, r + V::set1(1.0f));
  // 2^n in two factors: n runs from -150 to 128, past the exponents one float can hold,
  // and the second multiplication rounds to inf or a denormal exactly once.
  const V n1 = round_nearest(n * V::set1(0.5f));
  return (p * pow2_of(n1)) * pow2_of(n - n1);
}

// erf (Abramowitz & Stegun 7.1.26): absolute error below 1.5e-7, enough for float GELU.
template <class V>
inline V erf_fast(V x) {
  const V a = vabs(x);
  const V one = V::set1(1.0f);
  const V t = div(one, fma(V::set1(0.3275911f), a, one));
  V p = V::set1(1.061405429f);
  p = fma(p, t, V::set1(-1.453152027f));
  p = fma(p, t, V::set1(1.421413741f));
  p = fma(p, t, V::set1(-0.284496736f));
  p = fma(p, t, V::set1(0.254829592f));
  const V y = fnma(p * t, exp_fast(V::zero() - a * a), one);
  return copysign_of(y, x);
}

// tanh: Cephes' polynomial near zero (keeps relative accuracy), 1 - 2/(e^2|x| + 1) beyond.
template <class V>
inline V tanh_fast(V x) {
  const V a = vabs(x);
  const V one = V::set1(1.0f);
  const V big = copysign_of(one - div(V::set1(2.0f), exp_fast(a + a) + one), x);
  const V z = x * x;
  V p = V::set1(-5.70498872745e-3f);
  p = fma(p, z, V::set1(2.06390887954e-2f));
  p = fma(p, z, V::set1(-5.37397155531e-2f));
  p = fma(p, z, V::set1(1.33314422036e-1f));
  p = fma(p, z, V::set1(-3.33332819422e-1f));
  const V small = fma(p * z, x, x);
  return select_lt(a, V::set1(0.625f), small, big);
}

template <class V>
inline V sigmoid_fast(V x) {
  const V one = V::set1(1.0f);
  return div(one, one + exp_fast(V::zero() - x));
}

template <class V>
inline V act_forward_fast(Activation act, V x) {
  switch (act) {
    case Activation::Relu:
      return vmax(V::zero(), x);  // returns x for NaN, as torch.relu does
    case Activation::Gelu:
      return x * (V::set1(0.5f) * (V::set1(1.0f) + erf_fast(x * V::set1(0.70710678f))));
    case Activation::Silu:
      return x * sigmoid_fast(x);
    case Activation::Tanh:
      return tanh_fast(x);
    case Activation::Identity:
    default:
      return x;
  }
}

template <class V>
inline V act_derivative_fast(Activation act, V x) {
  const V one = V::set1(1.0f);
  switch (act) {
    case Activation::Relu:
      return relu_slope(x);
    case Activation::Gelu: {
      const V cdf = V::set1(0.5f) * (one + erf_fast(x * V::set1(0.70710678f)));
      const V pdf = exp_fast(V::set1(-0.5f) * (x * x)) * V::set1(0.39894228f);
      return fma(x, pdf, cdf);
    }
    case Activation::Silu: {
      const V s = sigmoid_fast(x);
      return s * fma(x, one - s, one);
    }
    case Activation::Tanh: {
      const V t = tanh_fast(x);
      return fnma(t, t, one);
    }
    case Activation::Identity:
    default:
      return one;
  }
}

// act'(pre) read off y = act(pre): relu, tanh and identity only.
template <class V>
inline V act_derivative_from_y(Activation act, V y) {
  using T = typename V::scalar_t;
  const V one = V::set1(T(1));
  if (act == Activation::Relu) return relu_slope(y);
  if (act == Activation::Tanh) return fnma(y, y, one);
  return one;
}

template <class V>
inline V lanewise(V x, typename V::scalar_t (*f)(Activation, typename V::scalar_t), Activation act) {
  typename V::scalar_t t[V::L];
  x.store(t);
  for (int i = 0; i < V::L; ++i) t[i] = f(act, t[i]);
  return V::load(t);
}

template <class V>
inline V act_forward_lanewise(Activation act, V x) {
  if (act == Activation::Relu) return vmax(V::zero(), x);
  if (act == Activation::Identity) return x;
  return lanewise(x, &act_scalar<typename V::scalar_t>, act);
}

template <class V>
inline V act_derivative_lanewise(Activation act, V x) {
  if (act == Activation::Relu) return relu_slope(x);
  if (act == Activation::Identity) return V::set1(typename V::scalar_t(1));
  return lanewise(x, &act_grad_scalar<typename V::scalar_t>, act);
}

template <class V>
inline V exp_lanewise(V x) {
  typename V::scalar_t t[V::L];
  x.store(t);
  for (int i = 0; i < V::L; ++i) t[i] = std::exp(t[i]);
  return V::load(t);
}

#endif  // AEGUI_VEC_MATH_INCLUDED
