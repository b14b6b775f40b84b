/// @file host_access.hpp
/// @brief A scope in which the CPU may safely touch managed memory, on every device.
///
/// On every Jetson before Thor (concurrentManagedAccess = 0) the CPU must not touch a globally
/// attached managed allocation while *any* kernel runs: it segfaults. The classic cure is
/// cudaDeviceSynchronize() before every CPU access. host_access does the cheaper, scoped thing:
/// it waits only for the streams that may use the memory and attaches the allocation to the host
/// for the scope, so kernels on other streams keep running, then gives the allocation back.
/// Where concurrent access is allowed it waits for those streams (the CPU must still not read
/// results a kernel is writing) and, on a discrete GPU, prefetches the range to the CPU first so
/// that the CPU does not fault the pages over one by one.
#pragma once

#include <cstddef>
#include <vector>

#include <unimem/movement/cuda_calls.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/stream.hpp>

namespace unimem {

/// @brief How a managed allocation is attached now (what the last cudaStreamAttachMemAsync, or
/// cudaMallocManaged's flag, said).
struct attachment {
  attach_mode mode = attach_mode::global;
  stream_view stream{};  ///< the owning stream when mode is single

  /// cudaMemAttachGlobal: unimem::managed_resource's default.
  static constexpr attachment global() noexcept { return {attach_mode::global, {}}; }
  /// cudaMemAttachHost: managed_resource(managed_attach::host), or after prefetch(p, host).
  static constexpr attachment host() noexcept { return {attach_mode::host, {}}; }
  /// cudaMemAttachSingle on `s`: only kernels on `s` use it.
  static constexpr attachment single(stream_view s) noexcept { return {attach_mode::single, s}; }
};

/// @brief RAII scope: while it lives, the CPU may read and write the managed allocation.
///
/// What the constructor does (the destructor only undoes an attachment it changed):
///
/// | concurrentManagedAccess | attached now | on entry                                        | on exit           |
/// |---|---|---|---|
/// | 0 | host      | nothing: kernels cannot be using it                                  | nothing           |
/// | 0 | single(s) | attach to host on s, synchronize s                                   | attach single(s)  |
/// | 0 | global    | synchronize streams[1..], attach to host on streams[0], synchronize it; with no streams: cudaDeviceSynchronize, then the same on the default stream | attach global |
/// | 1 | any       | synchronize streams[1..]; discrete GPU only: prefetch to host on streams[0]; synchronize streams[0]; with no streams: cudaDeviceSynchronize first, then the prefetch on the default stream | nothing |
///
/// Attaching to the host for the scope is what lets unrelated kernels keep running (and other
/// threads launch new ones) while the CPU works. On an integrated GPU with concurrent access
/// (Thor) nothing is prefetched: the pages are already in the one DRAM.
///
/// The caller promises that no kernel using the allocation is launched during the scope.
class host_access {
 public:
  /// @param p       start of the managed allocation (attachment always covers the whole allocation)
  /// @param bytes   bytes the CPU will touch (the prefetch range); 0 makes an empty scope
  /// @param streams the streams whose queued work may use the memory; empty means "any stream" and
  ///                costs a cudaDeviceSynchronize. Ignored when the allocation is attached singly
  ///                (only its stream may use it then).
  /// @param current how the allocation is attached now
  /// @param profile the device's capabilities (default: the current device)
  /// @param calls   where the CUDA calls go (default: the CUDA runtime)
  /// @throws std::invalid_argument p is null with bytes > 0, or `current` is single on a default stream
  /// @throws unsupported_error     the device has no managed memory
  /// @throws cuda_error            a synchronization reported an earlier kernel's failure, or an
  ///                               attach was refused (p not the start of a managed allocation)
  host_access(void* p, std::size_t bytes, const std::vector<stream_view>& streams = {},
              attachment current = attachment::global(), const device_profile& profile = device_profile::current(),
              cuda_calls& calls = cuda_calls::runtime());

  /// @brief Ends the scope; errors of the restoring attach are swallowed (call close() to see them).
  ~host_access();

  host_access(const host_access&) = delete;
  host_access& operator=(const host_access&) = delete;
  host_access(host_access&&) = delete;
  host_access& operator=(host_access&&) = delete;

  /// @brief Ends the scope now: restores the attachment the constructor changed. Idempotent.
  /// @throws cuda_error the restoring cudaStreamAttachMemAsync failed
  void close();

  void* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return bytes_; }
  /// @brief True when the constructor attached the allocation to the host and close() will undo it.
  bool attached_to_host() const noexcept { return restore_; }

 private:
  void* p_;
  std::size_t bytes_;
  cuda_calls* calls_;
  bool restore_ = false;
  attach_mode restore_mode_ = attach_mode::global;
  stream_view restore_stream_{};
};

}  // namespace unimem
