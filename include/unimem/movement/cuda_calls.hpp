/// @file cuda_calls.hpp
/// @brief The CUDA runtime calls that data movement issues, behind an interface.
///
/// prefetch(), advise(), attach(), host_access, copy() and frame_pipeline decide *which* calls to
/// make from a `device_profile`; they make them through a `cuda_calls`. The default,
/// `cuda_calls::runtime()`, calls the CUDA runtime. A test passes an implementation that records
/// the calls instead, so every decision is checked against the simulated Jetson profiles on a
/// machine without a GPU. The header names CUDA types only through forward declarations.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <unimem/stream.hpp>

namespace unimem {

/// @brief A processor that managed memory can live on or be accessed by.
struct location {
  enum class kind {
    host,    ///< the CPU (cudaCpuDeviceId / cudaMemLocationTypeHost)
    device,  ///< the GPU with ordinal `device`
  };
  kind where = kind::host;
  int device = 0;  ///< the ordinal; ignored for the host

  static constexpr location host() noexcept { return {kind::host, 0}; }
  static constexpr location on_device(int ordinal) noexcept { return {kind::device, ordinal}; }
  constexpr bool is_host() const noexcept { return where == kind::host; }

  friend constexpr bool operator==(location a, location b) noexcept {
    return a.where == b.where && (a.where == kind::host || a.device == b.device);
  }
  friend constexpr bool operator!=(location a, location b) noexcept { return !(a == b); }
};

/// @brief "host" or "device 0".
std::string to_string(location l);

/// @brief Stream association of a managed allocation (cudaStreamAttachMemAsync flags).
enum class attach_mode {
  global,  ///< cudaMemAttachGlobal: kernels on every stream may use it
  host,    ///< cudaMemAttachHost: kernels must not use it; the CPU may, even while kernels run
  single,  ///< cudaMemAttachSingle: only kernels on one stream may use it; the CPU may once that
           ///< stream is idle, whatever other streams do
};

/// @brief "global", "host" or "single".
std::string_view to_string(attach_mode m) noexcept;

/// @brief cudaMemAdvise advice.
enum class mem_advice {
  set_read_mostly,           ///< read-duplicate pages on every processor that reads them
  unset_read_mostly,
  set_preferred_location,    ///< keep pages at the given location; migrate only when unavoidable
  unset_preferred_location,
  set_accessed_by,           ///< keep the given processor's mapping to the pages (fewer faults)
  unset_accessed_by,
};

/// @brief The advice's CUDA name without the prefix, e.g. "SetReadMostly".
std::string_view to_string(mem_advice a) noexcept;

/// @brief The CUDA runtime calls of data movement. Each function makes one call and throws
/// cuda_error naming it and its arguments when the call fails; the `*_destroy` functions never
/// throw (they run in destructors). Implementations must be usable from several threads if the
/// objects using them are.
class cuda_calls {
 public:
  cuda_calls() = default;
  virtual ~cuda_calls() = default;
  cuda_calls(const cuda_calls&) = delete;
  cuda_calls& operator=(const cuda_calls&) = delete;

  /// cudaMemPrefetchAsync (int device before CUDA 13, cudaMemLocation from 13).
  virtual void mem_prefetch_async(const void* p, std::size_t bytes, location to, stream_view stream) = 0;
  /// cudaMemAdvise (int device before CUDA 13, cudaMemLocation from 13).
  virtual void mem_advise(const void* p, std::size_t bytes, mem_advice advice, location where) = 0;
  /// cudaStreamAttachMemAsync(stream, p, 0, mode): always the whole allocation that starts at `p`.
  virtual void stream_attach_mem_async(stream_view stream, void* p, attach_mode mode) = 0;
  virtual void stream_synchronize(stream_view stream) = 0;
  virtual void device_synchronize() = 0;
  /// cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream).
  virtual void memcpy_async(void* dst, const void* src, std::size_t bytes, stream_view stream) = 0;

  /// cudaStreamCreateWithFlags(cudaStreamNonBlocking).
  virtual CUstream_st* stream_create() = 0;
  virtual void stream_destroy(CUstream_st* stream) noexcept = 0;
  /// cudaEventCreateWithFlags(cudaEventDisableTiming).
  virtual CUevent_st* event_create() = 0;
  virtual void event_destroy(CUevent_st* event) noexcept = 0;
  virtual void event_record(CUevent_st* event, stream_view stream) = 0;
  virtual void event_synchronize(CUevent_st* event) = 0;
  /// cudaEventQuery: true when the recorded work has finished, false while it has not.
  virtual bool event_ready(CUevent_st* event) = 0;

  /// @brief The process-wide implementation that calls the CUDA runtime.
  static cuda_calls& runtime() noexcept;
};

}  // namespace unimem
