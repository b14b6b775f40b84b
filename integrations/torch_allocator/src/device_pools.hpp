// One unimem pool per CUDA device behind PyTorch's allocate/free calls: made on a device's first
// allocation, over the configured upstream and budget, with the device made current around every
// pool call and restored after. The CUDA calls it needs go through device_ops so that tests can
// run it on simulated devices.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include <unimem/adaptors/limiting_resource.hpp>
#include <unimem/adaptors/logging_resource.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/stream.hpp>

#include "config.hpp"

namespace unimem::torch_allocator {

/// The CUDA calls the allocator makes, replaceable for tests.
class device_ops {
 public:
  virtual ~device_ops() = default;
  /// @throws cuda_error
  virtual int current_device() = 0;
  /// @throws cuda_error
  virtual void set_device(int device) = 0;
  /// @brief The upstream for `device`, which is current during the call. `note` receives why
  /// this memory (for verbose output).
  /// @throws unsupported_error, cuda_error
  virtual std::unique_ptr<memory_resource> make_upstream(int device, std::string& note) = 0;
  /// @brief True when `e` is what CUDA reports once the process is tearing it down (the driver
  /// or the runtime unloading): a free that fails so is not worth a report.
  virtual bool shutting_down(const std::exception& e) const noexcept = 0;
};

/// Makes `device` current for a scope and restores the previous device after.
class device_guard {
 public:
  /// @throws cuda_error
  device_guard(device_ops& ops, int device);
  ~device_guard();
  device_guard(const device_guard&) = delete;
  device_guard& operator=(const device_guard&) = delete;

 private:
  device_ops& ops_;
  int previous_;
  bool switched_;
};

/// What statistics() reports for one device.
struct device_statistics {
  pool_statistics pool;
  std::size_t requested_bytes = 0;       ///< bytes PyTorch holds now (sizes it asked for)
  std::size_t peak_requested_bytes = 0;  ///< most ever held at once
  std::size_t allocations = 0;           ///< successful allocate calls
  std::size_t deallocations = 0;         ///< free calls that returned memory to the pool
  std::size_t failed_allocations = 0;    ///< allocate calls that threw (out of memory or a CUDA error)
  std::size_t failed_deallocations = 0;  ///< free calls that failed (reported to stderr)
  std::size_t budget_limit = 0;          ///< 0: no budget
  std::size_t budget_used = 0;
  std::size_t budget_peak = 0;
  memory_kind upstream_kind = memory_kind::device;
};

/// The per-device pools and what PyTorch's calls need around them. Thread-safe.
class device_pools {
 public:
  /// Devices 0 .. max_devices - 1; a larger ordinal is refused.
  static constexpr int max_devices = 64;

  /// @param role  what the pools serve, for error messages ("PyTorch's allocator")
  device_pools(config settings, std::unique_ptr<device_ops> ops, std::string role);
  /// Destroys the pools (tests only: the library's instance is never destroyed, so PyTorch may
  /// free into it at any point of process exit).
  ~device_pools();
  device_pools(const device_pools&) = delete;
  device_pools& operator=(const device_pools&) = delete;

  /// @brief `bytes` from `device`'s pool (made on first use), ordered on `stream`. 0 bytes: nullptr.
  /// @throws std::invalid_argument a device ordinal out of range
  /// @throws out_of_memory         the pool, its budget or upstream refused; the message names the
  ///                               role, the device and the budget
  /// @throws cuda_error, unsupported_error  making the device current or the upstream failed
  void* allocate(std::size_t bytes, int device, stream_view stream);

  /// @brief Returns memory from allocate(). Never throws: PyTorch frees from destructors. Once
  /// begin_exit() ran it does nothing (the process is ending and CUDA may be gone); a failure is
  /// counted and reported on stderr (the first few), unless CUDA is shutting down.
  void deallocate(void* p, std::size_t bytes, int device, stream_view stream) noexcept;

  /// @brief Counters of `device`. @return false (and `out` zeroed) when the device has no pool yet.
  /// @throws std::invalid_argument a device ordinal out of range
  bool statistics(int device, device_statistics& out) const;

  /// @brief Returns wholly free chunks of `device`'s pool (or of every pool for -1) to upstream.
  /// @return bytes returned
  std::size_t release(int device);

  /// @brief From now on frees do nothing, and traces (UNIMEM_TORCH_TRACE) are closed, their
  /// write errors reported on stderr: called from the library's atexit handler.
  void begin_exit() noexcept;
  bool exiting() const noexcept { return exiting_.load(std::memory_order_acquire); }

  /// @brief The traits of `device`'s pool (made if it does not exist yet).
  /// @throws as allocate
  resource_traits traits(int device);

  const config& settings() const noexcept { return settings_; }
  device_ops& ops() noexcept { return *ops_; }
  /// @brief Frees skipped because they came after begin_exit().
  std::size_t frees_skipped_at_exit() const noexcept { return skipped_at_exit_.load(std::memory_order_relaxed); }

 private:
  struct pool_slot;

  static void check_device(int device, const char* call);
  pool_slot& slot_for(int device);  // `device` must be current
  void report_failed_free(void* p, std::size_t bytes, int device, const char* what) noexcept;

  config settings_;
  std::unique_ptr<device_ops> ops_;
  std::string role_;
  std::array<std::atomic<pool_slot*>, max_devices> slots_{};
  std::mutex create_mutex_;
  std::atomic<bool> exiting_{false};
  std::atomic<std::size_t> skipped_at_exit_{0};
  std::atomic<int> reports_left_{8};
};

}  // namespace unimem::torch_allocator
