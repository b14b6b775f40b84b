// Internal: pool_resource's iteration learning. An iteration runs from one moment the pool is
// empty to the next. While the general allocator serves it, the learner records its calls; when
// the pool empties it lays the iteration out offline (pool_plan) in one region and serves the
// next identical iteration from that region with O(1) work per call. Not installed.
//
// The learner talks to the general allocator only through region_host: it asks for a region
// (a wholly free chunk that fits, else upstream memory) and, when an iteration leaves its plan,
// hands the region over as an ordinary chunk holding the plan's live allocations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <unimem/stream.hpp>
#include <unimem/tag.hpp>

#include "pools/growth_policy.hpp"
#include "pools/leak_report.hpp"
#include "pools/pool_detail.hpp"
#include "pools/pool_plan.hpp"
#include "pools/upstream_account.hpp"

namespace unimem::detail {

/// A live allocation of a region handed to the general allocator.
struct adopted_block {
  std::size_t offset = 0;
  std::size_t requested = 0;
  std::uint8_t align_log2 = 0;
  tag_id tag = untagged;
  std::uint32_t rec_index = 0;
};

/// What the learner needs from the general allocator.
class region_host {
 public:
  /// Streams are told apart (memory freed on one is not at once another's).
  virtual bool streams_ordered() const noexcept = 0;
  /// True when `addr` lies in one of the general allocator's chunks.
  virtual bool contains(std::uintptr_t addr) const noexcept = 0;
  /// Removes a wholly free chunk of about `size` bytes (no more than an eighth above) usable by
  /// `stream` from the general allocator and describes it in `out`; false when there is none.
  virtual bool take_snug_chunk(std::size_t size, std::size_t alignment, stream_view stream, pool_chunk& out) = 0;
  /// Returns the wholly free chunks that no stream other than `stream` may still use.
  virtual void release_free_chunks_for(stream_view stream) = 0;
  /// Takes over `region` as an ordinary chunk whose used blocks are `live` (sorted by offset);
  /// the gaps become free memory of `stream`.
  virtual void adopt(const pool_chunk& region, const std::vector<adopted_block>& live, stream_view stream) = 0;

 protected:
  ~region_host() = default;
};

/// Bytes and allocations live in the whole pool; the learner counts the ones it serves.
struct live_totals {
  std::size_t bytes = 0;
  std::size_t count = 0;
};

class iteration_learner {
 public:
  struct settings {
    bool learn = true;                       // pool_options::learn_iterations
    std::size_t max_calls = std::size_t{1} << 16;  // pool_options::max_learned_calls
  };

  iteration_learner(settings s, upstream_account& upstream, region_host& host, growth_policy& growth,
                    live_totals& live);
  /// Returns the region to upstream.
  ~iteration_learner();
  iteration_learner(const iteration_learner&) = delete;
  iteration_learner& operator=(const iteration_learner&) = delete;

  /// Serving a learned plan now: allocate() and deallocate() go here first.
  bool following() const noexcept { return plan_active_; }

  /// The planned place of the next call, or null when the call leaves the plan (the general
  /// allocator serves it then).
  void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream);
  /// True when the free was the plan's; false when it left the plan (the general allocator
  /// frees it then).
  /// @throws std::invalid_argument for a pointer the plan did not hand out or a wrong size
  bool deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream);

  /// The general allocator served an allocation (recorded when learning).
  void on_general_allocate(pool_block* b, stream_view stream);
  /// The general allocator freed the allocation recorded as `rec_index`.
  void on_general_free(std::uint32_t rec_index, stream_view stream);
  /// Nothing is live any more: the iteration ended.
  void on_empty();

  /// Drops the plans and returns the region when nothing is live; returns the bytes returned.
  std::size_t release();

  bool in_region(std::uintptr_t addr) const noexcept {
    return have_region_ && addr >= region_.base && addr < region_.base + region_.size;
  }
  bool has_region() const noexcept { return have_region_; }
  std::size_t region_bytes() const noexcept { return have_region_ ? region_.size : 0; }
  std::size_t plans_built() const noexcept { return plans_built_; }
  std::size_t divergences() const noexcept { return divergences_; }
  void tally(tag_tally& t) const;
  /// Planned allocations live now (checked mode).
  std::size_t live_planned() const noexcept;
  /// @throws std::logic_error naming a broken invariant
  void verify() const;

 private:
  /// One call of a recorded iteration: an allocate (bytes, alignment) or a free (of allocation
  /// number `value`).
  struct recorded_call {
    std::uint64_t value = 0;
    std::uint8_t align_log2 = 0;
    bool is_free = false;
  };

  /// A learned iteration: the calls it expects, in order, and where each allocation goes.
  struct iteration_plan {
    std::vector<recorded_call> calls;
    std::vector<std::size_t> offset;   // per allocation
    std::vector<std::size_t> bytes;    // per allocation: the request, checked on free
    std::vector<std::uint8_t> align_log2;
    predecessor_lists before;          // per allocation: who must be freed before it is placed
    std::vector<std::pair<std::size_t, std::uint32_t>> by_offset;  // (offset, allocation), sorted
    std::vector<tag_id> tag;           // per allocation, of the current iteration
    std::vector<std::uint8_t> live;    // per allocation, of the current iteration
    std::size_t size = 0;              // bytes of region it needs
    std::size_t alignment = 0;         // alignment of the region it needs
    stream_view stream{};
    std::size_t cursor = 0;            // strict mode: next call expected
    std::uint32_t next_alloc = 0;      // number of the next allocation
    bool loose = false;                // frees came in another order: allocations are checked
  };

  static constexpr std::size_t max_plans = 4;

  static bool same_calls(const std::vector<recorded_call>& x, const std::vector<recorded_call>& y);
  static bool lay_out(iteration_plan& pl, std::uint32_t allocs);
  static bool predecessors_free(const iteration_plan& pl, std::uint32_t j) noexcept;

  void record(std::uint64_t value, std::uint8_t align_log2, bool is_free, stream_view stream);
  void stop_recording();
  void build_plan();
  void promote(iteration_plan* pl);
  bool ensure_region(std::size_t size, std::size_t alignment, stream_view stream);
  void release_region();
  void* place_planned(iteration_plan& pl, std::size_t bytes);
  void go_loose(iteration_plan& pl);
  void free_planned(iteration_plan& pl, std::uint32_t j);
  void leave_plan();

  settings settings_;
  upstream_account& upstream_;
  region_host& host_;
  growth_policy& growth_;
  live_totals& live_;

  bool recording_;
  bool rec_single_stream_ = true;
  stream_view rec_stream_{};
  std::vector<recorded_call> rec_;
  std::uint32_t rec_allocs_ = 0;
  std::vector<std::unique_ptr<iteration_plan>> plans_;  // most recently used first
  iteration_plan* plan_ = nullptr;  // the plan being followed (set iff plan_active_)
  pool_chunk region_{};             // where plans are served from (valid iff have_region_)
  bool have_region_ = false;
  stream_view region_stream_{};
  bool plan_active_ = false;
  std::size_t plans_built_ = 0;
  std::size_t divergences_ = 0;
  std::size_t diverged_in_a_row_ = 0;
  std::size_t skip_plans_ = 0;
};

}  // namespace unimem::detail
