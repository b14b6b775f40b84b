// Internal: the stream-ordering piece of pool_resource. Free blocks are indexed per owner: slot 0
// holds blocks every stream may use (settled), slot s > 0 blocks freed on stream s whose work may
// still be running. Freed memory is reused at once on its own stream; another stream gets it once
// the owner's event covering the free has completed (stream_slots). Not installed.
#pragma once

#include <cstdint>
#include <vector>

#include <unimem/stream.hpp>
#include <unimem/stream_events.hpp>

#include "pools/pool_detail.hpp"
#include "pools/stream_slots.hpp"

namespace unimem::detail {

/// `Index` is the free-block index of one owner (tlsf_index or ordered_index).
template <class Index>
class stream_free_index {
 public:
  /// @param events null: host-only memory, every free is settled at once
  /// @param store where merged-away block descriptors go back to
  stream_free_index(stream_event_source* events, block_store& store) : slots_(events), index_(1), store_(store) {}

  bool ordered() const noexcept { return slots_.ordered(); }
  std::uint32_t slot_count() const noexcept { return slots_.count(); }
  stream_view stream(std::uint32_t slot) const noexcept { return slots_.stream(slot); }

  /// The owner slot of memory freed on `stream` (0 when streams are not told apart).
  std::uint32_t slot_for(stream_view stream) {
    const std::uint32_t s = slots_.slot_of(stream);
    if (index_.size() < slots_.count()) index_.resize(slots_.count());
    return s;
  }

  void insert(pool_block* b) { index_[b->slot].insert(b); }
  void remove(pool_block* b) noexcept { index_[b->slot].remove(b); }

  /// The tightest free block of at least `need` bytes that slot `s` may use now, or null.
  pool_block* find(std::size_t need, std::uint32_t s) {
    pool_block* best = index_[0].find(need);
    if (s != 0) {
      pool_block* own = index_[s].find(need);
      if (own != nullptr && (best == nullptr || own->size < best->size)) best = own;
    }
    if (best != nullptr || slots_.count() <= 2) return best;
    // Other streams may own memory whose work has finished.
    settle_others(s, false);
    return index_[0].find(need);
  }

  /// Marks the used block `b` free on slot `s`, merges it with the free neighbours it may join
  /// and indexes the result, which it returns.
  pool_block* free_block(pool_block* b, std::uint32_t s) {
    b->is_free = true;
    // A neighbour with no pending work (slot 0) may join memory owned by stream s: the merged
    // block is then usable by s at once and by others after s's event, which is safe for both.
    auto joinable = [s](const pool_block* nb) { return nb != nullptr && nb->is_free && (nb->slot == s || nb->slot == 0); };
    // Loops: absorbing a slot-0 neighbour can bring another block of slot s next to this one.
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
    b->slot = s;
    // Stamps only grow per stream, so the new stamp covers every block merged in.
    b->stamp = slots_.note_free(s);
    insert(b);
    return b;
  }

  /// A fresh stamp of slot `s`, for memory that becomes free on it without a free call.
  std::uint64_t note_free(std::uint32_t s) { return slots_.note_free(s); }

  /// Hands blocks owned by streams other than `s` whose events completed to slot 0. `block`
  /// waits on each stream's event instead of polling (only before out_of_memory and in
  /// release() / trim()).
  void settle_others(std::uint32_t s, bool block) {
    for (std::uint32_t t = 1; t < slots_.count(); ++t) {
      if (t != s) settle_one(t, block);
    }
  }

  void settle_one(std::uint32_t t, bool block) {
    if (index_[t].empty()) return;
    const std::uint64_t done = block ? slots_.wait(t) : slots_.poll(t);
    std::vector<pool_block*> ready;
    index_[t].for_each([&](pool_block* b) {
      if (b->stamp <= done) ready.push_back(b);
    });
    for (pool_block* b : ready) {
      index_[t].remove(b);
      b->slot = 0;
      if (b->next != nullptr && b->next->is_free && b->next->slot == 0) {
        index_[0].remove(b->next);
        absorb_next(b);
      }
      if (b->prev != nullptr && b->prev->is_free && b->prev->slot == 0) {
        index_[0].remove(b->prev);
        b = b->prev;
        absorb_next(b);
      }
      b->stamp = 0;
      index_[0].insert(b);
    }
  }

  /// Free blocks indexed over every owner (checked mode).
  std::size_t indexed() const noexcept {
    std::size_t n = 0;
    for (const Index& ix : index_) n += ix.size();
    return n;
  }
  std::size_t index_count() const noexcept { return index_.size(); }

 private:
  /// Folds b->next (already out of every index) into b.
  void absorb_next(pool_block* b) {
    pool_block* second = b->next;
    b->size += second->size;
    b->next = second->next;
    if (second->next != nullptr) second->next->prev = b;
    store_.put(second);
  }

  stream_slots slots_;
  std::vector<Index> index_;  // per slot
  block_store& store_;
};

}  // namespace unimem::detail
