#include <unimem/pcie.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>

#include <cuda_runtime_api.h>

namespace unimem {
namespace {

// sysfs prints speeds as "32.0 GT/s PCIe" (newer kernels) or "8 GT/s" (older ones); the leading
// number is all that matters. Some platforms print "Unknown" for a link that is down.
template <class T>
bool read_leading_number(const std::string& path, T& value) {
  std::ifstream in(path);
  return static_cast<bool>(in >> value);
}

}  // namespace

double pcie_peak_bytes_per_s(double gt_per_s, int lanes) noexcept {
  if (!(gt_per_s > 0) || lanes <= 0) return 0;
  const double encoding = gt_per_s <= 5.0 ? 8.0 / 10.0 : 128.0 / 130.0;
  return gt_per_s * 1e9 * lanes * encoding / 8.0;
}

double pcie_link::peak_bytes_per_s() const noexcept { return pcie_peak_bytes_per_s(speed_gt_per_s, width); }

std::optional<pcie_link> read_pcie_link(const std::string& sysfs_device_dir) {
  std::string dir = sysfs_device_dir;
  if (!dir.empty() && dir.back() != '/') dir += '/';
  pcie_link link;
  if (!read_leading_number(dir + "current_link_speed", link.speed_gt_per_s) ||
      !read_leading_number(dir + "current_link_width", link.width) || link.speed_gt_per_s <= 0 || link.width <= 0) {
    return std::nullopt;
  }
  if (!read_leading_number(dir + "max_link_speed", link.max_speed_gt_per_s)) link.max_speed_gt_per_s = 0;
  if (!read_leading_number(dir + "max_link_width", link.max_width)) link.max_width = 0;
  return link;
}

std::optional<pcie_link> pcie_link_of_device(int device) noexcept {
  try {
    char bus_id[32] = {};
    if (cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), device) != cudaSuccess) {
      cudaGetLastError();
      return std::nullopt;
    }
    std::string id(bus_id);
    std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // CUDA prints an 8-digit domain ("00000000:3b:00.0"); sysfs uses 4.
    if (id.size() > 12 && id.find(':') == 8) id = id.substr(4);
    return read_pcie_link("/sys/bus/pci/devices/" + id);
  } catch (...) {  // std::bad_alloc from the strings: report "unknown" rather than throw
    return std::nullopt;
  }
}

std::optional<double> pcie_peak_bytes_per_s(int device) noexcept {
  const auto link = pcie_link_of_device(device);
  if (!link) return std::nullopt;
  return link->peak_bytes_per_s();
}

}  // namespace unimem
