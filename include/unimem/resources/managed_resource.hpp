/// @file managed_resource.hpp
/// @brief Unified (managed) memory from cudaMallocManaged.
#pragma once

#include <unimem/resources/detail/natively_aligned_resource.hpp>
#include <unimem/device_profile.hpp>

namespace unimem {

/// @brief How new managed allocations are attached (cudaMemAttachGlobal / cudaMemAttachHost).
enum class managed_attach {
  global,  ///< visible to every stream; on devices without concurrentManagedAccess the CPU must
           ///< then wait for all GPU work before touching it
  host,    ///< visible to the host only until attached to a stream (cudaStreamAttachMemAsync),
           ///< which lets the CPU keep using it while unrelated kernels run on pre-Thor Jetsons
};

/// @brief Managed memory: cached on both CPU and GPU on every Jetson. On devices with
/// concurrentManagedAccess == 0 (every Jetson before Thor) the CPU must not touch it while a kernel
/// that may use it runs.
class managed_resource final : public detail::natively_aligned_resource {
 public:
  /// @throws unsupported_error when the device cannot allocate managed memory
  explicit managed_resource(managed_attach attach = managed_attach::global,
                            const device_profile& profile = device_profile::current());

  managed_attach attach() const noexcept { return attach_; }

 private:
  void* allocate_native(std::size_t bytes, stream_view stream) override;
  void deallocate_native(void* p, std::size_t bytes, stream_view stream) override;
  // Host-attached memory must not be touched by kernels until it is attached to a stream
  // (cudaStreamAttachMemAsync), so only globally attached memory claims device access.
  resource_traits do_traits() const noexcept override {
    const bool device = attach_ == managed_attach::global;
    return {memory_kind::managed, true, device, device};
  }
  std::string_view do_name() const noexcept override { return "unimem::managed_resource"; }
  bool do_is_equal(const memory_resource& other) const noexcept override {
    return dynamic_cast<const managed_resource*>(&other) != nullptr;
  }

  managed_attach attach_;
};

}  // namespace unimem
