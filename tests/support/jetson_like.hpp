// Test support: the GPU here, and the same GPU as a Jetson before Thor presents it to the movement
// code (no concurrent managed access).
#pragma once

#include <vector>

#include <unimem/device_profile.hpp>

namespace unimem::test {

/// The real device, and the same device treated as if it had no concurrent managed access, so the
/// Jetson code path runs real CUDA calls here (attach and synchronize are valid on any GPU).
inline std::vector<device_profile> real_and_jetson_like_profiles() {
  device_profile real = device_profile::current();
  device_profile jetson_like = real;
  jetson_like.concurrent_managed_access = false;
  jetson_like.name += " as if concurrentManagedAccess = 0";
  return {real, jetson_like};
}

}  // namespace unimem::test
