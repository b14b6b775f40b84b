// Test support: a resource that hands out host memory but reports any traits, so code that decides
// from traits (copy, frame_pipeline) runs on a machine without a GPU. Pair it with
// recording_calls, which never dereferences the "device" pointers (or copies them with memcpy).
#pragma once

#include <cstdlib>
#include <new>
#include <string>

#include <unimem/memory_resource.hpp>

namespace unimem::test {

class fake_resource final : public memory_resource {
 public:
  explicit fake_resource(resource_traits traits, std::string name = "fake_resource")
      : traits_(traits), name_(std::move(name)) {}

  static resource_traits traits_of(memory_kind k) {
    switch (k) {
      case memory_kind::host: return {k, true, false, false};
      case memory_kind::device: return {k, false, true, false};
      default: return {k, true, true, true};  // pinned, mapped, registered, managed with UVA
    }
  }
  explicit fake_resource(memory_kind k) : fake_resource(traits_of(k), "fake_" + std::string(to_string(k))) {}

  int live = 0;         ///< allocations not yet returned
  int allocations = 0;  ///< allocations ever made

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view) override {
    void* p = nullptr;
    if (::posix_memalign(&p, alignment < sizeof(void*) ? sizeof(void*) : alignment, bytes) != 0) throw std::bad_alloc();
    ++live;
    ++allocations;
    return p;
  }
  void do_deallocate(void* p, std::size_t, std::size_t, stream_view) override {
    --live;
    std::free(p);
  }
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return name_; }

  resource_traits traits_;
  std::string name_;
};

}  // namespace unimem::test
