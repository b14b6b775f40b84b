// Internal: from a model's loader to weights a kernel can use. Not installed.
#pragma once

#include <cstddef>
#include <string>

#include <unimem/device_profile.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/movement/cuda_calls.hpp>
#include <unimem/planning/residency_manager.hpp>
#include <unimem/stream.hpp>

namespace unimem::residency_detail {

struct fill_request {
  const std::string& model;
  const std::string& file;
  const weight_loader& loader;
  memory_resource& weights;     ///< where `destination` came from
  memory_resource* staging;     ///< non-null when the CPU cannot write `weights`
  void* destination;            ///< the weights' final home
  std::size_t bytes;
  const device_profile* profile;  ///< needed when staging or managed
  stream_view stream;
  cuda_calls& calls;
};

/// Runs the loader into the weights' memory (or into staging, then copies), and hands managed
/// weights to the GPU; on return every stream's kernels may read them. Frees the staging on every
/// path; throws what the loader, the copy or the allocation threw.
void fill_weights(const fill_request& r);

}  // namespace unimem::residency_detail
