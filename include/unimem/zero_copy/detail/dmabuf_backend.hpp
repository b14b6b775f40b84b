/// @file dmabuf_backend.hpp
/// @brief Internal: the CUDA calls behind dmabuf_import, behind an interface so tests can drive
/// every path (and every failure) on a machine without a GPU. Users do not need this header.
#pragma once

#include <cstddef>
#include <memory>

#include <unimem/device_profile.hpp>

namespace unimem::detail {

/// @brief A buffer made visible to the device; releasing it (destructor) undoes exactly that.
class device_attachment {
 public:
  virtual ~device_attachment() = default;
  virtual void* device_pointer() const noexcept = 0;
};

/// @brief The two ways of attaching a buffer to the device.
class dmabuf_backend {
 public:
  virtual ~dmabuf_backend() = default;
  /// @brief cudaHostRegister of a CPU mapping (the mapping outlives the attachment).
  virtual std::unique_ptr<device_attachment> register_host(void* host, std::size_t bytes, bool read_only,
                                                           const device_profile& profile) const = 0;
  /// @brief cuImportExternalMemory of a dma-buf fd plus a mapped buffer of `bytes` at offset 0.
  /// @param object_bytes the size of the whole dma-buf (the import describes the whole object)
  virtual std::unique_ptr<device_attachment> import_native(int fd, std::size_t object_bytes, std::size_t bytes,
                                                           const device_profile& profile) const = 0;
};

/// @brief The real backend (CUDA runtime, and driver entry points for external memory).
const dmabuf_backend& cuda_dmabuf_backend() noexcept;

}  // namespace unimem::detail
