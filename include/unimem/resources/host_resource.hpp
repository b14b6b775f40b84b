/// @file host_resource.hpp
/// @brief Pageable host memory with any power-of-two alignment.
#pragma once

#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief Plain pageable host memory (posix_memalign). Not device-accessible: even on devices with
/// pageableMemoryAccess (Thor, HMM systems) unimem does not promise it, so traits stay truthful
/// everywhere. The stream is ignored.
class host_resource final : public memory_resource {
 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override {
    return {memory_kind::host, true, false, false};
  }
  std::string_view do_name() const noexcept override { return "unimem::host_resource"; }
  bool do_is_equal(const memory_resource& other) const noexcept override {
    return dynamic_cast<const host_resource*>(&other) != nullptr;
  }
};

}  // namespace unimem
