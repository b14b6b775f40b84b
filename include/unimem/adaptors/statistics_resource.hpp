/// @file statistics_resource.hpp
/// @brief Adaptor that counts bytes and allocations, overall and per tag.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <unimem/memory_resource.hpp>
#include <unimem/tag.hpp>

namespace unimem {

/// @brief Current and peak bytes and counts of one group of allocations.
struct usage_counters {
  std::size_t current_bytes = 0;
  std::size_t peak_bytes = 0;
  std::size_t current_count = 0;
  std::size_t peak_count = 0;
  std::size_t total_count = 0;  ///< allocations ever made
};

/// @brief usage_counters of one tag.
struct tagged_usage {
  tag_id tag = untagged;
  std::string name;
  usage_counters usage;
};

/// @brief Forwards to `upstream` and counts requested bytes and allocations: overall, and per
/// tag (the calling thread's tag_scope at allocation; the free is charged to the same tag).
/// Remembers each live allocation, so a free of a pointer it did not hand out, a double free or a
/// size or alignment other than the allocation's throws std::invalid_argument before anything is
/// forwarded, and the counters stay exact. Thread-safe. Keeps the upstream's traits.
class statistics_resource final : public memory_resource {
 public:
  /// @param upstream must outlive the adaptor
  explicit statistics_resource(memory_resource& upstream);
  ~statistics_resource() override;

  memory_resource& upstream() const noexcept { return *upstream_; }
  usage_counters totals() const;
  /// @brief Counters of one tag (zeros if it never allocated here).
  usage_counters for_tag(tag_id tag) const;
  /// @brief Every tag that allocated here, largest current bytes first.
  std::vector<tagged_usage> by_tag() const;
  /// @brief Sets every peak to the current value (to measure the next phase alone).
  void reset_peaks();

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override;
  resource_traits do_traits() const noexcept override { return upstream_->traits(); }
  std::string_view do_name() const noexcept override { return "unimem::statistics_resource"; }

  memory_resource* upstream_;
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace unimem
