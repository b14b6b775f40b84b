// Internal: the stream-ordering piece of pool_resource. Free blocks are indexed per owner: slot 0
// holds blocks every stream may use (settled), slot s > 0 blocks freed on stream s whose work may
// still be running. Freed memory is reused at once on its own stream; another stream gets it
// when the owner's event covering the free has completed, or at once by waiting on that event on
// the device (stream_slots::order_after) rather than growing the pool. Not installed.
#pragma once

#include <cstdint>
#include <vector>

#include <unimem/stream.hpp>
#include <unimem/stream_events.hpp>

#include "pools/pool_detail.hpp"
#include "pools/region_map.hpp"
#include "pools/stream_slots.hpp"

namespace unimem::detail {

/// `Index` is the free-block index of one owner (tlsf_index or ordered_index).
template <class Index>
class stream_free_index {
 public:
  /// @param slots the pool's streams (shared by its indexes)
  /// @param store where merged-away block descriptors go back to
  /// @param map when non-null, kept told of every block start and free block (the plan region)
  stream_free_index(stream_slots& slots, block_store& store, region_map* map = nullptr)
      : slots_(slots), index_(1), store_(store), map_(map) {}

  bool ordered() const noexcept { return slots_.ordered(); }
  std::uint32_t slot_count() const noexcept { return slots_.count(); }
  stream_view stream(std::uint32_t slot) const noexcept { return slots_.stream(slot); }
  bool empty() const noexcept { return indexed() == 0; }

  /// The owner slot of memory freed on `stream` (0 when streams are not told apart).
  std::uint32_t slot_for(stream_view stream) {
    const std::uint32_t s = slots_.slot_of(stream);
    grow_to(slots_.count());
    return s;
  }

  void insert(pool_block* b) {
    grow_to(b->slot + 1);
    index_[b->slot].insert(b);
    if (map_ != nullptr) map_->add_free(b);
  }
  void remove(pool_block* b) noexcept {
    index_[b->slot].remove(b);
    if (map_ != nullptr) map_->remove_free(b);
  }

  /// The tightest free block of at least `need` bytes that slot `s` may use now, or null. With
  /// `claim`, memory of other streams is taken as a last resort by ordering s after them.
  pool_block* find(std::size_t need, std::uint32_t s, bool claim = true) {
    grow_to(s + 1);
    pool_block* best = index_[0].find(need);
    if (s != 0) {
      pool_block* own = index_[s].find(need);
      if (own != nullptr && (best == nullptr || own->size < best->size)) best = own;
    }
    if (best != nullptr || index_.size() <= 2) return best;
    // Other streams may own memory whose work has finished ...
    settle_others(s, false);
    if ((best = index_[0].find(need)) != nullptr || !claim) return best;
    // ... or memory s may use once it waits for their work.
    for (std::uint32_t t = 1; t < index_.size(); ++t) {
      if (t == s) continue;
      pool_block* b = index_[t].find(need);
      if (b != nullptr && (best == nullptr || b->size < best->size)) best = b;
    }
    return best != nullptr ? take_over(best, s) : nullptr;
  }

  /// The free block `b` made usable by slot `s` now (ordering s after b's owner if needed); it
  /// may have merged with neighbours of s, so the block returned can start before `b`.
  pool_block* usable_by(pool_block* b, std::uint32_t s) {
    if (b->slot == 0 || b->slot == s) return b;
    return take_over(b, s);
  }

  /// Marks the used block `b` free on slot `s`, merges it with the free neighbours it may join
  /// and indexes the result, which it returns.
  pool_block* free_block(pool_block* b, std::uint32_t s) {
    b->is_free = true;
    b = merge_for(b, s);
    b->slot = s;
    // Stamps only grow per stream, so the new stamp covers every block merged in.
    b->stamp = slots_.note_free(s);
    insert(b);
    return b;
  }

  /// Hands blocks owned by streams other than `s` whose events completed to slot 0, merging
  /// them with settled neighbours. `block` waits on each stream's event instead of polling
  /// (only before out_of_memory and in release() / trim()).
  void settle_others(std::uint32_t s, bool block) {
    for (std::uint32_t t = 1; t < index_.size(); ++t) {
      if (t != s) settle_one(t, block);
    }
  }

  void settle_one(std::uint32_t t, bool block) {
    if (t >= index_.size() || index_[t].empty()) return;
    const std::uint64_t done = block ? slots_.wait(t) : slots_.poll(t);
    std::vector<pool_block*> ready;
    index_[t].for_each([&](pool_block* b) {
      if (b->stamp <= done) ready.push_back(b);
    });
    for (pool_block* b : ready) {
      remove(b);
      b->slot = 0;
      if (b->next != nullptr && b->next->is_free && b->next->slot == 0) {
        remove(b->next);
        absorb_next(b);
      }
      if (b->prev != nullptr && b->prev->is_free && b->prev->slot == 0) {
        remove(b->prev);
        b = b->prev;
        absorb_next(b);
      }
      b->stamp = 0;
      insert(b);
    }
  }

  /// Visits every indexed block; `f` must not change the index.
  template <class F>
  void for_each(F&& f) const {
    for (const Index& ix : index_) ix.for_each(f);
  }

  /// Free blocks indexed over every owner (checked mode).
  std::size_t indexed() const noexcept {
    std::size_t n = 0;
    for (const Index& ix : index_) n += ix.size();
    return n;
  }
  std::size_t index_count() const noexcept { return index_.size(); }

  /// Folds b->next (already out of every index) into b.
  void absorb_next(pool_block* b) {
    pool_block* second = b->next;
    if (map_ != nullptr) map_->clear_start(second->addr);
    b->size += second->size;
    b->next = second->next;
    if (second->next != nullptr) second->next->prev = b;
    store_.put(second);
  }

 private:
  /// Merges the block `b` (out of every index) with the free neighbours slot `s` may use and
  /// returns the merged block (out of every index). A neighbour with no pending work (slot 0) may
  /// join memory owned by s: the result is usable by s at once and by others after s's event,
  /// which is safe for both. Loops: absorbing a slot-0 neighbour can bring another block of s
  /// next to this one.
  pool_block* merge_for(pool_block* b, std::uint32_t s) {
    auto joinable = [s](const pool_block* nb) { return nb != nullptr && nb->is_free && (nb->slot == s || nb->slot == 0); };
    while (joinable(b->next)) {
      remove(b->next);
      absorb_next(b);
    }
    while (joinable(b->prev)) {
      pool_block* lower = b->prev;
      remove(lower);
      absorb_next(lower);
      b = lower;
    }
    return b;
  }

  void grow_to(std::size_t n) {
    if (index_.size() < n) index_.resize(n);
  }

  /// Gives the free block `b` of another stream to slot `s`: s waits for the free's event, the
  /// block gets a stamp of s (a third stream must wait for s, whose work now follows the owner's)
  /// and merges with the free neighbours s may use. Returns the merged block.
  pool_block* take_over(pool_block* b, std::uint32_t s) {
    slots_.order_after(s, b->slot, b->stamp);
    remove(b);
    b = merge_for(b, s);
    b->slot = s;
    b->stamp = slots_.note_free(s);
    insert(b);
    return b;
  }

  stream_slots& slots_;
  std::vector<Index> index_;  // per slot
  block_store& store_;
  region_map* map_;
};

}  // namespace unimem::detail
