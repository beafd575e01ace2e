// Timing marks on the compute stream: events that record when the GPU reached a point of the
// queued work, for log.layer_times. Host-callable; plain .cpp files include this header.
#pragma once

namespace trainer::cuda {

// Queues a timing event on the compute stream; returns it (a cudaEvent_t, from a pool).
void* record_mark();
// Milliseconds of GPU time from `begin` to `end`, once `end` has passed (waits for it).
float elapsed_ms(void* begin, void* end);
// Hands an event back to the pool.
void release_mark(void* mark);

}  // namespace trainer::cuda
