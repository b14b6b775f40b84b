/// @file planned_arena.hpp
/// @brief One allocation holding every tensor of a memory plan, so an application allocates its
/// activations once instead of once per tensor per frame.
#pragma once

#include <cstddef>
#include <vector>

#include <unimem/memory_resource.hpp>
#include <unimem/planning/planner.hpp>
#include <unimem/stream.hpp>

namespace unimem {

/// @brief Owns one block of `plan.arena_bytes` from a memory_resource and hands out the planned
/// pointer of each tensor inside it. Tensors whose lifetimes overlap never share bytes; tensors
/// whose lifetimes do not may, which is the point. Move-only; the block is returned to the
/// resource (on the same stream) when the arena is destroyed.
class planned_arena {
 public:
  /// @brief Checks `plan` against `tensors` (validate_plan), then allocates the block.
  /// @param alignment the block's alignment; raised to the plan's arena_alignment when that is
  ///                  larger. The default keeps every offset that is a multiple of 256 as aligned
  ///                  as a cudaMalloc pointer.
  /// @throws std::invalid_argument when the plan does not fit the tensors, naming the defect
  /// @throws out_of_memory         when the resource cannot provide the block
  planned_arena(const std::vector<tensor_lifetime>& tensors, memory_plan plan, memory_resource& resource,
                stream_view stream = {}, std::size_t alignment = default_alignment);

  /// @brief Plans `tensors` with plan_memory() and allocates the block.
  planned_arena(const std::vector<tensor_lifetime>& tensors, memory_resource& resource, stream_view stream = {},
                std::size_t alignment = default_alignment);

  ~planned_arena();
  planned_arena(planned_arena&& other) noexcept;
  planned_arena& operator=(planned_arena&& other) noexcept;
  planned_arena(const planned_arena&) = delete;
  planned_arena& operator=(const planned_arena&) = delete;

  /// @brief The planned pointer of tensor `i`; nullptr for a tensor of 0 bytes.
  /// @throws std::out_of_range for i >= size()
  void* data(std::size_t i) const;
  /// @brief data(i) as T*.
  template <class T>
  T* data_as(std::size_t i) const {
    return static_cast<T*>(data(i));
  }
  /// @brief Bytes of tensor `i`. @throws std::out_of_range for i >= size()
  std::size_t bytes(std::size_t i) const;

  std::size_t size() const noexcept { return bytes_.size(); }   ///< number of tensors
  void* base() const noexcept { return base_; }                 ///< the block; nullptr when empty
  std::size_t arena_bytes() const noexcept { return plan_.arena_bytes; }
  std::size_t alignment() const noexcept { return alignment_; }
  const memory_plan& plan() const noexcept { return plan_; }
  memory_resource* resource() const noexcept { return resource_; }  ///< nullptr after a move

 private:
  void release() noexcept;

  memory_plan plan_;
  std::vector<std::size_t> bytes_;
  memory_resource* resource_ = nullptr;
  stream_view stream_{};
  std::size_t alignment_ = default_alignment;
  void* base_ = nullptr;
};

}  // namespace unimem
