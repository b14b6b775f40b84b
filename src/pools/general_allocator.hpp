// Internal: pool_resource's general allocator — chunks from upstream cut into blocks, a free-block
// index per stream owner, coalescing on free, growth and release by growth_policy. One chunk may
// be the plan region: its free blocks are indexed apart (only planned allocations and those the
// learner does not know to outlive their iteration go there) and a region_map finds the free
// block at a planned offset. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <unimem/stream.hpp>
#include <unimem/stream_events.hpp>
#include <unimem/tag.hpp>
#include <unimem/resources/virtual_memory.hpp>

#include "pools/growth_policy.hpp"
#include "pools/iteration_learner.hpp"
#include "pools/leak_report.hpp"
#include "pools/pool_detail.hpp"
#include "pools/region_map.hpp"
#include "pools/stream_free_index.hpp"
#include "pools/stream_slots.hpp"
#include "pools/upstream_account.hpp"

namespace unimem::detail {

/// Whether an allocation may take the plan region's free space.
enum class region_use : std::uint8_t {
  allowed,  ///< the region's free space may serve it
  avoided,  ///< kept out of the region (it outlives its iteration)
  /// kept out, and the region goes back to upstream if nothing lives in it before the pool grows
  /// past its peak: the allocation's iteration follows no plan, so the region only adds to it
  released_when_idle,
};

/// `Index` is the free-block index (tlsf_index or ordered_index); the .cpp instantiates both.
template <class Index>
class general_allocator final : public region_host {
 public:
  /// @param range when non-null, the region is grown in place in it (CUDA virtual memory, or a
  ///        host range in tests) once it is large enough to be worth its granularity
  general_allocator(upstream_account& upstream, growth_policy& growth, std::size_t maximum_size,
                    stream_event_source* events, virtual_range* range = nullptr);
  /// Returns every chunk to upstream, whatever is still live in it (the leak was reported).
  ~general_allocator();
  general_allocator(const general_allocator&) = delete;
  general_allocator& operator=(const general_allocator&) = delete;

  /// Takes `bytes` of memory from upstream as a first chunk.
  void reserve(std::size_t bytes);

  /// The owner slot of `stream` (0 when streams are not told apart).
  std::uint32_t slot_for(stream_view stream) { return free_.slot_for(stream); }

  /// A used block of at least `bytes` at `alignment` for `stream` (slot `slot`), in the table
  /// of used blocks. `region`: whether the plan region's free space may serve it. `live_bytes`
  /// only words the error.
  /// @throws out_of_memory (no allocation made; wholly free chunks, and an idle region for an
  ///         allocation of an unplanned iteration, may have gone back to upstream)
  pool_block* allocate(std::size_t bytes, std::size_t alignment, stream_view stream, std::uint32_t slot,
                       region_use region, std::size_t live_bytes);

  /// A used block at `offset` in the plan region, or null when that place is not free (or lies
  /// outside the region). Memory another stream freed there is taken by ordering `slot` after it.
  pool_block* place_at(std::size_t offset, std::size_t bytes, std::size_t alignment, std::uint32_t slot);

  /// The used block starting at `addr`, or null.
  pool_block* find_used(std::uintptr_t addr) const noexcept { return used_.find(addr); }

  /// Frees the used block `b` (found by find_used) on slot `slot`.
  void free(pool_block* b, std::uint32_t slot);

  /// Returns wholly free chunks, largest first, until at most `target` bytes are held in all;
  /// a chunk goes back only when no stream other than the one of `slot` may still use it (slot
  /// 0: waits for every stream that freed memory first). The region goes too when `region`.
  std::size_t release_free_chunks(std::size_t target, std::uint32_t slot, bool region);

  bool contains(std::uintptr_t addr) const noexcept;
  std::size_t chunk_count() const noexcept { return chunks_.size(); }
  std::size_t used_blocks() const noexcept { return used_.size(); }
  std::uint64_t stream_waits() const noexcept { return slots_.waits(); }
  void tally(tag_tally& t) const;
  /// Checks every block of every chunk and the region map; returns the bytes the chunks hold.
  /// @throws std::logic_error naming the broken invariant
  std::size_t verify() const;

  // region_host
  bool set_region(std::size_t size, std::size_t alignment, std::uint32_t slot, bool steady,
                  std::size_t outside) override;
  std::size_t region_size() const noexcept override { return region_ != nullptr ? region_->size : 0; }

  static constexpr std::size_t everything = ~std::size_t{0};

 private:
  stream_free_index<Index>& index_of(const pool_block* b) noexcept {
    return b->chunk->is_region ? region_free_ : free_;
  }
  pool_block* grow(std::size_t n, std::size_t a, std::size_t need, std::uint32_t s, stream_view stream,
                   region_use region, std::size_t requested, std::size_t live_bytes);
  pool_block* add_chunk(std::size_t bytes, std::size_t alignment, stream_view stream);
  pool_block* carve(pool_block* b, std::uintptr_t start, std::size_t n);
  pool_block* split(pool_block* b, std::size_t at);
  void take_used(pool_block* b, std::size_t bytes, std::size_t alignment);
  void drop_chunk(pool_chunk* c);
  void demote_region();
  bool set_range_region(std::size_t size, std::uint32_t s, bool steady, std::size_t outside);
  std::size_t releasable(std::uint32_t s) const;
  bool quiet(const pool_chunk& c, std::uint32_t s) const noexcept;
  std::size_t adoption_limit(bool steady) const noexcept;
  std::uint32_t owner(const pool_chunk& c) const noexcept;
  static constexpr std::uint32_t mixed = ~std::uint32_t{0};
  stream_view chunk_stream(const pool_chunk& c) const noexcept;

  upstream_account& upstream_;
  growth_policy& growth_;
  std::size_t maximum_size_;
  block_store blocks_;  // before the indexes, which put merged descriptors back into it
  stream_slots slots_;
  region_map map_;
  stream_free_index<Index> free_;         // blocks of ordinary chunks
  stream_free_index<Index> region_free_;  // blocks of the region
  std::vector<std::unique_ptr<pool_chunk>> chunks_;
  pool_chunk* region_ = nullptr;          // one of chunks_, or null
  virtual_range* range_;                   // where the region grows in place, or null
  block_table used_;
};

}  // namespace unimem::detail
