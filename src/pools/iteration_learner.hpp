// Internal: pool_resource's iteration learning. Not installed.
//
// A process repeats work: forward passes, training steps, the token steps of a generation. The
// learner cuts the stream of calls into segments ("iterations") without needing an empty pool:
// a segment ends at a free that brings the number of live allocations down to the level where
// the previous one ended (weights, optimizer state and caches stay live across the cut). While
// that level is not reached, a level that recurs — the lowest since the segment's latest high,
// after the same calls, with everything allocated in between freed — is taken as the level
// between iterations and the segment is cut back to its previous occurrence; failing that, after
// a long stretch without a cut the level is lifted to the lowest one seen lately. Each segment's
// call structure — which call allocates, which frees which allocation, on which stream, at which
// alignment; not the sizes — keys a plan. From the second segment of a structure on, the plan is
// laid out offline (pool_plan) for the allocations that live and die inside the segment, at the
// largest size seen at each call, so variable shapes reuse it. Allocations that outlive their
// segment (weights, caches) are recognised by the same structure and kept out of the planned
// region.
//
// The learner never hands out memory: it advises the general allocator where the next allocation
// should go — its planned offset in the region, anywhere, outside the region, or (a segment that
// follows no plan) outside a region that may go back — and the general allocator takes that
// place only if it is free for that stream. A wrong guess costs
// fragmentation, never safety, so a plan may be switched, followed in part or dropped at any call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "pools/growth_policy.hpp"
#include "pools/pool_detail.hpp"
#include "pools/pool_plan.hpp"

namespace unimem::detail {

/// What the learner needs from the general allocator: one region for the plans.
class region_host {
 public:
  /// Holds a region of at least `size` bytes at `alignment` for planned allocations (grown in
  /// place, or swapped when idle), or shrinks an idle one to `size`. Refuses (false) when the
  /// pool would then hold more than its peak so far, counting `outside` bytes the plan's segment
  /// will yet take outside the region — a layout that needs more than the general allocator did
  /// is not adopted — unless `steady` (the iteration repeats with the same sizes, so the plan
  /// removes every upstream call of it) and the excess is at most 1/8.
  virtual bool set_region(std::size_t size, std::size_t alignment, std::uint32_t slot, bool steady,
                          std::size_t outside) = 0;
  /// Bytes of the region now (0: none).
  virtual std::size_t region_size() const noexcept = 0;

 protected:
  ~region_host() = default;
};

/// Where the next allocation should go.
struct placement_advice {
  enum class where : std::uint8_t {
    anywhere,        ///< nothing known: the general allocator's choice (the region included)
    at_offset,       ///< the planned place, `offset` bytes from the region's start
    outside_region,  ///< it outlives its segment: keep it out of the planned region
    unplanned,       ///< its segment follows no plan: keep it out of the region, which may go back
  };
  where kind = where::anywhere;
  std::size_t offset = 0;
};

class iteration_learner {
 public:
  struct settings {
    bool learn = true;                             ///< pool_options::learn_iterations
    std::size_t max_calls = std::size_t{1} << 16;  ///< pool_options::max_learned_calls
    bool frugal = true;  ///< unplanned segments grow by exactly what they ask (no growth_step set)
  };

  iteration_learner(settings s, region_host& host, growth_policy& growth);
  ~iteration_learner();
  iteration_learner(const iteration_learner&) = delete;
  iteration_learner& operator=(const iteration_learner&) = delete;

  /// Before an allocation of `bytes` at alignment 2^`align_log2` on stream slot `slot`.
  placement_advice advise(std::size_t bytes, std::uint8_t align_log2, std::uint32_t slot);
  /// After it: `b` is the used block that serves it (b->seq is set here); `live_count` allocations
  /// are live, this one included.
  void on_allocate(pool_block* b, std::uint32_t slot, std::size_t live_count);
  /// After a free of the allocation numbered `seq` on `slot`; `live_count` allocations remain.
  void on_free(std::uint64_t seq, std::uint32_t slot, std::size_t live_count);

  /// This segment is following a plan whose layout the region holds.
  bool following() const noexcept;
  /// following(), or between segments: the last one did.
  bool serving() const noexcept { return seg_calls_ == 0 ? last_followed_ : following(); }
  std::size_t plans_built() const noexcept { return plans_built_; }
  std::size_t divergences() const noexcept { return divergences_; }
  std::size_t segments() const noexcept { return segments_; }

 private:
  struct plan;
  struct call_record {
    std::uint64_t value;   // alloc: bytes; free: the segment's allocation number, or ~0 (older)
    std::uint64_t sig;     // the call's structure (kind, stream slot, alignment, freed allocation)
    std::uint64_t prefix;  // hash of the structure up to and including this call
  };

  static std::uint64_t alloc_sig(std::uint8_t align_log2, std::uint32_t slot) noexcept;
  static std::uint64_t free_sig(std::uint64_t target, std::uint32_t slot) noexcept;
  void push(std::uint64_t value, std::uint64_t sig);
  void begin_segment(std::uint64_t sig, std::size_t bytes);
  void lift_floor(std::size_t live_count);
  void note_structure(std::uint64_t sig) noexcept;
  bool recurred(std::size_t live_count);
  bool closed_since(std::size_t call, std::uint64_t seq) const noexcept;
  std::vector<call_record> rebased(std::size_t begin, std::size_t end, std::uint64_t first_seq) const;
  void cut_recurrence(std::size_t call, std::uint64_t seq);
  void load_segment(std::vector<call_record> calls, std::uint64_t first_seq);
  plan* choose_plan(std::size_t bytes, std::uint64_t sig) const;
  plan* switch_plan(std::uint64_t sig, std::uint64_t prefix) const;
  plan* find_plan() const;
  plan* remember();
  bool merge_sizes(plan& p);
  void note_first_allocation(plan& p) const;
  void evict_beyond_capacity();
  void lay_out(plan& p, bool headroom);
  void adopt_region(const plan& p);
  bool sizes_region(const plan& p) const noexcept;
  static std::size_t most_live(const std::vector<planned_interval>& iv);
  void end_segment();
  void start_segment();

  settings settings_;
  region_host& host_;
  growth_policy& growth_;

  // The segment being recorded.
  std::vector<call_record> calls_;
  std::size_t seg_calls_ = 0;
  std::uint32_t seg_allocs_ = 0;
  std::uint64_t hash_ = 0;            // of the structure so far
  std::uint64_t seg_first_seq_ = 0;   // number of the segment's first allocation
  std::uint64_t next_seq_ = 0;        // number of the next allocation
  bool recording_ = true;             // false: too long to learn, only counted

  // Cutting segments: at a free that brings the live count down to floor_.
  std::size_t floor_ = 0;
  std::size_t level_min_[2] = {~std::size_t{0}, ~std::size_t{0}};  // of the last two blocks of calls
  std::uint64_t calls_total_ = 0;
  std::uint64_t last_cut_ = 0;
  std::uint64_t seg_start_call_ = 0;
  std::uint64_t longest_ = 0;

  // Finding the level early: the structure of the latest calls (frees by how many allocations
  // ago, so that it does not depend on where a segment began), and where this segment's lowest
  // level since its latest high was reached after each such structure.
  static constexpr std::size_t recent_calls = 16;
  struct level_mark {
    std::uint64_t structure;  // recent_hash_ then
    std::size_t call;         // seg_calls_ then (the call after the free)
    std::uint64_t seq;        // next_seq_ then
  };
  std::uint64_t recent_[recent_calls] = {};
  std::size_t recent_pos_ = 0;
  std::uint64_t recent_hash_ = 0;
  static constexpr std::size_t max_level_marks = 16;
  std::size_t seg_low_ = ~std::size_t{0};   // lowest live count since seg_high_ was reached
  std::size_t seg_high_ = 0;                // highest live count of the segment
  level_mark marks_[max_level_marks] = {};  // the latest occurrence of each structure (no heap use
  std::size_t marks_used_ = 0;              // per call), the oldest replaced when full
  std::size_t marks_next_ = 0;

  // Plans, most recently used first; the one followed in this segment.
  std::vector<std::unique_ptr<plan>> plans_;
  plan* plan_ = nullptr;       // followed in this segment (null: none)
  plan* previous_ = nullptr;   // the plan of the previous segment (to learn what follows it)
  plan* predicted_ = nullptr;  // the plan expected for the next segment
  bool matched_ = false;       // this segment has matched plan_ call for call so far
  bool began_following_ = true;  // it followed a plan from its first call (or there is no region)
  bool counted_divergence_ = false;
  bool last_followed_ = false;
  std::size_t region_size_ = 0;     // the host's, at the start of this segment
  std::size_t refused_size_ = 0;    // a region size the host refused, not asked for again ...
  std::size_t refused_at_ = 0;      // ... until this many segments later
  bool refused_steady_ = false;     // ... or until its plan is found steady

  std::size_t plans_built_ = 0;
  std::size_t divergences_ = 0;
  std::size_t segments_ = 0;
};

}  // namespace unimem::detail
