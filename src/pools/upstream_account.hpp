// Internal: the pool's side of its upstream — every byte the pool holds comes and goes through
// here, so reserved bytes, their peak and the number of upstream calls are counted in one place.
// Not installed.
#pragma once

#include <algorithm>
#include <cstddef>

#include <unimem/memory_resource.hpp>

namespace unimem::detail {

class upstream_account {
 public:
  explicit upstream_account(memory_resource& upstream) noexcept : upstream_(upstream) {}

  memory_resource& resource() const noexcept { return upstream_; }

  /// @throws whatever upstream throws (out_of_memory); nothing is counted then
  void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
    void* p = upstream_.allocate(bytes, alignment, stream);
    ++allocations_;
    reserved_ += bytes;
    peak_ = std::max(peak_, reserved_);
    round_counted_ = false;
    return p;
  }

  void deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
    upstream_.deallocate(p, bytes, alignment, stream);
    ++deallocations_;
    reserved_ -= bytes;
    count_round();
  }

  /// Memory mapped into (or unmapped from) the pool's virtual range: held like upstream memory,
  /// one call each.
  void mapped(std::size_t bytes) noexcept {
    ++allocations_;
    reserved_ += bytes;
    peak_ = std::max(peak_, reserved_);
    round_counted_ = false;
  }
  void unmapped(std::size_t bytes) noexcept {
    ++deallocations_;
    reserved_ -= bytes;
    count_round();
  }

  std::size_t reserved() const noexcept { return reserved_; }
  std::size_t peak() const noexcept { return peak_; }
  std::size_t allocations() const noexcept { return allocations_; }
  std::size_t deallocations() const noexcept { return deallocations_; }
  std::size_t release_rounds() const noexcept { return rounds_; }

 private:
  memory_resource& upstream_;
  std::size_t reserved_ = 0;
  std::size_t peak_ = 0;
  std::size_t allocations_ = 0;
  std::size_t deallocations_ = 0;
  std::size_t rounds_ = 0;
  bool round_counted_ = false;  // the latest call gave memory back

  /// Deallocations with no allocation between them are one round (one synchronization).
  void count_round() noexcept {
    if (!round_counted_) ++rounds_;
    round_counted_ = true;
  }
};

}  // namespace unimem::detail
