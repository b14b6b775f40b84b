#include <unimem/resources/pinned_resource.hpp>

#include <cuda_runtime_api.h>

#include "detail/cuda_check.hpp"
#include "resources/host_alloc.hpp"

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
  return detail::host_alloc(bytes, flags, "unimem::pinned_resource",
                            "the OS could not page-lock that much memory; lower the request, raise the "
                            "memlock limit (ulimit -l), or pool a smaller pinned staging area");
}

void pinned_resource::deallocate_native(void* p, std::size_t bytes, stream_view) {
  detail::check_release(cudaFreeHost(p), "cudaFreeHost", p, bytes, "unimem::pinned_resource");
}

}  // namespace unimem
