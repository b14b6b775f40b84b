// Internal building blocks of pool_resource: block descriptors kept in host memory, the
// pointer-to-block table and the two free-block indexes. Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "detail/tlsf_index.hpp"

namespace unimem::detail {

/// Every block is a multiple of this and starts at a multiple of it: what cudaMalloc gives.
inline constexpr std::size_t pool_granule = 256;
inline constexpr unsigned pool_granule_shift = 8;

struct pool_chunk;

/// Descriptor of a range inside a chunk, free or used. Lives in host memory because the managed
/// range may be device memory.
struct pool_block {
  std::uintptr_t addr = 0;
  std::size_t size = 0;              // bytes, a multiple of pool_granule
  pool_block* prev = nullptr;        // address-order neighbours inside the chunk
  pool_block* next = nullptr;
  pool_block* free_prev = nullptr;   // links of a TLSF list
  pool_block* free_next = nullptr;
  pool_chunk* chunk = nullptr;
  std::uint64_t stamp = 0;           // free: the owning stream's stamp at free time
  std::size_t requested = 0;         // used: bytes asked for
  std::uint64_t seq = 0;             // used: the pool's count of allocations when it was made
  std::uint32_t slot = 0;            // free: stream slot owning it (0: any stream)
  std::uint16_t tag = 0;             // used: tag_id at allocation
  std::uint8_t align_log2 = 0;       // used: log2 of the alignment asked for
  bool is_free = false;
};

/// One upstream allocation.
struct pool_chunk {
  std::uintptr_t base = 0;
  std::size_t size = 0;
  std::size_t alignment = pool_granule;
  std::size_t used = 0;              // used blocks inside
  pool_block* first = nullptr;
  bool is_region = false;            // the plan region (see iteration_learner)
  bool in_range = false;             // memory of the pool's virtual range, not of upstream
};

/// Hands out block descriptors from slabs so the hot path never calls the system allocator.
class block_store {
 public:
  pool_block* get() {
    if (free_ == nullptr) refill();
    pool_block* b = free_;
    free_ = b->next;
    *b = pool_block{};
    return b;
  }
  void put(pool_block* b) noexcept {
    b->next = free_;
    free_ = b;
  }

 private:
  void refill() {
    constexpr std::size_t n = 512;
    slabs_.push_back(std::make_unique<pool_block[]>(n));
    pool_block* slab = slabs_.back().get();
    for (std::size_t i = 0; i < n; ++i) put(&slab[i]);
  }
  std::vector<std::unique_ptr<pool_block[]>> slabs_;
  pool_block* free_ = nullptr;
};

/// Open-addressing table from a used block's address to its descriptor (linear probing,
/// Fibonacci hashing, backward-shift deletion: no tombstones, so it never degrades).
class block_table {
 public:
  block_table() { rehash(64); }

  std::size_t size() const noexcept { return size_; }

  pool_block* find(std::uintptr_t key) const noexcept {
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      const entry& e = entries_[i];
      if (e.key == key) return e.value;
      if (e.key == 0) return nullptr;
    }
  }

  void insert(std::uintptr_t key, pool_block* value) {
    if ((size_ + 1) * 2 > entries_.size()) rehash(entries_.size() * 2);
    place(key, value);
    ++size_;
  }

  void erase(std::uintptr_t key) noexcept {
    std::size_t i = home(key);
    while (entries_[i].key != key) {
      if (entries_[i].key == 0) return;
      i = (i + 1) & mask_;
    }
    // Shift later members of the probe run back so lookups never stop early at the hole.
    for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      const entry e = entries_[j];
      if (e.key == 0) break;
      const std::size_t h = home(e.key);
      // e may move into the hole at i when its home does not lie in (i, j] cyclically.
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        entries_[i] = e;
        i = j;
      }
    }
    entries_[i] = entry{};
    --size_;
  }

  template <class F>
  void for_each(F&& f) const {
    for (const entry& e : entries_) {
      if (e.key != 0) f(e.value);
    }
  }

 private:
  struct entry {
    std::uintptr_t key = 0;
    pool_block* value = nullptr;
  };

  std::size_t home(std::uintptr_t key) const noexcept {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(key) * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void place(std::uintptr_t key, pool_block* value) noexcept {
    std::size_t i = home(key);
    while (entries_[i].key != 0) i = (i + 1) & mask_;
    entries_[i] = entry{key, value};
  }

  void rehash(std::size_t capacity) {
    std::vector<entry> old = std::move(entries_);
    entries_.assign(capacity, entry{});
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(capacity));
    for (const entry& e : old) {
      if (e.key != 0) place(e.key, e.value);
    }
  }

  std::vector<entry> entries_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
};

/// Where a pool_block keeps what the TLSF index needs: sizes in granules, list links in place.
struct pool_block_links {
  using node = pool_block*;
  static constexpr unsigned unit_shift = pool_granule_shift;
  static constexpr pool_block* nil() noexcept { return nullptr; }
  static std::size_t size(const pool_block* b) noexcept { return b->size; }
  static pool_block*& free_prev(pool_block* b) noexcept { return b->free_prev; }
  static pool_block*& free_next(pool_block* b) noexcept { return b->free_next; }
};

/// The pool's free-block index: detail/tlsf_index.hpp over the blocks themselves, 32 classes per
/// power of two.
class tlsf_index : public basic_tlsf_index<pool_block_links> {
 public:
  /// A free block of at least `bytes` (a multiple of the granule), or null: the tightest of a few
  /// blocks of the request's own class, else of the first blocks of the next non-empty class.
  pool_block* find(std::size_t bytes) const noexcept {
    return basic_tlsf_index::find(
        bytes, [bytes](const pool_block* b) { return b->size >= bytes; },
        [](const pool_block* a, const pool_block* b) { return tighter(a, b); });
  }

  /// Smaller first, then lower address: address order among equals keeps long-lived blocks
  /// together at the bottom of a chunk (it measurably lowers fragmentation, see docs/pools.md).
  static bool tighter(const pool_block* a, const pool_block* b) noexcept {
    return a->size != b->size ? a->size < b->size : a->addr < b->addr;
  }
};

/// Exact best fit from a tree ordered by (size, address). O(log n) and a node allocation per
/// insert; measured against tlsf_index in docs/pools.md.
class ordered_index {
 public:
  bool empty() const noexcept { return set_.empty(); }
  std::size_t size() const noexcept { return set_.size(); }
  void insert(pool_block* b) { set_.insert(b); }
  void remove(pool_block* b) noexcept { set_.erase(b); }
  pool_block* find(std::size_t bytes) const noexcept {
    pool_block probe;
    probe.size = bytes;
    probe.addr = 0;
    auto it = set_.lower_bound(&probe);
    return it == set_.end() ? nullptr : *it;
  }
  template <class F>
  void for_each(F&& f) const {
    std::vector<pool_block*> all(set_.begin(), set_.end());  // f may remove
    for (pool_block* b : all) f(b);
  }

 private:
  struct by_size_then_address {
    bool operator()(const pool_block* a, const pool_block* b) const noexcept {
      return a->size != b->size ? a->size < b->size : a->addr < b->addr;
    }
  };
  std::set<pool_block*, by_size_then_address> set_;
};

}  // namespace unimem::detail
