// The CUDA peers unimem's pool is measured against (built with nvcc: cub is a CUDA header).
#pragma once

#include <vector>

#include "replay_core.hpp"

namespace unimem::replay {

/// Appends cub::CachingDeviceAllocator with its default bins ("cub_default") and with
/// power-of-two bins and no cache limit ("cub_pow2"), and a fresh cudaMemPool served with
/// cudaMallocFromPoolAsync / cudaFreeAsync with the release threshold at its maximum
/// ("cuda_mempool").
void add_cuda_peers(std::vector<replay_target>& targets);

}  // namespace unimem::replay
