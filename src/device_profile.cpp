#include <unimem/device_profile.hpp>

#include <array>
#include <mutex>
#include <optional>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "detail/cuda_check.hpp"

namespace unimem {
namespace {

int attribute(cudaDeviceAttr attr, int device, const char* attr_name) {
  int value = 0;
  const cudaError_t err = cudaDeviceGetAttribute(&value, attr, device);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, fmt::format("cudaDeviceGetAttribute({}, device {})", attr_name, device));
  }
  return value;
}

}  // namespace

int cuda_device_count(std::string* why) noexcept {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (why != nullptr) {
      *why = fmt::format("cudaGetDeviceCount failed: {} ({})", cudaGetErrorName(err), cudaGetErrorString(err));
    }
    return 0;
  }
  if (count == 0 && why != nullptr) *why = "cudaGetDeviceCount reports 0 devices";
  return count;
}

device_profile device_profile::query(int device) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, "cudaGetDeviceCount",
                             "no usable CUDA device or driver; host_resource works without one");
  }
  if (device < 0 || device >= count) {
    detail::throw_cuda_error(cudaErrorInvalidDevice, fmt::format("device_profile::query({})", device),
                             fmt::format("there are {} CUDA devices; pass 0..{}", count, count - 1));
  }

  device_profile p;
  p.device = device;
  char name[256] = {};
  // cudaDeviceProp changes layout between CUDA 12 and 13; read only the name through it and
  // everything else through attributes, which are stable.
  cudaDeviceProp prop{};
  detail::check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  fmt::format_to_n(name, sizeof(name) - 1, "{}", prop.name);
  p.name = name;
  p.total_memory_bytes = prop.totalGlobalMem;

#define UNIMEM_ATTR(a) attribute(a, device, #a)
  p.cc_major = UNIMEM_ATTR(cudaDevAttrComputeCapabilityMajor);
  p.cc_minor = UNIMEM_ATTR(cudaDevAttrComputeCapabilityMinor);
  p.multiprocessors = UNIMEM_ATTR(cudaDevAttrMultiProcessorCount);
  p.integrated = UNIMEM_ATTR(cudaDevAttrIntegrated) != 0;
  p.can_map_host_memory = UNIMEM_ATTR(cudaDevAttrCanMapHostMemory) != 0;
  p.unified_addressing = UNIMEM_ATTR(cudaDevAttrUnifiedAddressing) != 0;
  p.managed_memory = UNIMEM_ATTR(cudaDevAttrManagedMemory) != 0;
  p.concurrent_managed_access = UNIMEM_ATTR(cudaDevAttrConcurrentManagedAccess) != 0;
  p.pageable_memory_access = UNIMEM_ATTR(cudaDevAttrPageableMemoryAccess) != 0;
  p.pageable_memory_access_uses_host_page_tables =
      UNIMEM_ATTR(cudaDevAttrPageableMemoryAccessUsesHostPageTables) != 0;
  p.host_register_supported = UNIMEM_ATTR(cudaDevAttrHostRegisterSupported) != 0;
  p.host_register_read_only_supported = UNIMEM_ATTR(cudaDevAttrHostRegisterReadOnlySupported) != 0;
  p.memory_pools_supported = UNIMEM_ATTR(cudaDevAttrMemoryPoolsSupported) != 0;
  p.memory_bus_width_bits = UNIMEM_ATTR(cudaDevAttrGlobalMemoryBusWidth);
  p.memory_clock_khz = UNIMEM_ATTR(cudaDevAttrMemoryClockRate);
#undef UNIMEM_ATTR
  return p;
}

device_profile device_profile::current() {
  int device = 0;
  const cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, "cudaGetDevice",
                             "no usable CUDA device or driver; host_resource works without one");
  }
  // Attributes never change while the process runs; reading ~15 of them per resource construction
  // would cost tens of microseconds, so remember each device's profile.
  static std::mutex mutex;
  static std::array<std::optional<device_profile>, 64> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (device >= 0 && static_cast<std::size_t>(device) < cache.size()) {
    auto& slot = cache[static_cast<std::size_t>(device)];
    if (!slot) slot = query(device);
    return *slot;
  }
  return query(device);
}

std::vector<device_profile> device_profile::simulated_profiles() {
  return {jetson_nano(),     jetson_tx2(),      jetson_agx_xavier(), jetson_agx_orin(),
          jetson_orin_nx(),  jetson_orin_nano(), jetson_thor(),       discrete_h100()};
}

}  // namespace unimem
