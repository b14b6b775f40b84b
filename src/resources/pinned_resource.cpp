#include <unimem/resources/pinned_resource.hpp>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem {

pinned_resource::pinned_resource(pinned_options options, const device_profile& profile)
    : natively_aligned_resource(default_alignment),
      options_(options),
      // With unified addressing cudaHostAlloc memory is mapped for every device automatically.
      device_accessible_(profile.unified_addressing && profile.can_map_host_memory) {}

void* pinned_resource::allocate_native(std::size_t bytes, stream_view) {
  unsigned flags = 0;
  if (options_.portable) flags |= cudaHostAllocPortable;
  if (options_.write_combined) flags |= cudaHostAllocWriteCombined;
  void* p = nullptr;
  const cudaError_t err = cudaHostAlloc(&p, bytes, flags);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw out_of_memory(bytes, "unimem::pinned_resource",
                        "the OS could not page-lock that much memory; lower the request, raise the "
                        "memlock limit (ulimit -l), or pool a smaller pinned staging area");
  }
  if (err != cudaSuccess) detail::throw_cuda_error(err, fmt::format("cudaHostAlloc({} B, flags {:#x})", bytes, flags));
  return p;
}

void pinned_resource::deallocate_native(void* p, std::size_t bytes, stream_view) {
  const cudaError_t err = cudaFreeHost(p);
  if (err != cudaSuccess) {
    detail::throw_cuda_error(err, fmt::format("cudaFreeHost({}, {} B)", p, bytes),
                             "the pointer was not returned by unimem::pinned_resource::allocate, or was "
                             "already freed");
  }
}

}  // namespace unimem
