/// @file synchronized_resource.hpp
/// @brief Adaptor that makes any resource safe to share between threads.
#pragma once

#include <mutex>

#include <unimem/memory_resource.hpp>

namespace unimem {

/// @brief Serialises every allocate and deallocate of `upstream` with a mutex. pool_resource and
/// fixed_block_pool lock by default; use this for the others (arena_resource) or for a resource
/// of your own.
class synchronized_resource final : public memory_resource {
 public:
  /// @param upstream must outlive the adaptor; nothing else may call it without the lock
  explicit synchronized_resource(memory_resource& upstream) : upstream_(&upstream) {}

  memory_resource& upstream() const noexcept { return *upstream_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override {
    std::lock_guard<std::mutex> lock(mutex_);
    upstream_->deallocate(p, bytes, alignment, stream);
  }
  resource_traits do_traits() const noexcept override { return upstream_->traits(); }
  std::string_view do_name() const noexcept override { return "unimem::synchronized_resource"; }

  memory_resource* upstream_;
  std::mutex mutex_;
};

}  // namespace unimem
