// A one-lane "vector" with the interface the CPU kernels are written against
// (kernels.inl). It makes the same kernel code the portable fallback: correct on any
// processor, fast on none. The AVX2 types in vec_avx2.h have the same interface.
//
// Included inside the namespace of one instruction set (see kernels.inl), never on its own.

template <typename T>
struct VecScalar {
  using scalar_t = T;
  static constexpr int L = 1;
  static constexpr int kRegisters = 16;
  using Narrow = VecScalar;
  T v;

  static VecScalar load(const T* p) { return {*p}; }
  static VecScalar load_partial(const T* p, int n) { return {n > 0 ? *p : T(0)}; }
  void store(T* p) const { *p = v; }
  void store_partial(T* p, int n) const {
    if (n > 0) *p = v;
  }
  static VecScalar set1(T x) { return {x}; }
  static VecScalar zero() { return {T(0)}; }
};

template <typename T>
inline VecScalar<T> fma(VecScalar<T> a, VecScalar<T> b, VecScalar<T> c) { return {a.v * b.v + c.v}; }
template <typename T>
inline VecScalar<T> operator+(VecScalar<T> a, VecScalar<T> b) { return {a.v + b.v}; }
template <typename T>
inline VecScalar<T> operator-(VecScalar<T> a, VecScalar<T> b) { return {a.v - b.v}; }
template <typename T>
inline VecScalar<T> operator*(VecScalar<T> a, VecScalar<T> b) { return {a.v * b.v}; }
template <typename T>
inline T hsum(VecScalar<T> a) { return a.v; }
// Lane i of the result is the sum of the lanes of acc[i] (here: one lane, one accumulator).
template <typename T>
inline VecScalar<T> transpose_reduce(const VecScalar<T>* acc) { return acc[0]; }

template <typename T>
inline VecScalar<T> act_forward(Activation act, VecScalar<T> x) { return {act_scalar(act, x.v)}; }
template <typename T>
inline VecScalar<T> act_derivative(Activation act, VecScalar<T> x) {
  return {act_grad_scalar(act, x.v)};
}
template <typename T>
inline VecScalar<T> exp_vec(VecScalar<T> x) { return {std::exp(x.v)}; }
// act'(pre) from y = act(pre), for the activations where that is possible.
template <typename T>
inline VecScalar<T> act_derivative_from_output(Activation act, VecScalar<T> y) {
  if (act == Activation::Relu) return {act_grad_scalar(act, y.v)};
  if (act == Activation::Tanh) return {T(1) - y.v * y.v};
  return {T(1)};
}
