#include "support/movement_kernels.hpp"

#include <cuda_runtime.h>

#include <unimem/error.hpp>
#include <unimem_support/cuda.hpp>

namespace unimem::test {
namespace {

__global__ void add_kernel(const std::uint8_t* in, std::uint8_t* out, std::size_t n, std::uint8_t add) {
  for (std::size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    out[i] = static_cast<std::uint8_t>(in[i] + add);
  }
}

// Nanoseconds of the GPU's global timer: wall time, unlike clock64, whatever the SM clock does.
__device__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void slow_fill_kernel(std::uint8_t* p, std::size_t n, std::uint8_t v, unsigned long long spin_ns) {
  if (spin_ns != 0) {
    const unsigned long long start = global_ns();
    while (global_ns() - start < spin_ns) {
    }
  }
  for (std::size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    p[i] = v;
  }
}

unsigned grid_for(std::size_t n) {
  const std::size_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 1024 ? (blocks == 0 ? 1 : blocks) : 1024);
}

void check_launch(const char* what) { support::check(cudaGetLastError(), what); }

}  // namespace

void launch_add(const void* in, void* out, std::size_t n, std::uint8_t add, stream_view stream) {
  add_kernel<<<grid_for(n), 256, 0, stream.value()>>>(static_cast<const std::uint8_t*>(in),
                                                      static_cast<std::uint8_t*>(out), n, add);
  check_launch("add_kernel launch");
}

void launch_slow_fill(void* p, std::size_t n, std::uint8_t value, unsigned spin_us, stream_view stream) {
  slow_fill_kernel<<<grid_for(n), 256, 0, stream.value()>>>(static_cast<std::uint8_t*>(p), n, value,
                                                            1000ull * spin_us);
  check_launch("slow_fill_kernel launch");
}

}  // namespace unimem::test
