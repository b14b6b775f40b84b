// Internal: how much a pool_resource takes from upstream when it grows, and when it gives chunks
// back. Pure decisions over sizes, so each is testable on its own. Not installed.
#pragma once

#include <algorithm>
#include <cstddef>

#include "detail/size_math.hpp"
#include "pools/pool_detail.hpp"

namespace unimem::detail {

class growth_policy {
 public:
  /// Smallest chunk of the frugal phase: small requests share one.
  static constexpr std::size_t frugal_min_chunk = std::size_t{64} << 10;
  static constexpr std::size_t adaptive_min_step = std::size_t{256} << 10;
  static constexpr std::size_t adaptive_max_step = std::size_t{64} << 20;

  /// @param growth_step bytes per growth (0: adaptive)
  /// @param maximum_size most bytes the pool may hold
  /// @param frugal start in the frugal phase (a first iteration being learned)
  growth_policy(std::size_t growth_step, std::size_t maximum_size, bool frugal) noexcept
      : growth_step_(growth_step), maximum_size_(maximum_size), frugal_(frugal) {}

  /// Frugal: grow by exactly what is asked, so that a first iteration's peak stays at its live
  /// peak (it costs upstream calls, once per iteration shape).
  bool frugal() const noexcept { return frugal_; }
  void set_frugal(bool on) noexcept { frugal_ = on; }

  /// Bytes of the chunk to take for a request of `n` bytes when `reserved` are held.
  std::size_t chunk_bytes(std::size_t n, std::size_t reserved) const noexcept {
    std::size_t step = growth_step_;
    if (frugal_) {
      step = frugal_min_chunk;
    } else if (step == 0) {
      step = std::clamp(reserved / 32, adaptive_min_step, adaptive_max_step);
    }
    std::size_t bytes = std::max(n, align_up(step, pool_granule));
    if (maximum_size_ - std::min(maximum_size_, reserved) < bytes) bytes = n;  // stay under the cap
    return bytes;
  }

  /// In the frugal phase a wholly free chunk much larger than the request is not cut up: the pool
  /// grows by the request instead and returns that chunk if the growth would set a new
  /// high-water mark, so a small allocation does not pin memory a large one will need.
  bool too_loose(const pool_block& b, std::size_t need) const noexcept {
    return frugal_ && b.chunk->used == 0 && b.size > std::max(need + need / 8, frugal_min_chunk);
  }

  /// Wholly free chunks go back before the pool would hold more than it ever has (they are
  /// likely the wrong shape for what is being asked now, and this keeps the peak low), but only
  /// once what the pool would hold exceeds what will be live by more than 1/16 of it. Each
  /// return is a round of upstream deallocations, and over device memory every round
  /// synchronizes the device (cudaFree): giving back a few free chunks only to take another one
  /// at once would pay that on nearly every growth of an unplanned iteration. With weights live
  /// in the pool the allowance is large enough that an iteration's churn stays in it; the peak
  /// stays within 1/16 of the live peak.
  /// @param live_after bytes live once the request that grows the pool is served
  static bool return_free_chunks_first(std::size_t reserved, std::size_t bytes, std::size_t peak,
                                       std::size_t live_after) noexcept {
    const std::size_t after = reserved + bytes;
    return after > peak && after > live_after + live_after / free_allowance;
  }
  /// Free bytes the pool may hold beyond what is live before a new high-water mark returns
  /// wholly free chunks: 1/free_allowance of the live bytes.
  static constexpr std::size_t free_allowance = 16;

  /// A held range of `have` bytes at `have_alignment` serves a need of `size` at `alignment`
  /// without wasting more than an eighth.
  static bool snug(std::size_t have, std::size_t have_alignment, std::size_t size, std::size_t alignment) noexcept {
    return have >= size && have - size <= size / 8 && have_alignment >= alignment;
  }

 private:
  std::size_t growth_step_;
  std::size_t maximum_size_;
  bool frugal_;
};

}  // namespace unimem::detail
