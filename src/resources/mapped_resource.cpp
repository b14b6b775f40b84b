#include <unimem/resources/mapped_resource.hpp>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "resources/host_alloc.hpp"

namespace unimem {

mapped_resource::mapped_resource(bool write_combined, const device_profile& profile)
    : natively_aligned_resource(default_alignment),
      write_combined_(write_combined),
      unified_addressing_(profile.unified_addressing) {
  if (!profile.can_map_host_memory) {
    throw unsupported_error(fmt::format(
        "unimem::mapped_resource: {} reports canMapHostMemory = 0, so kernels cannot read host memory "
        "in place; use unimem::pinned_resource staging and copy into unimem::device_resource",
        profile.name));
  }
}

void* mapped_resource::allocate_native(std::size_t bytes, stream_view) {
  unsigned flags = cudaHostAllocMapped | cudaHostAllocPortable;
  if (write_combined_) flags |= cudaHostAllocWriteCombined;
  return detail::host_alloc(bytes, flags, "unimem::mapped_resource",
                            "the OS could not page-lock that much memory; lower the request or raise the "
                            "memlock limit (ulimit -l)");
}

void mapped_resource::deallocate_native(void* p, std::size_t bytes, stream_view) {
  detail::check_release(cudaFreeHost(p), "cudaFreeHost", p, bytes, "unimem::mapped_resource");
}

void* mapped_resource::device_pointer(void* host_ptr) const {
  void* d = nullptr;
  const cudaError_t err = cudaHostGetDevicePointer(&d, host_ptr, 0);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, fmt::format("cudaHostGetDevicePointer({})", host_ptr),
                             "pass a pointer returned by unimem::mapped_resource::allocate");
  }
  return d;
}

}  // namespace unimem
