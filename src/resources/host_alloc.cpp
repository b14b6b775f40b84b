#include "resources/host_alloc.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem::detail {

void* host_alloc(std::size_t bytes, unsigned flags, const char* resource, const char* oom_hint) {
  void* p = nullptr;
  const cudaError_t err = cudaHostAlloc(&p, bytes, flags);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw out_of_memory(bytes, resource, oom_hint);
  }
  if (err != cudaSuccess) throw_cuda_error(err, fmt::format("cudaHostAlloc({} B, flags {:#x})", bytes, flags));
  return p;
}

}  // namespace unimem::detail
