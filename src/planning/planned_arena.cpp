#include <unimem/planning/planned_arena.hpp>

#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace unimem {

planned_arena::planned_arena(const std::vector<tensor_lifetime>& tensors, memory_plan plan,
                             memory_resource& resource, stream_view stream, std::size_t alignment)
    : plan_(std::move(plan)), resource_(&resource), stream_(stream) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::planned_arena: alignment {} is not a power of two; use e.g. 256 (unimem::default_alignment)",
        alignment));
  }
  const plan_check check = validate_plan(tensors, plan_);
  if (!check) {
    throw std::invalid_argument(fmt::format(
        "unimem::planned_arena: the plan does not fit the tensors: {}; plan them with unimem::plan_memory",
        check.message));
  }
  alignment_ = alignment > plan_.arena_alignment ? alignment : plan_.arena_alignment;
  bytes_.reserve(tensors.size());
  for (const auto& t : tensors) bytes_.push_back(t.bytes);
  base_ = resource.allocate(plan_.arena_bytes, alignment_, stream_);
}

planned_arena::planned_arena(const std::vector<tensor_lifetime>& tensors, memory_resource& resource,
                             stream_view stream, std::size_t alignment)
    : planned_arena(tensors, plan_memory(tensors), resource, stream, alignment) {}

planned_arena::~planned_arena() { release(); }

planned_arena::planned_arena(planned_arena&& other) noexcept
    : plan_(std::move(other.plan_)),
      bytes_(std::move(other.bytes_)),
      resource_(std::exchange(other.resource_, nullptr)),
      stream_(other.stream_),
      alignment_(other.alignment_),
      base_(std::exchange(other.base_, nullptr)) {
  other.bytes_.clear();
}

planned_arena& planned_arena::operator=(planned_arena&& other) noexcept {
  if (this != &other) {
    release();
    plan_ = std::move(other.plan_);
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
    resource_ = std::exchange(other.resource_, nullptr);
    stream_ = other.stream_;
    alignment_ = other.alignment_;
    base_ = std::exchange(other.base_, nullptr);
  }
  return *this;
}

void planned_arena::release() noexcept {
  if (base_ != nullptr && resource_ != nullptr) {
    // A destructor must not throw; a failing deallocate here means the resource is already broken.
    try {
      resource_->deallocate(base_, plan_.arena_bytes, alignment_, stream_);
    } catch (...) {
    }
  }
  base_ = nullptr;
}

void* planned_arena::data(std::size_t i) const {
  if (i >= bytes_.size()) {
    throw std::out_of_range(fmt::format("unimem::planned_arena::data({}): the plan has {} tensors", i, bytes_.size()));
  }
  if (bytes_[i] == 0 || base_ == nullptr) return nullptr;
  return static_cast<unsigned char*>(base_) + plan_.offsets[i];
}

std::size_t planned_arena::bytes(std::size_t i) const {
  if (i >= bytes_.size()) {
    throw std::out_of_range(fmt::format("unimem::planned_arena::bytes({}): the plan has {} tensors", i, bytes_.size()));
  }
  return bytes_[i];
}

}  // namespace unimem
