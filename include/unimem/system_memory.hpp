/// @file system_memory.hpp
/// @brief Host memory as the kernel reports it. On Jetson this is the memory the GPU shares, and
/// the right source for budgets: cudaMemGetInfo there ignores page cache and swap.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <unimem/device_profile.hpp>

namespace unimem {

/// @brief Fields of /proc/meminfo, in bytes.
struct meminfo {
  std::size_t mem_total = 0;
  std::size_t mem_available = 0;
  std::size_t swap_total = 0;
  std::size_t swap_free = 0;
  std::size_t mem_free = 0;
  /// @brief NvMapMemUsed: memory the Tegra NvMap allocator has handed out (CUDA, camera, video
  /// buffers). Present on Jetson kernels only; readable without root, unlike the debugfs table.
  std::optional<std::size_t> nvmap_used;
};

/// @brief Parses the text of /proc/meminfo (lines like "MemAvailable:  123456 kB"). Numbers are
/// read strictly (digits only: "-5 kB" is refused, not wrapped) and must fit in 64 bits once
/// multiplied to bytes. A part larger than its whole (MemAvailable or MemFree above MemTotal,
/// SwapFree above SwapTotal, NvMapMemUsed above MemTotal) is lowered to the whole, so used = total
/// - available never wraps.
/// @throws std::runtime_error when MemTotal or MemAvailable is missing, or a field it reads is
///         malformed or too large, naming the line
meminfo parse_meminfo(const std::string& text);

/// @brief Reads /proc/meminfo (or `path`, for tests): a regular file of at most 4 MiB, opened
/// without blocking (a FIFO is refused, not waited on).
/// @return std::nullopt when the file does not exist or cannot be opened (not Linux)
/// @throws std::runtime_error as parse_meminfo, or for a path that is not a regular file or is
///         too large
std::optional<meminfo> read_meminfo(const std::string& path = "/proc/meminfo");

/// @brief One client line of the Tegra NvMap iovmm accounting.
struct nvmap_client {
  std::string client;   ///< NvMap's client name, e.g. "user"
  std::string process;  ///< the task's command name ("kernel" for kernel clients)
  int pid = 0;
  std::size_t bytes = 0;
};

/// @brief What NvMap (the Tegra kernel allocator behind every CUDA, camera and video buffer on a
/// Jetson) has handed out. Clients that share a buffer each count it in full, so the sum of the
/// clients can exceed `total_bytes`, which counts every page once.
struct nvmap_usage {
  std::vector<nvmap_client> clients;
  std::size_t total_bytes = 0;
};

/// @brief Default location of the NvMap iovmm client table (debugfs; readable by root).
inline constexpr const char* nvmap_clients_path = "/sys/kernel/debug/nvmap/iovmm/clients";

/// @brief Parses the text of /sys/kernel/debug/nvmap/iovmm/clients: a header
/// "CLIENT PROCESS PID SIZE", one line per client ("user  my_app  4242  123456K"), a "total" line
/// and a trailing note.
/// @throws std::runtime_error when the header or the total line is missing or a client line is
///         malformed (a size that is not digits, or too large for 64 bits in bytes; a pid that is
///         not a non-negative int), naming the line
nvmap_usage parse_nvmap_clients(const std::string& text);

/// @brief Reads the NvMap client table (a regular file of at most 4 MiB, opened without blocking).
/// @return std::nullopt when the file cannot be opened: not a Tegra kernel, debugfs not mounted,
///         or not root
/// @throws std::runtime_error as parse_nvmap_clients, or for a path that is not a regular file or
///         is too large
std::optional<nvmap_usage> read_nvmap_usage(const std::string& path = nvmap_clients_path);

/// @brief cudaMemGetInfo of one device.
struct device_memory {
  int device = 0;
  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
};

/// @brief cudaMemGetInfo for `profile.device`, where it means something.
///
/// On an integrated GPU the numbers ignore the page cache and swap the kernel can reclaim, so they
/// are not a budget; use /proc/meminfo there (integrated_budget). Creates the device's primary
/// context if it does not exist yet.
/// @return std::nullopt for an integrated or simulated profile
/// @throws cuda_error when the device cannot be queried
std::optional<device_memory> query_device_memory(const device_profile& profile);

/// @brief Budget on an integrated device from /proc/meminfo: (available - reserve_bytes) x
/// (1 - headroom), never below 0.
///
/// `available` is MemAvailable: free memory plus the page cache the kernel can drop, which is
/// what cudaMalloc can get without making anything else slower. With `count_swap`, host pages
/// that can be swapped out count too, as NVIDIA's "CUDA for Tegra" note estimates allocatable
/// device memory: MemAvailable + SwapFree, at most MemTotal - NvMapMemUsed. That is the most
/// CUDA can get, at the price of swapping other processes out.
/// @throws std::invalid_argument when headroom is not in [0, 1)
std::size_t integrated_budget(const meminfo& m, double headroom = 0.2, std::size_t reserve_bytes = 0,
                              bool count_swap = false);

/// @brief Budget for allocations on `profile`'s device, read now: integrated_budget() of
/// /proc/meminfo on an integrated GPU, free device memory x (1 - headroom) on a discrete one.
/// @throws std::invalid_argument when headroom is not in [0, 1)
/// @throws unsupported_error for a simulated profile (there is no board to read; call
///         integrated_budget() with the board's meminfo instead) or when /proc/meminfo cannot be
///         read
/// @throws cuda_error when the device cannot be queried
std::size_t device_budget(const device_profile& profile, double headroom = 0.2);

}  // namespace unimem
