/// @file registered_resource.hpp
/// @brief cudaHostRegister: page-lock memory someone else allocated (a mmap, shared memory, a
/// camera buffer) so the GPU can use it in place.
#pragma once

#include <cstddef>

#include <unimem/resources/detail/natively_aligned_resource.hpp>
#include <unimem/device_profile.hpp>

namespace unimem {

/// @brief Options of a registration.
struct register_options {
  bool read_only = false;  ///< cudaHostRegisterReadOnly: the GPU only reads (needs
                           ///< hostRegisterReadOnlySupported); lets the driver skip coherence work
  bool portable = true;    ///< registered for every CUDA context
};

/// @brief RAII registration of caller-owned host memory. The memory must outlive the region.
/// Move-only; unregisters in the destructor.
class registered_region {
 public:
  /// @param ptr   start of the caller's memory (page alignment recommended, not required)
  /// @param bytes its size, > 0
  /// @throws std::invalid_argument for a null pointer or zero bytes
  /// @throws unsupported_error     hostRegisterSupported = 0 (Jetson Nano/TX2) or a read-only
  ///                               request where hostRegisterReadOnlySupported = 0
  /// @throws cuda_error            cudaHostRegister failed (e.g. already registered)
  registered_region(void* ptr, std::size_t bytes, register_options options = {},
                    const device_profile& profile = device_profile::current());
  ~registered_region();
  registered_region(registered_region&& other) noexcept;
  registered_region& operator=(registered_region&& other) noexcept;
  registered_region(const registered_region&) = delete;
  registered_region& operator=(const registered_region&) = delete;

  void* host_pointer() const noexcept { return host_; }
  /// @brief The pointer kernels use (equals host_pointer() with unified addressing).
  void* device_pointer() const noexcept { return device_; }
  std::size_t size() const noexcept { return bytes_; }
  bool read_only() const noexcept { return read_only_; }

 private:
  void release() noexcept;

  void* host_ = nullptr;
  void* device_ = nullptr;
  std::size_t bytes_ = 0;
  bool read_only_ = false;
};

/// @brief A resource that maps fresh anonymous pages and registers them: host memory that is
/// CPU-cached on every Jetson and readable by kernels. Needs hostRegisterSupported (not Nano/TX2).
class registered_resource final : public detail::natively_aligned_resource {
 public:
  /// @throws unsupported_error when the device reports hostRegisterSupported = 0
  explicit registered_resource(const device_profile& profile = device_profile::current());

 private:
  void* allocate_native(std::size_t bytes, stream_view stream) override;
  void deallocate_native(void* p, std::size_t bytes, stream_view stream) override;
  resource_traits do_traits() const noexcept override {
    return {memory_kind::registered, true, true, unified_addressing_};
  }
  std::string_view do_name() const noexcept override { return "unimem::registered_resource"; }

  bool unified_addressing_;
};

}  // namespace unimem
