// unimem-probe internals: what it measures and how it prints it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <unimem/device_profile.hpp>
#include <unimem/pcie.hpp>
#include <unimem/resources/virtual_memory.hpp>
#include <unimem/system_memory.hpp>

namespace unimem::probe {

/// Facts about the host that matter for pinned and shared memory.
struct host_facts {
  std::optional<meminfo> memory;
  long page_size = 0;
  long cpus = 0;
  std::string memlock_limit;  ///< "unlimited" or bytes; pinned allocations count against it
};
host_facts read_host_facts();

/// One row of the measurement table.
struct measurement {
  std::string name;    ///< e.g. "H2D pinned"
  double value = 0;    ///< GB/s or microseconds
  std::string unit;    ///< "GB/s" or "us"
  std::optional<double> fraction_of_peak;  ///< of the peak named in `peak_name`
  std::string peak_name;                   ///< "DRAM" or "PCIe" when a fraction is given
  std::string note;    ///< e.g. "skipped: hostRegisterSupported = 0"
};

/// Runs the quick measurement table on the current device (a few seconds).
std::vector<measurement> measure(const device_profile& profile);

struct report {
  bool has_gpu = false;
  std::string no_gpu_reason;
  host_facts host;
  int cuda_runtime_version = 0;  ///< cudaRuntimeGetVersion, e.g. 13000; known without a GPU
  int cuda_driver_version = 0;   ///< cudaDriverGetVersion; 0 without a driver
  std::optional<device_profile> profile;
  std::optional<pcie_link> pcie;  ///< the host link of a discrete GPU, read after the measurements
  std::vector<measurement> measurements;
  /// What the driver did when asked for a virtual range (real devices only; see
  /// decide_virtual_memory for the policy, which is printed for simulated boards too).
  std::optional<virtual_memory_support> virtual_memory;
};

std::string to_text(const report& r);
std::string to_json(const report& r);

}  // namespace unimem::probe
