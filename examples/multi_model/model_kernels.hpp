// The stand-in for inference, as plain C++ declarations (main.cpp stays free of CUDA syntax).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace multi_model {

/// "Runs" a model on the GPU: a kernel reads every weight (the weights as 32-bit words) and adds
/// them into a 64-bit total kept in the model's activation memory, which then comes back to the
/// host. `weights` and `activations` are pointers a kernel may use (device or managed memory).
/// Synchronises `stream`. @throws std::runtime_error naming the failed CUDA call
std::uint64_t gpu_infer(const void* weights, std::size_t bytes, void* activations, cudaStream_t stream);

}  // namespace multi_model
