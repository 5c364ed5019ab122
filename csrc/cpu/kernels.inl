// The CPU kernels, written once against a small vector interface (vec_generic.h,
// vec_avx2.h, vec_avx512.h) and compiled once per instruction set inside that set's
// namespace (bottleneck_cpu.cpp, bottleneck_cpu_avx2.cpp, bottleneck_cpu_avx512.cpp).
//
// Every product in the op is one of three shapes:
//   linear_dot   out[r][n] = act(b[n] + sum_k x[r][k] W[n][k])   one row at a time; L dot
//                products finished together by transpose_reduce. Small batches: reads
//                the weights as given (at B = 1 a transposed copy would cost more than
//                the product).
//   dot_blocked  the same without act, MR rows x NJ outputs per register tile, for a long
//                K and a short N (the encoder, H -> Z): each load feeds several FMAs.
//   gemm         out[m][n] = act(init + sum_k x[m, k] W[k][n])     broadcast-FMA register
//                tiles of MR rows x NV vectors, for a short K and a long N (the decoder,
//                Z -> H, on a transposed copy of w_dec), and, with x read down its columns,
//                for the weight gradients (a sum over the batch rows).
// For large batches the caller makes the transposed copy once per call
// (cpu::forward_prepare / backward_prepare).
//
// Expects, before inclusion: <cstdint>, <cmath>, <type_traits>, bottleneck.h, activation_scalar.h, and
// one vector header. The including file defines the entry points.

using idx = int64_t;

template <class V>
using scalar_of = typename V::scalar_t;

inline int min_int(idx a, idx b) { return static_cast<int>(a < b ? a : b); }

template <class V>
inline V load_n(const scalar_of<V>* p, int n) { return n == V::L ? V::load(p) : V::load_partial(p, n); }
template <class V>
inline void store_n(V v, scalar_of<V>* p, int n) {
  if (n == V::L) v.store(p); else v.store_partial(p, n);
}

// ------------------------------------------------------------------------- linear_dot

// `m` (1..L) outputs n..n+m-1 of one row; m < L only at the end of the row.
template <class V, Activation A>
inline void linear_dot_block(idx K, const scalar_of<V>* xr, const scalar_of<V>* W, idx n, int m,
                             const scalar_of<V>* bias, scalar_of<V>* outr) {
  constexpr int L = V::L;
  V acc[L];
  for (int i = 0; i < L; ++i) acc[i] = V::zero();
  const idx kfull = K - K % L;
  for (idx k = 0; k < kfull; k += L) {
    const V xv = V::load(xr + k);
    for (int i = 0; i < m; ++i) acc[i] = fma(xv, V::load(W + (n + i) * K + k), acc[i]);
  }
  if (kfull < K) {
    const int t = static_cast<int>(K - kfull);
    const V xv = V::load_partial(xr + kfull, t);
    for (int i = 0; i < m; ++i) acc[i] = fma(xv, V::load_partial(W + (n + i) * K + kfull, t), acc[i]);
  }
  V res = transpose_reduce(acc);
  if (bias) res = res + load_n<V>(bias + n, m);
  store_n(act_forward(A, res), outr + n, m);
}

template <class V, Activation A>
void linear_dot(idx rows, idx K, idx N, const scalar_of<V>* x, idx ldx, const scalar_of<V>* W,
                const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L;
  for (idx r = 0; r < rows; ++r) {
    const scalar_of<V>* xr = x + r * ldx;
    scalar_of<V>* outr = out + r * ldo;
    idx n = 0;
    for (; n + L <= N; n += L) linear_dot_block<V, A>(K, xr, W, n, L, bias, outr);
    if (n < N) linear_dot_block<V, A>(K, xr, W, n, static_cast<int>(N - n), bias, outr);
  }
}

template <class V>
void linear_dot_act(Activation act, idx rows, idx K, idx N, const scalar_of<V>* x, idx ldx,
                    const scalar_of<V>* W, const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  switch (act) {
    case Activation::Relu: return linear_dot<V, Activation::Relu>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Gelu: return linear_dot<V, Activation::Gelu>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Silu: return linear_dot<V, Activation::Silu>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Tanh: return linear_dot<V, Activation::Tanh>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Identity:
    default: return linear_dot<V, Activation::Identity>(rows, K, N, x, ldx, W, bias, out, ldo);
  }
}

// ------------------------------------------------------------------------ dot_blocked

// MR rows x NJ outputs, MR * NJ == L: the MR*NJ accumulators reduce into exactly one
// vector, lane r*NJ + j holding out[r][j]. Per k-chunk, MR + NJ loads feed MR*NJ FMAs
// (linear_dot: 1 + L loads for L FMAs).
template <class V, int MR, int NJ>
inline void dot_tile(idx K, const scalar_of<V>* x, idx ldx, const scalar_of<V>* W, const scalar_of<V>* bias,
                     scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L;
  static_assert(MR * NJ == L, "one accumulator per lane of the result");
  V acc[L];
  for (int i = 0; i < L; ++i) acc[i] = V::zero();
  const idx kfull = K - K % L;
  for (idx k = 0; k < kfull; k += L) {
    V xv[MR];
    for (int r = 0; r < MR; ++r) xv[r] = V::load(x + r * ldx + k);
    for (int j = 0; j < NJ; ++j) {
      const V w = V::load(W + j * K + k);
      for (int r = 0; r < MR; ++r) acc[r * NJ + j] = fma(xv[r], w, acc[r * NJ + j]);
    }
  }
  if (kfull < K) {
    const int t = static_cast<int>(K - kfull);
    V xv[MR];
    for (int r = 0; r < MR; ++r) xv[r] = V::load_partial(x + r * ldx + kfull, t);
    for (int j = 0; j < NJ; ++j) {
      const V w = V::load_partial(W + j * K + kfull, t);
      for (int r = 0; r < MR; ++r) acc[r * NJ + j] = fma(xv[r], w, acc[r * NJ + j]);
    }
  }
  scalar_of<V> res[L];
  transpose_reduce(acc).store(res);
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NJ; ++j) out[r * ldo + j] = res[r * NJ + j] + (bias ? bias[j] : scalar_of<V>(0));
}

// out[r][n] = b[n] + sum_k x[r][k] W[n][k]; W (N, K) row-major; bias may be null (zero).
template <class V>
void dot_blocked(idx rows, idx K, idx N, const scalar_of<V>* x, idx ldx, const scalar_of<V>* W,
                 const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L;
  if constexpr (L < 4) {
    linear_dot<V, Activation::Identity>(rows, K, N, x, ldx, W, bias, out, ldo);
  } else {
    constexpr int NJ = 4, MR = L / NJ;
    const idx rows_full = rows - rows % MR, n_full = N - N % NJ;
    for (idx r = 0; r < rows_full; r += MR) {
      for (idx n = 0; n < n_full; n += NJ)
        dot_tile<V, MR, NJ>(K, x + r * ldx, ldx, W + n * K, bias ? bias + n : nullptr, out + r * ldo + n, ldo);
      if (n_full < N)
        linear_dot<V, Activation::Identity>(MR, K, N - n_full, x + r * ldx, ldx, W + n_full * K,
                                            bias ? bias + n_full : nullptr, out + r * ldo + n_full, ldo);
    }
    if (rows_full < rows)
      linear_dot<V, Activation::Identity>(rows - rows_full, K, N, x + rows_full * ldx, ldx, W, bias,
                                          out + rows_full * ldo, ldo);
  }
}

// ------------------------------------------------------------------------------- gemm

// How a gemm tile starts: from zero, from what `out` holds, or from the bias row.
enum class Init { Zero, Accumulate, Bias };

// Register tile: MR x NV accumulators plus NV weights and one broadcast must fit the
// register file (16 vectors: 6 x 2; 32 vectors: 8 x 3).
template <class V>
struct TileShape {
  static constexpr int MR = V::kRegisters >= 32 ? 8 : 6;
  static constexpr int NV = V::kRegisters >= 32 ? 3 : 2;
};

// x is read as x[m * sm + k * sk]: rows of x (sm = ld, sk = 1) for a layer's product, or
// its columns (sm = 1, sk = ld) for a weight gradient, which sums over the batch rows.
struct Strided {
  idx sm, sk;
};

// MR rows by NV vectors of columns, the last one holding `last` lanes; the accumulators
// stay in registers over the whole k loop and each load of W feeds MR multiply-adds.
template <class V, int MR, int NV, Init I, Activation A>
inline void gemm_tile(idx K, const scalar_of<V>* x, Strided xs, const scalar_of<V>* W, idx ldw,
                      const scalar_of<V>* bias, int last, scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L;
  V acc[MR][NV];
  for (int m = 0; m < MR; ++m)
    for (int j = 0; j < NV; ++j) {
      const int cnt = (j == NV - 1) ? last : L;
      if (I == Init::Zero)
        acc[m][j] = V::zero();
      else if (I == Init::Accumulate)
        acc[m][j] = load_n<V>(out + m * ldo + j * L, cnt);
      else
        acc[m][j] = load_n<V>(bias + j * L, cnt);
    }
  if (last == L) {
    for (idx k = 0; k < K; ++k) {
      const scalar_of<V>* wk = W + k * ldw;
      V w[NV];
      for (int j = 0; j < NV; ++j) w[j] = V::load(wk + j * L);
      for (int m = 0; m < MR; ++m) {
        const V xb = V::set1(x[m * xs.sm + k * xs.sk]);
        for (int j = 0; j < NV; ++j) acc[m][j] = fma(xb, w[j], acc[m][j]);
      }
    }
  } else {
    for (idx k = 0; k < K; ++k) {
      const scalar_of<V>* wk = W + k * ldw;
      V w[NV];
      for (int j = 0; j < NV - 1; ++j) w[j] = V::load(wk + j * L);
      w[NV - 1] = V::load_partial(wk + (NV - 1) * L, last);
      for (int m = 0; m < MR; ++m) {
        const V xb = V::set1(x[m * xs.sm + k * xs.sk]);
        for (int j = 0; j < NV; ++j) acc[m][j] = fma(xb, w[j], acc[m][j]);
      }
    }
  }
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NV - 1; ++j) act_forward(A, acc[m][j]).store(out + m * ldo + j * L);
    store_n(act_forward(A, acc[m][NV - 1]), out + m * ldo + (NV - 1) * L, last);
  }
}

template <class V, int MR, Init I, Activation A>
inline void gemm_rows(idx K, idx N, const scalar_of<V>* x, Strided xs, const scalar_of<V>* W, idx ldw,
                      const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L, NV = TileShape<V>::NV;
  for (idx n = 0; n < N; n += NV * L) {
    const idx width = (N - n < NV * L) ? N - n : NV * L;
    const int nv = static_cast<int>((width + L - 1) / L);
    const int last = static_cast<int>(width - (nv - 1) * L);
    const scalar_of<V>* b = (I == Init::Bias) ? bias + n : nullptr;
    switch (nv) {
      case 1: gemm_tile<V, MR, 1, I, A>(K, x, xs, W + n, ldw, b, last, out + n, ldo); break;
      case 2: gemm_tile<V, MR, 2, I, A>(K, x, xs, W + n, ldw, b, last, out + n, ldo); break;
      default: gemm_tile<V, MR, NV, I, A>(K, x, xs, W + n, ldw, b, last, out + n, ldo); break;
    }
  }
}

// The rows left over after whole tiles: one instantiation per count, chosen at run time.
template <class V, int R, Init I, Activation A>
struct GemmRemainder {
  static void run(int rem, idx K, idx N, const scalar_of<V>* x, Strided xs, const scalar_of<V>* W, idx ldw,
                  const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
    if (rem == R)
      gemm_rows<V, R, I, A>(K, N, x, xs, W, ldw, bias, out, ldo);
    else
      GemmRemainder<V, R - 1, I, A>::run(rem, K, N, x, xs, W, ldw, bias, out, ldo);
  }
};
template <class V, Init I, Activation A>
struct GemmRemainder<V, 0, I, A> {
  static void run(int, idx, idx, const scalar_of<V>*, Strided, const scalar_of<V>*, idx, const scalar_of<V>*,
                  scalar_of<V>*, idx) {}
};

// out (M, N) = act(init + x (M, K) @ W (K, N)), x strided as described at Strided.
template <class V, Init I, Activation A = Activation::Identity>
void gemm(idx M, idx K, idx N, const scalar_of<V>* x, Strided xs, const scalar_of<V>* W, idx ldw,
          const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  constexpr int MR = TileShape<V>::MR;
  idx m = 0;
  for (; m + MR <= M; m += MR) gemm_rows<V, MR, I, A>(K, N, x + m * xs.sm, xs, W, ldw, bias, out + m * ldo, ldo);
  if (m < M)
    GemmRemainder<V, MR - 1, I, A>::run(static_cast<int>(M - m), K, N, x + m * xs.sm, xs, W, ldw, bias,
                                        out + m * ldo, ldo);
}

template <class V>
void gemm_bias_act(Activation act, idx M, idx K, idx N, const scalar_of<V>* x, Strided xs, const scalar_of<V>* W,
                   idx ldw, const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  switch (act) {
    case Activation::Relu: return gemm<V, Init::Bias, Activation::Relu>(M, K, N, x, xs, W, ldw, bias, out, ldo);
    case Activation::Gelu: return gemm<V, Init::Bias, Activation::Gelu>(M, K, N, x, xs, W, ldw, bias, out, ldo);
    case Activation::Silu: return gemm<V, Init::Bias, Activation::Silu>(M, K, N, x, xs, W, ldw, bias, out, ldo);
    case Activation::Tanh: return gemm<V, Init::Bias, Activation::Tanh>(M, K, N, x, xs, W, ldw, bias, out, ldo);
    case Activation::Identity:
    default: return gemm<V, Init::Bias, Activation::Identity>(M, K, N, x, xs, W, ldw, bias, out, ldo);
  }
}

// G (M, N) += A[:rows].T @ B[:rows]: the weight gradient of a layer, summed over a block of
// batch rows; A (rows, M) and B (rows, N) row-major.
template <class V>
inline void weight_grad_acc(idx rows, idx M, idx N, const scalar_of<V>* A, idx lda, const scalar_of<V>* B,
                            idx ldb, scalar_of<V>* G) {
  gemm<V, Init::Accumulate>(M, rows, N, A, Strided{1, lda}, B, ldb, nullptr, G, N);
}

// acc[n] += sum_r A[r][n]
template <class V>
void colsum_acc(idx rows, idx N, const scalar_of<V>* A, idx lda, scalar_of<V>* acc) {
  constexpr int L = V::L;
  for (idx n = 0; n < N; n += L) {
    const int t = min_int(L, N - n);
    V s = load_n<V>(acc + n, t);
    for (idx r = 0; r < rows; ++r) s = s + load_n<V>(A + r * lda + n, t);
    store_n(s, acc + n, t);
  }
}

// ------------------------------------------------------------------------ elementwise

// Loops over a contiguous range of `count` values, L at a time with a masked tail.
template <class V, class F>
inline void for_each_vec(idx count, F f) {
  constexpr int L = V::L;
  idx i = 0;
  for (; i + L <= count; i += L) f(i, L);
  if (i < count) f(i, static_cast<int>(count - i));
}

// z = mu + eps * exp(0.5 * logvar)
template <class V>
void reparameterize(idx count, const scalar_of<V>* mu, const scalar_of<V>* logvar,
                    const scalar_of<V>* eps, scalar_of<V>* z) {
  const V half = V::set1(scalar_of<V>(0.5));
  for_each_vec<V>(count, [&](idx i, int n) {
    const V std = exp_vec(half * load_n<V>(logvar + i, n));
    store_n(fma(load_n<V>(eps + i, n), std, load_n<V>(mu + i, n)), z + i, n);
  });
}

// ---------------------------------------------------------------------------- forward

// Rows per block: a block's (rows, H) intermediate (the backward's gradient at the
// pre-activation) stays in L1, and Z-sized ones in registers' reach.
constexpr idx kMaxRowBlock = 48;
inline idx row_block(idx H) {
  idx rb = 8192 / (H > 0 ? H : 1) / 8 * 8;
  return rb < 8 ? 8 : (rb > kMaxRowBlock ? kMaxRowBlock : rb);
}

// One encoder layer for a block of rows (h -> Z values).
template <class V>
inline void encode_rows(bool large, idx rows, idx H, idx Z, const scalar_of<V>* h, const scalar_of<V>* w,
                        const scalar_of<V>* b, scalar_of<V>* out) {
  if (large)
    dot_blocked<V>(rows, H, Z, h, H, w, b, out, Z);
  else
    linear_dot<V, Activation::Identity>(rows, H, Z, h, H, w, b, out, Z);
}

template <class V>
void forward_rows(const ForwardParams& p, idx row_begin, idx row_end) {
  using T = scalar_of<V>;
  const idx H = p.H, Z = p.Z, RB = row_block(H);
  const T* w_dec = static_cast<const T*>(p.w_dec);
  const T* w_dec_t = static_cast<const T*>(p.w_dec_t);
  const T* b_dec = static_cast<const T*>(p.b_dec);
  const bool large = w_dec_t != nullptr;  // forward_prepare made the copy: a large batch
  if constexpr (!std::is_same<V, typename V::Narrow>::value) {
    if (!large) return forward_rows<typename V::Narrow>(p, row_begin, row_end);
  }
  for (idx r0 = row_begin; r0 < row_end; r0 += RB) {
    const idx rows = (row_end - r0 < RB) ? row_end - r0 : RB;
    const T* z_rows;
    if (p.mode == Mode::DecodeOnly) {
      z_rows = static_cast<const T*>(p.z_in) + r0 * Z;
    } else {
      const T* h = static_cast<const T*>(p.h) + r0 * H;
      T* z = static_cast<T*>(p.z) + r0 * Z;
      if (p.mode == Mode::Plain) {
        encode_rows<V>(large, rows, H, Z, h, static_cast<const T*>(p.w_enc), static_cast<const T*>(p.b_enc), z);
      } else {
        T* mu = static_cast<T*>(p.mu) + r0 * Z;
        T* lv = static_cast<T*>(p.logvar) + r0 * Z;
        encode_rows<V>(large, rows, H, Z, h, static_cast<const T*>(p.w_enc), static_cast<const T*>(p.b_enc), mu);
        encode_rows<V>(large, rows, H, Z, h, static_cast<const T*>(p.w_lv), static_cast<const T*>(p.b_lv), lv);
        if (p.eps) {
          reparameterize<V>(rows * Z, mu, lv, static_cast<const T*>(p.eps) + r0 * Z, z);
        } else {
          for (idx i = 0; i < rows * Z; ++i) z[i] = mu[i];
        }
      }
      z_rows = z;
    }
    T* y = static_cast<T*>(p.y) + r0 * H;
    if (large)
      gemm_bias_act<V>(p.act, rows, Z, H, z_rows, Strided{Z, 1}, w_dec_t, H, b_dec, y, H);
    else
      linear_dot_act<V>(p.act, rows, Z, H, z_rows, Z, w_dec, b_dec, y, H);
  }
}

// --------------------------------------------------------------------------- backward

// Per-thread accumulator block, a section per weight or bias gradient that is wanted (none
// for one that is not): w_enc (Z, H), b_enc (Z), w_lv (Z, H), b_lv (Z), then the decoder's
// weight gradient TRANSPOSED, (Z, H), and b_dec (H). Transposed because summing over the
// batch with H as the vector dimension keeps the register tiles full when Z is small;
// backward_finish transposes it back.
struct AccLayout {
  idx w_enc, b_enc, w_lv, b_lv, w_dec_t, b_dec, total;
  explicit AccLayout(const BackwardParams& p) {
    idx at = 0;
    auto take = [&at](const void* wanted, idx n) {
      const idx here = at;
      at += wanted ? n : 0;
      return here;
    };
    w_enc = take(p.grad_w_enc, p.Z * p.H);
    b_enc = take(p.grad_b_enc, p.Z);
    w_lv = take(p.grad_w_lv, p.Z * p.H);
    b_lv = take(p.grad_b_lv, p.Z);
    w_dec_t = take(p.grad_w_dec, p.Z * p.H);
    b_dec = take(p.grad_b_dec, p.H);
    total = at;
  }
};

// Whether any wanted gradient lies upstream of z (the encoder's, h's, eps's, or z's own
// when it is an input): only then is the gradient at z computed.
inline bool wants_grad_z(const BackwardParams& p) {
  return p.grad_z_in || p.grad_h || p.grad_w_enc || p.grad_b_enc || p.grad_w_lv || p.grad_b_lv || p.grad_eps;
}

// Whether act'(pre) can be read off y = act(pre) (so pre need not be recomputed).
inline bool derivative_from_output(Activation act) {
  return act == Activation::Relu || act == Activation::Tanh || act == Activation::Identity;
}

// One row block's intermediates: (RB, H) and four (RB, Z).
inline idx backward_scratch_size(idx H, idx Z) { return row_block(H) * (H + 4 * Z); }

// The scratch of one row block (backward_scratch_size): (rows, H) then four (rows, Z).
template <typename T>
struct RowScratch {
  T *g_pre, *g_z, *g_mu, *g_lv, *std_;
  RowScratch(T* scratch, idx RB, idx H, idx Z)
      : g_pre(scratch), g_z(g_pre + RB * H), g_mu(g_z + RB * Z), g_lv(g_mu + RB * Z), std_(g_lv + RB * Z) {}
};

// The decoder's part of a row block: its weight gradients, and (when wanted) the gradient at
// z, g_z = (grad_y * act'(pre)) @ w_dec + grad_z.
template <class V>
void backward_decoder(const BackwardParams& p, idx r0, idx rows, const AccLayout& lay, scalar_of<V>* acc,
                      RowScratch<scalar_of<V>>& s, bool want_gz) {
  using T = scalar_of<V>;
  const idx H = p.H, Z = p.Z, nz = rows * Z;
  const T* z = static_cast<const T*>(p.z) + r0 * Z;
  const T* gz = p.grad_z ? static_cast<const T*>(p.grad_z) + r0 * Z : nullptr;
  if (!p.grad_y || !(want_gz || p.grad_w_dec || p.grad_b_dec)) {
    if (want_gz)
      for (idx i = 0; i < nz; ++i) s.g_z[i] = gz ? gz[i] : T(0);
    return;
  }
  const T* gy = static_cast<const T*>(p.grad_y) + r0 * H;
  const T* w_dec = static_cast<const T*>(p.w_dec);
  const T* w_dec_t = static_cast<const T*>(p.w_dec_t);
  const Activation act = p.act;
  T* g_pre = s.g_pre;
  if (p.y != nullptr && derivative_from_output(act)) {
    const T* y = static_cast<const T*>(p.y) + r0 * H;
    for_each_vec<V>(rows * H, [&](idx i, int n) {
      store_n(load_n<V>(gy + i, n) * act_derivative_from_output(act, load_n<V>(y + i, n)), g_pre + i, n);
    });
  } else {
    // Recompute the pre-activation from z rather than keep a (B, H) tensor alive between
    // forward and backward: Z multiply-adds per element.
    if (w_dec_t)
      gemm<V, Init::Bias>(rows, Z, H, z, Strided{Z, 1}, w_dec_t, H, static_cast<const T*>(p.b_dec), g_pre, H);
    else
      linear_dot<V, Activation::Identity>(rows, Z, H, z, Z, w_dec, static_cast<const T*>(p.b_dec), g_pre, H);
    for_each_vec<V>(rows * H, [&](idx i, int n) {
      store_n(load_n<V>(gy + i, n) * act_derivative(act, load_n<V>(g_pre + i, n)), g_pre + i, n);
    });
  }
  if (p.grad_w_dec) weight_grad_acc<V>(rows, Z, H, z, Z, g_pre, H, acc + lay.w_dec_t);
  if (p.grad_b_dec) colsum_acc<V>(rows, H, g_pre, H, acc + lay.b_dec);
  if (!want_gz) return;
  if (w_dec_t)
    dot_blocked<V>(rows, H, Z, g_pre, H, w_dec_t, nullptr, s.g_z, Z);
  else
    gemm<V, Init::Zero>(rows, H, Z, g_pre, Strided{H, 1}, w_dec, Z, nullptr, s.g_z, Z);
  if (gz)
    for (idx i = 0; i < nz; ++i) s.g_z[i] += gz[i];
}

// The VAE's part of a row block, from g_z: z = mu + eps * std, std = exp(logvar / 2), so
// g_mu = g_z (+ grad_mu), g_logvar = g_z * eps * std / 2 (+ grad_logvar), g_eps = g_z * std.
template <class V>
void backward_reparameterize(const BackwardParams& p, idx r0, idx rows, RowScratch<scalar_of<V>>& s) {
  using T = scalar_of<V>;
  const idx nz = rows * p.Z;
  const T* gmu_in = p.grad_mu ? static_cast<const T*>(p.grad_mu) + r0 * p.Z : nullptr;
  const T* glv_in = p.grad_logvar ? static_cast<const T*>(p.grad_logvar) + r0 * p.Z : nullptr;
  for (idx i = 0; i < nz; ++i) {
    s.g_mu[i] = gmu_in ? s.g_z[i] + gmu_in[i] : s.g_z[i];
    s.g_lv[i] = glv_in ? glv_in[i] : T(0);
  }
  if (!p.eps) return;
  const T* eps = static_cast<const T*>(p.eps) + r0 * p.Z;
  const T* lv = static_cast<const T*>(p.logvar) + r0 * p.Z;
  for (idx i = 0; i < nz; ++i) s.std_[i] = std::exp(T(0.5) * lv[i]);
  T* geps = p.grad_eps ? static_cast<T*>(p.grad_eps) + r0 * p.Z : nullptr;
  for (idx i = 0; i < nz; ++i) {
    const T gs = s.g_z[i] * s.std_[i];
    s.g_lv[i] += T(0.5) * gs * eps[i];
    if (geps) geps[i] = gs;
  }
}

// The encoder's part of a row block: grad_h and the encoder's weight gradients, from the
// gradient at its output g_enc (z, or mu) and, for the VAE, at logvar.
template <class V>
void backward_encoder(const BackwardParams& p, idx r0, idx rows, const AccLayout& lay, scalar_of<V>* acc,
                      const scalar_of<V>* g_enc, const scalar_of<V>* g_lv) {
  using T = scalar_of<V>;
  const idx H = p.H, Z = p.Z;
  const T* h = static_cast<const T*>(p.h) + r0 * H;
  if (p.grad_h) {
    T* gh = static_cast<T*>(p.grad_h) + r0 * H;
    gemm<V, Init::Zero>(rows, Z, H, g_enc, Strided{Z, 1}, static_cast<const T*>(p.w_enc), H, nullptr, gh, H);
    if (g_lv)
      gemm<V, Init::Accumulate>(rows, Z, H, g_lv, Strided{Z, 1}, static_cast<const T*>(p.w_lv), H, nullptr, gh, H);
  }
  if (p.grad_w_enc) weight_grad_acc<V>(rows, Z, H, g_enc, Z, h, H, acc + lay.w_enc);
  if (p.grad_b_enc) colsum_acc<V>(rows, Z, g_enc, Z, acc + lay.b_enc);
  if (p.grad_w_lv) weight_grad_acc<V>(rows, Z, H, g_lv, Z, h, H, acc + lay.w_lv);
  if (p.grad_b_lv) colsum_acc<V>(rows, Z, g_lv, Z, acc + lay.b_lv);
}

// Gradients of rows [row_begin, row_end), block by block; only the gradients `p` asks for
// (non-null outputs) are computed, and only the intermediates they need.
template <class V>
void backward_rows(const BackwardParams& p, idx row_begin, idx row_end, scalar_of<V>* acc_block,
                   scalar_of<V>* scratch) {
  using T = scalar_of<V>;
  if constexpr (!std::is_same<V, typename V::Narrow>::value) {
    if (!p.w_dec_t) return backward_rows<typename V::Narrow>(p, row_begin, row_end, acc_block, scratch);
  }
  const idx H = p.H, Z = p.Z, RB = row_block(H);
  const AccLayout lay(p);
  RowScratch<T> s(scratch, RB, H, Z);
  const bool want_gz = wants_grad_z(p);
  for (idx r0 = row_begin; r0 < row_end; r0 += RB) {
    const idx rows = (row_end - r0 < RB) ? row_end - r0 : RB;
    backward_decoder<V>(p, r0, rows, lay, acc_block, s, want_gz);
    if (!want_gz) continue;
    if (p.mode == Mode::DecodeOnly) {
      T* out = static_cast<T*>(p.grad_z_in) + r0 * Z;
      for (idx i = 0; i < rows * Z; ++i) out[i] = s.g_z[i];
    } else if (p.mode == Mode::Plain) {
      backward_encoder<V>(p, r0, rows, lay, acc_block, s.g_z, nullptr);
    } else {
      backward_reparameterize<V>(p, r0, rows, s);
      backward_encoder<V>(p, r0, rows, lay, acc_block, s.g_mu, s.g_lv);
    }
  }
}
