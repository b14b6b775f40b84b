#include <unimem/resources/device_resource.hpp>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"

namespace unimem {

void* device_resource::allocate_native(std::size_t bytes, stream_view) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw out_of_memory(bytes, "unimem::device_resource",
                        fmt::format("{}; free device memory, lower the batch size, or share a budget with "
                                    "a limiting adaptor",
                                    detail::device_free_memory_note()));
  }
  if (err != cudaSuccess) detail::throw_cuda_error(err, fmt::format("cudaMalloc({} B)", bytes));
  return p;
}

void device_resource::deallocate_native(void* p, std::size_t bytes, stream_view) {
  detail::check_release(cudaFree(p), "cudaFree", p, bytes, "unimem::device_resource");
}

}  // namespace unimem
