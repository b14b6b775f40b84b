// The device virtual range: CUDA virtual memory management (cuMemAddressReserve, cuMemCreate,
// cuMemMap, cuMemSetAccess) through the driver's entry points, so libcuda is not linked.
#include <unimem/resources/virtual_memory.hpp>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include <cuda.h>  // types and enumerators only
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/driver_entry.hpp"
#include "resources/virtual_range_base.hpp"

namespace unimem {
namespace {

struct vmm_api {
  decltype(&::cuDeviceGet) device_get = nullptr;
  decltype(&::cuDeviceGetAttribute) device_get_attribute = nullptr;
  decltype(&::cuMemGetAllocationGranularity) granularity = nullptr;
  decltype(&::cuMemAddressReserve) address_reserve = nullptr;
  decltype(&::cuMemAddressFree) address_free = nullptr;
  decltype(&::cuMemCreate) create = nullptr;
  decltype(&::cuMemRelease) release = nullptr;
  decltype(&::cuMemMap) map = nullptr;
  decltype(&::cuMemUnmap) unmap = nullptr;
  decltype(&::cuMemSetAccess) set_access = nullptr;
  std::string missing;  // why a symbol could not be found
};

const vmm_api& vmm() {
  static const vmm_api api = [] {
    vmm_api a;
    detail::load_driver_function(a.device_get, "cuDeviceGet", a.missing);
    detail::load_driver_function(a.device_get_attribute, "cuDeviceGetAttribute", a.missing);
    detail::load_driver_function(a.granularity, "cuMemGetAllocationGranularity", a.missing);
    detail::load_driver_function(a.address_reserve, "cuMemAddressReserve", a.missing);
    detail::load_driver_function(a.address_free, "cuMemAddressFree", a.missing);
    detail::load_driver_function(a.create, "cuMemCreate", a.missing);
    detail::load_driver_function(a.release, "cuMemRelease", a.missing);
    detail::load_driver_function(a.map, "cuMemMap", a.missing);
    detail::load_driver_function(a.unmap, "cuMemUnmap", a.missing);
    detail::load_driver_function(a.set_access, "cuMemSetAccess", a.missing);
    return a;
  }();
  return api;
}

constexpr std::size_t min_reservation = std::size_t{1} << 30;

CUmemAllocationProp device_memory(int device) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  return prop;
}

/// The driver supports the calls on `device`, and their granularity; throws otherwise.
std::size_t checked_granularity(int device, const char* who) {
  const vmm_api& api = vmm();
  if (!api.missing.empty()) {
    throw cuda_error(fmt::format("{}: driver entry points", who), 801,
                     fmt::format("the driver lacks {}; update the driver", api.missing));
  }
  detail::ensure_cuda_context(who);
  CUdevice dev = 0;
  CUresult r = api.device_get(&dev, device);
  if (r != CUDA_SUCCESS) detail::throw_driver_error(r, fmt::format("{}: cuDeviceGet({})", who, device));
  int supported = 0;
  r = api.device_get_attribute(&supported, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev);
  if (r != CUDA_SUCCESS || supported == 0) {
    throw cuda_error(fmt::format("{}: CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED of device {} is 0", who,
                                 device),
                     801, "this device or driver has no virtual memory management; pools grow by chunks");
  }
  const CUmemAllocationProp prop = device_memory(device);
  std::size_t g = 0;
  r = api.granularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  if (r != CUDA_SUCCESS || g == 0) detail::throw_driver_error(r, fmt::format("{}: cuMemGetAllocationGranularity", who));
  return g;
}

/// Reserves `want` bytes, or halves of it down to max(1 GiB, one granule); returns 0 if none.
std::size_t reserve_largest(std::size_t want, std::size_t granularity, CUdeviceptr& out, std::string& why) {
  const vmm_api& api = vmm();
  std::size_t size = (want + granularity - 1) / granularity * granularity;
  const std::size_t floor = std::max(min_reservation, granularity);
  for (;;) {
    const CUresult r = api.address_reserve(&out, size, 0, 0, 0);
    if (r == CUDA_SUCCESS) return size;
    why = fmt::format("cuMemAddressReserve({} B) failed [{}]", size, detail::driver_error_name(r));
    if (size <= floor) return 0;
    size = std::max(floor, (size / 2 + granularity - 1) / granularity * granularity);
  }
}

class device_range final : public detail::virtual_range_base {
 public:
  device_range(int device, std::size_t reservation) : device_(device) {
    const char* who = "unimem::make_device_virtual_range";
    granularity_ = checked_granularity(device, who);
    std::string why;
    CUdeviceptr base = 0;
    capacity_ = reserve_largest(reservation, granularity_, base, why);
    base_ = static_cast<std::uintptr_t>(base);
    if (capacity_ == 0) {
      throw cuda_error(fmt::format("{}({}, {} B): {}", who, device, reservation, why), 2,
                       "the driver refused every reservation down to 1 GiB; pools grow by chunks");
    }
  }

  ~device_range() override {
    const vmm_api& api = vmm();
    while (!pieces_.empty()) {
      api.unmap(dptr() + pieces_.back().offset, pieces_.back().size);
      api.release(pieces_.back().handle);
      pieces_.pop_back();
    }
    api.address_free(dptr(), capacity_);
  }

  resource_traits traits() const noexcept override { return {memory_kind::device, false, true, false}; }

  /// Grows by one piece of physical memory; shrinks by whole pieces (the driver unmaps whole
  /// mappings), so after a shrink mapped() may stay above `bytes` by less than the last piece.
  void resize(std::size_t bytes) override {
    check_resize(bytes, "unimem device virtual range");
    const vmm_api& api = vmm();
    if (bytes > mapped_) {
      grow(bytes - mapped_);
      return;
    }
    while (!pieces_.empty() && pieces_.back().offset >= bytes) {
      const piece p = pieces_.back();
      CUresult r = api.unmap(dptr() + p.offset, p.size);
      if (r != CUDA_SUCCESS) detail::throw_driver_error(r, fmt::format("cuMemUnmap({} B)", p.size));
      api.release(p.handle);
      pieces_.pop_back();
      mapped_ = p.offset;
    }
  }

 private:
  struct piece {
    std::size_t offset;
    std::size_t size;
    CUmemGenericAllocationHandle handle;
  };

  void grow(std::size_t size) {
    const vmm_api& api = vmm();
    const CUmemAllocationProp prop = device_memory(device_);
    CUmemGenericAllocationHandle h{};
    CUresult r = api.create(&h, size, &prop, 0);
    if (r == CUDA_ERROR_OUT_OF_MEMORY) {
      throw out_of_memory(size, "unimem device virtual range",
                          fmt::format("cuMemCreate({}) on device {} found no memory; free device memory or "
                                      "lower the pool's maximum_size",
                                      detail::format_bytes(size), device_));
    }
    if (r != CUDA_SUCCESS) detail::throw_driver_error(r, fmt::format("cuMemCreate({} B, device {})", size, device_));
    r = api.map(dptr() + mapped_, size, 0, h, 0);
    if (r != CUDA_SUCCESS) {
      api.release(h);
      detail::throw_driver_error(r, fmt::format("cuMemMap({} B at offset {})", size, mapped_));
    }
    CUmemAccessDesc access{};
    access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    access.location.id = device_;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    r = api.set_access(dptr() + mapped_, size, &access, 1);
    if (r != CUDA_SUCCESS) {
      api.unmap(dptr() + mapped_, size);
      api.release(h);
      detail::throw_driver_error(r, fmt::format("cuMemSetAccess({} B, device {}, read-write)", size, device_));
    }
    pieces_.push_back(piece{mapped_, size, h});
    mapped_ += size;
  }

  CUdeviceptr dptr() const noexcept { return static_cast<CUdeviceptr>(base_); }

  int device_;
  std::vector<piece> pieces_;
};

}  // namespace

std::unique_ptr<virtual_range> make_device_virtual_range(int device, std::size_t reservation) {
  return std::make_unique<device_range>(device, reservation);
}

virtual_memory_support probe_virtual_memory(int device, std::size_t reservation_cap) noexcept {
  virtual_memory_support s;
  try {
    s.granularity = checked_granularity(device, "unimem::probe_virtual_memory");
    s.supported = true;
    const vmm_api& api = vmm();
    CUdeviceptr base = 0;
    s.reserved_bytes = reserve_largest(reservation_cap, s.granularity, base, s.detail);
    if (s.reserved_bytes == 0) return s;
    s.detail.clear();
    const CUmemAllocationProp prop = device_memory(device);
    CUmemGenericAllocationHandle h{};
    CUresult r = api.create(&h, s.granularity, &prop, 0);
    if (r == CUDA_SUCCESS) {
      r = api.map(base, s.granularity, 0, h, 0);
      if (r == CUDA_SUCCESS) {
        CUmemAccessDesc access{};
        access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        access.location.id = device;
        access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
        r = api.set_access(base, s.granularity, &access, 1);
        s.mapped = r == CUDA_SUCCESS;
        if (!s.mapped) s.detail = fmt::format("cuMemSetAccess failed [{}]", detail::driver_error_name(r));
        api.unmap(base, s.granularity);
      } else {
        s.detail = fmt::format("cuMemMap failed [{}]", detail::driver_error_name(r));
      }
      api.release(h);
    } else {
      s.detail = fmt::format("cuMemCreate({} B) failed [{}]", s.granularity, detail::driver_error_name(r));
    }
    api.address_free(base, s.reserved_bytes);
  } catch (const std::exception& e) {
    s.detail = e.what();
  }
  return s;
}

}  // namespace unimem
