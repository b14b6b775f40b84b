// Test support: owns a stack of resources (each built over the one below) and forwards every
// call to the top one, so a factory can hand out an adaptor together with its upstream.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include <unimem/memory_resource.hpp>

namespace unimem::test {

class composed_resource final : public memory_resource {
 public:
  composed_resource() = default;
  // Top first: a layer never outlives what it stands on.
  ~composed_resource() override {
    while (!layers_.empty()) layers_.pop_back();
  }

  /// Adds a resource on top; returns it. The previous top must be what it was built over.
  template <class R>
  R& push(std::unique_ptr<R> r) {
    R& ref = *r;
    layers_.push_back(std::move(r));
    return ref;
  }
  memory_resource& top() const { return *layers_.back(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override {
    return top().allocate(bytes, alignment, stream);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override {
    top().deallocate(p, bytes, alignment, stream);
  }
  resource_traits do_traits() const noexcept override { return top().traits(); }
  std::string_view do_name() const noexcept override { return top().name(); }

  std::vector<std::unique_ptr<memory_resource>> layers_;

};

}  // namespace unimem::test
