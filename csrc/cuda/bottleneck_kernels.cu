// CUDA kernels of the fused bottleneck op (contract: bottleneck.h). Plain CUDA C++, no torch.
//
// Why this shape:
//  * The op is memory-bound at large B (read h, write y; Z <= 64 is small), so the forward
//    is ONE kernel and each block owns a tile of rows: z never leaves the chip between the
//    encoder and the decoder, and h and y cross DRAM exactly once.
//  * The encoder is a reduction over H. h and the weight rows are staged through shared
//    memory in chunks of KC columns (coalesced global loads, next chunk prefetched into
//    registers while the current one is multiplied), then each thread accumulates a few
//    (row, latent) sums with 128-bit shared loads: one h quad feeds ZA latent outputs. The
//    chunked loop means any H works (H = 7 or 1000) with zero padding, no alignment needed.
//  * The decoder gives each thread one output column: its Z weights sit in registers and
//    z rows are broadcast from shared memory, so y is written in coalesced rows.
//  * Z is padded to a compile-time ZP in {8, 16, 32, 64} so the per-thread arrays stay in
//    registers; the pads hold zeros and are never stored. Shared memory is sized from ZP
//    and the rows per block and stays under the 48 KB a block gets without opt-in.
//  * Backward is several launches (allowed, and it keeps register pressure per kernel
//    down): the decoder kernel recomputes pre from z (not saved), forms g_pre per chunk on
//    chip, reduces g_z through the same chunked machinery as the forward encoder, and
//    atomically adds its row tile's weight gradients to a float (double for F64)
//    workspace; the encoder kernel reads g_z back (a small (B, Z) workspace buffer, no
//    (B, H) one) to form grad_h and the encoder weight gradients; a last small kernel
//    converts (and for w_dec transposes) the accumulators into the outputs. Accumulators
//    are kept as (Z, H) so that a warp's atomics hit consecutive addresses.
#if defined(AEGUI_CUDA_EMULATION)
#include "emu/cuda_emu.h"  // tests: this file compiled as host C++ (see that header)
#else
#include <cuda_runtime.h>
// Shared memory, declared through a macro so that the emulator can give each block its own.
#define AEGUI_SHARED(T, name, n) __shared__ __align__(16) T name[n]
#define AEGUI_EMU_CHECK_ALIGNED(p, n)
#endif
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "bottleneck.h"

namespace aegui {
namespace cuda {
namespace {

constexpr int64_t kMaxZ = 64;
constexpr int64_t kMaxH = int64_t(1) << 30;  // keeps column indices and loop bounds in int

// ------------------------------------------------------------------- element types

// Arithmetic type: float for F32/F16/BF16, double for F64.
template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };
template <typename T> using acc_t = typename AccOf<T>::type;

// Explicit intrinsics only: torch builds define __CUDA_NO_HALF_CONVERSIONS__ and friends.
__device__ __forceinline__ float to_acc(float x) { return x; }
__device__ __forceinline__ double to_acc(double x) { return x; }
__device__ __forceinline__ float to_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }

__device__ __forceinline__ void store_acc(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_acc(double* p, double v) { *p = v; }
__device__ __forceinline__ void store_acc(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store_acc(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

template <typename T> __device__ __forceinline__ T zero_of();
template <> __device__ __forceinline__ float zero_of<float>() { return 0.0f; }
template <> __device__ __forceinline__ double zero_of<double>() { return 0.0; }
template <> __device__ __forceinline__ __half zero_of<__half>() { return __ushort_as_half(0); }
template <> __device__ __forceinline__ __nv_bfloat16 zero_of<__nv_bfloat16>() { return __ushort_as_bfloat16(0); }

// The value a store to T reads back as: the decoder uses z exactly as it is stored, so the
// forward agrees with a backward (and a DecodeOnly call) that starts from the stored z.
template <typename T>
__device__ __forceinline__ acc_t<T> rounded(acc_t<T> v) {
  T tmp;
  store_acc(&tmp, v);
  return to_acc(tmp);
}

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }

// Four consecutive shared-memory values in one (float) or two (double) 128-bit loads; the
// caller guarantees 16-byte alignment (all offsets below are multiples of 4 elements).
template <typename A> struct Quad { A x, y, z, w; };
__device__ __forceinline__ Quad<float> ld4(const float* p) {
  AEGUI_EMU_CHECK_ALIGNED(p, 16);
  const float4 v = *reinterpret_cast<const float4*>(p);
  return {v.x, v.y, v.z, v.w};
}
__device__ __forceinline__ Quad<double> ld4(const double* p) {
  AEGUI_EMU_CHECK_ALIGNED(p, 16);
  const double2 a = reinterpret_cast<const double2*>(p)[0];
  const double2 b = reinterpret_cast<const double2*>(p)[1];
  return {a.x, a.y, b.x, b.y};
}

// ---------------------------------------------------------------------- activation

// Same definitions as the CPU kernels (csrc/cpu/activation_scalar.h).
template <typename A>
__device__ __forceinline__ A activate(Activation act, A x) {
  switch (act) {
    case Activation::Relu: return x < A(0) ? A(0) : x;  // NaN stays NaN
    case Activation::Gelu: return A(0.5) * x * (A(1) + m_erf(x * A(0.70710678118654752440)));
    case Activation::Silu: return x / (A(1) + m_exp(-x));
    case Activation::Tanh: return m_tanh(x);
    case Activation::Identity:
    default: return x;
  }
}

template <typename A>
__device__ __forceinline__ A act_grad(Activation act, A x) {
  switch (act) {
    case Activation::Relu: return x > A(0) ? A(1) : A(0);
    case Activation::Gelu: {
      const A cdf = A(0.5) * (A(1) + m_erf(x * A(0.70710678118654752440)));
      const A pdf = m_exp(A(-0.5) * x * x) * A(0.39894228040143267794);
      return cdf + x * pdf;
    }
    case Activation::Silu: {
      const A s = A(1) / (A(1) + m_exp(-x));
      return s * (A(1) + x * (A(1) - s));
    }
    case Activation::Tanh: {
      const A t = m_tanh(x);
      return A(1) - t * t;
    }
    case Activation::Identity:
    default: return A(1);
  }
}

// ------------------------------------------------------------------ tile geometry

__host__ __device__ constexpr int max_int(int a, int b) { return a > b ? a : b; }
// Rows per block: 64 (32 for double, whose values take twice the registers and shared memory).
__host__ __device__ constexpr int rows_per_block(int acc_bytes) { return acc_bytes == 8 ? 32 : 64; }
// Per-thread accumulators: enough latent outputs per thread to amortise each shared h load,
// few enough that the weight values loaded for them fit in registers beside the prefetch
// (more cost occupancy, which this memory-bound kernel needs to keep loads in flight).
// The 4 threads of a row split the latents into G groups and the chunk into KP parts.
__host__ __device__ constexpr int latents_per_thread(int ZP) { return max_int(8, ZP / 4); }

// Geometry shared by the forward kernel and the backward decoder kernel.
//   smem = [ region: staged chunk (hs: R x KCS, ws: ZP x KCS), later reused for the
//            per-split partial sums (red: KP x R x (ZP+1)) | zs: R x ZP latent tile ]
template <typename A, int ZP_>
struct Tile {
  static constexpr int ZP = ZP_;
  static constexpr int R = rows_per_block(int(sizeof(A)));
  static constexpr int NT = 4 * R;  // threads: 4 per row in the reduction
  static constexpr int ZA = latents_per_thread(ZP);
  static constexpr int G = ZP / ZA;  // latent groups
  static constexpr int KP = 4 / G;   // chunk splits
  // Chunk width. 64 would halve the barriers but doubles the prefetch registers, and the
  // occupancy lost costs more than the barriers.
  static constexpr int KC = 32;
  static constexpr int KCS = KC + 4;  // row stride: 16-byte aligned, rows spread over banks
  static constexpr int KCP = KC / KP;  // chunk columns per split
  static constexpr int REDS = ZP + 1;  // odd row stride: partial-sum stores hit distinct banks
  static constexpr int REGION = max_int((R + ZP) * KCS, KP * R * REDS);
  static constexpr int SMEM = REGION + R * ZP;
  static constexpr int HPT = R * KC / NT;   // staged input values per thread per chunk
  static constexpr int WPT = ZP * KC / NT;  // staged weight values per thread per chunk
  static_assert(SMEM * int(sizeof(A)) <= 48 * 1024, "static shared memory over 48 KB");
  static_assert(G * KP == 4 && ZA % 4 == 0 && KCP % 4 == 0, "bad reduction split");
  static_assert((R * KC) % NT == 0 && (ZP * KC) % NT == 0, "chunk not a multiple of the block");
  static_assert(REGION % 4 == 0 && (R * KCS) % 4 == 0, "shared sub-arrays must stay 16-byte aligned");
};

// Threads per block for the column loops: a power of two >= 32 so that whole warps share a
// row (broadcast z reads, coalesced stores) and nt divides evenly into row groups.
__device__ __forceinline__ int column_threads(int H, int nt) {
  int n = 32;
  while (n < H && n < nt) n *= 2;
  return n;
}

// s + dot(row[0..ZP), w)
template <int ZP, typename A>
__device__ __forceinline__ A dot_row(const A* row, const A (&w)[ZP], A s) {
#pragma unroll
  for (int j = 0; j < ZP; j += 4) {
    const Quad<A> v = ld4(row + j);
    s += v.x * w[j];
    s += v.y * w[j + 1];
    s += v.z * w[j + 2];
    s += v.w * w[j + 3];
  }
  return s;
}

// acc[0..ZP) += g * row[0..ZP)
template <int ZP, typename A>
__device__ __forceinline__ void axpy_row(A (&acc)[ZP], const A* row, A g) {
#pragma unroll
  for (int j = 0; j < ZP; j += 4) {
    const Quad<A> v = ld4(row + j);
    acc[j] += g * v.x;
    acc[j + 1] += g * v.y;
    acc[j + 2] += g * v.z;
    acc[j + 3] += g * v.w;
  }
}

// ------------------------------------------------------- chunked reduction over H
//
// Computes, for the tile's R rows, out[r][j] = sum_k X[r][k] * W[j][k] over one staged
// chunk: hs[r][k] (R x KCS) and ws[j][k] (ZP x KCS). Thread t owns row r = t % R (a warp
// covers 32 rows, so every ws read is a broadcast and the hs reads are conflict-free), the
// latent group g and the chunk split kp.

template <class C, typename A>
__device__ __forceinline__ void mac_chunk(A (&acc)[C::ZA], const A* hs, const A* ws) {
  const int t = threadIdx.x, r = t % C::R, q = t / C::R, g = q % C::G, kp = q / C::G;
  const A* hrow = hs + r * C::KCS + kp * C::KCP;
  const A* wrow = ws + g * C::ZA * C::KCS + kp * C::KCP;
#pragma unroll 1
  for (int k = 0; k < C::KCP; k += 4) {
    const Quad<A> hv = ld4(hrow + k);
#pragma unroll
    for (int a = 0; a < C::ZA; ++a) {
      const Quad<A> wv = ld4(wrow + a * C::KCS + k);
      acc[a] += hv.x * wv.x;
      acc[a] += hv.y * wv.y;
      acc[a] += hv.z * wv.z;
      acc[a] += hv.w * wv.w;
    }
  }
}

// Stores the thread's partial sums into red (which aliases the chunk region: call only
// after the barrier that ends the last chunk), then waits for the whole block.
template <class C, typename A>
__device__ __forceinline__ void store_partials(const A (&acc)[C::ZA], A* red) {
  const int t = threadIdx.x, r = t % C::R, q = t / C::R, g = q % C::G, kp = q / C::G;
  A* dst = red + (kp * C::R + r) * C::REDS + g * C::ZA;
#pragma unroll
  for (int a = 0; a < C::ZA; ++a) dst[a] = acc[a];
  __syncthreads();
}

// Total over the KP splits of tile entry (r, j).
template <class C, typename A>
__device__ __forceinline__ A partial_sum(const A* red, int r, int j) {
  A s = A(0);
#pragma unroll
  for (int kp = 0; kp < C::KP; ++kp) s += red[(kp * C::R + r) * C::REDS + j];
  return s;
}

// One encoder product for the tile: partial sums of X[row0 + r] . W[j] land in `region`
// (as red). X is (B, H), W is (Z, H); rows >= `rows`, columns >= H and latents >= Z read
// as zero. Starts by writing the region: the caller makes sure nobody still reads it.
template <class C, typename T>
__device__ void encode_tile(const T* __restrict__ X, const T* __restrict__ W, int H, int Z, int64_t row0,
                            int rows, acc_t<T>* region) {
  using A = acc_t<T>;
  A* hs = region;
  A* ws = region + C::R * C::KCS;
  const int t = threadIdx.x;

  A acc[C::ZA];
#pragma unroll
  for (int a = 0; a < C::ZA; ++a) acc[a] = A(0);

  // Raw values of the next chunk, in registers so their loads overlap the current chunk's
  // arithmetic. Value i of thread t is element t + i*NT of the chunk: column kk, row (or
  // latent) r0 + i*RS, so consecutive threads read consecutive columns (coalesced). The
  // loads walk one pointer by a runtime stride: per-value addresses would be hoisted out of
  // the chunk loop and cost two registers each.
  constexpr int RS = C::NT / C::KC;
  const int kk = t % C::KC, r0 = t / C::KC;
  const T* xbase = X + (row0 + r0) * H + kk;
  const T* wbase = W + int64_t(r0) * H + kk;
  const int64_t step = int64_t(RS) * H;
  T hreg[C::HPT], wreg[C::WPT];
  auto fetch = [&](int k0) {
    const bool col_ok = k0 + kk < H;
    const T* xp = xbase + k0;
#pragma unroll
    for (int i = 0; i < C::HPT; ++i)
      hreg[i] = (col_ok && r0 + i * RS < rows) ? xp[i * step] : zero_of<T>();
    const T* wp = wbase + k0;
#pragma unroll
    for (int i = 0; i < C::WPT; ++i)
      wreg[i] = (col_ok && r0 + i * RS < Z) ? wp[i * step] : zero_of<T>();
  };

  fetch(0);
  for (int k0 = 0; k0 < H; k0 += C::KC) {
#pragma unroll
    for (int i = 0; i < C::HPT; ++i) hs[(r0 + i * RS) * C::KCS + kk] = to_acc(hreg[i]);
#pragma unroll
    for (int i = 0; i < C::WPT; ++i) ws[(r0 + i * RS) * C::KCS + kk] = to_acc(wreg[i]);
    __syncthreads();
    if (k0 + C::KC < H) fetch(k0 + C::KC);
    mac_chunk<C>(acc, hs, ws);
    __syncthreads();  // the next chunk (or the partial sums) overwrites hs and ws
  }
  store_partials<C>(acc, region);
}

// ------------------------------------------------------------------------- forward

template <typename T, int ZP>
__global__ void __launch_bounds__(Tile<acc_t<T>, ZP>::NT) forward_kernel(ForwardParams p) {
  using A = acc_t<T>;
  using C = Tile<A, ZP>;
  AEGUI_SHARED(A, smem, C::SMEM);
  A* region = smem;
  A* zs = smem + C::REGION;  // (R, ZP) latent tile the decoder reads

  const int t = threadIdx.x;
  const int H = int(p.H), Z = int(p.Z);
  const int64_t row0 = int64_t(blockIdx.x) * C::R;
  const int rows = int(p.B - row0 < C::R ? p.B - row0 : C::R);

  if (p.mode == Mode::DecodeOnly) {
    const T* z_in = static_cast<const T*>(p.z_in);
    for (int idx = t; idx < C::R * ZP; idx += C::NT) {
      const int r = idx / ZP, j = idx % ZP;
      zs[idx] = (r < rows && j < Z) ? to_acc(z_in[(row0 + r) * Z + j]) : A(0);
    }
  } else {
    const T* h = static_cast<const T*>(p.h);
    const T* b_enc = static_cast<const T*>(p.b_enc);
    const bool variational = p.mode == Mode::Variational;
    encode_tile<C>(h, static_cast<const T*>(p.w_enc), H, Z, row0, rows, region);
    // Plain: zs = z. Variational: zs = mu for now (unrounded; z is formed from it below).
    for (int idx = t; idx < C::R * ZP; idx += C::NT) {
      const int r = idx / ZP, j = idx % ZP;
      A v = A(0);
      if (r < rows && j < Z) {
        const int64_t o = (row0 + r) * Z + j;
        const A s = partial_sum<C>(region, r, j) + to_acc(b_enc[j]);
        if (variational) {
          store_acc(static_cast<T*>(p.mu) + o, s);
          v = s;
        } else {
          store_acc(static_cast<T*>(p.z) + o, s);
          v = rounded<T>(s);
        }
      }
      zs[idx] = v;
    }
    if (variational) {
      __syncthreads();  // everyone has read the partial sums before the second pass overwrites them
      encode_tile<C>(h, static_cast<const T*>(p.w_lv), H, Z, row0, rows, region);
      const T* b_lv = static_cast<const T*>(p.b_lv);
      const T* eps = static_cast<const T*>(p.eps);
      for (int idx = t; idx < C::R * ZP; idx += C::NT) {
        const int r = idx / ZP, j = idx % ZP;
        if (r < rows && j < Z) {
          const int64_t o = (row0 + r) * Z + j;
          const A lv = partial_sum<C>(region, r, j) + to_acc(b_lv[j]);
          store_acc(static_cast<T*>(p.logvar) + o, lv);
          const A mu = zs[idx];
          const A z = eps ? mu + to_acc(eps[o]) * m_exp(A(0.5) * lv) : mu;
          store_acc(static_cast<T*>(p.z) + o, z);
          zs[idx] = rounded<T>(z);
        }
      }
    }
  }
  __syncthreads();  // zs complete

  // Decoder: y[r][c] = act(b_dec[c] + z[r] . w_dec[c]).
  const T* w_dec = static_cast<const T*>(p.w_dec);
  const T* b_dec = static_cast<const T*>(p.b_dec);
  T* y = static_cast<T*>(p.y);
  const int ncol = column_threads(H, C::NT), rg = t / ncol, n_rg = C::NT / ncol;
  for (int c = t % ncol; c < H; c += ncol) {
    A w[ZP];
#pragma unroll
    for (int j = 0; j < ZP; ++j) w[j] = j < Z ? to_acc(w_dec[int64_t(c) * Z + j]) : A(0);
    const A b = to_acc(b_dec[c]);
    for (int r = rg; r < rows; r += n_rg) {
      store_acc(y + (row0 + r) * H + c, activate(p.act, dot_row<ZP>(zs + r * ZP, w, b)));
    }
  }
}

// ------------------------------------------------------------------------ backward

// Workspace (elements of acc_t<T>): weight/bias accumulators, zeroed before the row
// kernels, then the (B, Z) g_z rows the decoder kernel hands to the encoder kernel.
struct WsLayout {
  int64_t w_dec;  // (Z, H): transposed, so a warp's atomics (consecutive columns) coalesce
  int64_t b_dec;  // (H)
  int64_t w_enc;  // (Z, H)   Plain, Variational
  int64_t b_enc;  // (Z)
  int64_t w_lv;   // (Z, H)   Variational
  int64_t b_lv;   // (Z)
  int64_t acc_total;
  int64_t gz;     // (B, Z)   Plain, Variational
  int64_t total;
};

WsLayout make_layout(const BackwardParams& p) {
  const int64_t enc = p.mode == Mode::DecodeOnly ? 0 : 1;
  const int64_t var = p.mode == Mode::Variational ? 1 : 0;
  WsLayout L;
  L.w_dec = 0;
  L.b_dec = L.w_dec + p.Z * p.H;
  L.w_enc = L.b_dec + p.H;
  L.b_enc = L.w_enc + enc * p.Z * p.H;
  L.w_lv = L.b_enc + enc * p.Z;
  L.b_lv = L.w_lv + var * p.Z * p.H;
  L.acc_total = L.b_lv + var * p.Z;
  L.gz = L.acc_total;
  L.total = L.gz + enc * p.B * p.Z;
  return L;
}

// Decoder backward for one row tile, chunk by chunk of KC columns of H:
//   1. stage the chunk's w_dec rows (transposed) and form g_pre = grad_y * act'(pre), with
//      pre = z . w_dec + b_dec recomputed from the z tile, into the chunk buffer;
//   2. g_z += g_pre @ w_dec: the same chunked reduction as the forward encoder;
//   3. the chunk's grad_w_dec = g_pre.T @ z and grad_b_dec over the tile's rows, one
//      atomic per (column, latent) per tile.
// Writes g_z (+ grad_z) to the workspace (Plain, Variational) or to grad_z_in (DecodeOnly).
template <typename T, int ZP>
__global__ void __launch_bounds__(Tile<acc_t<T>, ZP>::NT)
    backward_decoder_kernel(BackwardParams p, WsLayout L, acc_t<T>* ws) {
  using A = acc_t<T>;
  using C = Tile<A, ZP>;
  AEGUI_SHARED(A, smem, C::SMEM);
  A* region = smem;
  A* hs = region;                   // g_pre chunk (R, KCS)
  A* wsm = region + C::R * C::KCS;  // w_dec chunk, transposed (ZP, KCS)
  A* zs = smem + C::REGION;         // z tile (R, ZP)

  const int t = threadIdx.x;
  const int H = int(p.H), Z = int(p.Z);
  const int64_t row0 = int64_t(blockIdx.x) * C::R;
  const int rows = int(p.B - row0 < C::R ? p.B - row0 : C::R);

  const T* z = static_cast<const T*>(p.z);
  for (int idx = t; idx < C::R * ZP; idx += C::NT) {
    const int r = idx / ZP, j = idx % ZP;
    zs[idx] = (r < rows && j < Z) ? to_acc(z[(row0 + r) * Z + j]) : A(0);
  }
  __syncthreads();

  const bool need_gz = p.mode != Mode::DecodeOnly || p.grad_z_in != nullptr;
  A acc[C::ZA];
#pragma unroll
  for (int a = 0; a < C::ZA; ++a) acc[a] = A(0);

  if (p.grad_y != nullptr) {
    const T* gy = static_cast<const T*>(p.grad_y);
    const T* w_dec = static_cast<const T*>(p.w_dec);
    const T* b_dec = static_cast<const T*>(p.b_dec);
    const bool want_w = p.grad_w_dec != nullptr, want_b = p.grad_b_dec != nullptr;
    // Steps 1 and 3: thread t owns chunk column cl and group cg (rows in step 1, latents in
    // step 3). A warp shares cg, so its z reads are broadcasts.
    constexpr int NG = C::NT / C::KC;
    constexpr int JPT = ZP / NG;  // latents per thread in step 3
    static_assert(ZP % NG == 0, "latents must split evenly over the groups");
    const int cl = t % C::KC, cg = t / C::KC;
    for (int k0 = 0; k0 < H; k0 += C::KC) {
      const int c = k0 + cl;
      const bool col_ok = c < H;
      for (int idx = t; idx < C::KC * ZP; idx += C::NT) {  // consecutive threads: along a w_dec row
        const int k = idx / ZP, j = idx % ZP;
        wsm[j * C::KCS + k] = (k0 + k < H && j < Z) ? to_acc(w_dec[int64_t(k0 + k) * Z + j]) : A(0);
      }
      __syncthreads();  // w_dec chunk staged

      A w[ZP];
#pragma unroll
      for (int j = 0; j < ZP; ++j) w[j] = wsm[j * C::KCS + cl];
      const A b = col_ok ? to_acc(b_dec[c]) : A(0);
      for (int r = cg; r < C::R; r += NG) {
        A g = A(0);
        if (col_ok && r < rows) {
          const A pre = dot_row<ZP>(zs + r * ZP, w, b);
          g = to_acc(gy[(row0 + r) * H + c]) * act_grad(p.act, pre);
        }
        hs[r * C::KCS + cl] = g;
      }
      __syncthreads();  // g_pre chunk complete

      if (need_gz) mac_chunk<C>(acc, hs, wsm);
      if (want_w || want_b) {
        const int j0 = cg * JPT;
        A gw[JPT];
#pragma unroll
        for (int a = 0; a < JPT; ++a) gw[a] = A(0);
        A gb = A(0);
        for (int r = 0; r < rows; ++r) {
          const A g = hs[r * C::KCS + cl];
          gb += g;
#pragma unroll
          for (int a = 0; a < JPT; ++a) gw[a] += g * zs[r * ZP + j0 + a];
        }
        if (col_ok) {
          if (want_w) {
#pragma unroll
            for (int a = 0; a < JPT; ++a)
              if (j0 + a < Z) atomicAdd(ws + L.w_dec + int64_t(j0 + a) * H + c, gw[a]);
          }
          if (want_b && cg == 0) atomicAdd(ws + L.b_dec + c, gb);
        }
      }
      __syncthreads();  // chunk consumed before the next one is staged
    }
  }
  if (!need_gz) return;  // uniform over the block

  store_partials<C>(acc, region);
  const T* grad_z = static_cast<const T*>(p.grad_z);
  for (int idx = t; idx < C::R * ZP; idx += C::NT) {
    const int r = idx / ZP, j = idx % ZP;
    if (r < rows && j < Z) {
      const int64_t o = (row0 + r) * Z + j;
      A s = partial_sum<C>(region, r, j);
      if (grad_z) s += to_acc(grad_z[o]);
      if (p.mode == Mode::DecodeOnly)
        store_acc(static_cast<T*>(p.grad_z_in) + o, s);
      else
        ws[L.gz + o] = s;
    }
  }
}

// Encoder backward for one row tile (Plain, Variational). From g_z: g_mu (= g_enc) and
// g_lv on chip, grad_eps, grad_h = g_mu @ w_enc (+ g_lv @ w_lv), and the tile's encoder
// weight/bias gradients added to the workspace. Threads own columns of H, as in the
// forward decoder, so grad_h is stored and h is read in coalesced rows.
template <typename T, int ZP, bool VAR>
__global__ void __launch_bounds__(4 * rows_per_block(int(sizeof(acc_t<T>))))
    backward_encoder_kernel(BackwardParams p, WsLayout L, acc_t<T>* ws) {
  using A = acc_t<T>;
  constexpr int R = rows_per_block(int(sizeof(A)));
  constexpr int NT = 4 * R;
  AEGUI_SHARED(A, gm, R * ZP);            // g_mu (Plain: g_z)
  AEGUI_SHARED(A, gl, VAR ? R * ZP : 4);  // g_lv (unused in Plain)

  const int t = threadIdx.x;
  const int H = int(p.H), Z = int(p.Z);
  const int64_t row0 = int64_t(blockIdx.x) * R;
  const int rows = int(p.B - row0 < R ? p.B - row0 : R);

  for (int idx = t; idx < R * ZP; idx += NT) {
    const int r = idx / ZP, j = idx % ZP;
    A vm = A(0), vl = A(0);
    if (r < rows && j < Z) {
      const int64_t o = (row0 + r) * Z + j;
      const A gz = ws[L.gz + o];
      vm = gz;
      if constexpr (VAR) {
        if (p.grad_mu) vm += to_acc(static_cast<const T*>(p.grad_mu)[o]);
        if (p.grad_logvar) vl = to_acc(static_cast<const T*>(p.grad_logvar)[o]);
        if (p.eps) {
          const A sd = m_exp(A(0.5) * to_acc(static_cast<const T*>(p.logvar)[o]));
          const A gs = gz * sd;
          vl += A(0.5) * gs * to_acc(static_cast<const T*>(p.eps)[o]);
          if (p.grad_eps) store_acc(static_cast<T*>(p.grad_eps) + o, gs);
        }
      }
    }
    gm[idx] = vm;
    if constexpr (VAR) gl[idx] = vl;
  }
  __syncthreads();

  if (t < Z) {
    if (p.grad_b_enc) {
      A s = A(0);
      for (int r = 0; r < rows; ++r) s += gm[r * ZP + t];
      atomicAdd(ws + L.b_enc + t, s);
    }
    if constexpr (VAR) {
      if (p.grad_b_lv) {
        A s = A(0);
        for (int r = 0; r < rows; ++r) s += gl[r * ZP + t];
        atomicAdd(ws + L.b_lv + t, s);
      }
    }
  }

  const T* w_enc = static_cast<const T*>(p.w_enc);
  const T* w_lv = static_cast<const T*>(p.w_lv);
  const int ncol = column_threads(H, NT), rg = t / ncol, n_rg = NT / ncol;

  if (p.grad_h) {
    T* grad_h = static_cast<T*>(p.grad_h);
    for (int c = t % ncol; c < H; c += ncol) {
      A we[ZP], wl[ZP];  // wl is dead (and optimised away) in Plain
#pragma unroll
      for (int j = 0; j < ZP; ++j) {
        we[j] = j < Z ? to_acc(w_enc[int64_t(j) * H + c]) : A(0);
        wl[j] = (VAR && j < Z) ? to_acc(w_lv[int64_t(j) * H + c]) : A(0);
      }
      for (int r = rg; r < rows; r += n_rg) {
        A s = dot_row<ZP>(gm + r * ZP, we, A(0));
        if constexpr (VAR) s = dot_row<ZP>(gl + r * ZP, wl, s);
        store_acc(grad_h + (row0 + r) * H + c, s);
      }
    }
  }

  const bool want_we = p.grad_w_enc != nullptr, want_wl = VAR && p.grad_w_lv != nullptr;
  if (want_we || want_wl) {
    const T* h = static_cast<const T*>(p.h);
    for (int c = t % ncol; c < H; c += ncol) {
      A ge[ZP], gv[ZP];  // gv is dead (and optimised away) in Plain
#pragma unroll
      for (int j = 0; j < ZP; ++j) {
        ge[j] = A(0);
        gv[j] = A(0);
      }
      for (int r = rg; r < rows; r += n_rg) {
        const A hv = to_acc(h[(row0 + r) * H + c]);
        axpy_row<ZP>(ge, gm + r * ZP, hv);
        if constexpr (VAR) axpy_row<ZP>(gv, gl + r * ZP, hv);
      }
      // Fully unrolled with a guard (not a break) so ge/gv stay in registers.
#pragma unroll
      for (int j = 0; j < ZP; ++j) {
        if (j < Z) {
          if (want_we) atomicAdd(ws + L.w_enc + int64_t(j) * H + c, ge[j]);
          if (want_wl) atomicAdd(ws + L.w_lv + int64_t(j) * H + c, gv[j]);
        }
      }
    }
  }
}

// Accumulators -> the wanted weight/bias gradient outputs (converted to T; w_dec
// transposed back to (H, Z)). Runs for B == 0 too, writing zeros.
template <typename T>
__global__ void finalize_kernel(BackwardParams p, WsLayout L, const acc_t<T>* ws) {
  const int64_t H = p.H, Z = p.Z;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < L.acc_total; i += stride) {
    const acc_t<T> v = ws[i];
    if (i < L.b_dec) {
      if (p.grad_w_dec) store_acc(static_cast<T*>(p.grad_w_dec) + (i % H) * Z + i / H, v);
    } else if (i < L.w_enc) {
      if (p.grad_b_dec) store_acc(static_cast<T*>(p.grad_b_dec) + (i - L.b_dec), v);
    } else if (i < L.b_enc) {
      if (p.grad_w_enc) store_acc(static_cast<T*>(p.grad_w_enc) + (i - L.w_enc), v);
    } else if (i < L.w_lv) {
      if (p.grad_b_enc) store_acc(static_cast<T*>(p.grad_b_enc) + (i - L.b_enc), v);
    } else if (i < L.b_lv) {
      if (p.grad_w_lv) store_acc(static_cast<T*>(p.grad_w_lv) + (i - L.w_lv), v);
    } else {
      if (p.grad_b_lv) store_acc(static_cast<T*>(p.grad_b_lv) + (i - L.b_lv), v);
    }
  }
}

// -------------------------------------------------------------------------- host

const char* check_sizes(int64_t B, int64_t H, int64_t Z) {
  if (B < 0 || H < 0 || Z < 0) return "aegui CUDA kernels: negative size";
  if (Z > kMaxZ) return "aegui CUDA kernels: the latent size Z must be at most 64";
  if (H > kMaxH) return "aegui CUDA kernels: the feature size H is too large";
  return nullptr;
}

// The two runtime calls the host code makes, as functions so that the emulator can stand
// in for them: a kernel launch (null, or the launch error) and a memset on the stream.
#if defined(AEGUI_CUDA_EMULATION)
using aegui_emu::launch;
using aegui_emu::memset_async;
#else
template <typename... P, typename... A>
const char* launch(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream, A... args) {
  kernel<<<grid, block, 0, stream>>>(args...);
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

const char* memset_async(void* p, int value, size_t bytes, cudaStream_t stream) {
  const cudaError_t err = cudaMemsetAsync(p, value, bytes, stream);
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}
#endif

// Calls f(std::integral_constant<int, ZP>) with the padded latent size for Z.
template <class F>
void with_padded_z(int64_t Z, F&& f) {
  if (Z <= 8) f(std::integral_constant<int, 8>{});
  else if (Z <= 16) f(std::integral_constant<int, 16>{});
  else if (Z <= 32) f(std::integral_constant<int, 32>{});
  else f(std::integral_constant<int, 64>{});
}

// Blocks for B rows at R rows per block, or -1 when that exceeds gridDim.x.
int64_t row_blocks(int64_t B, int R) {
  const int64_t n = (B + R - 1) / R;
  return n > int64_t(0x7fffffff) ? -1 : n;
}

const char* const kTooManyRows = "aegui CUDA kernels: batch too large for one grid";

template <typename T>
const char* forward_typed(const ForwardParams& p, cudaStream_t stream) {
  if (p.B == 0) return nullptr;
  if (const char* e = check_sizes(p.B, p.H, p.Z)) return e;
  const char* err = nullptr;
  with_padded_z(p.Z, [&](auto zp) {
    constexpr int ZP = decltype(zp)::value;
    using C = Tile<acc_t<T>, ZP>;
    const int64_t blocks = row_blocks(p.B, C::R);
    if (blocks < 0) {
      err = kTooManyRows;
      return;
    }
    err = launch(forward_kernel<T, ZP>, dim3(unsigned(blocks)), dim3(C::NT), stream, p);
  });
  return err;
}

template <typename T>
const char* backward_typed(const BackwardParams& p, void* workspace, cudaStream_t stream) {
  using A = acc_t<T>;
  if (const char* e = check_sizes(p.B, p.H, p.Z)) return e;
  const WsLayout L = make_layout(p);
  A* ws = static_cast<A*>(workspace);

  if (L.acc_total > 0) {
    if (const char* e = memset_async(ws, 0, size_t(L.acc_total) * sizeof(A), stream)) return e;
  }

  if (p.B > 0) {
    const char* err = nullptr;
    with_padded_z(p.Z, [&](auto zp) {
      constexpr int ZP = decltype(zp)::value;
      using C = Tile<A, ZP>;
      const int64_t blocks = row_blocks(p.B, C::R);
      if (blocks < 0) {
        err = kTooManyRows;
        return;
      }
      const dim3 grid{unsigned(blocks)}, block{unsigned(C::NT)};
      err = launch(backward_decoder_kernel<T, ZP>, grid, block, stream, p, L, ws);
      if (err) return;
      if (p.mode == Mode::Plain)
        err = launch(backward_encoder_kernel<T, ZP, false>, grid, block, stream, p, L, ws);
      else if (p.mode == Mode::Variational)
        err = launch(backward_encoder_kernel<T, ZP, true>, grid, block, stream, p, L, ws);
    });
    if (err) return err;
  }

  if (L.acc_total > 0) {
    constexpr int threads = 256;
    const int64_t want = (L.acc_total + threads - 1) / threads;
    const unsigned blocks = unsigned(want < 1024 ? want : 1024);
    if (const char* e = launch(finalize_kernel<T>, dim3(blocks), dim3(threads), stream, p, L,
                               static_cast<const A*>(ws)))
      return e;
  }
  return nullptr;
}

}  // namespace

const char* forward(DType dtype, const ForwardParams& p, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::F32: return forward_typed<float>(p, s);
    case DType::F64: return forward_typed<double>(p, s);
    case DType::F16: return forward_typed<__half>(p, s);
    case DType::BF16: return forward_typed<__nv_bfloat16>(p, s);
  }
  return "aegui CUDA kernels: unsupported dtype";
}

int64_t backward_workspace_bytes(DType dtype, const BackwardParams& p) {
  const int64_t elem = dtype == DType::F64 ? int64_t(sizeof(double)) : int64_t(sizeof(float));
  if (p.B < 0 || p.H < 0 || p.Z < 0) return 0;
  return make_layout(p).total * elem;
}

const char* backward(DType dtype, const BackwardParams& p, void* workspace, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::F32: return backward_typed<float>(p, workspace, s);
    case DType::F64: return backward_typed<double>(p, workspace, s);
    case DType::F16: return backward_typed<__half>(p, workspace, s);
    case DType::BF16: return backward_typed<__nv_bfloat16>(p, workspace, s);
  }
  return "aegui CUDA kernels: unsupported dtype";
}

}  // namespace cuda
}  // namespace aegui
