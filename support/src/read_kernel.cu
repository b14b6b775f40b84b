#include <unimem_support/cuda.hpp>

namespace unimem::support {
namespace {

__global__ void read_kernel(const int4* __restrict__ p, std::size_t n, int* sink) {
  int acc = 0;
  const std::size_t stride = std::size_t{gridDim.x} * blockDim.x;
  std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const int4 a = p[i], b = p[i + stride], c = p[i + 2 * stride], d = p[i + 3 * stride];
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
  }
  for (; i < n; i += stride) {
    const int4 a = p[i];
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x7fffffff) *sink = acc;
}

}  // namespace

void launch_read_kernel(const void* p, std::size_t bytes, unsigned blocks, unsigned threads, int* sink,
                        cudaStream_t s) {
  read_kernel<<<blocks, threads, 0, s>>>(static_cast<const int4*>(p), bytes / sizeof(int4), sink);
  check(cudaGetLastError(), "read_kernel launch");
}

}  // namespace unimem::support
