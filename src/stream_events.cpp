#include <unimem/stream_events.hpp>

#include <mutex>
#include <vector>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "detail/cuda_check.hpp"

namespace unimem {
namespace {

class cuda_event_source final : public stream_event_source {
 public:
  ~cuda_event_source() override {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }

  token record(stream_view s) override {
    std::lock_guard<std::mutex> lock(mutex_);
    token t;
    if (!free_.empty()) {
      t = free_.back();
      free_.pop_back();
    } else {
      cudaEvent_t e = nullptr;
      detail::check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming),
                    "cudaEventCreateWithFlags(cudaEventDisableTiming)");
      t = static_cast<token>(events_.size());
      events_.push_back(e);
    }
    const cudaError_t err = cudaEventRecord(events_[t], s.value());
    if (err != cudaSuccess) {
      free_.push_back(t);
      detail::throw_cuda_error(err, fmt::format("cudaEventRecord(stream {})", fmt::ptr(s.value())));
    }
    return t;
  }

  bool ready(token t) override {
    cudaEvent_t e = event(t);
    const cudaError_t err = cudaEventQuery(e);
    if (err == cudaSuccess) return true;
    if (err == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    detail::throw_cuda_error(err, "cudaEventQuery");
  }

  void synchronize(token t) override { detail::check(cudaEventSynchronize(event(t)), "cudaEventSynchronize"); }

  void wait(stream_view s, token t) override {
    const cudaError_t err = cudaStreamWaitEvent(s.value(), event(t), 0);
    if (err != cudaSuccess) {
      detail::throw_cuda_error(err, fmt::format("cudaStreamWaitEvent(stream {})", fmt::ptr(s.value())));
    }
  }

  void release(token t) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(t);
  }

 private:
  cudaEvent_t event(token t) {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.at(t);
  }

  std::mutex mutex_;
  std::vector<cudaEvent_t> events_;
  std::vector<token> free_;
};

}  // namespace

std::shared_ptr<stream_event_source> make_cuda_event_source() { return std::make_shared<cuda_event_source>(); }

}  // namespace unimem
