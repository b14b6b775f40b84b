#include <unimem/resources/managed_resource.hpp>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem {

managed_resource::managed_resource(managed_attach attach, const device_profile& profile)
    : natively_aligned_resource(default_alignment), attach_(attach) {
  if (!profile.managed_memory) {
    throw unsupported_error(fmt::format(
        "unimem::managed_resource: {} reports managedMemory = 0, so cudaMallocManaged cannot work; use "
        "unimem::device_resource with unimem::pinned_resource staging instead",
        profile.name));
  }
}

void* managed_resource::allocate_native(std::size_t bytes, stream_view) {
  void* p = nullptr;
  const unsigned flags = attach_ == managed_attach::host ? cudaMemAttachHost : cudaMemAttachGlobal;
  const cudaError_t err = cudaMallocManaged(&p, bytes, flags);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw out_of_memory(bytes, "unimem::managed_resource",
                        "managed memory is backed by system RAM; free memory or lower the request "
                        "(on Jetson budget from /proc/meminfo MemAvailable, not cudaMemGetInfo)");
  }
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, fmt::format("cudaMallocManaged({} B, {})", bytes,
                                              attach_ == managed_attach::host ? "cudaMemAttachHost"
                                                                              : "cudaMemAttachGlobal"));
  }
  return p;
}

void managed_resource::deallocate_native(void* p, std::size_t bytes, stream_view) {
  detail::check_release(cudaFree(p), "cudaFree", p, bytes, "unimem::managed_resource");
}

}  // namespace unimem
