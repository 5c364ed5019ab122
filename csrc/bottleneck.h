// Kernel entry points of the fused bottleneck op: plain C++, no torch types.
//
// The bottleneck of an autoencoder is the encoder's last layer, the latent code and the
// decoder's first layer:
//
//   Plain:        z = h @ w_enc.T + b_enc                      (B, Z)
//   Variational:  mu = h @ w_enc.T + b_enc, logvar = h @ w_lv.T + b_lv,
//                 z = mu + eps * exp(0.5 * logvar)   (z = mu when eps is null)
//   DecodeOnly:   z is an input
//   then          y = act(z @ w_dec.T + b_dec)                 (B, H)
//
// Every matrix is row-major and contiguous (the torch binding makes it so), weights in the
// nn.Linear layout (out_features, in_features). The binding checks shapes, dtypes and
// devices once (csrc/checks.h); kernels trust what they are given.
#pragma once

#include <cstdint>

namespace aegui {

enum class Activation : int { Identity = 0, Relu = 1, Gelu = 2, Silu = 3, Tanh = 4 };
enum class Mode : int { Plain = 0, Variational = 1, DecodeOnly = 2 };
enum class DType : int { F32 = 0, F64 = 1, F16 = 2, BF16 = 3 };

// Forward: reads the inputs, writes the outputs the mode names.
struct ForwardParams {
  Mode mode = Mode::Plain;
  Activation act = Activation::Relu;
  int64_t B = 0, H = 0, Z = 0;
  const void* h = nullptr;      // (B, H)          Plain, Variational
  const void* w_enc = nullptr;  // (Z, H) w_enc or w_mu
  const void* b_enc = nullptr;  // (Z)   b_enc or b_mu
  const void* w_lv = nullptr;   // (Z, H)          Variational
  const void* b_lv = nullptr;   // (Z)             Variational
  const void* eps = nullptr;    // (B, Z)          Variational, null means z = mu
  const void* w_dec = nullptr;  // (H, Z)
  const void* b_dec = nullptr;  // (H)
  const void* z_in = nullptr;   // (B, Z)          DecodeOnly
  void* mu = nullptr;           // (B, Z)          Variational output
  void* logvar = nullptr;       // (B, Z)          Variational output
  void* z = nullptr;            // (B, Z)          Plain, Variational output
  void* y = nullptr;            // (B, H)          output
  // A transposed copy of w_dec, (Z, H). Optional: the CPU kernels use it for large batches
  // (cpu::forward_prepare makes it), where it turns the decoder into broadcast
  // multiply-adds with no horizontal sums.
  const void* w_dec_t = nullptr;
};

// Backward: gradients of a scalar loss with respect to every input, given the gradients
// with respect to every output. A null incoming gradient means zero. A null output pointer
// means that gradient is not wanted.
struct BackwardParams {
  Mode mode = Mode::Plain;
  Activation act = Activation::Relu;
  int64_t B = 0, H = 0, Z = 0;
  // incoming gradients (nullable)
  const void* grad_y = nullptr;       // (B, H)
  const void* grad_z = nullptr;       // (B, Z)   Plain, Variational
  const void* grad_mu = nullptr;      // (B, Z)   Variational
  const void* grad_logvar = nullptr;  // (B, Z)   Variational
  // saved from the forward
  const void* h = nullptr;       // (B, H)      Plain, Variational
  const void* w_enc = nullptr;   // (Z, H)      Plain, Variational (w_mu)
  const void* w_lv = nullptr;    // (Z, H)      Variational
  const void* eps = nullptr;     // (B, Z)      Variational, nullable
  const void* logvar = nullptr;  // (B, Z)      Variational (forward output)
  const void* z = nullptr;       // (B, Z)      forward output (DecodeOnly: its input)
  const void* y = nullptr;       // (B, H)      forward output, nullable: for relu, tanh and
                                 //             identity the derivative follows from y, so the
                                 //             pre-activation need not be recomputed
  const void* w_dec = nullptr;   // (H, Z)
  const void* b_dec = nullptr;   // (H)
  const void* w_dec_t = nullptr; // (Z, H)      optional transposed copy (CPU, large batches)
  // gradients out (nullable = not wanted)
  void* grad_h = nullptr;        // (B, H)
  void* grad_w_enc = nullptr;    // (Z, H)
  void* grad_b_enc = nullptr;    // (Z)
  void* grad_w_lv = nullptr;     // (Z, H)
  void* grad_b_lv = nullptr;     // (Z)
  void* grad_eps = nullptr;      // (B, Z)
  void* grad_z_in = nullptr;     // (B, Z)      DecodeOnly: gradient for the input z
  void* grad_w_dec = nullptr;    // (H, Z)
  void* grad_b_dec = nullptr;    // (H)
};

namespace cpu {

// Which SIMD code path the CPU kernels take: the widest the processor supports, chosen
// once at load time (AEGUI_CPU_ISA=generic|avx2|avx512 caps it, for tests and comparisons).
const char* isa_name();
// Switches path ("generic", "avx2" or "avx512"); returns false when the processor lacks it.
bool set_isa(const char* name);

// Large batches run faster on a transposed copy of w_dec, made once per call:
// forward_workspace_size() elements of scratch (0 for small batches), which
// forward_prepare() fills and points p.w_dec_t at. Same for the backward.
int64_t forward_workspace_size(const ForwardParams& p);
void forward_prepare(DType dtype, ForwardParams& p, void* workspace);
int64_t backward_workspace_size(const BackwardParams& p);
void backward_prepare(DType dtype, BackwardParams& p, void* workspace);

// Forward over the rows [row_begin, row_end) of the batch. float and double.
void forward(DType dtype, const ForwardParams& p, int64_t row_begin, int64_t row_end);

// Backward, in three steps. Each thread owns an accumulator block for the wanted weight and
// bias gradients (backward_accumulator_size() elements, zeroed by the caller); backward_rows
// writes the per-row gradients (grad_h, grad_eps, grad_z_in) of rows [row_begin, row_end)
// and adds their weight gradients into the thread's block; backward_finish sums the blocks
// into the weight and bias gradient outputs of `p`. Work for a gradient that is not wanted
// (a null output) is skipped.
int64_t backward_accumulator_size(const BackwardParams& p);
void backward_rows(DType dtype, const BackwardParams& p, int64_t row_begin, int64_t row_end, void* acc_block);
void backward_finish(DType dtype, const BackwardParams& p, const void* acc_blocks, int64_t n_blocks);

}  // namespace cpu

namespace cuda {

// Each returns null on success, or a message naming what went wrong (a CUDA error string).
// `stream` is a cudaStream_t. float, double, half and bfloat16; arithmetic in float (double
// for double). Any Z: latents beyond 64 are handled in slices of 64, one launch each.
//
// `workspace` is device scratch of forward_workspace_bytes() bytes (0 for most calls: a
// batch of a few rows, or Z over 64, needs some).
int64_t forward_workspace_bytes(DType dtype, const ForwardParams& p);
const char* forward(DType dtype, const ForwardParams& p, void* workspace, void* stream);

// `workspace` is float (double for F64) scratch of backward_workspace_bytes() bytes, used to
// accumulate weight gradients for reduced-precision types.
int64_t backward_workspace_bytes(DType dtype, const BackwardParams& p);
const char* backward(DType dtype, const BackwardParams& p, void* workspace, void* stream);

// Whether backward() sums gradients with float atomics, so that its result may differ in
// the last bits from run to run: the weight and bias gradients of a batch with rows.
bool backward_uses_atomics(const BackwardParams& p);

}  // namespace cuda

}  // namespace aegui
