#include <cuda_runtime.h>
#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "core/allocator.h"
#include "core/check.h"
#include "core/cuda/event_pool.cuh"
#include "core/cuda/runtime.cuh"
#include "core/error.h"

namespace trainer::cuda {

int device_count() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess) return n;
  cudaGetLastError();  // clear the sticky error so later calls start clean
  // A machine without a GPU, or without the driver at all (the runtime found no libcuda to
  // load), is a normal answer: zero devices. Any other failure is the GPU machine's problem (a
  // driver older than the runtime, a device in a bad state) and must be said, not hidden.
  const bool driver_loaded = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD) != nullptr;
  if (e == cudaErrorNoDevice || (e == cudaErrorInsufficientDriver && !driver_loaded)) return 0;
  throw DeviceError(std::string("CUDA cannot list this machine's GPUs: ") + cudaGetErrorName(e) +
                    " (" + cudaGetErrorString(e) + ")");
}

// Set once this process has chosen a GPU. Before that no pointer can be a device pointer, and no
// CUDA call is made for one: a CPU-only rank on a GPU host must not create a context there.
static std::atomic<bool> device_chosen{false};

void set_device(int index) {
  CUDA_CHECK(cudaSetDevice(index));
  device_chosen.store(true);
}

int current_device() {
  int d = 0;
  CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

std::string device_name(int index) {
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

void* compute_stream() {
  // Non-blocking: the legacy default stream would serialise against the NCCL stream.
  static cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  return stream;
}

static cudaStream_t stream() { return static_cast<cudaStream_t>(compute_stream()); }

void synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream())); }

size_t free_memory() {
  size_t free = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return free;
}

size_t total_memory() {
  size_t free = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return total;
}

// Where p points: before a GPU is chosen, and for memory CUDA does not know, plain (pageable)
// host memory.
static cudaMemoryType memory_type(const void* p) {
  if (!device_chosen.load()) return cudaMemoryTypeUnregistered;
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return cudaMemoryTypeUnregistered;
  }
  return a.type;
}

bool is_device_pointer(const void* p) {
  const cudaMemoryType t = memory_type(p);
  return t == cudaMemoryTypeDevice || t == cudaMemoryTypeManaged;
}

namespace {

// Host memory that is neither device memory nor page-locked (cudaMallocHost): the driver copies
// from it only after staging it, and may make the host wait for the stream to do so.
bool is_pageable(const void* p) { return memory_type(p) == cudaMemoryTypeUnregistered; }

// Uploads from pageable memory (a batch's indices, a micro-batch's inputs) go through
// page-locked blocks of our own: the source is copied into one at once, so the caller may free
// it, and the upload is queued on the stream like any other copy, with no wait for the device.
// A block is used again once the event recorded after its copy has passed.
class UploadStaging {
 public:
  void upload(void* dst, const void* src, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    reclaim();
    void* block = pinned_allocate(bytes);
    std::memcpy(block, src, bytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, block, bytes, cudaMemcpyHostToDevice, stream()));
    cudaEvent_t done = events_.take();
    CUDA_CHECK(cudaEventRecord(done, stream()));
    in_flight_.push_back({block, bytes, done});
  }

 private:
  struct InFlight {
    void* block;
    size_t bytes;
    cudaEvent_t done;
  };

  // Gives back the blocks whose copies have finished (copies complete in stream order).
  void reclaim() {
    size_t n = 0;
    while (n < in_flight_.size() && cudaEventQuery(in_flight_[n].done) == cudaSuccess) {
      pinned_free(in_flight_[n].block, in_flight_[n].bytes);
      events_.give(in_flight_[n].done);
      ++n;
    }
    cudaGetLastError();  // cudaErrorNotReady is an answer, not an error
    in_flight_.erase(in_flight_.begin(), in_flight_.begin() + static_cast<std::ptrdiff_t>(n));
  }

  std::mutex mu_;
  std::vector<InFlight> in_flight_;
  EventPool events_{cudaEventDisableTiming};
};

// Never destroyed, as the block caches below: uploads may be in flight at static teardown.
UploadStaging& upload_staging() {
  static UploadStaging* s = new UploadStaging;
  return *s;
}

}  // namespace

void copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  // A step's uploads are small (indices, a micro-batch); large ones (weights, at setup) go the
  // driver's way rather than pin and cache their size.
  constexpr size_t kLargestStaged = size_t{16} << 20;
  const bool to_device = is_device_pointer(dst);
  if (to_device && bytes <= kLargestStaged && is_pageable(src))
    return upload_staging().upload(dst, src, bytes);
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream()));
  if (!to_device) synchronize();
}

void memset_zero(void* dst, size_t bytes) { CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream())); }

namespace {

// Blocks kept per rounded size. Sizes round up to 512 bytes (cuBLAS and cuDNN like aligned
// operands) and, above 1 MiB, to the next 1/8 of a power of two so near sizes share blocks.
class BlockCache {
 public:
  using Alloc = void* (*)(size_t);
  using Free = void (*)(void*);
  BlockCache(Alloc alloc, Free free) : alloc_(alloc), free_(free) {}

  void* get(size_t bytes) {
    const size_t size = rounded(bytes);
    bool for_graph = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_use_ += size;
      for_graph = capturing_;
      auto& blocks = (for_graph ? graph_blocks_ : free_blocks_)[size];
      if (!blocks.empty()) {
        void* p = blocks.back();
        blocks.pop_back();
        cached_ -= size;
        ++hits_;
        return p;
      }
      ++misses_;
    }
    void* p = alloc_(size);
    if (!p && !for_graph) {  // out of memory: give the idle blocks back and try once more
      release_idle();
      p = alloc_(size);
    }
    if (!p)
      throw MemoryError("cannot allocate " + human_bytes(static_cast<double>(size)) +
                        " on the GPU: " + human_bytes(static_cast<double>(free_memory())) +
                        " of its memory is free");
    if (for_graph) {
      std::lock_guard<std::mutex> lock(mu_);
      graph_owned_.insert(p);
    }
    return p;
  }

  void put(void* p, size_t bytes) {
    if (!p) return;
    const size_t size = rounded(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ -= size;
    (graph_owned_.count(p) ? graph_blocks_ : free_blocks_)[size].push_back(p);
    cached_ += size;
  }

  // While a CUDA graph is captured, blocks come from a pool of their own and, once given back,
  // return to it, never to other users: every replay of the graph writes into the blocks its
  // capture used, whatever the cache gave out in between. (Replays run on the one compute
  // stream, in order, so the graphs may share the pool.)
  void set_capturing(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    capturing_ = on;
  }

  DeviceCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {cached_, in_use_, hits_, misses_};
  }

 private:
  static size_t rounded(size_t bytes) {
    size_t size = bytes < 512 ? 512 : (bytes + 511) / 512 * 512;
    if (size > (size_t{1} << 20)) {
      size_t pow2 = size_t{1} << 20;
      while (pow2 < size) pow2 <<= 1;
      const size_t step = pow2 / 8;
      size = (size + step - 1) / step * step;
    }
    return size;
  }
  void release_idle() {
    std::lock_guard<std::mutex> lock(mu_);
    // Blocks may still be read by queued kernels: finish them before freeing.
    cudaStreamSynchronize(stream());
    for (auto& [size, blocks] : free_blocks_)
      for (void* p : blocks) free_(p);
    free_blocks_.clear();
    cached_ = 0;
  }

  Alloc alloc_;
  Free free_;
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_blocks_;
  bool capturing_ = false;
  std::map<size_t, std::vector<void*>> graph_blocks_;  // the graph pool's idle blocks
  std::set<void*> graph_owned_;                        // every block of the graph pool
  size_t cached_ = 0, in_use_ = 0, hits_ = 0, misses_ = 0;
};

void* cuda_malloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}
void cuda_free(void* p) { cudaFree(p); }
void* cuda_malloc_host(size_t bytes) {
  void* p = nullptr;
  if (cudaMallocHost(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}
void cuda_free_host(void* p) { cudaFreeHost(p); }

// Never destroyed: tensors may be freed during static teardown, after the driver is gone.
BlockCache& device_cache() {
  static BlockCache* c = new BlockCache(cuda_malloc, cuda_free);
  return *c;
}
BlockCache& pinned_cache() {
  static BlockCache* c = new BlockCache(cuda_malloc_host, cuda_free_host);
  return *c;
}

}  // namespace

void* device_allocate(size_t bytes) { return device_cache().get(bytes); }
void device_free(void* p, size_t bytes) { device_cache().put(p, bytes); }
void* pinned_allocate(size_t bytes) { return pinned_cache().get(bytes); }
void pinned_free(void* p, size_t bytes) { pinned_cache().put(p, bytes); }
DeviceCacheStats device_cache_stats() { return device_cache().stats(); }

void begin_capture() {
  device_cache().set_capturing(true);
  // Relaxed: a miss of the graph pool may cudaMalloc during the capture (not recorded).
  const cudaError_t e = cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed);
  if (e != cudaSuccess) {
    device_cache().set_capturing(false);
    CUDA_CHECK(e);
  }
}

void* end_capture() {
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream(), &graph);
  device_cache().set_capturing(false);
  CUDA_CHECK(ended);
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_CHECK(made);
  return exec;
}

void abandon_capture() {
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream(), &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  cudaGetLastError();
  device_cache().set_capturing(false);
}

void launch_graph(void* graph) {
  CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), stream()));
}

void destroy_graph(void* graph) {
  if (graph) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
}

}  // namespace trainer::cuda
