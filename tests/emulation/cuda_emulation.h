// Runs CUDA kernels' source on the host, so that CI, which has no GPU, checks their indexing,
// masking, tiling and barriers against their CPU twins. Include it before any kernel code (as
// tests/emulation/emulated_backend.h does), compiled as host C++ with the CUDA headers on the
// include path.
//
// A block's threads are host threads (one block at a time), with the block's barrier
// (__syncthreads), each warp's (__syncwarp), warp shuffles, static __shared__ arrays (one copy,
// which the blocks, running one after another, reuse) and dynamic shared memory. wmma's
// 16 x 16 x 16 fragments hold their whole tile in float, and only lane 0 of a warp computes them
// (on the GPU the lanes share the work; no lane but lane 0 could observe the difference except
// through a missing __syncwarp, which the real hardware would not forgive either).
//
// It checks logic, not speed and not the tensor cores' rounding: products and sums here are in
// float, in k order. It also holds each launch and each wmma call to what an sm_90 device
// demands and the host would forgive: a block's size and shared memory (over 48 KiB only after
// the kernel asked for it), a fragment's 32-byte aligned pointer and 16-byte multiple of a
// leading dimension, each wmma call made by every lane of its warp. A launch that breaks one
// throws, naming the first.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
// A kernel's __shared__ array: one for all the threads of the running block.
#undef __shared__
#define __shared__ static

namespace emu {

// A barrier whose parties may leave: a thread that returns from the kernel no longer holds the
// others back (as on the GPU, where exited threads do not stall __syncthreads).
class Barrier {
 public:
  explicit Barrier(int parties) : parties_(parties) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const int generation = generation_;
    if (++waiting_ == parties_) {
      release();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
  }
  void leave() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--parties_ > 0 && waiting_ == parties_) release();
  }

 private:
  void release() {
    waiting_ = 0;
    ++generation_;
    cv_.notify_all();
  }
  int parties_;
  int waiting_ = 0, generation_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
};

constexpr int kWarpSize = 32;

// sm_90's limits for one block (CUDA C++ Programming Guide, "Technical Specifications per
// Compute Capability"): threads, and dynamic shared memory by default and after a kernel's
// cudaFuncAttributeMaxDynamicSharedMemorySize.
constexpr unsigned kMaxBlockThreads = 1024;
constexpr size_t kDefaultSharedBytes = 48 * 1024;
constexpr size_t kMaxSharedBytes = 227 * 1024;

// What the device would refuse, or leave undefined, seen while a launch's threads run (which
// cannot throw: an exception leaving a std::thread ends the process); the launch throws the
// first once they are done.
class Faults {
 public:
  void add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (first_.empty()) first_ = what;
  }
  std::string take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string first;
    first.swap(first_);
    return first;
  }

 private:
  std::mutex mu_;
  std::string first_;
};
inline Faults faults;

// The dynamic shared memory each kernel asked for, as cudaFuncSetAttribute records it (and
// refuses beyond the device's most).
inline std::mutex shared_mu;
inline std::unordered_map<const void*, size_t> shared_allowed;
inline void allow_shared(const void* kernel, size_t bytes) {
  if (bytes > kMaxSharedBytes)
    throw std::runtime_error("emulated cudaFuncSetAttribute refused: " + std::to_string(bytes) +
                             " bytes of dynamic shared memory, over " +
                             std::to_string(kMaxSharedBytes));
  std::lock_guard<std::mutex> lock(shared_mu);
  shared_allowed[kernel] = bytes;
}
inline size_t shared_limit(const void* kernel) {
  std::lock_guard<std::mutex> lock(shared_mu);
  const auto it = shared_allowed.find(kernel);
  return it == shared_allowed.end() ? kDefaultSharedBytes
                                    : std::max(kDefaultSharedBytes, it->second);
}

// A block's dynamic shared memory: 128-byte aligned, as the device's, exactly as large as the
// launch asked (so that a sanitizer build sees an access past its end), and holding ones bits
// (NaN, -1) where the device's holds whatever the last block left.
struct SharedFree {
  void operator()(unsigned char* p) const { std::free(p); }
};
using SharedMemory = std::unique_ptr<unsigned char, SharedFree>;
inline SharedMemory allocate_shared(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 128, std::max<size_t>(bytes, 1)) != 0) throw std::bad_alloc();
  std::memset(p, 0xff, std::max<size_t>(bytes, 1));
  return SharedMemory(static_cast<unsigned char*>(p));
}

// What the threads of the running block share.
struct Block {
  Block(int threads, size_t shared_bytes)
      : shared(allocate_shared(shared_bytes)), wmma_calls(threads), block(threads), lanes(threads) {
    for (int w = 0; w * kWarpSize < threads; ++w)
      warps.push_back(std::make_unique<Barrier>(std::min(kWarpSize, threads - w * kWarpSize)));
  }
  unsigned char* shared_base() { return shared.get(); }
  // Why the block's warps broke wmma's rule that every lane of a warp makes each of its calls,
  // or "" (each thread counted its own calls).
  std::string divergent_wmma() const {
    for (size_t t = 0; t < wmma_calls.size(); ++t)
      if (wmma_calls[t] != wmma_calls[t - t % kWarpSize])
        return "wmma called by some lanes of warp " + std::to_string(t / kWarpSize) + " only (" +
               std::to_string(wmma_calls[t - t % kWarpSize]) + " calls by its lane 0, " +
               std::to_string(wmma_calls[t]) + " by lane " + std::to_string(t % kWarpSize) + ")";
    return "";
  }
  SharedMemory shared;
  std::vector<int> wmma_calls;  // by thread
  Barrier block;
  std::vector<std::unique_ptr<Barrier>> warps;
  std::vector<double> lanes;  // each thread's value in a shuffle
};

inline thread_local Block* current = nullptr;
inline thread_local int thread_rank = 0;  // in the block: x fastest, then y, then z

}  // namespace emu

inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

// Device intrinsics the kernels call that the host's libraries do not have.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
template <class T>
T min(T a, T b) {
  return b < a ? b : a;
}
template <class T>
T max(T a, T b) {
  return a < b ? b : a;
}

// What CUDA_CHECK says of a failed call (cudaGetErrorString), without the CUDA runtime.
namespace emu {
inline const char* error_string(cudaError_t e) {
  return e == cudaSuccess ? "no error" : "an error of the emulated runtime";
}
}  // namespace emu

inline unsigned char* dynamic_shared() { return emu::current->shared_base(); }
inline void __syncthreads() { emu::current->block.wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) {
  emu::current->warps[emu::thread_rank / emu::kWarpSize]->wait();
}
// Every value a kernel shuffles (float, double, int, int64) passes exactly through a double.
template <class T>
T __shfl_xor_sync(unsigned, T v, int mask) {
  static_assert(sizeof(T) <= 4 || std::is_floating_point_v<T>, "exact through a double");
  std::vector<double>& lanes = emu::current->lanes;
  lanes[emu::thread_rank] = static_cast<double>(v);
  __syncwarp();
  const T other = static_cast<T>(lanes[emu::thread_rank ^ mask]);
  __syncwarp();
  return other;
}

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulation has 16 x 16 x 16 fragments only");
  float x[16 * 16];  // row-major, the whole tile
};

namespace detail {
// Each wmma call is the warp's together: the calling thread counts it (the block then checks that
// every lane made as many), and lane 0 alone computes it.
inline bool computes() {
  ++emu::current->wmma_calls[emu::thread_rank];
  return emu::thread_rank % emu::kWarpSize == 0;
}
// wmma's load and store need a 256-bit aligned pointer and a leading dimension that is a
// multiple of 16 bytes (8 16-bit elements, 4 floats); the device does not check either.
template <class T>
void check_tile(const char* call, const T* p, unsigned ld) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    emu::faults.add(std::string("wmma::") + call + ": pointer not 32-byte aligned");
  if (ld * sizeof(T) % 16 != 0)
    emu::faults.add(std::string("wmma::") + call + ": leading dimension " + std::to_string(ld) +
                    " is not a multiple of 16 bytes");
}
inline float widen(const __half& v) { return __half2float(v); }
inline float widen(const __nv_bfloat16& v) { return __bfloat162float(v); }
inline float widen(float v) { return v; }
// Element (r, c) of a 16 x 16 tile at p with leading dimension ld.
template <class T>
float at(const T* p, unsigned ld, bool row_major, int r, int c) {
  return widen(row_major ? p[r * ld + c] : p[c * ld + r]);
}
}  // namespace detail

template <class Use, class T, class Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, float v) {
  if (!detail::computes()) return;
  for (float& e : f.x) e = v;
}

template <class Use, class T, class Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* p, unsigned ld) {
  if (!detail::computes()) return;
  detail::check_tile("load_matrix_sync", p, ld);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      f.x[r * 16 + c] = detail::at(p, ld, std::is_same_v<Layout, row_major>, r, c);
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p,
                             unsigned ld, layout_t layout) {
  if (!detail::computes()) return;
  detail::check_tile("load_matrix_sync", p, ld);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) f.x[r * 16 + c] = detail::at(p, ld, layout == mem_row_major, r, c);
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f,
                              unsigned ld, layout_t layout) {
  if (!detail::computes()) return;
  detail::check_tile("store_matrix_sync", p, ld);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      (layout == mem_row_major ? p[r * ld + c] : p[c * ld + r]) = f.x[r * 16 + c];
}

template <class T, class LA, class LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
              const fragment<matrix_a, 16, 16, 16, T, LA>& a,
              const fragment<matrix_b, 16, 16, 16, T, LB>& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
  if (!detail::computes()) return;
  float out[16 * 16];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float s = c.x[i * 16 + j];
      for (int k = 0; k < 16; ++k) s += a.x[i * 16 + k] * b.x[k * 16 + j];
      out[i * 16 + j] = s;
    }
  std::memcpy(d.x, out, sizeof out);
}

}  // namespace nvcuda::wmma

namespace emu {

// Why the device would refuse to launch this configuration, or "" when it would launch it.
inline std::string launch_refusal(const void* kernel, dim3 grid, dim3 block, size_t shared_bytes) {
  if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > kMaxBlockThreads ||
      block.z > 64)
    return "a block of " + std::to_string(block.x) + " x " + std::to_string(block.y) + " x " +
           std::to_string(block.z) + " threads";
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535)
    return "a grid of " + std::to_string(grid.x) + " x " + std::to_string(grid.y) + " x " +
           std::to_string(grid.z) + " blocks";
  if (shared_bytes > shared_limit(kernel))
    return std::to_string(shared_bytes) + " bytes of dynamic shared memory where the kernel may " +
           "have " + std::to_string(shared_limit(kernel));
  return "";
}

// kernel<<<grid, block, shared_bytes>>>(args...), one block after another: the block's threads
// are host threads that run every block in turn, waiting for each other between blocks.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block_dim, size_t shared_bytes,
            Args... args) {
  const std::string refusal =
      launch_refusal(reinterpret_cast<const void*>(kernel), grid, block_dim, shared_bytes);
  if (!refusal.empty()) throw std::runtime_error("emulated launch refused: " + refusal);
  const int threads = static_cast<int>(block_dim.x * block_dim.y * block_dim.z);
  Barrier between_blocks(threads);
  std::unique_ptr<Block> block;
  auto next_block = [&] { block = std::make_unique<Block>(threads, shared_bytes); };
  next_block();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      thread_rank = t;
      threadIdx = make_uint3(t % block_dim.x, t / block_dim.x % block_dim.y,
                             t / (block_dim.x * block_dim.y));
      blockDim = block_dim;
      gridDim = grid;
      for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
          for (unsigned x = 0; x < grid.x; ++x) {
            current = block.get();
            blockIdx = make_uint3(x, y, z);
            kernel(args...);
            current->warps[t / kWarpSize]->leave();
            current->block.leave();
            between_blocks.wait();  // every thread is done with this block
            if (t == 0) {
              const std::string divergent = block->divergent_wmma();
              if (!divergent.empty()) faults.add(divergent);
              next_block();
            }
            between_blocks.wait();  // the next block is ready
          }
    });
  for (std::thread& th : pool) th.join();
  const std::string fault = faults.take();
  if (!fault.empty()) throw std::runtime_error("emulated kernel: " + fault);
}

}  // namespace emu
