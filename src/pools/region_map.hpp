// Internal: where the blocks of a pool's plan region start, so that a planned allocation can be
// put at its planned offset in O(1): the free block containing an address is the last block that
// starts at or below it (a three-level bitmap over the region's granules finds it) if that block
// is free (a table of the region's free blocks by address says). Not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pools/pool_detail.hpp"

namespace unimem::detail {

class region_map {
 public:
  /// Maps [base, base + size); size a multiple of the granule. Forgets the previous range.
  void reset(std::uintptr_t base, std::size_t size) {
    base_ = base;
    const std::size_t granules = size >> pool_granule_shift;
    l0_.assign((granules + 63) / 64, 0);
    l1_.assign((l0_.size() + 63) / 64, 0);
    l2_.assign((l1_.size() + 63) / 64, 0);
    free_ = block_table();
  }

  /// Grows the range to `size` bytes from the same base (a range that grew in place).
  void extend(std::size_t size) {
    const std::size_t granules = size >> pool_granule_shift;
    l0_.resize((granules + 63) / 64, 0);
    l1_.resize((l0_.size() + 63) / 64, 0);
    l2_.resize((l1_.size() + 63) / 64, 0);
  }

  void mark_start(std::uintptr_t addr) noexcept {
    const std::size_t g = (addr - base_) >> pool_granule_shift;
    l0_[g >> 6] |= std::uint64_t{1} << (g & 63);
    l1_[g >> 12] |= std::uint64_t{1} << ((g >> 6) & 63);
    l2_[g >> 18] |= std::uint64_t{1} << ((g >> 12) & 63);
  }

  void clear_start(std::uintptr_t addr) noexcept {
    const std::size_t g = (addr - base_) >> pool_granule_shift;
    if ((l0_[g >> 6] &= ~(std::uint64_t{1} << (g & 63))) != 0) return;
    if ((l1_[g >> 12] &= ~(std::uint64_t{1} << ((g >> 6) & 63))) != 0) return;
    l2_[g >> 18] &= ~(std::uint64_t{1} << ((g >> 12) & 63));
  }

  bool is_start(std::uintptr_t addr) const noexcept {
    const std::size_t g = (addr - base_) >> pool_granule_shift;
    return (l0_[g >> 6] >> (g & 63)) & 1u;
  }

  void add_free(pool_block* b) { free_.insert(b->addr, b); }
  void remove_free(pool_block* b) noexcept { free_.erase(b->addr); }
  std::size_t free_count() const noexcept { return free_.size(); }

  /// The free block that contains `addr` (inside the range), or null when a used block does.
  pool_block* free_block_at(std::uintptr_t addr) const noexcept {
    const std::size_t g = (addr - base_) >> pool_granule_shift;
    return free_.find(base_ + (last_start_at_or_below(g) << pool_granule_shift));
  }

 private:
  static std::uint64_t upto(unsigned k) noexcept { return k == 63 ? ~std::uint64_t{0} : (std::uint64_t{2} << k) - 1; }
  static unsigned top(std::uint64_t v) noexcept { return 63u - static_cast<unsigned>(__builtin_clzll(v)); }

  /// The granule of the last block start at or below granule `g` (the range's first granule
  /// always starts a block).
  std::size_t last_start_at_or_below(std::size_t g) const noexcept {
    std::size_t w = g >> 6;
    if (std::uint64_t v = l0_[w] & upto(g & 63)) return (w << 6) | top(v);
    std::size_t w1 = w >> 6;
    std::uint64_t v1 = (w & 63) != 0 ? l1_[w1] & upto((w & 63) - 1) : 0;
    if (v1 == 0) {
      std::size_t w2 = w1 >> 6;
      std::uint64_t v2 = (w1 & 63) != 0 ? l2_[w2] & upto((w1 & 63) - 1) : 0;
      while (v2 == 0) {
        if (w2 == 0) return 0;  // not reached: granule 0 starts a block
        v2 = l2_[--w2];
      }
      w1 = (w2 << 6) | top(v2);
      v1 = l1_[w1];
    }
    w = (w1 << 6) | top(v1);
    return (w << 6) | top(l0_[w]);
  }

  std::uintptr_t base_ = 0;
  std::vector<std::uint64_t> l0_, l1_, l2_;
  block_table free_;
};

}  // namespace unimem::detail
