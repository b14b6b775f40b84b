#include "model_kernels.hpp"

#include <stdexcept>
#include <string>

namespace multi_model {
namespace {

void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")");
  }
}

__global__ void sum_words(const unsigned* w, std::size_t words, unsigned long long* total) {
  unsigned long long local = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < words;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    local += w[i];
  }
  // Warp-level sum first, so one atomic per warp reaches memory.
  for (int offset = 16; offset > 0; offset /= 2) local += __shfl_down_sync(0xffffffffu, local, offset);
  if ((threadIdx.x & 31) == 0) atomicAdd(total, local);
}

}  // namespace

std::uint64_t gpu_infer(const void* weights, std::size_t bytes, void* activations, cudaStream_t stream) {
  auto* total = static_cast<unsigned long long*>(activations);
  check(cudaMemsetAsync(total, 0, sizeof(*total), stream), "cudaMemsetAsync(activations)");
  int device = 0, sms = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  sum_words<<<sms * 8, 256, 0, stream>>>(static_cast<const unsigned*>(weights), bytes / 4, total);
  check(cudaGetLastError(), "sum_words launch");
  unsigned long long host = 0;
  check(cudaMemcpyAsync(&host, total, sizeof(host), cudaMemcpyDefault, stream), "cudaMemcpyAsync(result)");
  check(cudaStreamSynchronize(stream), "sum_words");
  return host;
}

}  // namespace multi_model
