// CUDA kernels of the fused bottleneck op (contract: bottleneck.h). Plain CUDA C++, no torch.
//
// Why this shape:
//  * The op is memory-bound at large B (read h, write y; Z is small), so the forward is
//    ONE kernel and each block owns a tile of rows: z never leaves the chip between the
//    encoder and the decoder, and y crosses DRAM once (h too, except in the VAE, whose two
//    encoder passes each stream the tile's h).
//  * The encoder is a reduction over H. h and the weight rows are staged through shared
//    memory in chunks of KC columns (coalesced global loads, next chunk prefetched into
//    registers while the current one is multiplied), then each thread accumulates a few
//    (row, latent) sums with 128-bit shared loads: one h quad feeds ZA latent outputs. The
//    chunked loop means any H works (H = 7 or 1000) with zero padding, no alignment needed.
//  * The decoder gives each thread one output column: its Z weights sit in registers and
//    z rows are broadcast from shared memory, so y is written in coalesced rows.
//  * Z is padded to a compile-time ZP in {8, 16, 32, 64} so the per-thread arrays stay in
//    registers; the pads hold zeros and are never stored. Shared memory is sized from ZP
//    and the rows per block and stays under the 48 KB a block gets without opt-in. A Z
//    over 64 runs in slices of 64 latents, one launch each (see Slice).
//  * A batch of a few rows takes its own two-launch forward that spreads the sums over H
//    across blocks (see kSmallRows): the app's one drawing at a time.
//  * Backward is several launches (allowed, and it keeps register pressure per kernel
//    down): the decoder kernel recomputes pre from z (not saved), forms g_pre per chunk on
//    chip, reduces g_z through the same chunked machinery as the forward encoder, and
//    atomically adds its row tile's weight gradients to a float (double for F64)
//    workspace; the encoder kernel reads g_z back (a small (B, Z) workspace buffer, no
//    (B, H) one) to form grad_h and the encoder weight gradients; a last small kernel
//    converts (and for w_dec transposes) the accumulators into the outputs. Accumulators
//    are kept as (Z, H) so that a warp's atomics hit consecutive addresses. Float atomics
//    make those gradients vary in the last bits from run to run: backward_uses_atomics()
//    tells the binding, which raises torch's nondeterminism alert. Everything else,
//    forward included, is deterministic.
//  * Tests run this file on the CPU (csrc/emu/cuda_emu.h): it therefore synchronises only
//    with __syncthreads (no warp intrinsics), declares shared memory with AEGUI_SHARED, and
//    launches through launch() below.
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

// ------------------------------------------------------------------ latent slices
//
// A tile keeps its latents in registers, so a kernel handles at most 64 of them (padded
// to ZP). A larger Z is cut into slices of 64 latents, one launch each, in order. The
// encoder's work is independent per slice; the decoder's sums over the latents (and in the
// backward, grad_h's) meet in a (B, H) workspace of acc_t: the first slice writes it, the
// others add to it, the last stores the finished values. Z <= 64 is one slice and needs no
// workspace. The host points every input and output at the slice's first latent (biases,
// rows of the encoder weights, columns of w_dec and of the (B, Z) arrays), so kernels
// count latents from 0 and step over rows of the (B, Z) arrays and of w_dec by ldz.
constexpr int kSliceZ = 64;

struct Slice {
  int count = 0;        // latents in this slice: the kernels' Z
  int ldz = 0;          // the full Z: row stride of the (B, Z) arrays and of w_dec
  bool first = true;    // starts the sums (with the bias) rather than adding to them
  bool last = true;     // stores the finished sums rather than keeping them in acc
  void* acc = nullptr;  // (B, H) acc_t partial sums; null for a single slice
};

// Ends one decoder-shaped sum v (this slice's share) of output element o = row * H + col:
// a single slice stores act(v) at once; otherwise the slices meet in s.acc.
template <typename T>
__device__ __forceinline__ void finish_sum(const Slice& s, Activation act, int64_t o, acc_t<T> v, T* out) {
  if (s.acc != nullptr) {
    acc_t<T>* acc = static_cast<acc_t<T>*>(s.acc);
    if (!s.first) v += acc[o];
    if (!s.last) {
      acc[o] = v;
      return;
    }
  }
  store_acc(out + o, activate(act, v));
}

// ------------------------------------------------------------------------- forward

// Fills zs (R x ZP, zero padded) with the tile's latent code as the decoder reads it (z
// as stored in T), storing z, mu and logvar on the way. The caller's barrier completes zs.
template <typename T, class C>
__device__ void latent_tile(const ForwardParams& p, const Slice& s, int64_t row0, int rows, acc_t<T>* region,
                            acc_t<T>* zs) {
  using A = acc_t<T>;
  constexpr int ZP = C::ZP;
  const int t = threadIdx.x, H = int(p.H), Z = s.count;
  const int64_t ldz = s.ldz;
  if (p.mode == Mode::DecodeOnly) {
    const T* z_in = static_cast<const T*>(p.z_in);
    for (int idx = t; idx < C::R * ZP; idx += C::NT) {
      const int r = idx / ZP, j = idx % ZP;
      zs[idx] = (r < rows && j < Z) ? to_acc(z_in[(row0 + r) * ldz + j]) : A(0);
    }
    return;
  }
  const T* h = static_cast<const T*>(p.h);
  const T* b_enc = static_cast<const T*>(p.b_enc);
  const bool variational = p.mode == Mode::Variational;
  encode_tile<C>(h, static_cast<const T*>(p.w_enc), H, Z, row0, rows, region);
  // Plain: zs = z. Variational: zs = mu for now (unrounded; z is formed from it below).
  for (int idx = t; idx < C::R * ZP; idx += C::NT) {
    const int r = idx / ZP, j = idx % ZP;
    A v = A(0);
    if (r < rows && j < Z) {
      const int64_t o = (row0 + r) * ldz + j;
      const A sum = partial_sum<C>(region, r, j) + to_acc(b_enc[j]);
      store_acc(static_cast<T*>(variational ? p.mu : p.z) + o, sum);
      v = variational ? sum : rounded<T>(sum);
    }
    zs[idx] = v;
  }
  if (!variational) return;
  __syncthreads();  // everyone has read the partial sums before the second pass overwrites them
  encode_tile<C>(h, static_cast<const T*>(p.w_lv), H, Z, row0, rows, region);
  const T* b_lv = static_cast<const T*>(p.b_lv);
  const T* eps = static_cast<const T*>(p.eps);
  for (int idx = t; idx < C::R * ZP; idx += C::NT) {
    const int r = idx / ZP, j = idx % ZP;
    if (r < rows && j < Z) {
      const int64_t o = (row0 + r) * ldz + j;
      const A lv = partial_sum<C>(region, r, j) + to_acc(b_lv[j]);
      store_acc(static_cast<T*>(p.logvar) + o, lv);
      const A mu = zs[idx];
      const A z = eps ? mu + to_acc(eps[o]) * m_exp(A(0.5) * lv) : mu;
      store_acc(static_cast<T*>(p.z) + o, z);
      zs[idx] = rounded<T>(z);
    }
  }
}

// The decoder over the tile: y[r][c] = act(b_dec[c] + z[r] . w_dec[c]), this slice's share
// (see finish_sum). Each thread owns one column at a time, its weights in registers, and
// z rows are broadcast from shared memory, so y is written in coalesced rows.
template <typename T, int ZP>
__device__ void decode_tile(const ForwardParams& p, const Slice& s, int64_t row0, int rows, const acc_t<T>* zs,
                            int nt) {
  using A = acc_t<T>;
  const int t = threadIdx.x, H = int(p.H), Z = s.count;
  const T* w_dec = static_cast<const T*>(p.w_dec);
  const T* b_dec = static_cast<const T*>(p.b_dec);
  T* y = static_cast<T*>(p.y);
  const int ncol = column_threads(H, nt), rg = t / ncol, n_rg = nt / ncol;
  for (int c = t % ncol; c < H; c += ncol) {
    A w[ZP];
#pragma unroll
    for (int j = 0; j < ZP; ++j) w[j] = j < Z ? to_acc(w_dec[int64_t(c) * s.ldz + j]) : A(0);
    const A b = s.first ? to_acc(b_dec[c]) : A(0);
    for (int r = rg; r < rows; r += n_rg) finish_sum<T>(s, p.act, (row0 + r) * H + c, dot_row<ZP>(zs + r * ZP, w, b), y);
  }
}

template <typename T, int ZP>
__global__ void __launch_bounds__(Tile<acc_t<T>, ZP>::NT) forward_kernel(ForwardParams p, Slice s) {
  using A = acc_t<T>;
  using C = Tile<A, ZP>;
  AEGUI_SHARED(A, smem, C::SMEM);
  A* zs = smem + C::REGION;  // (R, ZP) latent tile the decoder reads
  const int64_t row0 = int64_t(blockIdx.x) * C::R;
  const int rows = int(p.B - row0 < C::R ? p.B - row0 : C::R);
  latent_tile<T, C>(p, s, row0, rows, smem, zs);
  __syncthreads();  // zs complete
  decode_tile<T, ZP>(p, s, row0, rows, zs, C::NT);
}

// ------------------------------------------------------------- small-batch forward
//
// A batch of a few rows (one drawing, in the app) would leave all but one SM idle in the
// tile kernel, multiplying 64 rows of which B are real. Here the encoder's sums over H are
// split across blocks of kSmallCols columns and kSmallZ latents, each writing its partial
// sums to the workspace; a second launch adds them up in a fixed order (no atomics: the
// result does not depend on timing), forms z and decodes, each thread owning one column
// of y for every row. Any Z: both kernels walk the latents in slices.
constexpr int kSmallRows = 4;    // batches up to this size take this path
constexpr int kSmallCols = 128;  // columns of H per encoder block
constexpr int kSmallZ = 32;      // latents per encoder block
constexpr int kSmallNT = 256;    // threads per block: 8 warps

int64_t small_chunks(int64_t H) { return (H + kSmallCols - 1) / kSmallCols; }

// part[which][chunk][r][j] = rows[r] . W[j] over one chunk of H (which = 0: w_enc or
// w_mu, 1: w_logvar). Lane l of warp g sums columns l, l+32, ... (coalesced weight loads)
// for latents g, g+8, ...; the 32 lanes' sums then meet through shared memory.
template <typename T>
__global__ void __launch_bounds__(kSmallNT) small_encode_kernel(ForwardParams p, acc_t<T>* part) {
  using A = acc_t<T>;
  constexpr int NW = kSmallNT / 32, LPT = kSmallZ / NW, CPL = kSmallCols / 32;
  constexpr int LS = 33;  // lane stride in red: odd, so the summing threads hit distinct banks
  AEGUI_SHARED(A, hs, kSmallRows * kSmallCols);
  AEGUI_SHARED(A, red, kSmallZ * kSmallRows * LS);
  const int t = threadIdx.x, lane = t % 32, g = t / 32;
  const int H = int(p.H), Z = int(p.Z), B = int(p.B);
  const int k0 = int(blockIdx.x) * kSmallCols, j0 = int(blockIdx.y) * kSmallZ;
  const T* W = static_cast<const T*>(blockIdx.z == 0 ? p.w_enc : p.w_lv);
  const T* h = static_cast<const T*>(p.h);
  for (int idx = t; idx < kSmallRows * kSmallCols; idx += kSmallNT) {
    const int r = idx / kSmallCols, k = idx % kSmallCols;
    hs[idx] = (r < B && k0 + k < H) ? to_acc(h[int64_t(r) * H + k0 + k]) : A(0);
  }
  __syncthreads();
  A acc[LPT][kSmallRows];
#pragma unroll
  for (int i = 0; i < LPT; ++i) {
    const int j = j0 + g + NW * i;
#pragma unroll
    for (int r = 0; r < kSmallRows; ++r) acc[i][r] = A(0);
#pragma unroll
    for (int m = 0; m < CPL; ++m) {
      const int k = lane + 32 * m;
      if (j < Z && k0 + k < H) {
        const A w = to_acc(W[int64_t(j) * H + k0 + k]);
#pragma unroll
        for (int r = 0; r < kSmallRows; ++r) acc[i][r] += w * hs[r * kSmallCols + k];
      }
    }
#pragma unroll
    for (int r = 0; r < kSmallRows; ++r) red[((g + NW * i) * kSmallRows + r) * LS + lane] = acc[i][r];
  }
  __syncthreads();
  const int jl = t / kSmallRows, r = t % kSmallRows;
  if (jl < kSmallZ && r < B && j0 + jl < Z) {
    A sum = A(0);
    for (int l = 0; l < 32; ++l) sum += red[(jl * kSmallRows + r) * LS + l];
    part[((int64_t(blockIdx.z) * gridDim.x + blockIdx.x) * B + r) * Z + j0 + jl] = sum;
  }
}

// Latent j of row r as the decoder reads it (zero outside the batch and Z), from the
// encoder's partial sums added in chunk order; stores z (mu, logvar) when `store`.
template <typename T>
__device__ acc_t<T> small_latent(const ForwardParams& p, int nchunks, const acc_t<T>* part, int r, int j,
                                 bool store) {
  using A = acc_t<T>;
  if (r >= p.B || j >= p.Z) return A(0);
  const int64_t o = int64_t(r) * p.Z + j, chunk = p.B * p.Z;
  if (p.mode == Mode::DecodeOnly) return to_acc(static_cast<const T*>(p.z_in)[o]);
  A mu = to_acc(static_cast<const T*>(p.b_enc)[j]);
  for (int k = 0; k < nchunks; ++k) mu += part[k * chunk + o];
  if (p.mode == Mode::Plain) {
    if (store) store_acc(static_cast<T*>(p.z) + o, mu);
    return rounded<T>(mu);
  }
  A lv = to_acc(static_cast<const T*>(p.b_lv)[j]);
  for (int k = 0; k < nchunks; ++k) lv += part[(nchunks + k) * chunk + o];
  const A z = p.eps ? mu + to_acc(static_cast<const T*>(p.eps)[o]) * m_exp(A(0.5) * lv) : mu;
  if (store) {
    store_acc(static_cast<T*>(p.mu) + o, mu);
    store_acc(static_cast<T*>(p.logvar) + o, lv);
    store_acc(static_cast<T*>(p.z) + o, z);
  }
  return rounded<T>(z);
}

// Forms z slice by slice of kSliceZ latents and decodes: thread t owns column
// blockIdx.x * kSmallNT + t of y, for every row. Block 0 stores the latent outputs.
template <typename T>
__global__ void __launch_bounds__(kSmallNT) small_decode_kernel(ForwardParams p, int nchunks, const acc_t<T>* part) {
  using A = acc_t<T>;
  static_assert(kSmallNT == kSmallRows * kSliceZ, "one thread per latent of the slice");
  AEGUI_SHARED(A, zs, kSmallRows * kSliceZ);
  const int t = threadIdx.x, H = int(p.H), Z = int(p.Z);
  const int c = int(blockIdx.x) * kSmallNT + t;
  const T* w_dec = static_cast<const T*>(p.w_dec);
  A y[kSmallRows];
#pragma unroll
  for (int r = 0; r < kSmallRows; ++r) y[r] = A(0);
  for (int j0 = 0; j0 < Z; j0 += kSliceZ) {
    zs[t] = small_latent<T>(p, nchunks, part, t / kSliceZ, j0 + t % kSliceZ, blockIdx.x == 0);
    __syncthreads();
    for (int j = 0; c < H && j < kSliceZ && j0 + j < Z; ++j) {
      const A w = to_acc(w_dec[int64_t(c) * Z + j0 + j]);
#pragma unroll
      for (int r = 0; r < kSmallRows; ++r) y[r] += w * zs[r * kSliceZ + j];
    }
    __syncthreads();  // zs is rewritten for the next slice
  }
  if (c >= H) return;
  const A b = to_acc(static_cast<const T*>(p.b_dec)[c]);
#pragma unroll
  for (int r = 0; r < kSmallRows; ++r)
    if (r < p.B) store_acc(static_cast<T*>(p.y) + int64_t(r) * H + c, activate(p.act, y[r] + b));
}

// ------------------------------------------------------------------------ backward

// Workspace (elements of acc_t<T>): weight/bias accumulators, zeroed before the row
// kernels; the (B, Z) g_z rows the decoder kernel hands to the encoder kernel; and when Z
// spans several slices, the (B, H) sums they share (pre-activations, then grad_h).
struct WsLayout {
  int64_t w_dec;  // (Z, H): transposed, so a warp's atomics (consecutive columns) coalesce
  int64_t b_dec;  // (H)
  int64_t w_enc;  // (Z, H)   Plain, Variational
  int64_t b_enc;  // (Z)
  int64_t w_lv;   // (Z, H)   Variational
  int64_t b_lv;   // (Z)
  int64_t acc_total;
  int64_t gz;     // (B, Z)   Plain, Variational
  int64_t sums;   // (B, H)   several slices
  int64_t total;
};

int slice_count(int64_t Z) { return Z <= kSliceZ ? 1 : int((Z + kSliceZ - 1) / kSliceZ); }

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
  L.sums = L.gz + enc * p.B * p.Z;
  L.total = L.sums + (slice_count(p.Z) > 1 ? p.B * p.H : 0);
  return L;
}

// Decoder backward, step 1 for one chunk of KC columns of H: the chunk's w_dec, transposed,
// into wsm, and g_pre = grad_y * act'(pre) into hs, with pre recomputed from the z tile
// (one slice) or read from the slices' shared sums. Ends with the barrier that completes hs.
template <typename T, class C>
__device__ void stage_g_pre(const BackwardParams& p, const Slice& s, int64_t row0, int rows, int k0,
                            const acc_t<T>* zs, acc_t<T>* hs, acc_t<T>* wsm) {
  using A = acc_t<T>;
  constexpr int ZP = C::ZP, NG = C::NT / C::KC;
  const int t = threadIdx.x, H = int(p.H), Z = s.count;
  const T* w_dec = static_cast<const T*>(p.w_dec);
  for (int idx = t; idx < C::KC * ZP; idx += C::NT) {  // consecutive threads: along a w_dec row
    const int k = idx / ZP, j = idx % ZP;
    wsm[j * C::KCS + k] = (k0 + k < H && j < Z) ? to_acc(w_dec[int64_t(k0 + k) * s.ldz + j]) : A(0);
  }
  __syncthreads();  // w_dec chunk staged

  // Thread t owns chunk column cl and rows t / KC + NG * i; a warp shares its rows, so its
  // z reads are broadcasts.
  const int cl = t % C::KC, c = k0 + cl;
  const bool col_ok = c < H;
  A w[ZP];
#pragma unroll
  for (int j = 0; j < ZP; ++j) w[j] = wsm[j * C::KCS + cl];
  const A b = col_ok ? to_acc(static_cast<const T*>(p.b_dec)[c]) : A(0);
  const T* gy = static_cast<const T*>(p.grad_y);
  const A* sums = static_cast<const A*>(s.acc);
  for (int r = t / C::KC; r < C::R; r += NG) {
    A g = A(0);
    if (col_ok && r < rows) {
      const int64_t o = (row0 + r) * H + c;
      const A pre = sums ? sums[o] : dot_row<ZP>(zs + r * ZP, w, b);
      g = to_acc(gy[o]) * act_grad(p.act, pre);
    }
    hs[r * C::KCS + cl] = g;
  }
  __syncthreads();  // g_pre chunk complete
}

// Decoder backward, step 3 for the chunk: grad_w_dec = g_pre.T @ z and grad_b_dec over the
// tile's rows, one atomic per (column, latent) per tile. Thread t owns chunk column
// t % KC and latents (t / KC) * JPT + a.
template <typename T, class C>
__device__ void add_decoder_weight_grads(const BackwardParams& p, const Slice& s, const WsLayout& L, int rows,
                                         int k0, const acc_t<T>* zs, const acc_t<T>* hs, acc_t<T>* ws) {
  using A = acc_t<T>;
  constexpr int ZP = C::ZP, NG = C::NT / C::KC, JPT = ZP / NG;
  static_assert(ZP % NG == 0, "latents must split evenly over the groups");
  const int t = threadIdx.x, H = int(p.H), cl = t % C::KC, c = k0 + cl, j0 = (t / C::KC) * JPT;
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
  if (c >= H) return;
  if (p.grad_w_dec) {
#pragma unroll
    for (int a = 0; a < JPT; ++a)
      if (j0 + a < s.count) atomicAdd(ws + L.w_dec + int64_t(j0 + a) * H + c, gw[a]);
  }
  if (p.grad_b_dec && s.first && j0 == 0) atomicAdd(ws + L.b_dec + c, gb);
}

// Decoder backward for one row tile, chunk by chunk of KC columns of H: g_pre (step 1),
// then g_z += g_pre @ w_dec through the same chunked reduction as the forward encoder
// (step 2) and the decoder's weight gradients (step 3). Writes g_z (+ grad_z) to the
// workspace (Plain, Variational) or to grad_z_in (DecodeOnly).
template <typename T, int ZP>
__global__ void __launch_bounds__(Tile<acc_t<T>, ZP>::NT)
    backward_decoder_kernel(BackwardParams p, Slice s, WsLayout L, acc_t<T>* ws) {
  using A = acc_t<T>;
  using C = Tile<A, ZP>;
  AEGUI_SHARED(A, smem, C::SMEM);
  A* region = smem;
  A* hs = region;                   // g_pre chunk (R, KCS)
  A* wsm = region + C::R * C::KCS;  // w_dec chunk, transposed (ZP, KCS)
  A* zs = smem + C::REGION;         // z tile (R, ZP)
  const int t = threadIdx.x, H = int(p.H), Z = s.count;
  const int64_t row0 = int64_t(blockIdx.x) * C::R;
  const int rows = int(p.B - row0 < C::R ? p.B - row0 : C::R);

  const T* z = static_cast<const T*>(p.z);
  for (int idx = t; idx < C::R * ZP; idx += C::NT) {
    const int r = idx / ZP, j = idx % ZP;
    zs[idx] = (r < rows && j < Z) ? to_acc(z[(row0 + r) * s.ldz + j]) : A(0);
  }
  __syncthreads();

  const bool need_gz = p.mode != Mode::DecodeOnly || p.grad_z_in != nullptr;
  const bool need_w = p.grad_w_dec != nullptr || (p.grad_b_dec != nullptr && s.first);
  A acc[C::ZA];
#pragma unroll
  for (int a = 0; a < C::ZA; ++a) acc[a] = A(0);
  for (int k0 = 0; p.grad_y != nullptr && k0 < H; k0 += C::KC) {
    stage_g_pre<T, C>(p, s, row0, rows, k0, zs, hs, wsm);
    if (need_gz) mac_chunk<C>(acc, hs, wsm);
    if (need_w) add_decoder_weight_grads<T, C>(p, s, L, rows, k0, zs, hs, ws);
    __syncthreads();  // chunk consumed before the next one is staged
  }
  if (!need_gz) return;  // uniform over the block

  store_partials<C>(acc, region);
  const T* grad_z = static_cast<const T*>(p.grad_z);
  for (int idx = t; idx < C::R * ZP; idx += C::NT) {
    const int r = idx / ZP, j = idx % ZP;
    if (r < rows && j < Z) {
      const int64_t o = (row0 + r) * s.ldz + j;
      A sum = partial_sum<C>(region, r, j);
      if (grad_z) sum += to_acc(grad_z[o]);
      if (p.mode == Mode::DecodeOnly)
        store_acc(static_cast<T*>(p.grad_z_in) + o, sum);
      else
        ws[L.gz + o] = sum;
    }
  }
}

// Encoder backward, first step: g_mu (Plain: g_z) and g_lv of the tile's rows into gm and gl
// (R x ZP, zero padded), and grad_eps. The caller's barrier completes gm and gl.
template <typename T, int ZP, bool VAR, int R, int NT>
__device__ void latent_grads(const BackwardParams& p, const Slice& s, const WsLayout& L, const acc_t<T>* ws,
                             int64_t row0, int rows, acc_t<T>* gm, acc_t<T>* gl) {
  using A = acc_t<T>;
  for (int idx = threadIdx.x; idx < R * ZP; idx += NT) {
    const int r = idx / ZP, j = idx % ZP;
    A vm = A(0), vl = A(0);
    if (r < rows && j < s.count) {
      const int64_t o = (row0 + r) * s.ldz + j;
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
}

// The tile's share of a bias gradient: the column sum of g (R x ZP), one atomic per latent.
template <int ZP, typename A>
__device__ void add_bias_grad(const A* g, int rows, int Z, A* acc) {
  const int j = threadIdx.x;
  if (j >= Z) return;
  A sum = A(0);
  for (int r = 0; r < rows; ++r) sum += g[r * ZP + j];
  atomicAdd(acc + j, sum);
}

// grad_h = g_mu @ w_enc (+ g_lv @ w_lv), this slice's share (see finish_sum). Threads own
// columns of H, as in the forward decoder, so grad_h is stored in coalesced rows.
// For the VAE at Z padded to 64 this loop sets the kernel's register count (two weight
// columns per thread: 159 registers in float, spills in double); holding fewer rows per
// thread with one column at a time compiled to more (182 to 220), so it stays until a
// device can say what the trade is worth.
template <typename T, int ZP, bool VAR>
__device__ void grad_h_tile(const BackwardParams& p, const Slice& s, int64_t row0, int rows, const acc_t<T>* gm,
                            const acc_t<T>* gl, int nt) {
  using A = acc_t<T>;
  const int t = threadIdx.x, H = int(p.H), Z = s.count;
  const T* w_enc = static_cast<const T*>(p.w_enc);
  const T* w_lv = static_cast<const T*>(p.w_lv);
  T* grad_h = static_cast<T*>(p.grad_h);
  const int ncol = column_threads(H, nt), rg = t / ncol, n_rg = nt / ncol;
  for (int c = t % ncol; c < H; c += ncol) {
    A we[ZP], wl[ZP];  // wl is dead (and optimised away) in Plain
#pragma unroll
    for (int j = 0; j < ZP; ++j) {
      we[j] = j < Z ? to_acc(w_enc[int64_t(j) * H + c]) : A(0);
      wl[j] = (VAR && j < Z) ? to_acc(w_lv[int64_t(j) * H + c]) : A(0);
    }
    for (int r = rg; r < rows; r += n_rg) {
      A sum = dot_row<ZP>(gm + r * ZP, we, A(0));
      if constexpr (VAR) sum = dot_row<ZP>(gl + r * ZP, wl, sum);
      finish_sum<T>(s, Activation::Identity, (row0 + r) * H + c, sum, grad_h);
    }
  }
}

// One encoder weight's gradient over the tile, g.T @ h, added to its (Z, H) accumulator:
// one atomic per (latent, column) per tile. Called once per weight (w_mu, then w_logvar),
// so only ZP sums live in registers at a time; h is read again from cache for the second.
template <typename T, int ZP>
__device__ void add_encoder_weight_grad(const BackwardParams& p, int Z, const acc_t<T>* g, int64_t row0, int rows,
                                        int nt, acc_t<T>* acc) {
  using A = acc_t<T>;
  const int t = threadIdx.x, H = int(p.H);
  const T* h = static_cast<const T*>(p.h);
  const int ncol = column_threads(H, nt), rg = t / ncol, n_rg = nt / ncol;
  for (int c = t % ncol; c < H; c += ncol) {
    A gw[ZP];
#pragma unroll
    for (int j = 0; j < ZP; ++j) gw[j] = A(0);
    for (int r = rg; r < rows; r += n_rg) axpy_row<ZP>(gw, g + r * ZP, to_acc(h[(row0 + r) * H + c]));
    // Fully unrolled with a guard (not a break) so gw stays in registers.
#pragma unroll
    for (int j = 0; j < ZP; ++j)
      if (j < Z) atomicAdd(acc + int64_t(j) * H + c, gw[j]);
  }
}

// Encoder backward for one row tile (Plain, Variational). From g_z: g_mu (= g_enc) and
// g_lv on chip, grad_eps, grad_h = g_mu @ w_enc (+ g_lv @ w_lv), and the tile's encoder
// weight and bias gradients added to the workspace.
template <typename T, int ZP, bool VAR>
__global__ void __launch_bounds__(4 * rows_per_block(int(sizeof(acc_t<T>))))
    backward_encoder_kernel(BackwardParams p, Slice s, WsLayout L, acc_t<T>* ws) {
  using A = acc_t<T>;
  constexpr int R = rows_per_block(int(sizeof(A)));
  constexpr int NT = 4 * R;
  static_assert(NT >= ZP, "one thread per latent for the bias gradients");
  AEGUI_SHARED(A, gm, R * ZP);            // g_mu (Plain: g_z)
  AEGUI_SHARED(A, gl, VAR ? R * ZP : 4);  // g_lv (unused in Plain)
  const int64_t row0 = int64_t(blockIdx.x) * R;
  const int rows = int(p.B - row0 < R ? p.B - row0 : R);

  latent_grads<T, ZP, VAR, R, NT>(p, s, L, ws, row0, rows, gm, gl);
  __syncthreads();
  if (p.grad_b_enc) add_bias_grad<ZP>(gm, rows, s.count, ws + L.b_enc);
  if (VAR && p.grad_b_lv) add_bias_grad<ZP>(gl, rows, s.count, ws + L.b_lv);
  if (p.grad_h) grad_h_tile<T, ZP, VAR>(p, s, row0, rows, gm, gl, NT);
  if (p.grad_w_enc) add_encoder_weight_grad<T, ZP>(p, s.count, gm, row0, rows, NT, ws + L.w_enc);
  if (VAR && p.grad_w_lv) add_encoder_weight_grad<T, ZP>(p, s.count, gl, row0, rows, NT, ws + L.w_lv);
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
  if (H > kMaxH || Z > kMaxH) return "aegui CUDA kernels: the feature or latent size is too large";
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

// Calls f(std::integral_constant<int, ZP>) with the padded latent size for Z <= 64.
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

// Slice k of Z's latents (see Slice); `sums` is the (B, H) workspace they share.
Slice slice_at(int64_t Z, int k, void* sums) {
  const int n = slice_count(Z);
  const int64_t j0 = int64_t(k) * kSliceZ;
  Slice s;
  s.count = int(Z - j0 < kSliceZ ? Z - j0 : kSliceZ);
  s.ldz = int(Z);
  s.first = k == 0;
  s.last = k == n - 1;
  s.acc = n > 1 ? sums : nullptr;
  return s;
}

// p advanced by n elements of T; null stays null.
template <typename T> const void* shift(const void* p, int64_t n) { return p ? static_cast<const T*>(p) + n : nullptr; }
template <typename T> void* shift(void* p, int64_t n) { return p ? static_cast<T*>(p) + n : nullptr; }

// The params with every latent-indexed pointer moved to latent j0 (see Slice).
template <typename T>
ForwardParams forward_slice(ForwardParams q, int64_t j0) {
  const int64_t rows = j0 * q.H;  // rows j0... of the encoder weights
  q.w_enc = shift<T>(q.w_enc, rows);
  q.w_lv = shift<T>(q.w_lv, rows);
  q.b_enc = shift<T>(q.b_enc, j0);
  q.b_lv = shift<T>(q.b_lv, j0);
  q.eps = shift<T>(q.eps, j0);
  q.w_dec = shift<T>(q.w_dec, j0);
  q.z_in = shift<T>(q.z_in, j0);
  q.mu = shift<T>(q.mu, j0);
  q.logvar = shift<T>(q.logvar, j0);
  q.z = shift<T>(q.z, j0);
  return q;
}

// The same for the backward. The weight-gradient outputs only say what is wanted (the
// kernels accumulate into the workspace), so they stay; the workspace moves instead.
template <typename T>
BackwardParams backward_slice(BackwardParams q, int64_t j0) {
  const int64_t rows = j0 * q.H;
  q.w_enc = shift<T>(q.w_enc, rows);
  q.w_lv = shift<T>(q.w_lv, rows);
  q.grad_z = shift<T>(q.grad_z, j0);
  q.grad_mu = shift<T>(q.grad_mu, j0);
  q.grad_logvar = shift<T>(q.grad_logvar, j0);
  q.eps = shift<T>(q.eps, j0);
  q.logvar = shift<T>(q.logvar, j0);
  q.z = shift<T>(q.z, j0);
  q.w_dec = shift<T>(q.w_dec, j0);
  q.grad_eps = shift<T>(q.grad_eps, j0);
  q.grad_z_in = shift<T>(q.grad_z_in, j0);
  return q;
}

WsLayout layout_slice(WsLayout L, int64_t j0, int64_t H) {
  L.w_dec += j0 * H;
  L.w_enc += j0 * H;
  L.w_lv += j0 * H;
  L.b_enc += j0;
  L.b_lv += j0;
  L.gz += j0;
  return L;
}

int64_t acc_bytes(DType dtype) { return dtype == DType::F64 ? int64_t(sizeof(double)) : int64_t(sizeof(float)); }

// Forward workspace, in acc_t elements: the small-batch path's partial sums, or the sums
// that several slices share.
int64_t forward_workspace_elems(const ForwardParams& p) {
  if (p.B <= 0 || p.H < 0 || p.Z < 0) return 0;
  if (p.B <= kSmallRows)
    return p.mode == Mode::DecodeOnly ? 0 : (p.mode == Mode::Variational ? 2 : 1) * small_chunks(p.H) * p.B * p.Z;
  return slice_count(p.Z) > 1 ? p.B * p.H : 0;
}

template <typename T>
const char* launch_forward(const ForwardParams& q, const Slice& s, cudaStream_t stream) {
  const char* err = nullptr;
  with_padded_z(s.count, [&](auto zp) {
    constexpr int ZP = decltype(zp)::value;
    using C = Tile<acc_t<T>, ZP>;
    const int64_t blocks = row_blocks(q.B, C::R);
    err = blocks < 0 ? kTooManyRows
                     : launch(forward_kernel<T, ZP>, dim3(unsigned(blocks)), dim3(C::NT), stream, q, s);
  });
  return err;
}

template <typename T>
const char* small_forward(const ForwardParams& p, acc_t<T>* part, cudaStream_t stream) {
  const int64_t chunks = small_chunks(p.H);
  if (p.mode != Mode::DecodeOnly && chunks > 0 && p.Z > 0) {
    const dim3 grid(unsigned(chunks), unsigned((p.Z + kSmallZ - 1) / kSmallZ),
                    p.mode == Mode::Variational ? 2u : 1u);
    if (grid.y > 65535) return "aegui CUDA kernels: latent size too large for one grid";
    if (const char* e = launch(small_encode_kernel<T>, grid, dim3(kSmallNT), stream, p, part)) return e;
  }
  // At least one block, which stores the latent outputs even when H = 0.
  const unsigned blocks = unsigned(p.H > 0 ? (p.H + kSmallNT - 1) / kSmallNT : 1);
  return launch(small_decode_kernel<T>, dim3(blocks), dim3(kSmallNT), stream, p, int(chunks),
                static_cast<const acc_t<T>*>(part));
}

template <typename T>
const char* forward_typed(const ForwardParams& p, void* workspace, cudaStream_t stream) {
  if (const char* e = check_sizes(p.B, p.H, p.Z)) return e;
  if (p.B == 0) return nullptr;
  if (p.B <= kSmallRows) return small_forward<T>(p, static_cast<acc_t<T>*>(workspace), stream);
  const int n = slice_count(p.Z);
  for (int k = 0; k < n; ++k) {
    const ForwardParams q = forward_slice<T>(p, int64_t(k) * kSliceZ);
    if (const char* e = launch_forward<T>(q, slice_at(p.Z, k, workspace), stream)) return e;
  }
  return nullptr;
}

// The decoder's pre-activations, when Z spans several slices: the forward decoder run on
// the saved z, its sums kept in the workspace for the backward decoder to read.
template <typename T>
const char* pre_activations(const BackwardParams& p, acc_t<T>* sums, cudaStream_t stream) {
  ForwardParams f;
  f.mode = Mode::DecodeOnly;
  f.act = p.act;
  f.B = p.B; f.H = p.H; f.Z = p.Z;
  f.z_in = p.z; f.w_dec = p.w_dec; f.b_dec = p.b_dec;
  const int n = slice_count(p.Z);
  for (int k = 0; k < n; ++k) {
    Slice s = slice_at(p.Z, k, sums);
    s.last = false;  // the sums themselves are what is wanted
    if (const char* e = launch_forward<T>(forward_slice<T>(f, int64_t(k) * kSliceZ), s, stream)) return e;
  }
  return nullptr;
}

// One launch of the decoder (encoder = false) or encoder backward kernel for slice k.
template <typename T>
const char* launch_backward(const BackwardParams& p, const WsLayout& L, acc_t<T>* ws, int k, bool encoder,
                            cudaStream_t stream) {
  const int64_t j0 = int64_t(k) * kSliceZ;
  const BackwardParams q = backward_slice<T>(p, j0);
  const WsLayout Lq = layout_slice(L, j0, p.H);
  const Slice s = slice_at(p.Z, k, ws + L.sums);
  const char* err = nullptr;
  with_padded_z(s.count, [&](auto zp) {
    constexpr int ZP = decltype(zp)::value;
    using C = Tile<acc_t<T>, ZP>;
    const int64_t blocks = row_blocks(p.B, C::R);
    if (blocks < 0) {
      err = kTooManyRows;
      return;
    }
    const dim3 grid{unsigned(blocks)}, block{unsigned(C::NT)};
    if (!encoder)
      err = launch(backward_decoder_kernel<T, ZP>, grid, block, stream, q, s, Lq, ws);
    else if (p.mode == Mode::Plain)
      err = launch(backward_encoder_kernel<T, ZP, false>, grid, block, stream, q, s, Lq, ws);
    else
      err = launch(backward_encoder_kernel<T, ZP, true>, grid, block, stream, q, s, Lq, ws);
  });
  return err;
}

template <typename T>
const char* backward_typed(const BackwardParams& p, void* workspace, cudaStream_t stream) {
  using A = acc_t<T>;
  if (const char* e = check_sizes(p.B, p.H, p.Z)) return e;
  const WsLayout L = make_layout(p);
  A* ws = static_cast<A*>(workspace);
  if (L.acc_total > 0)
    if (const char* e = memset_async(ws, 0, size_t(L.acc_total) * sizeof(A), stream)) return e;

  const int n = slice_count(p.Z);
  if (p.B > 0 && n > 1 && p.grad_y)
    if (const char* e = pre_activations<T>(p, ws + L.sums, stream)) return e;
  for (int k = 0; p.B > 0 && k < n; ++k)
    if (const char* e = launch_backward<T>(p, L, ws, k, false, stream)) return e;
  for (int k = 0; p.B > 0 && p.mode != Mode::DecodeOnly && k < n; ++k)
    if (const char* e = launch_backward<T>(p, L, ws, k, true, stream)) return e;

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

const char* forward(DType dtype, const ForwardParams& p, void* workspace, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DType::F32: return forward_typed<float>(p, workspace, s);
    case DType::F64: return forward_typed<double>(p, workspace, s);
    case DType::F16: return forward_typed<__half>(p, workspace, s);
    case DType::BF16: return forward_typed<__nv_bfloat16>(p, workspace, s);
  }
  return "aegui CUDA kernels: unsupported dtype";
}

int64_t forward_workspace_bytes(DType dtype, const ForwardParams& p) {
  return forward_workspace_elems(p) * acc_bytes(dtype);
}

int64_t backward_workspace_bytes(DType dtype, const BackwardParams& p) {
  if (p.B < 0 || p.H < 0 || p.Z < 0) return 0;
  return make_layout(p).total * acc_bytes(dtype);
}

bool backward_uses_atomics(const BackwardParams& p) {
  if (p.B <= 0) return false;
  const bool decoder = p.grad_y != nullptr && (p.grad_w_dec != nullptr || p.grad_b_dec != nullptr);
  const bool encoder = p.mode != Mode::DecodeOnly && (p.grad_w_enc != nullptr || p.grad_b_enc != nullptr ||
                                                      p.grad_w_lv != nullptr || p.grad_b_lv != nullptr);
  return decoder || encoder;
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
