#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <string>

#include <cuda_runtime_api.h>

#include "probe.hpp"

namespace unimem::probe {

host_facts read_host_facts() {
  host_facts f;
  try {
    f.memory = read_meminfo();
  } catch (const std::exception&) {
    f.memory.reset();
  }
  f.page_size = ::sysconf(_SC_PAGESIZE);
  f.cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  rlimit lim{};
  if (::getrlimit(RLIMIT_MEMLOCK, &lim) == 0) {
    f.memlock_limit = lim.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(lim.rlim_cur);
  }
  return f;
}

std::optional<double> pcie_peak_bytes_per_s(int device) {
  char bus_id[32] = {};
  if (cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), device) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  std::string id(bus_id);
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });
  // CUDA prints an 8-digit domain ("00000000:3b:00.0"); sysfs uses 4.
  if (id.size() > 12 && id.find(':') == 8) id = id.substr(4);
  const std::string dir = "/sys/bus/pci/devices/" + id + "/";
  std::ifstream speed_file(dir + "current_link_speed"), width_file(dir + "current_link_width");
  double gts = 0;
  int width = 0;
  if (!(speed_file >> gts) || !(width_file >> width) || gts <= 0 || width <= 0) return std::nullopt;
  // PCIe 1/2 (2.5, 5 GT/s) use 8b/10b encoding, 3.0 and later 128b/130b.
  const double encoding = gts <= 5.0 ? 8.0 / 10.0 : 128.0 / 130.0;
  return gts * 1e9 * width * encoding / 8.0;
}

}  // namespace unimem::probe
