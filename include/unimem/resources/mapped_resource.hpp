/// @file mapped_resource.hpp
/// @brief Zero-copy memory: pinned host memory mapped into the GPU's address space.
#pragma once

#include <unimem/resources/detail/natively_aligned_resource.hpp>
#include <unimem/device_profile.hpp>

namespace unimem {

/// @brief Mapped pinned memory (cudaHostAlloc with cudaHostAllocMapped). A kernel reads it where
/// the CPU wrote it: on an integrated GPU there is no copy at all, on a discrete GPU every access
/// crosses PCIe. Works on every Jetson, including Nano and TX2 where cudaHostRegister does not.
class mapped_resource final : public detail::natively_aligned_resource {
 public:
  /// @param write_combined add cudaHostAllocWriteCombined (CPU writes only; CPU reads are slow)
  /// @throws unsupported_error when the device reports canMapHostMemory = 0
  explicit mapped_resource(bool write_combined = false,
                           const device_profile& profile = device_profile::current());

  /// @brief The pointer a kernel must use for `host_ptr` (the same pointer with unified
  /// addressing, which every 64-bit platform has).
  /// @throws cuda_error when `host_ptr` is not mapped memory
  void* device_pointer(void* host_ptr) const;

 private:
  void* allocate_native(std::size_t bytes, stream_view stream) override;
  void deallocate_native(void* p, std::size_t bytes, stream_view stream) override;
  resource_traits do_traits() const noexcept override {
    return {memory_kind::mapped, true, true, unified_addressing_};
  }
  std::string_view do_name() const noexcept override { return "unimem::mapped_resource"; }

  bool write_combined_;
  bool unified_addressing_;
};

}  // namespace unimem
