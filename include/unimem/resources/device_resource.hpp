/// @file device_resource.hpp
/// @brief Device memory from cudaMalloc.
#pragma once

#include <unimem/resources/detail/natively_aligned_resource.hpp>

namespace unimem {

/// @brief Device memory (cudaMalloc / cudaFree) on the device that is current when allocate() is
/// called. GPU-only: on a Jetson it is the cached choice for scratch the CPU never reads.
/// cudaFree synchronises the device; put a pool over this resource for per-frame allocations.
class device_resource final : public detail::natively_aligned_resource {
 public:
  device_resource() : natively_aligned_resource(default_alignment) {}

 private:
  void* allocate_native(std::size_t bytes, stream_view stream) override;
  void deallocate_native(void* p, std::size_t bytes, stream_view stream) override;
  resource_traits do_traits() const noexcept override {
    return {memory_kind::device, false, true, false};
  }
  std::string_view do_name() const noexcept override { return "unimem::device_resource"; }
};

}  // namespace unimem
