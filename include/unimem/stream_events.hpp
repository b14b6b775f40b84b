/// @file stream_events.hpp
/// @brief How a stream-ordered pool learns that the work queued on a stream before a free has
/// finished, so the freed memory may go to another stream.
///
/// The pools talk to this interface instead of to CUDA directly: the default is CUDA events, and
/// tests (or an application with its own notion of streams) can supply another source, which is
/// how the pools' stream-ordering is tested on machines without a GPU.
#pragma once

#include <cstdint>
#include <memory>

#include <unimem/stream.hpp>

namespace unimem {

/// @brief Records and queries completion markers on streams.
///
/// Implementations must be thread-safe: one source may serve several pools.
class stream_event_source {
 public:
  using token = std::uint32_t;

  virtual ~stream_event_source() = default;
  /// @brief Marks the point after all work queued so far on `s`.
  /// @throws cuda_error
  virtual token record(stream_view s) = 0;
  /// @brief True once the work before the marker has finished. Never blocks.
  virtual bool ready(token t) = 0;
  /// @brief Blocks until the work before the marker has finished. Pools call this only as a
  /// last resort before reporting out of memory.
  virtual void synchronize(token t) = 0;
  /// @brief The marker is no longer needed.
  virtual void release(token t) noexcept = 0;
  /// @brief Makes work queued on `s` from now on wait until the work before the marker has
  /// finished, without blocking the caller (cudaStreamWaitEvent). Pools call this to hand memory
  /// freed on one stream to another at once instead of growing. The default blocks the caller
  /// (synchronize), which is correct for any source but slower.
  /// @throws cuda_error
  virtual void wait(stream_view s, token t) {
    static_cast<void>(s);
    synchronize(t);
  }
};

/// @brief A source backed by CUDA events (cudaEventRecord / cudaEventQuery /
/// cudaEventSynchronize / cudaStreamWaitEvent), created without timing and reused.
std::shared_ptr<stream_event_source> make_cuda_event_source();

}  // namespace unimem
