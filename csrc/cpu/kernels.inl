// The CPU kernels, written once against a small vector interface (vec_generic.h,
// vec_avx2.h) and compiled once per instruction set inside that set's namespace:
// bottleneck_cpu.cpp (portable) and bottleneck_cpu_avx2.cpp (AVX2 + FMA).
//
// Every product is one of three shapes:
//   linear_dot  out[r][n] = act(b[n] + sum_k x[r][k] W[n][k])   dot products on a weight in
//               the nn.Linear layout, finished L at a time by transpose_reduce
//   bcast_gemm  out[r][n] = act(init + sum_k x[r][k] W[k][n])    broadcast multiply-adds over
//               rows of W, in register tiles of 6 rows
//   outer_acc   G[m][n] += sum_r A[r][m] B[r][n]                  weight gradients
// A layer's forward uses linear_dot on the weight as given when the batch is small (at
// B = 1 a transposed copy would cost more than the product) and bcast_gemm on a transposed
// copy made once per call (cpu::forward_prepare) when it is large. Gradients flowing back
// through a layer are bcast_gemm on the weight as given.
//
// Expects, before inclusion: <cstdint>, <cmath>, bottleneck.h, activation_scalar.h, and
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
  if (m == L) {
    for (idx k = 0; k < kfull; k += L) {
      const V xv = V::load(xr + k);
      for (int i = 0; i < L; ++i) acc[i] = fma(xv, V::load(W + (n + i) * K + k), acc[i]);
    }
    if (kfull < K) {
      const int t = static_cast<int>(K - kfull);
      const V xv = V::load_partial(xr + kfull, t);
      for (int i = 0; i < L; ++i) acc[i] = fma(xv, V::load_partial(W + (n + i) * K + kfull, t), acc[i]);
    }
    const V res = transpose_reduce(acc) + V::load(bias + n);
    act_forward(A, res).store(outr + n);
  } else {
    for (idx k = 0; k < kfull; k += L) {
      const V xv = V::load(xr + k);
      for (int i = 0; i < m; ++i) acc[i] = fma(xv, V::load(W + (n + i) * K + k), acc[i]);
    }
    if (kfull < K) {
      const int t = static_cast<int>(K - kfull);
      const V xv = V::load_partial(xr + kfull, t);
      for (int i = 0; i < m; ++i) acc[i] = fma(xv, V::load_partial(W + (n + i) * K + kfull, t), acc[i]);
    }
    const V res = transpose_reduce(acc) + V::load_partial(bias + n, m);
    act_forward(A, res).store_partial(outr + n, m);
  }
}

template <class V, Activation A>
void linear_dot(idx rows, idx K, idx N, const scalar_of<V>* x, idx ldx, const scalar_of<V>* W,
                const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L;
  for (idx r = 0; r < rows; ++r) {
    const scalar_of<V>* xr = x + r * ldx;
    scalar_of<V>* outr = out + r * ldo;
    for (idx n = 0; n < N; n += L) linear_dot_block<V, A>(K, xr, W, n, min_int(L, N - n), bias, outr);
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

// ------------------------------------------------------------------------- bcast_gemm

// How a bcast_gemm tile starts: from zero, from what `out` holds, or from the bias row.
enum class Init { Zero, Accumulate, Bias };

// A tile of MR rows by NV vectors (the last holding `last` lanes): MR*NV accumulators stay
// in registers over the whole k loop, and each load of W feeds MR multiply-adds.
template <class V, int MR, int NV, Init I, Activation A>
inline void bcast_tile(idx K, idx ldw, const scalar_of<V>* x, idx ldx, const scalar_of<V>* W,
                       const scalar_of<V>* bias, int last, scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) {
      const int cnt = (j == NV - 1) ? last : L;
      if (I == Init::Zero)
        acc[r][j] = V::zero();
      else if (I == Init::Accumulate)
        acc[r][j] = load_n<V>(out + r * ldo + j * L, cnt);
      else
        acc[r][j] = load_n<V>(bias + j * L, cnt);
    }
  for (idx k = 0; k < K; ++k) {
    const scalar_of<V>* wk = W + k * ldw;
    V w[NV];
    for (int j = 0; j < NV - 1; ++j) w[j] = V::load(wk + j * L);
    w[NV - 1] = load_n<V>(wk + (NV - 1) * L, last);
    for (int r = 0; r < MR; ++r) {
      const V xb = V::set1(x[r * ldx + k]);
      for (int j = 0; j < NV; ++j) acc[r][j] = fma(xb, w[j], acc[r][j]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < NV - 1; ++j) act_forward(A, acc[r][j]).store(out + r * ldo + j * L);
    store_n(act_forward(A, acc[r][NV - 1]), out + r * ldo + (NV - 1) * L, last);
  }
}

template <class V, int MR, Init I, Activation A>
inline void bcast_rows(idx K, idx N, const scalar_of<V>* x, idx ldx, const scalar_of<V>* W,
                       const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  constexpr int L = V::L;
  for (idx n = 0; n < N; n += 2 * L) {
    const scalar_of<V>* b = (I == Init::Bias) ? bias + n : nullptr;
    if (N - n > L)
      bcast_tile<V, MR, 2, I, A>(K, N, x, ldx, W + n, b, min_int(L, N - n - L), out + n, ldo);
    else
      bcast_tile<V, MR, 1, I, A>(K, N, x, ldx, W + n, b, static_cast<int>(N - n), out + n, ldo);
  }
}

// out[r][:] = act(init + x[r][:] @ W) with W (K, N) row-major; 6 rows at a time, which
// with 2 vectors of columns uses 12 of the 16 vector registers for accumulators.
template <class V, Init I, Activation A = Activation::Identity>
void bcast_gemm(idx rows, idx K, idx N, const scalar_of<V>* x, idx ldx, const scalar_of<V>* W,
                const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  idx r = 0;
  for (; r + 6 <= rows; r += 6) bcast_rows<V, 6, I, A>(K, N, x + r * ldx, ldx, W, bias, out + r * ldo, ldo);
  const scalar_of<V>* xr = x + r * ldx;
  scalar_of<V>* o = out + r * ldo;
  switch (rows - r) {
    case 5: bcast_rows<V, 5, I, A>(K, N, xr, ldx, W, bias, o, ldo); break;
    case 4: bcast_rows<V, 4, I, A>(K, N, xr, ldx, W, bias, o, ldo); break;
    case 3: bcast_rows<V, 3, I, A>(K, N, xr, ldx, W, bias, o, ldo); break;
    case 2: bcast_rows<V, 2, I, A>(K, N, xr, ldx, W, bias, o, ldo); break;
    case 1: bcast_rows<V, 1, I, A>(K, N, xr, ldx, W, bias, o, ldo); break;
    default: break;
  }
}

template <class V>
void bcast_gemm_bias_act(Activation act, idx rows, idx K, idx N, const scalar_of<V>* x, idx ldx,
                         const scalar_of<V>* W, const scalar_of<V>* bias, scalar_of<V>* out, idx ldo) {
  switch (act) {
    case Activation::Relu: return bcast_gemm<V, Init::Bias, Activation::Relu>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Gelu: return bcast_gemm<V, Init::Bias, Activation::Gelu>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Silu: return bcast_gemm<V, Init::Bias, Activation::Silu>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Tanh: return bcast_gemm<V, Init::Bias, Activation::Tanh>(rows, K, N, x, ldx, W, bias, out, ldo);
    case Activation::Identity:
    default: return bcast_gemm<V, Init::Bias, Activation::Identity>(rows, K, N, x, ldx, W, bias, out, ldo);
  }
}

// -------------------------------------------------------------------------- outer_acc

// G[m][n..n+cnt) += sum over R rows of A[r][m] * B[r][n..n+cnt): the R row slices of B
// stay in registers while m sweeps, so each G element is loaded and stored once per R rows.
template <class V, int R, bool FULL>
inline void outer_strip(idx M, idx N, const scalar_of<V>* A, idx lda, const scalar_of<V>* B, idx ldb,
                        scalar_of<V>* G, idx n, int cnt) {
  V b[R];
  for (int i = 0; i < R; ++i) b[i] = FULL ? V::load(B + i * ldb + n) : V::load_partial(B + i * ldb + n, cnt);
  for (idx m = 0; m < M; ++m) {
    scalar_of<V>* g = G + m * N + n;
    V acc = FULL ? V::load(g) : V::load_partial(g, cnt);
    for (int i = 0; i < R; ++i) acc = fma(V::set1(A[i * lda + m]), b[i], acc);
    if (FULL) acc.store(g); else acc.store_partial(g, cnt);
  }
}

template <class V, int R>
inline void outer_rows(idx M, idx N, const scalar_of<V>* A, idx lda, const scalar_of<V>* B, idx ldb,
                       scalar_of<V>* G) {
  constexpr int L = V::L;
  idx n = 0;
  for (; n + L <= N; n += L) outer_strip<V, R, true>(M, N, A, lda, B, ldb, G, n, L);
  if (n < N) outer_strip<V, R, false>(M, N, A, lda, B, ldb, G, n, static_cast<int>(N - n));
}

// G (M, N) += A[:rows].T @ B[:rows]
template <class V>
void outer_acc(idx rows, idx M, idx N, const scalar_of<V>* A, idx lda, const scalar_of<V>* B, idx ldb,
               scalar_of<V>* G) {
  idx r = 0;
  for (; r + 8 <= rows; r += 8) outer_rows<V, 8>(M, N, A + r * lda, lda, B + r * ldb, ldb, G);
  for (; r + 2 <= rows; r += 2) outer_rows<V, 2>(M, N, A + r * lda, lda, B + r * ldb, ldb, G);
  if (r < rows) outer_rows<V, 1>(M, N, A + r * lda, lda, B + r * ldb, ldb, G);
}

// acc[n] += sum_r A[r][n]
template <class V>
void colsum_acc(idx rows, idx N, const scalar_of<V>* A, idx lda, scalar_of<V>* acc) {
  constexpr int L = V::L;
  idx n = 0;
  for (; n + L <= N; n += L) {
    V s = V::load(acc + n);
    for (idx r = 0; r < rows; ++r) s = s + V::load(A + r * lda + n);
    s.store(acc + n);
  }
  if (n < N) {
    const int t = static_cast<int>(N - n);
    V s = V::load_partial(acc + n, t);
    for (idx r = 0; r < rows; ++r) s = s + V::load_partial(A + r * lda + n, t);
    s.store_partial(acc + n, t);
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

// Rows per block: sized so that a block's (rows, H) intermediate stays in L1 (the
// backward's gradient at the pre-activation), in multiples of the 6-row tiles.
constexpr idx kMaxRowBlock = 48;
inline idx row_block(idx H) {
  idx rb = 8192 / (H > 0 ? H : 1) / 6 * 6;
  return rb < 6 ? 6 : (rb > kMaxRowBlock ? kMaxRowBlock : rb);
}

// One encoder layer for a block of rows: broadcast form on the transposed weight when
// there is one (large batches), dot products on the weight as given otherwise.
template <class V>
inline void encode_rows(idx rows, idx H, idx Z, const scalar_of<V>* h, const scalar_of<V>* w,
                        const scalar_of<V>* w_t, const scalar_of<V>* b, scalar_of<V>* out) {
  if (w_t)
    bcast_gemm<V, Init::Bias>(rows, H, Z, h, H, w_t, b, out, Z);
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
  for (idx r0 = row_begin; r0 < row_end; r0 += RB) {
    const idx rows = (row_end - r0 < RB) ? row_end - r0 : RB;
    const T* z_rows;
    if (p.mode == Mode::DecodeOnly) {
      z_rows = static_cast<const T*>(p.z_in) + r0 * Z;
    } else {
      const T* h = static_cast<const T*>(p.h) + r0 * H;
      T* z = static_cast<T*>(p.z) + r0 * Z;
      if (p.mode == Mode::Plain) {
        encode_rows<V>(rows, H, Z, h, static_cast<const T*>(p.w_enc), static_cast<const T*>(p.w_enc_t),
                       static_cast<const T*>(p.b_enc), z);
      } else {
        T* mu = static_cast<T*>(p.mu) + r0 * Z;
        T* lv = static_cast<T*>(p.logvar) + r0 * Z;
        encode_rows<V>(rows, H, Z, h, static_cast<const T*>(p.w_enc), static_cast<const T*>(p.w_enc_t),
                       static_cast<const T*>(p.b_enc), mu);
        encode_rows<V>(rows, H, Z, h, static_cast<const T*>(p.w_lv), static_cast<const T*>(p.w_lv_t),
                       static_cast<const T*>(p.b_lv), lv);
        if (p.eps) {
          reparameterize<V>(rows * Z, mu, lv, static_cast<const T*>(p.eps) + r0 * Z, z);
        } else {
          for (idx i = 0; i < rows * Z; ++i) z[i] = mu[i];
        }
      }
      z_rows = z;
    }
    T* y = static_cast<T*>(p.y) + r0 * H;
    if (w_dec_t)
      bcast_gemm_bias_act<V>(p.act, rows, Z, H, z_rows, Z, w_dec_t, b_dec, y, H);
    else
      linear_dot_act<V>(p.act, rows, Z, H, z_rows, Z, w_dec, b_dec, y, H);
  }
}

// --------------------------------------------------------------------------- backward

// Whether act'(pre) can be read off y = act(pre) (so pre need not be recomputed).
inline bool derivative_from_output(Activation act) {
  return act == Activation::Relu || act == Activation::Tanh || act == Activation::Identity;
}

inline idx backward_scratch_size(idx H, idx Z) { return kMaxRowBlock * (H + 4 * Z); }

template <class V>
void backward_rows(const BackwardParams& p, idx row_begin, idx row_end, const GradAccumulators& acc,
                   scalar_of<V>* scratch) {
  using T = scalar_of<V>;
  const idx H = p.H, Z = p.Z, RB = row_block(H);
  T* g_pre = scratch;            // (rows, H) gradient at the decoder's pre-activation
  T* g_z = g_pre + kMaxRowBlock * H;  // (rows, Z) gradient at z
  T* g_mu = g_z + kMaxRowBlock * Z;
  T* g_lv = g_mu + kMaxRowBlock * Z;
  T* std_ = g_lv + kMaxRowBlock * Z;
  const T* w_dec = static_cast<const T*>(p.w_dec);
  T* acc_w_dec = static_cast<T*>(acc.w_dec);
  T* acc_b_dec = static_cast<T*>(acc.b_dec);
  const bool from_y = p.y != nullptr && derivative_from_output(p.act);

  for (idx r0 = row_begin; r0 < row_end; r0 += RB) {
    const idx rows = (row_end - r0 < RB) ? row_end - r0 : RB;
    const idx nz = rows * Z;
    const T* z = static_cast<const T*>(p.z) + r0 * Z;

    if (p.grad_y) {
      const T* gy = static_cast<const T*>(p.grad_y) + r0 * H;
      const Activation act = p.act;
      if (from_y) {
        const T* y = static_cast<const T*>(p.y) + r0 * H;
        for_each_vec<V>(rows * H, [&](idx i, int n) {
          store_n(load_n<V>(gy + i, n) * act_derivative_from_output(act, load_n<V>(y + i, n)), g_pre + i, n);
        });
      } else {
        // Recompute the pre-activation from z rather than keep a (B, H) tensor alive
        // between forward and backward: Z multiply-adds per element.
        if (p.w_dec_t)
          bcast_gemm<V, Init::Bias>(rows, Z, H, z, Z, static_cast<const T*>(p.w_dec_t),
                                    static_cast<const T*>(p.b_dec), g_pre, H);
        else
          linear_dot<V, Activation::Identity>(rows, Z, H, z, Z, w_dec, static_cast<const T*>(p.b_dec), g_pre, H);
        for_each_vec<V>(rows * H, [&](idx i, int n) {
          store_n(load_n<V>(gy + i, n) * act_derivative(act, load_n<V>(g_pre + i, n)), g_pre + i, n);
        });
      }
      if (acc_w_dec) outer_acc<V>(rows, H, Z, g_pre, H, z, Z, acc_w_dec);
      if (acc_b_dec) colsum_acc<V>(rows, H, g_pre, H, acc_b_dec);
      bcast_gemm<V, Init::Zero>(rows, H, Z, g_pre, H, w_dec, nullptr, g_z, Z);
      if (p.grad_z) {
        const T* gz = static_cast<const T*>(p.grad_z) + r0 * Z;
        for (idx i = 0; i < nz; ++i) g_z[i] += gz[i];
      }
    } else if (p.grad_z) {
      const T* gz = static_cast<const T*>(p.grad_z) + r0 * Z;
      for (idx i = 0; i < nz; ++i) g_z[i] = gz[i];
    } else {
      for (idx i = 0; i < nz; ++i) g_z[i] = T(0);
    }

    if (p.mode == Mode::DecodeOnly) {
      if (p.grad_z_in) {
        T* out = static_cast<T*>(p.grad_z_in) + r0 * Z;
        for (idx i = 0; i < nz; ++i) out[i] = g_z[i];
      }
      continue;
    }

    const T* h = static_cast<const T*>(p.h) + r0 * H;
    const T* w_enc = static_cast<const T*>(p.w_enc);
    T* gh = p.grad_h ? static_cast<T*>(p.grad_h) + r0 * H : nullptr;
    if (p.mode == Mode::Plain) {
      if (gh) bcast_gemm<V, Init::Zero>(rows, Z, H, g_z, Z, w_enc, nullptr, gh, H);
      if (acc.w_enc) outer_acc<V>(rows, Z, H, g_z, Z, h, H, static_cast<T*>(acc.w_enc));
      if (acc.b_enc) colsum_acc<V>(rows, Z, g_z, Z, static_cast<T*>(acc.b_enc));
      continue;
    }

    // Variational: z = mu + eps * std, std = exp(logvar / 2).
    const T* gmu_in = p.grad_mu ? static_cast<const T*>(p.grad_mu) + r0 * Z : nullptr;
    const T* glv_in = p.grad_logvar ? static_cast<const T*>(p.grad_logvar) + r0 * Z : nullptr;
    for (idx i = 0; i < nz; ++i) {
      g_mu[i] = gmu_in ? g_z[i] + gmu_in[i] : g_z[i];
      g_lv[i] = glv_in ? glv_in[i] : T(0);
    }
    if (p.eps) {
      const T* eps = static_cast<const T*>(p.eps) + r0 * Z;
      const T* lv = static_cast<const T*>(p.logvar) + r0 * Z;
      for (idx i = 0; i < nz; ++i) std_[i] = std::exp(T(0.5) * lv[i]);
      T* geps = p.grad_eps ? static_cast<T*>(p.grad_eps) + r0 * Z : nullptr;
      for (idx i = 0; i < nz; ++i) {
        const T gs = g_z[i] * std_[i];
        g_lv[i] += T(0.5) * gs * eps[i];
        if (geps) geps[i] = gs;
      }
    }
    const T* w_lv = static_cast<const T*>(p.w_lv);
    if (gh) {
      bcast_gemm<V, Init::Zero>(rows, Z, H, g_mu, Z, w_enc, nullptr, gh, H);
      bcast_gemm<V, Init::Accumulate>(rows, Z, H, g_lv, Z, w_lv, nullptr, gh, H);
    }
    if (acc.w_enc) outer_acc<V>(rows, Z, H, g_mu, Z, h, H, static_cast<T*>(acc.w_enc));
    if (acc.b_enc) colsum_acc<V>(rows, Z, g_mu, Z, static_cast<T*>(acc.b_enc));
    if (acc.w_lv) outer_acc<V>(rows, Z, H, g_lv, Z, h, H, static_cast<T*>(acc.w_lv));
    if (acc.b_lv) colsum_acc<V>(rows, Z, g_lv, Z, static_cast<T*>(acc.b_lv));
  }
}
