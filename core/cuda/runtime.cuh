// Host-callable pieces of the CUDA runtime: devices, the compute stream, copies, and memory.
// Built only where nvcc is found (TRAINER_HAS_CUDA); plain .cpp files include this header, never
// cuda_runtime.h.
//
// Every kernel of the backend runs on one compute stream per process, so kernels are ordered
// without events; the NCCL communicator orders its own stream against it with events.
#pragma once

#include <cstddef>
#include <string>

namespace trainer::cuda {

// Visible CUDA devices; 0 when there is no driver or no device. Throws DeviceError for any other
// failure (a driver too old for the runtime, a device in an error state).
int device_count();
// Makes `index` this process's device (every later call of this backend uses it).
void set_device(int index);
int current_device();
std::string device_name(int index);

// The compute stream (a cudaStream_t), created on first use on the current device.
void* compute_stream();
// Waits until everything queued on the compute stream is done.
void synchronize();

// Bytes of device memory free now, and in all.
size_t free_memory();
size_t total_memory();

// True when p points into device memory (the communicators stage such buffers through the host);
// false without a CUDA call until set_device has chosen a GPU.
bool is_device_pointer(const void* p);
// Copies `bytes` between any two of host and device memory, ordered on the compute stream. Returns
// once the data is at `dst` when dst is host memory; copies to the device return at once, and a
// small one from pageable host memory has been staged in page-locked memory by then (the source
// may be freed; the host does not wait for the device).
void copy(void* dst, const void* src, size_t bytes);
void memset_zero(void* dst, size_t bytes);

// Device memory from a caching allocator: a step allocates the same sizes every time, and
// cudaMalloc/cudaFree synchronise the device. Blocks are reused in compute-stream order, which is
// safe because every kernel that touches them runs on that stream.
void* device_allocate(size_t bytes);
void device_free(void* p, size_t bytes);
// Page-locked host memory (for host/device copies that run at full bus speed), also cached.
void* pinned_allocate(size_t bytes);
void pinned_free(void* p, size_t bytes);

// CUDA graphs of the compute stream. Work queued between begin_capture and end_capture is
// recorded, not run, and the blocks allocated meanwhile stay with the graphs (see device_allocate);
// end_capture returns the graph, ready to launch (a cudaGraphExec_t). abandon_capture ends a
// capture that failed part way, keeping nothing.
void begin_capture();
void* end_capture();
void abandon_capture();
void launch_graph(void* graph);
void destroy_graph(void* graph);

struct DeviceCacheStats {
  size_t cached_bytes, in_use_bytes;
  size_t hits, misses;
};
DeviceCacheStats device_cache_stats();

}  // namespace trainer::cuda
