// Test harness: the CUDA kernels (csrc/cuda/bottleneck_kernels.cu) compiled as host C++
// against the emulator (csrc/emu/cuda_emu.h), with a C interface that tests/cuda_emulator.py
// calls through ctypes on the memory of CPU tensors. No torch header: the kernels are
// framework-free, and leaving torch out keeps the build to seconds.
#include "cuda/bottleneck_kernels.cu"

#include <cstdio>
#include <string>

namespace {

using namespace aegui;

// The pointer slots of ForwardParams and BackwardParams, in the order the caller passes
// them; the Python side reads these names, so the two cannot drift apart.
const char* const kForwardSlots = "h w_enc b_enc w_lv b_lv eps w_dec b_dec z_in mu logvar z y";
const char* const kBackwardSlots =
    "grad_y grad_z grad_mu grad_logvar h w_enc w_lv eps logvar z y w_dec b_dec "
    "grad_h grad_w_enc grad_b_enc grad_w_lv grad_b_lv grad_eps grad_z_in grad_w_dec grad_b_dec";

ForwardParams forward_params(int mode, int act, int64_t B, int64_t H, int64_t Z, void* const* s) {
  ForwardParams p;
  p.mode = Mode(mode);
  p.act = Activation(act);
  p.B = B; p.H = H; p.Z = Z;
  p.h = s[0]; p.w_enc = s[1]; p.b_enc = s[2]; p.w_lv = s[3]; p.b_lv = s[4]; p.eps = s[5];
  p.w_dec = s[6]; p.b_dec = s[7]; p.z_in = s[8];
  p.mu = s[9]; p.logvar = s[10]; p.z = s[11]; p.y = s[12];
  return p;
}

BackwardParams backward_params(int mode, int act, int64_t B, int64_t H, int64_t Z, void* const* s) {
  BackwardParams p;
  p.mode = Mode(mode);
  p.act = Activation(act);
  p.B = B; p.H = H; p.Z = Z;
  p.grad_y = s[0]; p.grad_z = s[1]; p.grad_mu = s[2]; p.grad_logvar = s[3];
  p.h = s[4]; p.w_enc = s[5]; p.w_lv = s[6]; p.eps = s[7]; p.logvar = s[8]; p.z = s[9]; p.y = s[10];
  p.w_dec = s[11]; p.b_dec = s[12];
  p.grad_h = s[13]; p.grad_w_enc = s[14]; p.grad_b_enc = s[15]; p.grad_w_lv = s[16]; p.grad_b_lv = s[17];
  p.grad_eps = s[18]; p.grad_z_in = s[19]; p.grad_w_dec = s[20]; p.grad_b_dec = s[21];
  return p;
}

int finish(const char* err, char* msg, int64_t msg_len) {
  if (!err) return 0;
  std::snprintf(msg, size_t(msg_len), "%s", err);
  return 1;
}

void begin(uint64_t seed) {
  aegui_emu::g_state.seed = seed;
  aegui_emu::g_state.launches.clear();
}

// ---------------------------------------------------- kernels that test the emulator
// Each breaks one rule the emulator claims to catch (or keeps it, for the control).

// Thread t reads what thread NT-1-t wrote: correct only with the barrier between.
__global__ void selftest_reverse(float* out, int with_barrier) {
  AEGUI_SHARED(float, s, 256);
  const int t = int(threadIdx.x), n = int(blockDim.x);
  s[t] = float(t + 1000 * int(blockIdx.x));
  if (with_barrier) __syncthreads();
  out[int(blockIdx.x) * n + t] = s[n - 1 - t];
}

// One thread leaves before a barrier that the others wait at.
__global__ void selftest_exit_before_barrier(float* out) {
  if (threadIdx.x == 3) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

// Odd and even threads wait at different barriers.
__global__ void selftest_split_barrier(float* out) {
  if (threadIdx.x % 2)
    __syncthreads();
  else
    __syncthreads();
  out[threadIdx.x] = 1.0f;
}

// More static shared memory than a block gets.
__global__ void selftest_too_much_shared(float* out) {
  AEGUI_SHARED(double, big, 7000);
  big[threadIdx.x] = 1.0;
  out[threadIdx.x] = float(big[threadIdx.x]);
}

// A 128-bit load from an address that is not 16-byte aligned.
__global__ void selftest_misaligned(float* out) {
  AEGUI_SHARED(float, s, 8);
  AEGUI_EMU_CHECK_ALIGNED(s + 1, 16);
  out[threadIdx.x] = 1.0f;
}

// Which thread and block: the CUDA index variables, unrolled into out.
__global__ void selftest_indices(float* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * blockDim.x * blockDim.y * blockDim.z + thread] = float(1000 * block + thread);
}

const char* selftest(int which, float* out, uint64_t seed) {
  begin(seed);
  switch (which) {
    case 0: return aegui_emu::launch(selftest_reverse, dim3(3), dim3(256), nullptr, out, 1);
    case 1: return aegui_emu::launch(selftest_reverse, dim3(3), dim3(256), nullptr, out, 0);
    case 2: return aegui_emu::launch(selftest_exit_before_barrier, dim3(1), dim3(64), nullptr, out);
    case 3: return aegui_emu::launch(selftest_split_barrier, dim3(1), dim3(64), nullptr, out);
    case 4: return aegui_emu::launch(selftest_too_much_shared, dim3(1), dim3(64), nullptr, out);
    case 5: return aegui_emu::launch(selftest_misaligned, dim3(1), dim3(64), nullptr, out);
    case 6: return aegui_emu::launch(selftest_indices, dim3(2, 3, 2), dim3(4, 2, 3), nullptr, out);
    case 7: return aegui_emu::launch(selftest_indices, dim3(1), dim3(2048), nullptr, out);
  }
  return "no such self-test";
}

}  // namespace

#define EXPORT __attribute__((visibility("default")))

extern "C" {

EXPORT const char* aegui_emu_forward_slots() { return kForwardSlots; }
EXPORT const char* aegui_emu_backward_slots() { return kBackwardSlots; }

// Each returns 0, or 1 with the error message in msg.
EXPORT int64_t aegui_emu_forward_workspace_bytes(int dtype, int mode, int act, int64_t B, int64_t H, int64_t Z,
                                                 void* const* slots) {
  return cuda::forward_workspace_bytes(DType(dtype), forward_params(mode, act, B, H, Z, slots));
}

EXPORT int aegui_emu_forward(int dtype, int mode, int act, int64_t B, int64_t H, int64_t Z, void* const* slots,
                             void* workspace, uint64_t seed, char* msg, int64_t msg_len) {
  std::lock_guard<std::mutex> lock(aegui_emu::g_mutex);
  begin(seed);
  const ForwardParams p = forward_params(mode, act, B, H, Z, slots);
  return finish(cuda::forward(DType(dtype), p, workspace, nullptr), msg, msg_len);
}

EXPORT int64_t aegui_emu_backward_workspace_bytes(int dtype, int mode, int act, int64_t B, int64_t H, int64_t Z,
                                           void* const* slots) {
  return cuda::backward_workspace_bytes(DType(dtype), backward_params(mode, act, B, H, Z, slots));
}

EXPORT int aegui_emu_backward_uses_atomics(int mode, int act, int64_t B, int64_t H, int64_t Z,
                                           void* const* slots) {
  return cuda::backward_uses_atomics(backward_params(mode, act, B, H, Z, slots)) ? 1 : 0;
}

EXPORT int aegui_emu_backward(int dtype, int mode, int act, int64_t B, int64_t H, int64_t Z, void* const* slots,
                       void* workspace, uint64_t seed, char* msg, int64_t msg_len) {
  std::lock_guard<std::mutex> lock(aegui_emu::g_mutex);
  begin(seed);
  const BackwardParams p = backward_params(mode, act, B, H, Z, slots);
  return finish(cuda::backward(DType(dtype), p, workspace, nullptr), msg, msg_len);
}

// Runs self-test kernel `which` (see above) on out (at least 3 * 256 floats).
EXPORT int aegui_emu_selftest(int which, float* out, uint64_t seed, char* msg, int64_t msg_len) {
  std::lock_guard<std::mutex> lock(aegui_emu::g_mutex);
  return finish(selftest(which, out, seed), msg, msg_len);
}

// The launches of the last call, one "gx gy gz bx by bz barriers" line each.
EXPORT int64_t aegui_emu_launches(char* out, int64_t out_len) {
  std::string s;
  for (const auto& r : aegui_emu::g_state.launches) {
    char line[128];
    std::snprintf(line, sizeof line, "%u %u %u %u %u %u %llu\n", r.grid.x, r.grid.y, r.grid.z, r.block.x,
                  r.block.y, r.block.z, static_cast<unsigned long long>(r.barriers));
    s += line;
  }
  std::snprintf(out, size_t(out_len), "%s", s.c_str());
  return int64_t(s.size());
}

}  // extern "C"
