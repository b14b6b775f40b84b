/// @file pcie.hpp
/// @brief The PCIe link between the host and a discrete GPU, read from sysfs, and its theoretical
/// peak: what copies between host and device memory are measured against (an integrated GPU has
/// no such link; its copies stay in DRAM, see device_profile::peak_bandwidth_bytes_per_s).
#pragma once

#include <optional>
#include <string>

namespace unimem {

/// @brief Speed and width of one PCIe link.
struct pcie_link {
  double speed_gt_per_s = 0;      ///< current speed per lane, GT/s (2.5, 5, 8, 16, 32, 64)
  int width = 0;                  ///< current number of lanes
  double max_speed_gt_per_s = 0;  ///< what the device supports; 0 when sysfs does not say
  int max_width = 0;              ///< what the device supports; 0 when sysfs does not say

  /// @brief Theoretical one-direction peak of the current link, bytes/s.
  double peak_bytes_per_s() const noexcept;
  /// @brief True when the link runs below what the device supports: GPUs lower the link speed
  /// when idle, so a reading taken before any transfer can understate the peak.
  bool downgraded() const noexcept {
    return (max_speed_gt_per_s > 0 && speed_gt_per_s < max_speed_gt_per_s) || (max_width > 0 && width < max_width);
  }
};

/// @brief One-direction peak of a PCIe link of `lanes` lanes at `gt_per_s`, in bytes/s: PCIe 1 and
/// 2 (2.5 and 5 GT/s) use 8b/10b encoding, 3.0 and later 128b/130b (PCIe 6's FLIT overhead is not
/// modelled). Returns 0 for a non-positive speed or width.
double pcie_peak_bytes_per_s(double gt_per_s, int lanes) noexcept;

/// @brief Reads current_link_speed, current_link_width, max_link_speed and max_link_width from a
/// PCI device's sysfs folder (e.g. "/sys/bus/pci/devices/0000:3b:00.0").
/// @return std::nullopt when the current speed or width cannot be read
std::optional<pcie_link> read_pcie_link(const std::string& sysfs_device_dir);

/// @brief The link of CUDA device `device`, found through cudaDeviceGetPCIBusId and sysfs.
/// @return std::nullopt without a driver, for an integrated GPU (no PCI bus id), or where the
///         platform does not expose the link in sysfs; never throws
std::optional<pcie_link> pcie_link_of_device(int device) noexcept;

/// @brief Peak of CUDA device `device`'s current PCIe link in bytes/s, when it can be read.
std::optional<double> pcie_peak_bytes_per_s(int device) noexcept;

}  // namespace unimem
