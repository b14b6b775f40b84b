// The CUDA runtime behind cuda_calls. The one place that knows the CUDA 12 / CUDA 13 signature
// split of cudaMemPrefetchAsync and cudaMemAdvise.
#include <unimem/movement/cuda_calls.hpp>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "detail/cuda_check.hpp"
#include "detail/nvtx_range.hpp"

namespace unimem {

std::string to_string(location l) {
  return l.is_host() ? std::string("host") : fmt::format("device {}", l.device);
}

std::string_view to_string(attach_mode m) noexcept {
  switch (m) {
    case attach_mode::global: return "global";
    case attach_mode::host: return "host";
    case attach_mode::single: return "single";
  }
  return "unknown";
}

std::string_view to_string(mem_advice a) noexcept {
  switch (a) {
    case mem_advice::set_read_mostly: return "SetReadMostly";
    case mem_advice::unset_read_mostly: return "UnsetReadMostly";
    case mem_advice::set_preferred_location: return "SetPreferredLocation";
    case mem_advice::unset_preferred_location: return "UnsetPreferredLocation";
    case mem_advice::set_accessed_by: return "SetAccessedBy";
    case mem_advice::unset_accessed_by: return "UnsetAccessedBy";
  }
  return "unknown";
}

namespace {

cudaMemoryAdvise to_cuda(mem_advice a) {
  switch (a) {
    case mem_advice::set_read_mostly: return cudaMemAdviseSetReadMostly;
    case mem_advice::unset_read_mostly: return cudaMemAdviseUnsetReadMostly;
    case mem_advice::set_preferred_location: return cudaMemAdviseSetPreferredLocation;
    case mem_advice::unset_preferred_location: return cudaMemAdviseUnsetPreferredLocation;
    case mem_advice::set_accessed_by: return cudaMemAdviseSetAccessedBy;
    case mem_advice::unset_accessed_by: return cudaMemAdviseUnsetAccessedBy;
  }
  return cudaMemAdviseSetReadMostly;
}

unsigned to_cuda(attach_mode m) {
  switch (m) {
    case attach_mode::global: return cudaMemAttachGlobal;
    case attach_mode::host: return cudaMemAttachHost;
    case attach_mode::single: return cudaMemAttachSingle;
  }
  return cudaMemAttachGlobal;
}

// CUDA 13 replaced the `int device` of cudaMemPrefetchAsync / cudaMemAdvise by cudaMemLocation
// (and gave the prefetch a flags argument); CUDA 12.x still takes the ordinal, with
// cudaCpuDeviceId for the host. Everything else in unimem speaks `location`.
#if CUDART_VERSION >= 13000
cudaMemLocation to_cuda(location l) {
  cudaMemLocation c{};
  c.type = l.is_host() ? cudaMemLocationTypeHost : cudaMemLocationTypeDevice;
  c.id = l.is_host() ? 0 : l.device;  // the id of a host location is ignored
  return c;
}

cudaError_t prefetch_call(const void* p, std::size_t bytes, location to, cudaStream_t s) {
  return cudaMemPrefetchAsync(p, bytes, to_cuda(to), 0u, s);
}

cudaError_t advise_call(const void* p, std::size_t bytes, cudaMemoryAdvise a, location where) {
  return cudaMemAdvise(p, bytes, a, to_cuda(where));
}
#else
int to_cuda(location l) { return l.is_host() ? cudaCpuDeviceId : l.device; }

cudaError_t prefetch_call(const void* p, std::size_t bytes, location to, cudaStream_t s) {
  return cudaMemPrefetchAsync(p, bytes, to_cuda(to), s);
}

cudaError_t advise_call(const void* p, std::size_t bytes, cudaMemoryAdvise a, location where) {
  return cudaMemAdvise(p, bytes, a, to_cuda(where));
}
#endif

class runtime_calls final : public cuda_calls {
 public:
  void mem_prefetch_async(const void* p, std::size_t bytes, location to, stream_view stream) override {
    const cudaError_t err = prefetch_call(p, bytes, to, stream.value());
    if (err != cudaSuccess) {
      detail::throw_cuda_error(
          err, fmt::format("cudaMemPrefetchAsync({}, {}, {}, stream {})", p, detail::format_bytes(bytes), to_string(to),
                           fmt::ptr(stream.value())),
          "the range must be managed memory (unimem::managed_resource) and the device must report "
          "concurrentManagedAccess = 1; unimem::prefetch() degrades by itself where it does not");
    }
  }

  void mem_advise(const void* p, std::size_t bytes, mem_advice advice, location where) override {
    const cudaError_t err = advise_call(p, bytes, to_cuda(advice), where);
    if (err != cudaSuccess) {
      detail::throw_cuda_error(err,
                               fmt::format("cudaMemAdvise({}, {}, cudaMemAdvise{}, {})", p, detail::format_bytes(bytes),
                                           to_string(advice), to_string(where)),
                               "the range must be managed memory (unimem::managed_resource)");
    }
  }

  void stream_attach_mem_async(stream_view stream, void* p, attach_mode mode) override {
    const cudaError_t err = cudaStreamAttachMemAsync(stream.value(), p, 0, to_cuda(mode));
    if (err != cudaSuccess) {
      detail::throw_cuda_error(err,
                               fmt::format("cudaStreamAttachMemAsync(stream {}, {}, 0, cudaMemAttach{})",
                                           fmt::ptr(stream.value()), p,
                                           mode == attach_mode::global ? "Global"
                                           : mode == attach_mode::host ? "Host"
                                                                       : "Single"),
                               "pass the start of a managed allocation (attach always changes the whole "
                               "allocation), and never attach singly to the default stream");
    }
  }

  void stream_synchronize(stream_view stream) override { stream.synchronize(); }

  void device_synchronize() override { detail::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize()"); }

  void memcpy_async(void* dst, const void* src, std::size_t bytes, stream_view stream) override {
    const cudaError_t err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream.value());
    if (err != cudaSuccess) {
      detail::throw_cuda_error(err, fmt::format("cudaMemcpyAsync({}, {}, {}, cudaMemcpyDefault, stream {})", dst, src,
                                                detail::format_bytes(bytes), fmt::ptr(stream.value())));
    }
  }

  CUstream_st* stream_create() override {
    cudaStream_t s = nullptr;
    detail::check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking),
                  "cudaStreamCreateWithFlags(cudaStreamNonBlocking)");
    return s;
  }

  void stream_destroy(CUstream_st* stream) noexcept override {
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  CUevent_st* event_create() override {
    cudaEvent_t e = nullptr;
    detail::check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags(cudaEventDisableTiming)");
    return e;
  }

  void event_destroy(CUevent_st* event) noexcept override {
    if (event != nullptr) cudaEventDestroy(event);
  }

  void event_record(CUevent_st* event, stream_view stream) override {
    const cudaError_t err = cudaEventRecord(event, stream.value());
    if (err != cudaSuccess) {
      detail::throw_cuda_error(err, fmt::format("cudaEventRecord({}, stream {})", fmt::ptr(event), fmt::ptr(stream.value())));
    }
  }

  void event_synchronize(CUevent_st* event) override {
    const cudaError_t err = cudaEventSynchronize(event);
    if (err != cudaSuccess) detail::throw_cuda_error(err, fmt::format("cudaEventSynchronize({})", fmt::ptr(event)));
  }

  bool event_ready(CUevent_st* event) override {
    const cudaError_t err = cudaEventQuery(event);
    if (err == cudaSuccess) return true;
    if (err == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    detail::throw_cuda_error(err, fmt::format("cudaEventQuery({})", fmt::ptr(event)));
  }
};

}  // namespace

cuda_calls& cuda_calls::runtime() noexcept {
  static runtime_calls calls;
  return calls;
}

}  // namespace unimem
