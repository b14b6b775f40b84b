/// @file virtual_memory.hpp
/// @brief One reserved range of virtual addresses with memory mapped on demand (CUDA virtual
/// memory management on a GPU, mmap on the host), and the per-device policy of when to use it.
///
/// A pool grows such a range in place instead of taking a new chunk from upstream, so its free
/// space is never split across chunks, and gives the top back without returning the range. On
/// Jetson the pool does not use it: see decide_virtual_memory().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <unimem/device_profile.hpp>
#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief A reserved range of virtual addresses whose memory is mapped from the bottom up.
///
/// Not thread-safe: its owner (a pool) serialises the calls.
class virtual_range {
 public:
  virtual ~virtual_range() = default;
  /// @brief First address of the range.
  virtual std::uintptr_t base() const noexcept = 0;
  /// @brief Bytes reserved: the most that can ever be mapped.
  virtual std::size_t capacity() const noexcept = 0;
  /// @brief The mapping unit; resize() takes multiples of it.
  virtual std::size_t granularity() const noexcept = 0;
  /// @brief Bytes mapped now, from base().
  virtual std::size_t mapped() const noexcept = 0;
  /// @brief Maps at the top until `bytes` are mapped, or unmaps at the top down to `bytes` (a
  /// range that unmaps whole earlier growths only may stay above it: mapped() says).
  /// @param bytes a multiple of granularity(), at most capacity()
  /// @throws out_of_memory when memory or the reservation runs out (nothing changes then)
  /// @throws std::invalid_argument for a size that is not a multiple of granularity()
  virtual void resize(std::size_t bytes) = 0;
  /// @brief Who may access the mapped memory.
  virtual resource_traits traits() const noexcept = 0;
};

/// @brief Whether a pool over device memory on this device grows one virtual range in place.
struct virtual_memory_decision {
  bool use = false;
  std::size_t reservation_bytes = 0;  ///< the cap on the range to reserve (when `use`)
  std::string reason;                 ///< why, in words
};

/// @brief The policy, per device profile (so it is tested on every simulated board): on a
/// discrete GPU a pool reserves one range of at most the device's memory and maps pages on
/// demand; on an integrated GPU (Jetson) it grows by chunks instead — Tegra refuses large virtual
/// reservations (reported on Orin) and PyTorch disables its expandable segments on Jetson.
virtual_memory_decision decide_virtual_memory(const device_profile& profile);

/// @brief What the driver of one device does, measured (unimem-probe reports it).
struct virtual_memory_support {
  bool supported = false;          ///< CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED
  std::size_t granularity = 0;     ///< cuMemGetAllocationGranularity, minimum
  std::size_t reserved_bytes = 0;  ///< the largest cuMemAddressReserve that worked (cap, then halves)
  bool mapped = false;             ///< one granule created, mapped and given read-write access
  std::string detail;              ///< what failed, when something did
};

/// @brief Tries cuMemAddressReserve from `reservation_cap` down by halves (to 1 GiB or one
/// granule), then cuMemCreate / cuMemMap / cuMemSetAccess of one granule, and undoes all of it.
/// Never throws: a missing driver or device is reported in `detail`.
virtual_memory_support probe_virtual_memory(int device, std::size_t reservation_cap) noexcept;

/// @brief A range of device memory on `device` (CUDA virtual memory management, through the
/// driver's entry points: libcuda is not linked). Reserves `reservation` bytes, or the largest
/// power-of-two fraction of it that the driver grants (at least 1 GiB or one granule).
/// @throws cuda_error when the device does not support it or nothing can be reserved
std::unique_ptr<virtual_range> make_device_virtual_range(int device, std::size_t reservation);

/// @brief A range of pageable host memory (mmap with no access, made readable and writable as
/// it grows; what shrinks is given back to the kernel). For host pools and for testing the
/// pool's in-place growth without a GPU.
/// @param granularity mapping unit, a multiple of the page size (0: the page size)
/// @throws std::system_error when the reservation fails
std::unique_ptr<virtual_range> make_host_virtual_range(std::size_t reservation, std::size_t granularity = 0);

}  // namespace unimem
