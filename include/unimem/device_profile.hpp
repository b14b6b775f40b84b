/// @file device_profile.hpp
/// @brief What a GPU can do with memory, read at run time or built from constants.
///
/// Every policy decision in unimem takes a `device_profile`, so each decision can be unit-tested
/// against the Jetson boards without owning them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace unimem {

/// @brief Memory capabilities of one GPU.
struct device_profile {
  std::string name;           ///< e.g. "NVIDIA H200" or "Jetson AGX Orin 64GB (simulated)"
  int device = -1;            ///< CUDA ordinal; -1 for a simulated profile
  bool simulated = false;     ///< built from constants, not read from a device

  int cc_major = 0;           ///< compute capability, major
  int cc_minor = 0;           ///< compute capability, minor
  int multiprocessors = 0;

  bool integrated = false;                       ///< shares DRAM with the CPU (Jetson)
  bool can_map_host_memory = false;              ///< cudaHostAllocMapped works
  bool unified_addressing = false;               ///< host and device share one address space
  bool managed_memory = false;                   ///< cudaMallocManaged works
  bool concurrent_managed_access = false;        ///< CPU may touch managed memory while kernels run
  bool pageable_memory_access = false;           ///< kernels may read plain malloc'd memory
  bool pageable_memory_access_uses_host_page_tables = false;
  bool host_register_supported = false;          ///< cudaHostRegister works
  bool host_register_read_only_supported = false;///< cudaHostRegisterReadOnly works
  bool memory_pools_supported = false;           ///< cudaMallocAsync / cudaMemPool work

  std::size_t total_memory_bytes = 0;  ///< device memory; on Jetson the shared DRAM
  int memory_bus_width_bits = 0;
  int memory_clock_khz = 0;            ///< peak memory clock (the data rate is twice this)

  /// @brief Compute capability as one number, e.g. 87 for Orin.
  int compute_capability() const noexcept { return cc_major * 10 + cc_minor; }

  /// @brief CPU caches are coherent with GPU access to host memory: integrated and CC >= 7.2
  /// (Xavier and later). Below that (Nano, TX2) pinned memory is uncached on the CPU.
  bool io_coherent() const noexcept { return integrated && compute_capability() >= 72; }

  /// @brief Theoretical DRAM bandwidth: bus width in bytes x memory clock x 2 (double data rate).
  double peak_bandwidth_bytes_per_s() const noexcept {
    return static_cast<double>(memory_bus_width_bits) / 8.0 * static_cast<double>(memory_clock_khz) *
           1000.0 * 2.0;
  }

  /// @brief The profile of the current CUDA device (cached per device after the first read).
  /// @throws cuda_error when there is no usable CUDA device
  static device_profile current();
  /// @brief The profile of CUDA device `device`.
  /// @throws cuda_error when the device does not exist or the driver is missing
  static device_profile query(int device);

  // Simulated boards. The constants and their sources are in src/jetson_profiles.cpp.
  static device_profile jetson_nano();
  static device_profile jetson_tx2();
  static device_profile jetson_agx_xavier();
  static device_profile jetson_agx_orin();
  static device_profile jetson_orin_nx();
  static device_profile jetson_orin_nano();
  static device_profile jetson_thor();
  /// @brief An x86 server with a discrete H100 SXM (80 GB HBM3): the discrete-GPU reference.
  static device_profile discrete_h100();

  /// @brief Every simulated profile above, Jetsons first.
  static std::vector<device_profile> simulated_profiles();
};

/// @brief Number of CUDA devices, 0 when there is no device or no driver (never throws).
/// @param why when non-null and the answer is 0, receives the reason in words
int cuda_device_count(std::string* why = nullptr) noexcept;

}  // namespace unimem
