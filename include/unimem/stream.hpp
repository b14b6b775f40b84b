/// @file stream.hpp
/// @brief Non-owning `stream_view` and the owning `cuda_stream` and `cuda_event`.
///
/// `CUstream_st*` is what `cudaStream_t` is a typedef of; naming it through a forward declaration
/// keeps the CUDA headers out of every translation unit that only passes streams along.
#pragma once

#include <cstdint>

struct CUstream_st;
struct CUevent_st;

namespace unimem {

/// @brief A CUDA stream handle that does not own the stream. Cheap to copy; default is stream 0.
class stream_view {
 public:
  using handle_type = CUstream_st*;  // == cudaStream_t

  constexpr stream_view() noexcept = default;
  constexpr stream_view(handle_type s) noexcept : stream_{s} {}  // NOLINT: implicit on purpose

  constexpr handle_type value() const noexcept { return stream_; }
  constexpr operator handle_type() const noexcept { return stream_; }  // NOLINT

  /// @brief The per-thread default stream (cudaStreamPerThread).
  static stream_view per_thread() noexcept;
  /// @brief The legacy default stream (cudaStreamLegacy).
  static stream_view legacy() noexcept;

  /// @brief True for stream 0, the legacy and the per-thread default stream.
  bool is_default() const noexcept;
  /// @brief Blocks until all work queued on the stream has finished.
  /// @throws cuda_error
  void synchronize() const;
  /// @brief True when all work queued on the stream has finished.
  /// @throws cuda_error on a failure other than "not ready"
  bool ready() const;
  /// @brief Makes work queued on this stream from now on wait for the work queued on `producer`
  /// so far (an event recorded there; the host does not wait). Nothing when both are the same
  /// stream. Both must belong to the current device. This is the DLPack stream handshake.
  /// @throws cuda_error
  void wait_for(stream_view producer) const;

  friend constexpr bool operator==(stream_view a, stream_view b) noexcept { return a.stream_ == b.stream_; }
  friend constexpr bool operator!=(stream_view a, stream_view b) noexcept { return a.stream_ != b.stream_; }

 private:
  handle_type stream_{nullptr};
};

class cuda_event;

/// @brief An owning, move-only CUDA stream. Non-blocking by default so it never serialises with
/// the legacy default stream.
class cuda_stream {
 public:
  /// @param non_blocking create with cudaStreamNonBlocking
  /// @param priority     stream priority (lower is higher priority; 0 is the default)
  /// @throws cuda_error
  explicit cuda_stream(bool non_blocking = true, int priority = 0);
  ~cuda_stream();
  cuda_stream(cuda_stream&& other) noexcept;
  cuda_stream& operator=(cuda_stream&& other) noexcept;
  cuda_stream(const cuda_stream&) = delete;
  cuda_stream& operator=(const cuda_stream&) = delete;

  stream_view view() const noexcept { return stream_view{stream_}; }
  operator stream_view() const noexcept { return view(); }  // NOLINT
  void synchronize() const { view().synchronize(); }
  /// @brief Makes future work on this stream wait for `e`.
  void wait(const cuda_event& e) const;

 private:
  CUstream_st* stream_{nullptr};
};

/// @brief An owning, move-only CUDA event. Timing is off by default (cheaper to record and
/// query); pass `timing = true` to use elapsed_ms.
class cuda_event {
 public:
  /// @throws cuda_error
  explicit cuda_event(bool timing = false);
  ~cuda_event();
  cuda_event(cuda_event&& other) noexcept;
  cuda_event& operator=(cuda_event&& other) noexcept;
  cuda_event(const cuda_event&) = delete;
  cuda_event& operator=(const cuda_event&) = delete;

  CUevent_st* value() const noexcept { return event_; }
  void record(stream_view s = {}) const;
  void synchronize() const;
  /// @brief True once the work captured by the last record() has completed.
  bool ready() const;
  /// @brief Milliseconds between `start` and this event; both must have been created with timing.
  float elapsed_ms(const cuda_event& start) const;

 private:
  CUevent_st* event_{nullptr};
};

}  // namespace unimem
