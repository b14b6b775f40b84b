/// @file prefetch.hpp
/// @brief Prefetch, advice and stream attachment of managed memory, on every CUDA version and
/// every device.
///
/// CUDA 13 changed cudaMemPrefetchAsync and cudaMemAdvise to take a cudaMemLocation (CUDA 12.x
/// takes an `int` device); these functions take a `location` and compile against both. Devices with
/// concurrentManagedAccess = 0 (every Jetson before Thor, and GPUs older than Pascal) support
/// neither call; there prefetch() degrades to cudaStreamAttachMemAsync (plus a synchronization when
/// the target is the CPU) instead of failing, and advise() refuses, naming the missing capability.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <unimem/movement/cuda_calls.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/stream.hpp>

namespace unimem {

/// @brief What prefetch() did.
enum class prefetch_action {
  none,                       ///< nothing was issued (zero bytes)
  prefetched,                 ///< cudaMemPrefetchAsync on the stream
  attached,                   ///< concurrentManagedAccess = 0, device target: the allocation was
                              ///< attached globally on the stream so every kernel may use it
  attached_and_synchronized,  ///< concurrentManagedAccess = 0, host target: attached to the host on
                              ///< the stream and the stream synchronized; the CPU may touch it now
};

std::string_view to_string(prefetch_action a) noexcept;

/// @brief The decision of prefetch(), with the reason in words (a string literal).
struct prefetch_result {
  prefetch_action action = prefetch_action::none;
  std::string_view reason;
};

/// @brief Decides what prefetch() does on `profile`, without issuing anything.
prefetch_result plan_prefetch(const device_profile& profile, std::size_t bytes, location to);

/// @brief Moves the managed range [p, p + bytes) to `to`, ordered on `stream`.
///
/// With concurrentManagedAccess = 1 this is cudaMemPrefetchAsync. With concurrentManagedAccess = 0
/// nothing can be migrated by hand (on a Jetson the memory is the same DRAM anyway) and touching
/// managed memory from the CPU while kernels run is what crashes, so it becomes:
/// - device target: cudaStreamAttachMemAsync(stream, p, 0, cudaMemAttachGlobal): kernels on every
///   stream may use the allocation (this also undoes an earlier host attachment);
/// - host target: cudaStreamAttachMemAsync(stream, p, 0, cudaMemAttachHost) and
///   cudaStreamSynchronize(stream): on return the CPU may touch the allocation even while unrelated
///   kernels run; kernels must not use it until it is prefetched to the device (or attached) again.
///
/// Attachment always applies to the whole allocation, so `p` must be the start of a managed
/// allocation where concurrentManagedAccess = 0. Never fails for lack of concurrent managed access.
/// @param p       managed memory (from unimem::managed_resource or cudaMallocManaged)
/// @param bytes   size of the range; 0 does nothing
/// @param to      location::on_device(n) or location::host()
/// @param stream  orders the prefetch after the work already queued there
/// @param profile the device's capabilities (default: the current device)
/// @param calls   where the CUDA calls go (default: the CUDA runtime)
/// @throws std::invalid_argument p is null with bytes > 0
/// @throws unsupported_error     the device has no managed memory at all
/// @throws cuda_error            the runtime refused the call (e.g. p is not managed memory)
prefetch_result prefetch(const void* p, std::size_t bytes, location to, stream_view stream = {},
                         const device_profile& profile = device_profile::current(),
                         cuda_calls& calls = cuda_calls::runtime());

/// @brief Changes the stream association of the managed allocation that starts at `p`
/// (cudaStreamAttachMemAsync(stream, p, 0, mode)); takes effect when the work queued on `stream`
/// before it has finished.
/// @throws std::invalid_argument p is null, or mode is single and stream is a default stream
///                               (CUDA forbids attaching singly to the default stream)
/// @throws unsupported_error     the device has no managed memory
/// @throws cuda_error            the runtime refused the call
void attach(void* p, attach_mode mode, stream_view stream = {},
            const device_profile& profile = device_profile::current(), cuda_calls& calls = cuda_calls::runtime());

/// @brief Why `profile` cannot honour `advice` at `where`, or std::nullopt when it can. Lets
/// portable code skip advice instead of catching the exception advise() would throw.
std::optional<std::string> advice_refusal(const device_profile& profile, mem_advice advice, location where);

/// @brief cudaMemAdvise on the managed range [p, p + bytes).
///
/// Advice steers migration, read duplication and mappings, which the driver performs only where
/// concurrentManagedAccess = 1 (CUDA requires it for advice naming a GPU, and read duplication never
/// happens for a GPU without it). So with concurrentManagedAccess = 0 (every Jetson before Thor)
/// every `set_*` advice is refused, and the `unset_*` advices do nothing, since nothing can have been
/// set (documented no-op: returns false). Elsewhere every advice is issued.
/// @param where the processor the advice is about; ignored by read-mostly and by
///              unset_preferred_location
/// @return true when cudaMemAdvise was issued, false for the documented no-op
/// @throws std::invalid_argument p is null with bytes > 0
/// @throws unsupported_error     the device cannot honour the advice (the message says why, as
///                               advice_refusal() does)
/// @throws cuda_error            the runtime refused the call
bool advise(const void* p, std::size_t bytes, mem_advice advice, location where = location::host(),
            const device_profile& profile = device_profile::current(), cuda_calls& calls = cuda_calls::runtime());

}  // namespace unimem
