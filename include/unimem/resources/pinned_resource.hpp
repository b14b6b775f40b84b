/// @file pinned_resource.hpp
/// @brief Page-locked host memory from cudaHostAlloc.
#pragma once

#include <unimem/resources/detail/natively_aligned_resource.hpp>
#include <unimem/device_profile.hpp>

namespace unimem {

/// @brief Options of pinned allocations.
struct pinned_options {
  bool portable = true;         ///< pinned for every CUDA context (cudaHostAllocPortable)
  bool write_combined = false;  ///< cudaHostAllocWriteCombined: faster PCIe uploads on discrete
                                ///< GPUs, but CPU reads become very slow; only for write-once data
};

/// @brief Pinned host memory: the staging buffer for fast, asynchronous copies on discrete GPUs.
/// With unified addressing (every 64-bit platform) kernels can also read it through the same
/// pointer. On Jetson Nano and TX2 (CC < 7.2) the CPU sees it uncached: CPU-heavy work on it is
/// 7-12x slower; prefer managed memory there for data the CPU reads.
class pinned_resource final : public detail::natively_aligned_resource {
 public:
  explicit pinned_resource(pinned_options options = {},
                           const device_profile& profile = device_profile::current());

  pinned_options options() const noexcept { return options_; }

 private:
  void* allocate_native(std::size_t bytes, stream_view stream) override;
  void deallocate_native(void* p, std::size_t bytes, stream_view stream) override;
  resource_traits do_traits() const noexcept override {
    return {memory_kind::pinned, true, device_accessible_, device_accessible_};
  }
  std::string_view do_name() const noexcept override { return "unimem::pinned_resource"; }

  pinned_options options_;
  bool device_accessible_;
};

}  // namespace unimem
