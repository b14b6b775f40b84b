// Internal: pool_resource's general allocator — chunks from upstream cut into blocks, a free-block
// index per stream owner, coalescing on free, growth and release by growth_policy. It serves every
// allocation the iteration learner does not. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <unimem/stream.hpp>
#include <unimem/stream_events.hpp>
#include <unimem/tag.hpp>

#include "pools/growth_policy.hpp"
#include "pools/iteration_learner.hpp"
#include "pools/leak_report.hpp"
#include "pools/pool_detail.hpp"
#include "pools/stream_free_index.hpp"
#include "pools/upstream_account.hpp"

namespace unimem::detail {

/// `Index` is the free-block index (tlsf_index or ordered_index); the .cpp instantiates both.
template <class Index>
class general_allocator final : public region_host {
 public:
  general_allocator(upstream_account& upstream, growth_policy& growth, std::size_t maximum_size,
                    stream_event_source* events);
  /// Returns every chunk to upstream, whatever is still live in it (the leak was reported).
  ~general_allocator();
  general_allocator(const general_allocator&) = delete;
  general_allocator& operator=(const general_allocator&) = delete;

  /// Takes `bytes` of memory from upstream as a first chunk.
  void reserve(std::size_t bytes);

  /// A used block of at least `bytes` at `alignment` for `stream`, in the table of used blocks.
  /// `live_bytes` only words the error.
  /// @throws out_of_memory (nothing changed)
  pool_block* allocate(std::size_t bytes, std::size_t alignment, stream_view stream, std::size_t live_bytes);

  /// The used block starting at `addr`, or null.
  pool_block* find_used(std::uintptr_t addr) const noexcept { return used_.find(addr); }

  /// Frees the used block `b` (found by find_used) on `stream`.
  void free(pool_block* b, stream_view stream);

  /// Returns wholly free chunks, largest first, until at most `target` bytes are held in all; a
  /// chunk goes back only when no stream other than the one of `slot` may still use it (slot 0:
  /// waits for every stream that freed memory first).
  std::size_t release_free_chunks(std::size_t target, std::uint32_t slot);

  std::size_t chunk_count() const noexcept { return chunks_.size(); }
  std::size_t used_blocks() const noexcept { return used_.size(); }
  void tally(tag_tally& t) const;
  /// Checks every block of every chunk; returns the bytes the chunks hold.
  /// @throws std::logic_error naming the broken invariant
  std::size_t verify() const;

  // region_host
  bool streams_ordered() const noexcept override { return free_.ordered(); }
  bool contains(std::uintptr_t addr) const noexcept override;
  bool take_snug_chunk(std::size_t size, std::size_t alignment, stream_view stream, pool_chunk& out) override;
  void release_free_chunks_for(stream_view stream) override;
  void adopt(const pool_chunk& region, const std::vector<adopted_block>& live, stream_view stream) override;

  static constexpr std::size_t everything = ~std::size_t{0};

 private:
  pool_block* grow(std::size_t n, std::size_t a, std::size_t need, std::uint32_t s, stream_view stream,
                   std::size_t requested, std::size_t live_bytes);
  pool_block* add_chunk(std::size_t bytes, std::size_t alignment, stream_view stream);
  pool_block* carve(pool_block* b, std::size_t n, std::size_t a);
  pool_block* split(pool_block* b, std::size_t at);
  stream_view chunk_stream(const pool_chunk& c) const noexcept;

  upstream_account& upstream_;
  growth_policy& growth_;
  std::size_t maximum_size_;
  block_store blocks_;  // before free_, which puts merged descriptors back into it
  stream_free_index<Index> free_;
  std::vector<std::unique_ptr<pool_chunk>> chunks_;
  block_table used_;
};

}  // namespace unimem::detail
