#include "support/device_kernels.hpp"

#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

#include <unimem/error.hpp>
#include <unimem_support/cuda.hpp>

namespace unimem::test {
namespace {

using support::check;

__global__ void fill_kernel(std::uint8_t* p, std::size_t n, std::uint8_t v) {
  for (std::size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    p[i] = v;
  }
}

__global__ void mismatch_kernel(const std::uint8_t* p, std::size_t n, std::uint8_t v,
                                unsigned long long* count) {
  unsigned long long local = 0;
  for (std::size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    local += p[i] != v;
  }
  if (local != 0) atomicAdd(count, local);
}

unsigned grid_for(std::size_t n) {
  const std::size_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 1024 ? (blocks == 0 ? 1 : blocks) : 1024);
}

}  // namespace

void device_fill(void* p, std::size_t n, std::uint8_t value) {
  fill_kernel<<<grid_for(n), 256>>>(static_cast<std::uint8_t*>(p), n, value);
  check(cudaGetLastError(), "fill_kernel launch");
  check(cudaDeviceSynchronize(), "fill_kernel");
}

void device_fill_async(void* p, std::size_t n, std::uint8_t value, stream_view stream) {
  fill_kernel<<<grid_for(n), 256, 0, stream.value()>>>(static_cast<std::uint8_t*>(p), n, value);
  check(cudaGetLastError(), "fill_kernel launch");
}

std::size_t device_count_mismatches(const void* p, std::size_t n, std::uint8_t value) {
  unsigned long long* count = nullptr;
  check(cudaMalloc(&count, sizeof(*count)), "cudaMalloc(counter)");
  unsigned long long host = 0;
  try {
    check(cudaMemset(count, 0, sizeof(*count)), "cudaMemset(counter)");
    mismatch_kernel<<<grid_for(n), 256>>>(static_cast<const std::uint8_t*>(p), n, value, count);
    check(cudaGetLastError(), "mismatch_kernel launch");
    check(cudaMemcpy(&host, count, sizeof(host), cudaMemcpyDeviceToHost), "mismatch_kernel");
  } catch (...) {
    cudaFree(count);
    throw;
  }
  cudaFree(count);
  return static_cast<std::size_t>(host);
}

void warm_up_cuda() {
  int n = 0;
  if (cudaGetDeviceCount(&n) == cudaSuccess && n > 0) {
    cudaFree(nullptr);
  } else {
    cudaGetLastError();
  }
}

void load_device_kernels() {
  static const bool loaded = [] {
    void* scratch = nullptr;
    check(cudaMalloc(&scratch, 256), "cudaMalloc(256 B scratch)");
    device_fill(scratch, 256, 0x5A);
    const std::size_t mismatches = device_count_mismatches(scratch, 256, 0x5A);
    check(cudaFree(scratch), "cudaFree(scratch)");
    return mismatches == 0;
  }();
  if (!loaded) throw std::runtime_error("load_device_kernels: the scratch buffer did not read back");
}

void copy_to_host(void* dst, const void* src, std::size_t n) {
  check(cudaMemcpy(dst, src, n, cudaMemcpyDefault), "cudaMemcpy(to host)");
}

void copy_to_device(void* dst, const void* src, std::size_t n) {
  check(cudaMemcpy(dst, src, n, cudaMemcpyDefault), "cudaMemcpy(to device)");
}

}  // namespace unimem::test
