/// @file copy.hpp
/// @brief The cheapest correct transfer between two buffers, given what each one is.
///
/// On an integrated GPU (every Jetson) the CPU and the GPU read the same DRAM, so the staging
/// copies that discrete-GPU code makes (pinned -> device before a kernel, device -> pinned after)
/// are pure waste when the source is memory both sides can address: mapped, managed, registered or
/// (with unified addressing) pinned memory. copy() then copies nothing and hands back the source
/// pointer for the reader to use. Elsewhere it queues cudaMemcpyAsync on the stream, and says so
/// loudly when one side is pageable memory: such a copy is synchronous and several times slower
/// (7 GB/s against 55 GB/s from pinned memory, measured on an H200).
#pragma once

#include <cstddef>
#include <string_view>

#include <unimem/movement/cuda_calls.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/stream.hpp>

namespace unimem {

/// @brief The processor that reads the data after the transfer.
enum class side {
  host,    ///< the CPU
  device,  ///< kernels
};

std::string_view to_string(side s) noexcept;

/// @brief How copy() moved (or did not move) the bytes.
enum class copy_method {
  none,      ///< nothing copied: the reader reads the source in place (or 0 bytes)
  async,     ///< cudaMemcpyAsync on the stream between page-locked, device or managed memory
  pageable,  ///< cudaMemcpyAsync with a pageable side: staged by the driver, synchronous with the
             ///< host and several times slower; allocate that side from pinned_resource
  host,      ///< std::memcpy: both sides are pageable host memory that no kernel can touch
};

std::string_view to_string(copy_method m) noexcept;

/// @brief Where the bytes come from.
struct source {
  const void* ptr = nullptr;
  resource_traits traits{};
};

/// @brief Where the bytes should go, and who reads them there.
struct destination {
  void* ptr = nullptr;  ///< may be null when plan_copy() says the copy is elided
  resource_traits traits{};
  side reader = side::device;
};

/// @brief The decision, without the pointers.
struct copy_plan {
  copy_method method = copy_method::none;
  std::string_view reason;  ///< one line, naming the trait that decided it (a string literal)
};

/// @brief What copy() did.
struct [[nodiscard]] copy_report {
  copy_method method = copy_method::none;
  /// Where the reader finds the bytes: the destination, or the source when the copy was elided.
  /// For the device reader this is the pointer to pass to kernels.
  const void* data = nullptr;
  std::size_t bytes = 0;
  /// True when the call blocked the calling thread until the copy was staged or done (pageable).
  bool synchronous = false;
  std::string_view reason;
};

/// @brief Decides how to move data from memory with traits `src` into memory with traits `dst`
/// for `reader` on `profile`. Issues nothing.
/// @throws std::invalid_argument the reader cannot access `dst` (e.g. kernels and pageable memory)
copy_plan plan_copy(const resource_traits& src, const resource_traits& dst, side reader, const device_profile& profile);

/// @brief Makes `bytes` from `src` available to `dst.reader`, the cheapest correct way:
/// - elided on an integrated GPU when the copy would only cross between host and device memory
///   and the reader can address the source in place (mapped, managed, registered, pinned): the
///   report's `data` is then `src.ptr` and `dst` is left untouched;
/// - std::memcpy between two pageable host buffers;
/// - otherwise cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream), reported as `pageable`
///   and `synchronous` when either side is pageable host memory.
/// The caller still synchronizes `stream` (or records an event) before the reader uses the data,
/// exactly as after any cudaMemcpyAsync; an elided copy needs the same ordering for the writes
/// that produced the source.
/// @throws std::invalid_argument a null pointer with bytes > 0 (dst may be null when elided), a
///                               reader that cannot access dst, or overlapping ranges
/// @throws cuda_error            the copy failed
copy_report copy(const destination& dst, const source& src, std::size_t bytes, stream_view stream = {},
                 const device_profile& profile = device_profile::current(), cuda_calls& calls = cuda_calls::runtime());

}  // namespace unimem
