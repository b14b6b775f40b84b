// Test doubles for the typed-memory tests: a host-memory resource that records every call, can
// fail on request, and can claim other traits (device-only, pinned, managed) while staying safe to
// touch, so host-access refusal and DLPack device types are testable without a GPU.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/memory_resource.hpp>

namespace unimem::test {

class recording_resource final : public memory_resource {
 public:
  struct call {
    void* p;
    std::size_t bytes;
    std::size_t alignment;
    stream_view stream;
  };

  /// @param traits what the resource claims; the memory is host memory whatever it claims
  explicit recording_resource(resource_traits traits = {memory_kind::host, true, false, false}) : traits_(traits) {}

  std::vector<call> allocations;
  std::vector<call> deallocations;
  bool fail_next_allocate = false;    ///< the next allocate throws out_of_memory
  bool throw_on_deallocate = false;   ///< deallocate frees, then throws (destructors must cope)

  std::size_t live() const noexcept { return allocations.size() - deallocations.size(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override {
    if (fail_next_allocate) {
      fail_next_allocate = false;
      throw out_of_memory(bytes, "recording_resource", "test: fail_next_allocate");
    }
    void* p = upstream_.allocate(bytes, alignment, stream);
    allocations.push_back({p, bytes, alignment, stream});
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override {
    deallocations.push_back({p, bytes, alignment, stream});
    upstream_.deallocate(p, bytes, alignment, stream);
    if (throw_on_deallocate) throw std::runtime_error("test: deallocate failed after freeing");
  }
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return "test::recording_resource"; }

  host_resource upstream_;
  resource_traits traits_;
};

/// Traits of device memory (cudaMalloc), claimed by host memory.
inline constexpr resource_traits fake_device_traits{memory_kind::device, false, true, false};
inline constexpr resource_traits fake_pinned_traits{memory_kind::pinned, true, true, true};
inline constexpr resource_traits fake_managed_traits{memory_kind::managed, true, true, true};

/// A stream handle that is never dereferenced: host resources ignore streams, so tests can tell
/// streams apart by value without a GPU.
inline stream_view fake_stream(std::uintptr_t id) { return stream_view{reinterpret_cast<CUstream_st*>(id)}; }

}  // namespace unimem::test
