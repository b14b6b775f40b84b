#include "pools/iteration_learner.hpp"

#include <algorithm>

#include <unimem/error.hpp>

#include "detail/size_math.hpp"
#include "pools/pool_errors.hpp"

namespace unimem::detail {
namespace {

std::uint8_t log2_of(std::size_t pow2) noexcept { return static_cast<std::uint8_t>(__builtin_ctzll(pow2)); }

}  // namespace

iteration_learner::iteration_learner(settings s, upstream_account& upstream, region_host& host, growth_policy& growth,
                                     live_totals& live)
    : settings_(s), upstream_(upstream), host_(host), growth_(growth), live_(live), recording_(s.learn) {}

iteration_learner::~iteration_learner() {
  if (have_region_) {
    try {
      release_region();
    } catch (...) {
    }
  }
}

// ---------------------------------------------------------------- recording

void iteration_learner::record(std::uint64_t value, std::uint8_t align_log2, bool is_free, stream_view stream) {
  if (rec_.empty()) {
    rec_stream_ = stream;
    rec_single_stream_ = true;
  } else if (stream != rec_stream_) {
    rec_single_stream_ = false;
  }
  rec_.push_back(recorded_call{value, align_log2, is_free});
  if (rec_.size() > settings_.max_calls) stop_recording();
}

void iteration_learner::on_general_allocate(pool_block* b, stream_view stream) {
  if (!recording_) return;
  b->rec_index = rec_allocs_++;
  record(b->requested, b->align_log2, false, stream);
}

void iteration_learner::on_general_free(std::uint32_t rec_index, stream_view stream) {
  if (!recording_) return;
  record(rec_index, 0, true, stream);
}

void iteration_learner::stop_recording() {
  recording_ = false;
  rec_.clear();
  rec_.shrink_to_fit();
  growth_.set_frugal(false);  // an iteration this long is not the shape the frugal phase is for
}

// ---------------------------------------------------------------- planning
//
// Plans of the last few iteration shapes are kept (a warm-up pass, two models taking turns) and
// share the region, which is as large as the largest of them; an iteration picks the plan whose
// first call it makes.

void iteration_learner::on_empty() {
  const bool plannable = recording_ && !rec_.empty() && (rec_single_stream_ || !host_.streams_ordered());
  if (plannable && skip_plans_ == 0) {
    build_plan();
  } else if (skip_plans_ > 0) {
    --skip_plans_;
  }
  if (!plan_active_) growth_.set_frugal(false);  // only a first iteration of a shape grows frugally
  rec_.clear();
  rec_allocs_ = 0;
  recording_ = settings_.learn && !plan_active_;
}

/// Plans the recorded iteration (or finds the same plan cached) and follows it from now on.
void iteration_learner::build_plan() {
  auto fresh = std::make_unique<iteration_plan>();
  fresh->calls = std::move(rec_);
  rec_.clear();
  fresh->stream = rec_stream_;
  iteration_plan* pl = nullptr;
  for (auto& cached : plans_) {
    if (cached->stream == fresh->stream && same_calls(cached->calls, fresh->calls)) pl = cached.get();
  }
  if (pl == nullptr) {
    if (!lay_out(*fresh, rec_allocs_)) return;  // too large to plan: stay general
    pl = fresh.get();
    plans_.insert(plans_.begin(), std::move(fresh));
    if (plans_.size() > max_plans) plans_.pop_back();
    ++plans_built_;
  }
  promote(pl);
  std::size_t size = pool_granule, alignment = pool_granule;
  for (const auto& p : plans_) {
    size = std::max(size, p->size);
    alignment = std::max(alignment, p->alignment);
  }
  if (!ensure_region(size, alignment, pl->stream)) return;  // no room: keep allocating generally
  plan_ = pl;
  plan_active_ = true;
  growth_.set_frugal(false);
}

bool iteration_learner::same_calls(const std::vector<recorded_call>& x, const std::vector<recorded_call>& y) {
  return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), [](const recorded_call& a, const recorded_call& b) {
           return a.value == b.value && a.align_log2 == b.align_log2 && a.is_free == b.is_free;
         });
}

/// Moves `pl` to the front of the cache (most recently used).
void iteration_learner::promote(iteration_plan* pl) {
  auto it = std::find_if(plans_.begin(), plans_.end(), [pl](const auto& u) { return u.get() == pl; });
  std::rotate(plans_.begin(), it, it + 1);
}

/// Offsets, predecessors and size of the plan of `pl.calls`; false when it is too large to plan.
bool iteration_learner::lay_out(iteration_plan& pl, std::uint32_t allocs) {
  std::vector<planned_interval> iv(allocs);
  pl.bytes.resize(allocs);
  pl.align_log2.resize(allocs);
  std::uint32_t j = 0;
  pl.alignment = pool_granule;
  for (std::uint32_t i = 0; i < pl.calls.size(); ++i) {
    const recorded_call& c = pl.calls[i];
    if (!c.is_free) {
      const std::size_t a = std::max(std::size_t{1} << c.align_log2, pool_granule);
      iv[j] = planned_interval{align_up(c.value, pool_granule), a, i, i};
      pl.bytes[j] = c.value;
      pl.align_log2[j] = c.align_log2;
      pl.alignment = std::max(pl.alignment, a);
      ++j;
    } else {
      iv[c.value].end = i;
    }
  }
  layout lay = plan_layout(iv);
  if (lay.offsets.size() != allocs) return false;
  pl.offset = std::move(lay.offsets);
  pl.size = std::max(lay.size, pool_granule);
  pl.before = plan_predecessors(pl.offset, iv);
  pl.by_offset.reserve(allocs);
  for (std::uint32_t k = 0; k < allocs; ++k) pl.by_offset.emplace_back(pl.offset[k], k);
  std::sort(pl.by_offset.begin(), pl.by_offset.end());
  pl.tag.assign(allocs, untagged);
  pl.live.assign(allocs, 0);
  return true;
}

/// Holds a region of at least `size` bytes; only called when nothing is live. Keeps the current
/// region or a free chunk if it fits snugly, else returns everything free before taking a new
/// region, so the swap never holds both.
bool iteration_learner::ensure_region(std::size_t size, std::size_t alignment, stream_view stream) {
  if (have_region_ && growth_policy::snug(region_.size, region_.alignment, size, alignment)) return true;
  if (have_region_) release_region();
  pool_chunk kept{};
  const bool keep = host_.take_snug_chunk(size, alignment, stream, kept);
  host_.release_free_chunks_for(stream);
  if (keep) {
    region_ = kept;
  } else {
    try {
      void* p = upstream_.allocate(size, alignment, stream);
      region_ = pool_chunk{};
      region_.base = reinterpret_cast<std::uintptr_t>(p);
      region_.size = size;
      region_.alignment = alignment;
    } catch (const out_of_memory&) {
      return false;
    }
  }
  have_region_ = true;
  region_stream_ = stream;
  return true;
}

void iteration_learner::release_region() {
  have_region_ = false;
  plan_active_ = false;
  plan_ = nullptr;
  upstream_.deallocate(reinterpret_cast<void*>(region_.base), region_.size, region_.alignment, region_stream_);
}

std::size_t iteration_learner::release() {
  if (!have_region_ || live_.count != 0) return 0;
  const std::size_t freed = region_.size;
  release_region();
  plans_.clear();
  recording_ = settings_.learn;
  rec_.clear();
  rec_allocs_ = 0;
  return freed;
}

// ---------------------------------------------------------------- following a plan

/// Serves the call the plan expects next in O(1). At the start of an iteration another cached
/// plan may be the one that fits; an allocation out of the planned order is still placed by the
/// plan when its predecessors are free (loose mode); anything else leaves the plan and returns
/// null.
void* iteration_learner::allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  const std::uint8_t align_log2 = log2_of(alignment);
  const bool ordered = host_.streams_ordered();
  auto starts_with_this = [&](const iteration_plan& p) {
    return p.calls[0].value == bytes && p.calls[0].align_log2 == align_log2 && (!ordered || stream == p.stream) &&
           p.size <= region_.size;
  };
  if (live_.count == 0 && !starts_with_this(*plan_)) {
    for (auto& cached : plans_) {
      if (starts_with_this(*cached)) {
        plan_ = cached.get();
        promote(plan_);
        break;
      }
    }
  }
  iteration_plan& pl = *plan_;
  const bool same_stream = !ordered || stream == pl.stream;
  if (!pl.loose && pl.cursor < pl.calls.size()) {
    const recorded_call& c = pl.calls[pl.cursor];
    if (!c.is_free && c.value == bytes && c.align_log2 == align_log2 && same_stream) {
      ++pl.cursor;
      return place_planned(pl, bytes);
    }
  }
  const std::uint32_t j = pl.next_alloc;
  if (live_.count > 0 && same_stream && j < pl.bytes.size() && pl.bytes[j] == bytes && pl.align_log2[j] == align_log2 &&
      predecessors_free(pl, j)) {
    go_loose(pl);
    rec_.push_back(recorded_call{bytes, align_log2, false});
    ++rec_allocs_;
    return place_planned(pl, bytes);
  }
  leave_plan();
  return nullptr;
}

void* iteration_learner::place_planned(iteration_plan& pl, std::size_t bytes) {
  const std::uint32_t j = pl.next_alloc++;
  pl.tag[j] = current_tag();
  pl.live[j] = 1;
  live_.bytes += bytes;
  ++live_.count;
  return reinterpret_cast<void*>(region_.base + pl.offset[j]);
}

bool iteration_learner::predecessors_free(const iteration_plan& pl, std::uint32_t j) noexcept {
  for (std::uint32_t k = pl.before.begin[j]; k < pl.before.begin[j + 1]; ++k) {
    if (pl.live[pl.before.list[k]]) return false;
  }
  return true;
}

/// From here on this iteration is recorded as it happens (it may need a plan of its own).
void iteration_learner::go_loose(iteration_plan& pl) {
  if (pl.loose) return;
  pl.loose = true;
  rec_.assign(pl.calls.begin(), pl.calls.begin() + static_cast<std::ptrdiff_t>(pl.cursor));
  rec_allocs_ = pl.next_alloc;
}

/// A pointer the plan never handed out, or a wrong size, throws without leaving the plan. A live
/// planned allocation freed out of the planned order switches to loose mode (frees in any
/// order; allocations placed when safe).
bool iteration_learner::deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  iteration_plan& pl = *plan_;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const bool same_stream = !host_.streams_ordered() || stream == pl.stream;
  if (!pl.loose && live_.count > 0) {
    const recorded_call& c = pl.calls[pl.cursor];
    if (c.is_free) {
      const auto j = static_cast<std::uint32_t>(c.value);
      if (addr == region_.base + pl.offset[j] && bytes == pl.bytes[j] && log2_of(alignment) == pl.align_log2[j] &&
          same_stream) {
        ++pl.cursor;
        free_planned(pl, j);
        return true;
      }
    }
  }
  // Which live planned allocation starts here? (Live ones never overlap, so at most one.)
  std::uint32_t found = ~std::uint32_t{0};
  if (addr >= region_.base) {
    const std::size_t off = addr - region_.base;
    auto it = std::lower_bound(pl.by_offset.begin(), pl.by_offset.end(), std::make_pair(off, std::uint32_t{0}));
    for (; it != pl.by_offset.end() && it->first == off; ++it) {
      if (pl.live[it->second]) found = it->second;
    }
  }
  if (found == ~std::uint32_t{0}) throw_unknown_pointer(p, bytes, alignment, in_region(addr) || host_.contains(addr));
  if (pl.bytes[found] != bytes || pl.align_log2[found] != log2_of(alignment)) {
    throw_wrong_size(p, bytes, alignment, pl.bytes[found], pl.align_log2[found]);
  }
  if (!same_stream) {
    leave_plan();
    return false;
  }
  go_loose(pl);
  rec_.push_back(recorded_call{found, 0, true});
  free_planned(pl, found);
  return true;
}

void iteration_learner::free_planned(iteration_plan& pl, std::uint32_t j) {
  pl.live[j] = 0;
  live_.bytes -= pl.bytes[j];
  if (--live_.count > 0) return;
  // The iteration ended, perhaps with frees reordered, perhaps shorter than planned (which still
  // fits the plan, so it stays): the next one starts from the top.
  if (pl.loose && pl.next_alloc != pl.bytes.size()) ++divergences_;
  pl.loose = false;
  rec_.clear();
  rec_allocs_ = 0;
  pl.cursor = 0;
  pl.next_alloc = 0;
  diverged_in_a_row_ = 0;
}

/// The iteration differs from its plan: the region becomes an ordinary chunk holding the plan's
/// live allocations, and this iteration goes on being recorded so it can be planned.
void iteration_learner::leave_plan() {
  iteration_plan& pl = *plan_;
  if (live_.count == 0 && diverged_in_a_row_ == 0) {
    // A new shape from its first call: learn it like the first iteration, from nothing.
    release_region();
    ++divergences_;
    diverged_in_a_row_ = 1;
    growth_.set_frugal(true);
    recording_ = settings_.learn;
    rec_.clear();
    rec_allocs_ = 0;
    return;
  }
  std::vector<adopted_block> live;
  for (std::uint32_t j = 0; j < pl.next_alloc; ++j) {
    if (pl.live[j]) live.push_back(adopted_block{pl.offset[j], pl.bytes[j], pl.align_log2[j], pl.tag[j], j});
  }
  std::sort(live.begin(), live.end(), [](const adopted_block& x, const adopted_block& y) { return x.offset < y.offset; });
  host_.adopt(region_, live, pl.stream);
  have_region_ = false;

  // This iteration is recorded from its start so that it can be planned when it ends.
  go_loose(pl);
  recording_ = settings_.learn && rec_.size() <= settings_.max_calls;
  rec_stream_ = pl.stream;
  rec_single_stream_ = true;
  // The cached plan is left ready for a later iteration.
  for (const adopted_block& a : live) pl.live[a.rec_index] = 0;
  pl.cursor = 0;
  pl.next_alloc = 0;
  pl.loose = false;
  plan_ = nullptr;
  plan_active_ = false;
  ++divergences_;
  // The rest of this iteration is new ground: grow by what it needs, as in the first one. An
  // iteration that keeps changing shape is not worth that, nor re-planning every time.
  growth_.set_frugal(++diverged_in_a_row_ == 1);
  if (diverged_in_a_row_ >= 2) skip_plans_ = std::size_t{1} << std::min<std::size_t>(diverged_in_a_row_ - 1, 6);
}

// ---------------------------------------------------------------- reports and checks

void iteration_learner::tally(tag_tally& t) const {
  if (!plan_active_) return;
  for (std::uint32_t j = 0; j < plan_->next_alloc; ++j) {
    if (plan_->live[j]) t.add(plan_->tag[j], plan_->bytes[j]);
  }
}

std::size_t iteration_learner::live_planned() const noexcept {
  return plan_active_ ? static_cast<std::size_t>(std::count(plan_->live.begin(), plan_->live.end(), 1)) : 0;
}

void iteration_learner::verify() const {
  if (plan_active_ && (!have_region_ || plan_ == nullptr)) throw_broken("following a plan without a region");
}

}  // namespace unimem::detail
