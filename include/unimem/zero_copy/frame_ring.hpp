/// @file frame_ring.hpp
/// @brief A ring of fixed-size frame slots in POSIX shared memory, between one producer process
/// (a camera) and one consumer process (inference), with the consumer's kernels reading the frames
/// where the producer wrote them.
///
/// - The slots and the indices live in one shm object (`shm_open`); the indices are
///   `std::atomic<uint64_t>` (lock-free, so address-free and valid across processes): the
///   producer publishes with a release store, the consumer takes with an acquire load, and hands a
///   slot back with a release store the producer acquires before reusing it.
/// - Waiting sleeps on a futex in the shared page (no busy loop); the side that makes progress
///   wakes the other only when it is actually waiting.
/// - The object is created 0600 (exactly: the umask does not widen or narrow it) and an existing
///   name is refused unless the caller asks to attach.
/// - Each end holds an open-file-description lock on its own byte of the object; the kernel drops
///   it when the process dies, however it dies. A waiting consumer checks it every
///   `liveness_interval` and reports `producer_lost` instead of waiting forever; a new producer may
///   attach to the same ring and the consumer carries on.
/// - The consumer registers the slot area with CUDA once (`register_with_cuda`), not per frame.
/// - Each end checks the ring's geometry when it attaches and keeps its own copy: nothing the peer
///   writes into the shared header later (slot count, offsets, sizes) becomes an index, a divisor
///   or a pointer. A frame's size and number are checked against that copy, and indices the peer
///   moves where one producer and one consumer never would are refused or repaired, never
///   followed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <unimem/device_profile.hpp>
#include <unimem/resources/registered_resource.hpp>

namespace unimem {

/// @brief How a ring end opens the shared-memory name.
enum class ring_open {
  create,            ///< create it; an existing name is an error
  attach,            ///< join an existing ring; a missing name is an error
  create_or_attach,  ///< create it, or join it if it exists
};

/// @brief Options of either end.
struct frame_ring_options {
  ring_open open = ring_open::create;
  /// Permission bits of a newly created object (applied with fchmod, so the umask does not change
  /// them). 0600: only the creating user may attach.
  unsigned permissions = 0600;
  /// The end that created the name removes it (shm_unlink) when it closes normally. Mappings stay
  /// valid; only later attaches fail. A crashed creator leaves the name, so a restarted producer
  /// can attach again.
  bool unlink_on_close = true;
  /// How often a waiting end checks that the other end still exists.
  std::chrono::milliseconds liveness_interval{50};
  /// How long attaching waits for a ring whose creator is still initialising it.
  std::chrono::milliseconds attach_timeout{1000};
};

/// @brief What a wait ended with.
enum class ring_status {
  ok,             ///< a slot or frame was obtained
  timeout,        ///< nothing within the timeout
  end_of_stream,  ///< (consumer) the producer closed the ring and every frame was taken
  producer_lost,  ///< (consumer) the producer died without closing; reported once per producer,
                  ///< later waits wait for a new producer to attach
  consumer_gone,  ///< (producer) the ring is full and no consumer is attached (never started, or died)
};

std::string_view to_string(ring_status status) noexcept;

/// @brief CLOCK_MONOTONIC in nanoseconds: the clock frame timestamps use, comparable across
/// processes on one machine.
std::uint64_t monotonic_ns() noexcept;

/// @brief Removes a ring's name (shm_unlink), e.g. one a crashed run left behind.
/// @return false when there was no such name
/// @throws std::invalid_argument for a malformed name
/// @throws std::system_error     for any other failure (e.g. permission)
bool remove_frame_ring(const std::string& name);

namespace detail {
class shm_ring;
}

/// @brief The producer end: writes frames into slots and publishes them in order.
class frame_ring_producer {
 public:
  /// @brief A slot being written.
  struct slot {
    void* data = nullptr;         ///< slot_bytes() writable bytes
    std::size_t capacity = 0;
    std::uint64_t sequence = 0;   ///< this frame's number (0, 1, 2, ... over the ring's life)
    std::uint32_t index = 0;      ///< which slot
  };

  /// @param name       "/name": a leading slash, no other, at most 255 characters
  /// @param slot_bytes size of one frame (> 0); with ring_open::attach, 0 accepts the ring's
  /// @param slot_count number of slots (1 .. 65536); with ring_open::attach, 0 accepts the ring's
  /// @throws std::invalid_argument bad name, zero or oversized geometry, a geometry that differs
  ///                               from the existing ring's, an object that is not a frame ring
  /// @throws std::system_error     the name exists (ring_open::create), is missing
  ///                               (ring_open::attach), is not accessible (permissions), or the ring
  ///                               already has a producer (errc::device_or_resource_busy)
  frame_ring_producer(const std::string& name, std::size_t slot_bytes, std::uint32_t slot_count,
                      const frame_ring_options& options = {});
  /// @brief Closes the ring (end of stream for the consumer).
  ~frame_ring_producer();
  frame_ring_producer(frame_ring_producer&&) noexcept;
  frame_ring_producer& operator=(frame_ring_producer&&) noexcept;
  frame_ring_producer(const frame_ring_producer&) = delete;
  frame_ring_producer& operator=(const frame_ring_producer&) = delete;

  /// @brief The next free slot without waiting; false when the ring is full, which counts a
  /// dropped frame (a camera drops rather than waits). Calling it again before publish() returns
  /// the same slot.
  bool try_begin_frame(slot& out);
  /// @brief Waits up to `timeout` for a free slot.
  /// @return ok, timeout, or consumer_gone (full and no consumer attached)
  ring_status begin_frame(slot& out, std::chrono::nanoseconds timeout);
  /// @brief Publishes the begun frame: `bytes` used, captured at `timestamp_ns` (monotonic_ns()).
  /// @throws std::logic_error      no frame was begun
  /// @throws std::invalid_argument bytes > slot_bytes()
  void publish(std::size_t bytes, std::uint64_t timestamp_ns = monotonic_ns());
  /// @brief End of stream: the consumer gets end_of_stream once it has taken every frame.
  void close() noexcept;

  const std::string& name() const noexcept;
  std::size_t slot_bytes() const noexcept;
  std::uint32_t slot_count() const noexcept;
  /// @brief Whether a consumer is attached right now.
  bool consumer_attached() const;
  /// @brief Frames that found the ring full (try_begin_frame returned false).
  std::uint64_t dropped_frames() const noexcept;
  /// @brief This end created the name.
  bool created() const noexcept;

 private:
  std::unique_ptr<detail::shm_ring> ring_;
  bool begun_ = false;
};

/// @brief The consumer end: takes frames in order, hands them back after use.
class frame_ring_consumer {
 public:
  /// @brief A frame taken from the ring; valid until released.
  struct frame {
    void* data = nullptr;          ///< the slot, for the CPU (read-write: kernels may work in place)
    void* device_data = nullptr;   ///< the same bytes for kernels; nullptr until register_with_cuda()
    std::size_t bytes = 0;         ///< bytes the producer published
    std::uint64_t sequence = 0;
    std::uint64_t timestamp_ns = 0;  ///< the producer's monotonic_ns() at capture
    std::uint32_t index = 0;
  };

  /// @param name, slot_bytes, slot_count, options as for frame_ring_producer
  /// Resumes where the previous consumer handed frames back, within what the producer published.
  /// @throws as frame_ring_producer; errc::device_or_resource_busy when a consumer is attached
  frame_ring_consumer(const std::string& name, std::size_t slot_bytes, std::uint32_t slot_count,
                      const frame_ring_options& options = {});
  ~frame_ring_consumer();
  frame_ring_consumer(frame_ring_consumer&&) noexcept;
  frame_ring_consumer& operator=(frame_ring_consumer&&) noexcept;
  frame_ring_consumer(const frame_ring_consumer&) = delete;
  frame_ring_consumer& operator=(const frame_ring_consumer&) = delete;

  /// @brief Page-locks the slot area and maps it for kernels (cudaHostRegister, once for the ring's
  /// life); afterwards every frame carries device_data. Calling it again does nothing.
  /// @throws unsupported_error hostRegisterSupported = 0 (Jetson Nano/TX2)
  /// @throws cuda_error        the registration failed
  void register_with_cuda(const register_options& options = {},
                          const device_profile& profile = device_profile::current());
  bool registered() const noexcept;

  /// @brief Takes the next frame, waiting up to `timeout`.
  /// @return ok (frame filled in), timeout, end_of_stream or producer_lost; `out` is only valid
  ///         with ok
  /// @throws std::runtime_error the slot's record does not describe the frame published there (a
  ///         size above the slot, another frame number): something else writes the ring; nothing is
  ///         taken
  ring_status acquire(frame& out, std::chrono::nanoseconds timeout);
  /// @brief Hands a frame back so the producer may reuse its slot. Frames go back in the order
  /// they were taken; kernels reading it must have finished (synchronise their stream first).
  /// @throws std::logic_error a frame not taken (e.g. the frame of an acquire that timed out),
  ///         already released, out of order, or not of this ring; nothing changes
  void release(const frame& f);
  /// @brief Drops every published frame not yet taken (catch up to live after a stall).
  /// @return how many were dropped
  /// @throws std::logic_error while frames are taken and not released
  std::uint64_t skip_pending();

  const std::string& name() const noexcept;
  std::size_t slot_bytes() const noexcept;
  std::uint32_t slot_count() const noexcept;
  /// @brief Whether a producer is attached right now (its lock is held).
  bool producer_attached() const;
  /// @brief Frames the producer dropped because the ring was full.
  std::uint64_t dropped_frames() const noexcept;
  bool created() const noexcept;

 private:
  std::unique_ptr<detail::shm_ring> ring_;
  std::uint64_t next_read_ = 0;      // frames taken by this end
  std::uint64_t released_ = 0;       // frames handed back (mirrors read_index)
  std::uint64_t lost_generation_ = 0;  // producer generation already reported as lost
};

}  // namespace unimem
