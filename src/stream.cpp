#include <unimem/stream.hpp>

#include <utility>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "detail/cuda_check.hpp"

namespace unimem {

stream_view stream_view::per_thread() noexcept { return stream_view{cudaStreamPerThread}; }
stream_view stream_view::legacy() noexcept { return stream_view{cudaStreamLegacy}; }

bool stream_view::is_default() const noexcept {
  return stream_ == nullptr || stream_ == cudaStreamLegacy || stream_ == cudaStreamPerThread;
}

void stream_view::synchronize() const {
  const cudaError_t err = cudaStreamSynchronize(stream_);
  if (err != cudaSuccess) detail::throw_cuda_error(err, fmt::format("cudaStreamSynchronize({})", fmt::ptr(stream_)));
}

bool stream_view::ready() const {
  const cudaError_t err = cudaStreamQuery(stream_);
  if (err == cudaSuccess) return true;
  if (err == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  detail::throw_cuda_error(err, fmt::format("cudaStreamQuery({})", fmt::ptr(stream_)));
}

void stream_view::wait_for(stream_view producer) const {
  if (producer.stream_ == stream_) return;
  // A fresh event per handshake: destroying it right after the wait is allowed (CUDA keeps what
  // the pending wait needs), and it keeps this call free of shared state.
  const cuda_event marker;
  marker.record(producer);
  const cudaError_t err = cudaStreamWaitEvent(stream_, marker.value(), 0);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, fmt::format("cudaStreamWaitEvent({}, event recorded on {})", fmt::ptr(stream_),
                                              fmt::ptr(producer.stream_)),
                             "both streams must belong to the current device");
  }
}

cuda_stream::cuda_stream(bool non_blocking, int priority) {
  const unsigned flags = non_blocking ? cudaStreamNonBlocking : cudaStreamDefault;
  cudaStream_t s = nullptr;
  const cudaError_t err = cudaStreamCreateWithPriority(&s, flags, priority);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, fmt::format("cudaStreamCreateWithPriority(flags {}, priority {})", flags, priority));
  }
  stream_ = s;
}

cuda_stream::~cuda_stream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

cuda_stream::cuda_stream(cuda_stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}

cuda_stream& cuda_stream::operator=(cuda_stream&& other) noexcept {
  if (this != &other) {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

void cuda_stream::wait(const cuda_event& e) const {
  detail::check(cudaStreamWaitEvent(stream_, e.value(), 0), "cudaStreamWaitEvent");
}

cuda_event::cuda_event(bool timing) {
  cudaEvent_t e = nullptr;
  const unsigned flags = timing ? cudaEventDefault : cudaEventDisableTiming;
  detail::check(cudaEventCreateWithFlags(&e, flags), timing ? "cudaEventCreateWithFlags(cudaEventDefault)"
                                                            : "cudaEventCreateWithFlags(cudaEventDisableTiming)");
  event_ = e;
}

cuda_event::~cuda_event() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

cuda_event::cuda_event(cuda_event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}

cuda_event& cuda_event::operator=(cuda_event&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

void cuda_event::record(stream_view s) const { detail::check(cudaEventRecord(event_, s.value()), "cudaEventRecord"); }

void cuda_event::synchronize() const { detail::check(cudaEventSynchronize(event_), "cudaEventSynchronize"); }

bool cuda_event::ready() const {
  const cudaError_t err = cudaEventQuery(event_);
  if (err == cudaSuccess) return true;
  if (err == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  detail::throw_cuda_error(err, "cudaEventQuery");
}

float cuda_event::elapsed_ms(const cuda_event& start) const {
  float ms = 0.0f;
  const cudaError_t err = cudaEventElapsedTime(&ms, start.event_, event_);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, "cudaEventElapsedTime",
                             "both events must be created with cuda_event(true) and recorded");
  }
  return ms;
}

}  // namespace unimem
