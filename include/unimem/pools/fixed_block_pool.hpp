/// @file fixed_block_pool.hpp
/// @brief Many buffers of one size (camera frames, per-request tensors): O(1), no fragmentation.
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>

#include <unimem/memory_resource.hpp>
#include <unimem/stream_events.hpp>
#include <unimem/tag.hpp>

namespace unimem {

/// @brief Settings of a fixed_block_pool.
struct fixed_block_pool_options {
  /// Every block starts at a multiple of this (a power of two, at least 256).
  std::size_t block_alignment = default_alignment;
  /// Blocks taken from upstream at a time (0: as many as fill 2 MiB, at least one).
  std::size_t blocks_per_chunk = 0;
  /// Most blocks the pool may hold; more throws out_of_memory. Default: no limit.
  std::size_t max_blocks = std::numeric_limits<std::size_t>::max();
  /// Take a mutex on every call. Turn off only when one thread owns the pool.
  bool thread_safe = true;
  /// Remember each block's requested size so deallocate can check it exactly (otherwise it
  /// checks only that it does not exceed the block size). Double frees and foreign pointers are
  /// always detected.
  bool checked = false;
  /// Completion markers for stream ordering; null: CUDA events when the upstream is
  /// device-accessible, none when it is host-only. See pool_options::events.
  std::shared_ptr<stream_event_source> events;
  /// Called at destruction when blocks are still live. Null: print the report to stderr.
  std::function<void(const leak_report&)> on_leak;
};

namespace detail {
class fixed_block_core;
}

/// @brief A pool of equal blocks: allocate pops a free block, deallocate pushes it back, both
/// O(1). Bookkeeping lives in host memory (the blocks may be device memory). Stream-ordered like
/// pool_resource: a block freed on stream A is reused at once on A and by another stream after
/// an event recorded on A has completed. Keeps the upstream's traits.
class fixed_block_pool final : public memory_resource {
 public:
  /// @param upstream    must outlive the pool
  /// @param block_size  bytes of every block (> 0)
  /// @throws std::invalid_argument for a zero block size, an alignment that is not a power of
  ///         two of at least 256, or a block size or chunk (blocks_per_chunk blocks) larger than
  ///         any upstream can give (beyond std::ptrdiff_t)
  fixed_block_pool(memory_resource& upstream, std::size_t block_size, fixed_block_pool_options options = {});
  ~fixed_block_pool() override;

  std::size_t block_size() const noexcept { return block_size_; }
  std::size_t block_alignment() const noexcept { return block_alignment_; }
  /// @brief Blocks handed out now.
  std::size_t live_blocks() const;
  /// @brief Blocks held from upstream (live and free).
  std::size_t total_blocks() const;
  /// @brief Returns chunks whose blocks are all free, after waiting for the events of the streams
  /// that freed them (never for the whole device). @return bytes
  std::size_t release();
  /// @brief Live blocks grouped by tag (see tag.hpp), largest first.
  std::vector<tag_usage> live_by_tag() const;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return "unimem::fixed_block_pool"; }

  std::size_t block_size_;
  std::size_t block_alignment_;
  resource_traits traits_;
  std::unique_ptr<detail::fixed_block_core> core_;
};

}  // namespace unimem
