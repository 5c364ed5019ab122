// Host C++ emulation of the CUDA execution model, so that the kernels' own source
// (csrc/cuda/*.cu, compiled with -DAEGUI_CUDA_EMULATION by g++) runs on the CPU in tests
// where no GPU is present. Test-only: nothing shipped includes it.
//
// What it models:
//  * Every thread of a block is a fiber with its own stack (ucontext), scheduled
//    cooperatively; fibers switch only at __syncthreads. Between two barriers each fiber
//    runs alone, and the ORDER in which they run is a permutation drawn from a seed (as is
//    the order of the blocks). A missing barrier, or any read of shared memory that another
//    thread writes in the same phase, then sees the value before or after that write
//    depending on the seed: results change between seeds and the comparison fails.
//  * Shared memory (AEGUI_SHARED) is per block and filled with NaN bytes (0xFF) before
//    every block, so a read of shared memory that nothing in this block wrote gives NaN;
//    more than 48 KB per block is an error.
//  * threadIdx, blockIdx, blockDim, gridDim as CUDA defines them; launch limits (1024
//    threads, grid sizes) are checked like a launch would.
//  * Barrier divergence is an error: every live thread of a block must wait at the same
//    __syncthreads (same source line), and a thread may not exit while others wait.
//  * 128-bit shared-memory loads must be 16-byte aligned (AEGUI_EMU_CHECK_ALIGNED).
//  * atomicAdd is a plain add: fibers never run at the same time, blocks run one after the
//    other, and launches are serialised.
//  * half and bfloat16 are the toolkit's own host-side types (cuda_fp16.h, cuda_bf16.h), with
//    the implicit conversions switched off as in torch's builds.
//
// What it cannot catch (see README, "CUDA: what is verified where"):
//  * warp-synchronous code: there are no warp intrinsics here (__shfl*, __syncwarp, votes),
//    so kernels that used them would not compile. The kernels keep to block barriers;
//    code relying on the lanes of a warp running in lockstep shows up here as a race.
//  * the memory model: blocks run sequentially, so races on GLOBAL memory between blocks,
//    missing __threadfence, and visibility between blocks are not exercised;
//  * timing, occupancy, register and shared-memory limits of a real device (the kernels
//    static_assert their static shared memory), and nvcc's code generation;
//  * device math: expf/erff/tanhf are the host's (results differ in the last bits);
//  * out-of-bounds global accesses are caught only by the tests' guard bands (NaN around
//    every buffer), not by a memory checker.
#pragma once

// As torch's CUDA builds do: no implicit half/bfloat16 conversions or operators.
#ifndef __CUDA_NO_HALF_OPERATORS__
#define __CUDA_NO_HALF_OPERATORS__
#endif
#ifndef __CUDA_NO_HALF_CONVERSIONS__
#define __CUDA_NO_HALF_CONVERSIONS__
#endif
#ifndef __CUDA_NO_HALF2_OPERATORS__
#define __CUDA_NO_HALF2_OPERATORS__
#endif
#ifndef __CUDA_NO_BFLOAT16_CONVERSIONS__
#define __CUDA_NO_BFLOAT16_CONVERSIONS__
#endif

#include <cuda_bf16.h>  // host-side half and bfloat16; also uint3, dim3, float4, double2
#include <cuda_fp16.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

// Execution-space qualifiers mean nothing on the host; the toolkit header already made
// __host__, __device__ and __global__ empty here.
#undef __forceinline__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Shared memory is declared with AEGUI_SHARED (see the kernels); a bare __shared__ would
// be one variable for every block, so it does not compile here.
#undef __shared__
#define __shared__ static_assert(false, "declare shared memory with AEGUI_SHARED(type, name, count)");
#define AEGUI_SHARED(T, name, n) \
  static char name##_site;       \
  T* const name = ::aegui_emu::shared_array<T>(&name##_site, (n), __LINE__)
#define AEGUI_EMU_CHECK_ALIGNED(p, n) ::aegui_emu::check_aligned((p), (n), __LINE__)
#define __syncthreads() ::aegui_emu::syncthreads_at(__LINE__)
#define threadIdx (static_cast<const uint3&>(::aegui_emu::g_thread_idx))
#define blockIdx (static_cast<const uint3&>(::aegui_emu::g_block_idx))
#define blockDim (static_cast<const dim3&>(::aegui_emu::g_block_dim))
#define gridDim (static_cast<const dim3&>(::aegui_emu::g_grid_dim))

namespace aegui_emu {

inline uint3 g_thread_idx{0, 0, 0};
inline uint3 g_block_idx{0, 0, 0};
inline dim3 g_block_dim{1, 1, 1};
inline dim3 g_grid_dim{1, 1, 1};

// What one launch did, for tests that check which kernels ran.
struct LaunchRecord {
  dim3 grid, block;
  uint64_t barriers = 0;  // phases ended by __syncthreads, summed over blocks
};

// A block's shared memory: each AEGUI_SHARED declaration (its site) gets one 16-byte
// aligned array in the arena, the same for every thread of the block.
struct SharedArena {
  static constexpr size_t kLimit = 48 * 1024;  // static shared memory a block gets without opt-in
  alignas(16) unsigned char bytes[kLimit];
  size_t used = 0;
  std::vector<std::pair<const void*, size_t>> sites;  // site -> offset
};

struct State {
  uint64_t seed = 0;              // fiber and block order; 0 runs them in index order
  uint64_t launch_count = 0;
  std::vector<LaunchRecord> launches;
  std::string error;              // first error of the current launch
  SharedArena shared;
};
inline State g_state;
inline std::mutex g_mutex;  // one emulated launch at a time, process-wide

inline void fail(const std::string& what) {
  if (g_state.error.empty()) g_state.error = what;
}

inline void check_aligned(const void* p, int n, int line) {
  if (reinterpret_cast<uintptr_t>(p) % uintptr_t(n) != 0)
    fail("misaligned " + std::to_string(8 * n) + "-bit load at line " + std::to_string(line) +
         " (a device would fault: misaligned address)");
}

// ------------------------------------------------------------------------- fibers

// splitmix64: a small, well-mixed generator; the seed fully determines every order.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Fisher-Yates shuffle of v (identity order for seed 0).
  void shuffle(std::vector<int>& v, bool identity) {
    if (identity) return;
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[next() % i]);
  }
};

enum class FiberState { Ready, AtBarrier, Done };

struct Fiber {
  ucontext_t ctx;
  FiberState state = FiberState::Ready;
  int barrier_line = 0;
  uint3 tid{0, 0, 0};
};

// Stacks are mapped once and reused; a guard page below each turns an overflow into a
// fault instead of silent corruption of the neighbour's stack.
class StackPool {
 public:
  static constexpr size_t kStack = 256 * 1024;
  char* get(size_t i) {
    while (stacks_.size() <= i) {
      const size_t page = size_t(sysconf(_SC_PAGESIZE));
      void* m = mmap(nullptr, kStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return nullptr;
      mprotect(m, page, PROT_NONE);
      stacks_.push_back(static_cast<char*>(m) + page);
    }
    return stacks_[i];
  }

 private:
  std::vector<char*> stacks_;
};

struct Scheduler {
  ucontext_t main_ctx;
  std::vector<Fiber> fibers;
  int current = -1;
  void (*body)(void*) = nullptr;  // runs the kernel once, as the current thread
  void* body_arg = nullptr;
  StackPool stacks;
};
inline Scheduler g_sched;

inline void fiber_entry() {
  Scheduler& s = g_sched;
  s.body(s.body_arg);
  s.fibers[size_t(s.current)].state = FiberState::Done;
  swapcontext(&s.fibers[size_t(s.current)].ctx, &s.main_ctx);
}

inline void syncthreads_at(int line) {
  Scheduler& s = g_sched;
  Fiber& f = s.fibers[size_t(s.current)];
  f.state = FiberState::AtBarrier;
  f.barrier_line = line;
  swapcontext(&f.ctx, &s.main_ctx);
}

// Stops the calling thread for good (after an error): the scheduler abandons the block.
[[noreturn]] inline void abandon_fiber() {
  Scheduler& s = g_sched;
  swapcontext(&s.fibers[size_t(s.current)].ctx, &s.main_ctx);
  __builtin_unreachable();
}

// Every byte 0xFF: NaN as float, double, half and bfloat16.
inline void poison_shared() {
  SharedArena& a = g_state.shared;
  std::memset(a.bytes, 0xFF, sizeof a.bytes);
  a.used = 0;
  a.sites.clear();
}

template <typename T>
T* shared_array(const void* site, size_t count, int line) {
  SharedArena& a = g_state.shared;
  for (const auto& s : a.sites)
    if (s.first == site) return reinterpret_cast<T*>(a.bytes + s.second);
  const size_t offset = (a.used + 15) / 16 * 16;
  if (offset + count * sizeof(T) > SharedArena::kLimit) {
    fail("shared memory over 48 KB per block (declared at line " + std::to_string(line) + ")");
    abandon_fiber();
  }
  a.used = offset + count * sizeof(T);
  a.sites.emplace_back(site, offset);
  return reinterpret_cast<T*>(a.bytes + offset);
}

// Checks the block after a phase; returns false (with the error set) on divergence.
inline bool phase_ok(const std::vector<Fiber>& fibers) {
  int waiting = 0, done = 0, line = -1;
  for (const Fiber& f : fibers) {
    if (f.state == FiberState::Done) {
      ++done;
    } else {
      ++waiting;
      if (line < 0) line = f.barrier_line;
      if (f.barrier_line != line) {
        fail("threads of one block wait at different __syncthreads (lines " + std::to_string(line) + " and " +
             std::to_string(f.barrier_line) + ")");
        return false;
      }
    }
  }
  if (waiting && done) {
    fail("some threads of a block exited while others wait at __syncthreads (line " + std::to_string(line) + ")");
    return false;
  }
  return true;
}

// Runs one block to completion; returns the number of barrier phases, or -1 on error.
inline int64_t run_block(uint3 block_idx, dim3 block_dim, Rng& rng) {
  Scheduler& s = g_sched;
  const size_t n = size_t(block_dim.x) * block_dim.y * block_dim.z;
  s.fibers.assign(n, Fiber{});
  for (size_t i = 0; i < n; ++i) {
    Fiber& f = s.fibers[i];
    f.tid = uint3{unsigned(i % block_dim.x), unsigned(i / block_dim.x % block_dim.y),
                  unsigned(i / (size_t(block_dim.x) * block_dim.y))};
    char* stack = s.stacks.get(i);
    if (!stack) {
      fail("could not map a fiber stack");
      return -1;
    }
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stack;
    f.ctx.uc_stack.ss_size = StackPool::kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_entry, 0);
  }
  poison_shared();
  g_block_idx = block_idx;
  g_block_dim = block_dim;
  std::vector<int> order(n);
  for (int64_t phase = 0;; ++phase) {
    for (size_t i = 0; i < n; ++i) order[i] = int(i);
    rng.shuffle(order, g_state.seed == 0);
    for (int i : order) {
      Fiber& f = s.fibers[size_t(i)];
      if (f.state == FiberState::Done) continue;
      f.state = FiberState::Ready;
      s.current = i;
      g_thread_idx = f.tid;
      swapcontext(&s.main_ctx, &f.ctx);
      if (!g_state.error.empty()) return -1;  // abandon the block's fibers where they stand
    }
    if (!phase_ok(s.fibers)) return -1;
    if (s.fibers[0].state == FiberState::Done) return phase;  // all done (phase_ok checked)
  }
}

template <class F>
void call_body(void* f) {
  (*static_cast<F*>(f))();
}

// Runs kernel(args...) over the grid, block by block in a seeded order. Returns null, or
// what went wrong (as a CUDA launch would report it, or an emulator finding).
template <typename... P, typename... A>
const char* launch(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t /*stream*/, A... args) {
  State& st = g_state;
  st.error.clear();
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    return "invalid configuration argument";
  if (uint64_t(grid.x) * grid.y * grid.z > (uint64_t(1) << 24)) return "emulator: grid too large to emulate";
  auto run = [&]() { kernel(args...); };
  g_sched.body = &call_body<decltype(run)>;
  g_sched.body_arg = &run;
  g_grid_dim = grid;
  Rng rng{st.seed * 0x2545F4914F6CDD1DULL + (++st.launch_count)};
  std::vector<int> blocks(size_t(grid.x) * grid.y * grid.z);
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i] = int(i);
  rng.shuffle(blocks, st.seed == 0);
  LaunchRecord rec{grid, block, 0};
  for (int b : blocks) {
    const uint3 idx{unsigned(size_t(b) % grid.x), unsigned(size_t(b) / grid.x % grid.y),
                    unsigned(size_t(b) / (size_t(grid.x) * grid.y))};
    const int64_t phases = run_block(idx, block, rng);
    if (phases < 0) break;
    rec.barriers += uint64_t(phases);
    if (!st.error.empty()) break;
  }
  st.launches.push_back(rec);
  return st.error.empty() ? nullptr : st.error.c_str();
}

inline const char* memset_async(void* p, int value, size_t bytes, cudaStream_t /*stream*/) {
  std::memset(p, value, bytes);
  return nullptr;
}

}  // namespace aegui_emu

// Device atomics: a plain read-modify-write, since no two fibers ever run at once.
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = old + v;
  return old;
}
inline double atomicAdd(double* p, double v) {
  const double old = *p;
  *p = old + v;
  return old;
}
