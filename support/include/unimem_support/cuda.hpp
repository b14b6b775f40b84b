// CUDA helpers for tools, benchmarks and tests (unimem_support_cuda): the error check, timing of
// work on a stream with events, and the read kernel that measures how fast the GPU reads memory.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include <cuda_runtime_api.h>

#include <unimem/stream.hpp>

namespace unimem::support {

/// Throws unimem::cuda_error naming `call` unless `err` is cudaSuccess, after clearing the
/// runtime's last error so that it does not surface again at the next cudaGetLastError().
void check(cudaError_t err, const char* call);

/// Times work enqueued on one stream between two CUDA events (GPU time, launch gaps excluded).
class stream_stopwatch {
 public:
  void start(stream_view s) { start_.record(s); }
  void stop(stream_view s) { stop_.record(s); }
  /// Waits for the stop event; seconds between the two records.
  double seconds() const;

 private:
  cuda_event start_{true};
  cuda_event stop_{true};
};

/// Seconds of each of `repetitions` runs of `work` (which enqueues on `s`), after one untimed
/// warm-up run.
std::vector<double> time_on_stream(stream_view s, int repetitions, const std::function<void()>& work);

/// Enqueues on `s` a kernel that reads `bytes` (a multiple of 16) at `p` in 16-byte words with
/// `blocks` blocks of `threads` threads, four loads in flight per thread. The loads are XORed and
/// the result written to `sink` only if impossible, so the compiler cannot drop them.
/// @throws unimem::cuda_error when the launch fails
void launch_read_kernel(const void* p, std::size_t bytes, unsigned blocks, unsigned threads, int* sink,
                        cudaStream_t s);

}  // namespace unimem::support
