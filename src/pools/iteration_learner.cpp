#include "pools/iteration_learner.hpp"

#include <algorithm>

#include "detail/size_math.hpp"
#include "pools/pool_plan.hpp"

namespace unimem::detail {
namespace {

constexpr std::uint64_t no_target = ~std::uint64_t{0};
constexpr std::uint32_t outlives = ~std::uint32_t{0};
/// A segment needs this many allocations to be cut off; shorter runs join the next one.
constexpr std::uint32_t min_segment_allocs = 4;
/// Plans kept: the segments of one process's cycle (loading, forward, post-processing, a second
/// model ...) each have one. At most max_learned_calls x 24 B each.
constexpr std::size_t max_plans = 32;
/// A plan not seen for this many segments no longer sizes the region.
constexpr std::size_t recent_segments = 64;
/// Calls without a cut before the floor is lifted (at least; twice the longest segment later).
constexpr std::uint64_t first_window = 2048;
/// Calls per block of the live-level minimum that lifts the floor (a power of two).
constexpr std::uint64_t level_block = 256;
/// A region size the host refused is asked for again after this many segments.
constexpr std::size_t refusal_patience = 4;
/// Frees are told apart by how many allocations ago the freed one was made, up to this.
constexpr std::uint64_t max_free_distance = std::uint64_t{1} << 39;
/// Hash of an empty structure.
constexpr std::uint64_t structure_seed = 0x243F6A8885A308D3ull;
/// Rolling hash of the latest calls: base, and base^recent_calls to drop the oldest call.
constexpr std::uint64_t recent_base = 0x100000001B3ull;
constexpr std::uint64_t recent_base_power(std::size_t n) {
  std::uint64_t p = 1;
  for (std::size_t i = 0; i < n; ++i) p *= recent_base;
  return p;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h * 0xBF58476D1CE4E5B9ull;
}

bool is_alloc(std::uint64_t sig) noexcept { return (sig >> 63) != 0; }

}  // namespace

struct iteration_learner::plan {
  std::uint64_t hash = 0;
  std::vector<std::uint64_t> sig;       // per call: its structure
  std::vector<std::uint64_t> prefix;    // per call: hash of the structure up to it
  std::vector<std::uint32_t> call_of;   // per allocation: the call that made it
  std::vector<std::uint32_t> end_of;    // per allocation: the call that freed it, or `outlives`
  std::vector<std::size_t> max_bytes;   // per allocation: the largest request seen
  std::vector<std::size_t> laid_bytes;  // per allocation: what the layout is for
  std::vector<std::size_t> offset;      // per allocation (those that die in the segment)
  std::size_t size = 0;                 // region bytes the layout needs
  std::size_t lower_bound = 0;          // most bytes of its planned allocations live at once
  std::size_t outliving = 0;            // bytes of its allocations that outlive it (outside the region)
  std::size_t alignment = pool_granule;
  std::size_t first_min = ~std::size_t{0};  // range of the first allocation's request
  std::size_t first_max = 0;
  std::uint32_t slot = 0;               // stream slot of the first call
  std::size_t seen = 0;                 // segments of this structure so far
  std::size_t same_sizes = 0;           // of them in a row, no size above the layout's
  std::size_t growing = 0;              // of them in a row, some size above the layout's
  std::size_t last_seen = 0;            // segments_ when it was last seen
  std::uint64_t last_seen_call = 0;     // calls_total_ then
  plan* next = nullptr;                 // the plan that followed this one last time
  bool laid = false;                    // offsets hold
  std::size_t retry_at = 0;             // after a failed layout: no new attempt before this segment
  std::size_t backoff = 0;
};

iteration_learner::iteration_learner(settings s, region_host& host, growth_policy& growth)
    : settings_(s), host_(host), growth_(growth) {
  start_segment();
}

iteration_learner::~iteration_learner() = default;

/// A layout at most 1/16 larger than the region is still followed: the few allocations planned
/// beyond its end go elsewhere. Larger ones are not followed in part, which would scatter them.
bool iteration_learner::following() const noexcept {
  return plan_ != nullptr && matched_ && plan_->laid && region_size_ > 0 && plan_->size <= region_size_ + region_size_ / 16;
}

// ---------------------------------------------------------------- the call structure

std::uint64_t iteration_learner::alloc_sig(std::uint8_t align_log2, std::uint32_t slot) noexcept {
  return (std::uint64_t{1} << 63) | (std::uint64_t{slot & 0xFFFFFFu} << 8) | align_log2;
}

std::uint64_t iteration_learner::free_sig(std::uint64_t target, std::uint32_t slot) noexcept {
  const std::uint64_t t = target == no_target ? 0 : (target + 1) & 0xFFFFFFFFFFull;
  return (std::uint64_t{1} << 62) | (t << 20) | (slot & 0xFFFFFu);
}

void iteration_learner::push(std::uint64_t value, std::uint64_t sig) {
  const std::size_t c = seg_calls_;
  hash_ = mix(hash_, sig);
  if (plan_ != nullptr && matched_ && (c >= plan_->sig.size() || plan_->sig[c] != sig)) {
    // Another plan may share everything so far (another resolution, a longer request).
    if (plan* other = switch_plan(sig, hash_)) {
      plan_ = other;
    } else {
      matched_ = false;
      if (!counted_divergence_) {
        counted_divergence_ = true;
        ++divergences_;
      }
      growth_.set_frugal(settings_.frugal);  // the rest of this segment is new ground
    }
  }
  if (recording_) {
    calls_.push_back(call_record{value, sig, hash_});
    if (calls_.size() > settings_.max_calls) {
      recording_ = false;
      calls_.clear();
      calls_.shrink_to_fit();
    }
  }
  ++seg_calls_;
  ++calls_total_;
}

void iteration_learner::begin_segment(std::uint64_t sig, std::size_t bytes) {
  plan_ = choose_plan(bytes, sig);
  matched_ = plan_ != nullptr;
  counted_divergence_ = false;
  region_size_ = host_.region_size();
  if (plan_ != nullptr && sizes_region(*plan_) && plan_->size > region_size_ + region_size_ / 16) {
    // A recurring plan the region has shrunk below since (a prompt of a length seen before, after
    // many token steps): the region grows for it now rather than the segment growing the pool,
    // if what the segment will keep outside it still fits under the peak.
    host_.set_region(plan_->size, plan_->alignment, plan_->slot, plan_->same_sizes >= 2, plan_->outliving);
    region_size_ = host_.region_size();
  }
  seg_first_seq_ = next_seq_;
  // A segment no plan serves grows by exactly what it asks, so that its peak stays at its live
  // peak (at one upstream call per new size, until its structure recurs and is planned).
  growth_.set_frugal(settings_.frugal && !following());
  began_following_ = following() || region_size_ == 0;
}

// ---------------------------------------------------------------- advising and recording

placement_advice iteration_learner::advise(std::size_t bytes, std::uint8_t align_log2, std::uint32_t slot) {
  if (!settings_.learn) return {};
  const std::uint64_t sig = alloc_sig(align_log2, slot);
  if (seg_calls_ == 0) begin_segment(sig, bytes);
  // A segment that began with no plan to follow keeps out of the region: its allocations would
  // scatter there and pin it beside the pool's growth, while an idle region goes back when the
  // segment grows past the pool's peak.
  if (!began_following_) return {placement_advice::where::unplanned, 0};
  if (plan_ == nullptr || !matched_) return {};
  const std::size_t c = seg_calls_;
  if (c >= plan_->sig.size() || plan_->sig[c] != sig) return {};
  const std::uint32_t j = seg_allocs_;
  if (plan_->end_of[j] == outlives) return {placement_advice::where::outside_region, 0};
  // A layout the region cannot hold is not followed in part: that would scatter the segment.
  if (!following()) return {};
  return {placement_advice::where::at_offset, plan_->offset[j]};
}

void iteration_learner::on_allocate(pool_block* b, std::uint32_t slot, std::size_t live_count) {
  b->seq = next_seq_++;
  if (!settings_.learn) return;
  if (live_count > seg_high_) {
    // A new high: the level between iterations is looked for below it from now on.
    seg_high_ = live_count;
    seg_low_ = ~std::size_t{0};
  }
  note_structure(alloc_sig(b->align_log2, slot));
  push(b->requested, alloc_sig(b->align_log2, slot));
  ++seg_allocs_;
}

void iteration_learner::on_free(std::uint64_t seq, std::uint32_t slot, std::size_t live_count) {
  if (!settings_.learn) return;
  note_structure(free_sig(std::min(next_seq_ - seq, max_free_distance), slot));
  if (seg_allocs_ == 0) {
    // Frees before a segment's first allocation belong to none (the tail of what came before,
    // the pool emptying): a segment starts with its first allocation.
    floor_ = std::min(floor_, live_count);
    ++calls_total_;
    return;
  }
  const std::uint64_t target = seq >= seg_first_seq_ ? seq - seg_first_seq_ : no_target;
  push(target, free_sig(target, slot));
  if (plan_ != nullptr && matched_) {
    // Following a plan: the segment ends where the plan's did.
    if (seg_calls_ == plan_->sig.size()) {
      floor_ = live_count;
      end_segment();
    }
    return;
  }
  if (live_count <= floor_) {
    floor_ = live_count;
    if (seg_allocs_ >= min_segment_allocs) end_segment();
    return;
  }
  if (recurred(live_count)) return;
  lift_floor(live_count);
}

void iteration_learner::note_structure(std::uint64_t sig) noexcept {
  constexpr std::uint64_t drop = recent_base_power(recent_calls);
  const std::uint64_t x = mix(0, sig);
  recent_hash_ = recent_hash_ * recent_base + x - recent_[recent_pos_] * drop;
  recent_[recent_pos_] = x;
  recent_pos_ = (recent_pos_ + 1) % recent_calls;
}

/// With weights live the level between iterations is above the floor, and the lift finds it
/// only after a long stretch (several iterations of a short step). It is found as soon as it
/// recurs: a free brings the live count down to its lowest level since the segment's latest
/// high (not since the segment began, which may be the climb while the weights load) after the
/// same calls as an earlier free did, and every allocation made in between has been freed in
/// between (so the stretch is a whole iteration — not the blocks of one network, which free
/// their input made before them). The segment is then cut back to the earlier occurrence, so the
/// iteration just done is a recorded segment, and the one before it too when its calls were the
/// same: the plan is built, and the region sized, at the end of the second iteration. Checked
/// only while the segment is longer than any before it (the floor is apparently not being
/// reached).
bool iteration_learner::recurred(std::size_t live_count) {
  if (!recording_ || live_count > seg_low_ || calls_total_ - seg_start_call_ <= longest_) return false;
  if (live_count < seg_low_) {
    seg_low_ = live_count;
    marks_used_ = 0;
    marks_next_ = 0;
  }
  level_mark* const end = marks_ + marks_used_;
  level_mark* m = std::find_if(marks_, end, [&](const level_mark& k) { return k.structure == recent_hash_; });
  if (m == end) {
    marks_[marks_next_] = level_mark{recent_hash_, seg_calls_, next_seq_};
    marks_next_ = (marks_next_ + 1) % max_level_marks;
    marks_used_ = std::max(marks_used_, marks_next_ == 0 ? max_level_marks : marks_next_);
    return false;
  }
  const level_mark before = *m;
  m->call = seg_calls_;
  m->seq = next_seq_;
  if (next_seq_ - before.seq < min_segment_allocs || !closed_since(before.call, before.seq)) return false;
  floor_ = live_count;
  cut_recurrence(before.call, before.seq);
  return true;
}

/// No call from `call` on frees an allocation made before the one numbered `seq`.
bool iteration_learner::closed_since(std::size_t call, std::uint64_t seq) const noexcept {
  for (std::size_t c = call; c < calls_.size(); ++c) {
    const call_record& r = calls_[c];
    if (!is_alloc(r.sig) && (r.value == no_target || r.value + seg_first_seq_ < seq)) return false;
  }
  return true;
}

/// calls_[begin, end) as a segment whose first allocation is numbered `first_seq`.
std::vector<iteration_learner::call_record> iteration_learner::rebased(std::size_t begin, std::size_t end,
                                                                       std::uint64_t first_seq) const {
  std::vector<call_record> out(calls_.begin() + static_cast<std::ptrdiff_t>(begin),
                               calls_.begin() + static_cast<std::ptrdiff_t>(end));
  for (call_record& r : out) {
    if (is_alloc(r.sig)) continue;
    const std::uint64_t seq = r.value == no_target ? 0 : r.value + seg_first_seq_;
    r.value = r.value != no_target && seq >= first_seq ? seq - first_seq : no_target;
    r.sig = free_sig(r.value, static_cast<std::uint32_t>(r.sig & 0xFFFFFu));
  }
  return out;
}

/// Ends the recorded calls as the segment that began after the call `call` (its first
/// allocation numbered `seq`), preceded by the same calls just before it as a segment of the same
/// structure if they are; what came before is not a segment.
void iteration_learner::cut_recurrence(std::size_t call, std::uint64_t seq) {
  const std::size_t n = calls_.size() - call;
  const std::uint64_t allocs = next_seq_ - seq;
  std::vector<call_record> last = rebased(call, calls_.size(), seq);
  if (call >= n && seq >= seg_first_seq_ + allocs) {
    std::vector<call_record> first = rebased(call - n, call, seq - allocs);
    const bool same = std::equal(first.begin(), first.end(), last.begin(),
                                 [](const call_record& a, const call_record& b) { return a.sig == b.sig; });
    if (same) {
      load_segment(std::move(first), seq - allocs);
      end_segment();
    }
  }
  load_segment(std::move(last), seq);
  end_segment();
}

void iteration_learner::load_segment(std::vector<call_record> calls, std::uint64_t first_seq) {
  hash_ = structure_seed;
  seg_allocs_ = 0;
  for (call_record& r : calls) {
    hash_ = mix(hash_, r.sig);
    r.prefix = hash_;
    if (is_alloc(r.sig)) ++seg_allocs_;
  }
  calls_ = std::move(calls);
  seg_calls_ = calls_.size();
  seg_first_seq_ = first_seq;
  seg_start_call_ = calls_total_ - seg_calls_;
}

/// The level between iterations may rise for good (weights loaded, optimizer state made by the
/// first step, a cache that grew): after a long stretch without a cut the floor becomes the
/// lowest level of the last few hundred calls (not of the whole stretch, which may include the
/// climb from an empty pool).
void iteration_learner::lift_floor(std::size_t live_count) {
  if ((calls_total_ & (level_block - 1)) == 0) {
    level_min_[0] = level_min_[1];
    level_min_[1] = ~std::size_t{0};
  }
  level_min_[1] = std::min(level_min_[1], live_count);
  if (calls_total_ - last_cut_ > std::max<std::uint64_t>(first_window, 2 * longest_)) {
    floor_ = std::min(level_min_[0], level_min_[1]);
    last_cut_ = calls_total_;
  }
}

// ---------------------------------------------------------------- plans

/// The plan for a segment that starts with `sig`: the one expected after the previous segment
/// if its first request fits its range, else the most recent one whose range holds `bytes`,
/// else the expected one or the most recent with that first call.
iteration_learner::plan* iteration_learner::choose_plan(std::size_t bytes, std::uint64_t sig) const {
  auto fits = [&](const plan* p) { return bytes >= p->first_min && bytes <= p->first_max; };
  if (predicted_ != nullptr && predicted_->sig[0] == sig && fits(predicted_)) return predicted_;
  plan* fallback = predicted_ != nullptr && predicted_->sig[0] == sig ? predicted_ : nullptr;
  for (const auto& p : plans_) {
    if (p->sig[0] != sig) continue;
    if (fits(p.get())) return p.get();
    if (fallback == nullptr) fallback = p.get();
  }
  return fallback;
}

/// A plan whose calls so far are this segment's, `sig` being the latest one.
iteration_learner::plan* iteration_learner::switch_plan(std::uint64_t sig, std::uint64_t prefix) const {
  const std::size_t c = seg_calls_;
  for (const auto& p : plans_) {
    if (p.get() != plan_ && c < p->sig.size() && p->sig[c] == sig && p->prefix[c] == prefix) return p.get();
  }
  return nullptr;
}

/// The plan of the recorded segment's structure, or null.
iteration_learner::plan* iteration_learner::find_plan() const {
  for (const auto& p : plans_) {
    if (p->hash != hash_ || p->sig.size() != calls_.size()) continue;
    bool same = true;
    for (std::size_t c = 0; same && c < calls_.size(); ++c) same = p->sig[c] == calls_[c].sig;
    if (same) return p.get();
  }
  return nullptr;
}

void iteration_learner::end_segment() {
  ++segments_;
  last_followed_ = following();
  plan* p = nullptr;
  if (recording_ && seg_allocs_ > 0) {
    p = find_plan();
    if (p != nullptr) {
      if (merge_sizes(*p)) {
        p->same_sizes = 0;
        ++p->growing;
      } else {
        ++p->same_sizes;
        p->growing = 0;
      }
    } else {
      // Laid out at once, so that when the structure comes back it is placed from its first
      // call (in whatever region recurring plans hold); only recurring plans size the region.
      p = remember();
      lay_out(*p, false);
    }
  }
  if (p != nullptr) {
    ++p->seen;
    p->last_seen = segments_;
    p->last_seen_call = calls_total_;
    auto it = std::find_if(plans_.begin(), plans_.end(), [p](const auto& u) { return u.get() == p; });
    std::rotate(plans_.begin(), it, it + 1);  // most recently used first
    if (previous_ != nullptr) previous_->next = p;
    if (p->laid) adopt_region(*p);
  }
  previous_ = p;
  predicted_ = p != nullptr ? p->next : nullptr;
  start_segment();
}

/// The same structure again: the layout must hold the largest size seen at each call. Laid out
/// again when a size outgrew the layout, and not while backing off after a failed layout.
/// Returns whether a size outgrew the layout.
bool iteration_learner::merge_sizes(plan& p) {
  bool grew = false;
  std::uint32_t j = 0;
  for (const call_record& c : calls_) {
    if (!is_alloc(c.sig)) continue;
    if (c.value > p.max_bytes[j]) {
      p.max_bytes[j] = c.value;
      grew = grew || (p.laid && p.end_of[j] != outlives && align_up(c.value, pool_granule) > p.laid_bytes[j]);
    }
    ++j;
  }
  note_first_allocation(p);
  if ((grew || !p.laid) && segments_ >= p.retry_at) lay_out(p, grew && p.growing >= 1);
  return grew;
}

/// A new structure, kept so that its next segment is recognised.
iteration_learner::plan* iteration_learner::remember() {
  auto fresh = std::make_unique<plan>();
  fresh->hash = hash_;
  fresh->sig.reserve(calls_.size());
  fresh->prefix.reserve(calls_.size());
  fresh->call_of.reserve(seg_allocs_);
  fresh->end_of.reserve(seg_allocs_);
  fresh->max_bytes.reserve(seg_allocs_);
  for (std::uint32_t c = 0; c < calls_.size(); ++c) {
    const call_record& r = calls_[c];
    fresh->sig.push_back(r.sig);
    fresh->prefix.push_back(r.prefix);
    if (is_alloc(r.sig)) {
      fresh->call_of.push_back(c);
      fresh->end_of.push_back(outlives);
      fresh->max_bytes.push_back(r.value);
    } else if (r.value != no_target) {
      fresh->end_of[r.value] = c;
    }
  }
  note_first_allocation(*fresh);
  fresh->slot = static_cast<std::uint32_t>((fresh->sig[0] >> 8) & 0xFFFFFFu);
  plan* p = fresh.get();
  plans_.insert(plans_.begin(), std::move(fresh));
  evict_beyond_capacity();
  return p;
}

void iteration_learner::note_first_allocation(plan& p) const {
  for (const call_record& c : calls_) {
    if (is_alloc(c.sig)) {
      p.first_min = std::min<std::size_t>(p.first_min, c.value);
      p.first_max = std::max<std::size_t>(p.first_max, c.value);
      return;
    }
  }
}

void iteration_learner::evict_beyond_capacity() {
  while (plans_.size() > max_plans) {
    plan* gone = plans_.back().get();
    for (const auto& q : plans_) {
      if (q->next == gone) q->next = nullptr;
    }
    if (previous_ == gone) previous_ = nullptr;
    if (predicted_ == gone) predicted_ = nullptr;
    if (plan_ == gone) plan_ = nullptr;
    plans_.pop_back();
  }
}

/// Offsets for the allocations that die inside the segment, each at its largest size; with
/// `headroom` (sizes that keep growing, as a generated sequence does step after step) at 1/16
/// more, so that the next steps fit the same layout and region.
void iteration_learner::lay_out(plan& p, bool headroom) {
  std::vector<planned_interval> iv;
  std::vector<std::uint32_t> who;
  p.alignment = pool_granule;
  for (std::uint32_t j = 0; j < p.call_of.size(); ++j) {
    if (p.end_of[j] == outlives) continue;
    const std::size_t a = std::max(std::size_t{1} << (p.sig[p.call_of[j]] & 0xFF), pool_granule);
    const std::size_t bytes = headroom ? p.max_bytes[j] + p.max_bytes[j] / 16 : p.max_bytes[j];
    iv.push_back(planned_interval{align_up(bytes, pool_granule), a, p.call_of[j], p.end_of[j]});
    who.push_back(j);
    p.alignment = std::max(p.alignment, a);
  }
  p.laid = false;
  p.outliving = 0;
  for (std::uint32_t j = 0; j < p.call_of.size(); ++j) {
    if (p.end_of[j] == outlives) p.outliving += align_up(p.max_bytes[j], pool_granule);
  }
  if (iv.empty()) return;
  p.lower_bound = most_live(iv);
  layout lay = plan_layout(iv);
  if (lay.offsets.size() != iv.size()) {
    // Not planned now (the placer gave up): the general allocator serves this structure, and
    // the next attempt waits twice as many segments as the last one did.
    p.backoff = std::min<std::size_t>(std::max<std::size_t>(2 * p.backoff, 8), 1024);
    p.retry_at = segments_ + p.backoff;
    return;
  }
  p.offset.assign(p.call_of.size(), 0);
  p.laid_bytes.assign(p.call_of.size(), 0);
  for (std::size_t k = 0; k < iv.size(); ++k) {
    p.offset[who[k]] = lay.offsets[k];
    p.laid_bytes[who[k]] = iv[k].bytes;
  }
  p.size = std::max(lay.size, pool_granule);
  p.laid = true;
  ++plans_built_;
}

/// Most bytes of `iv` live at once: no layout can be smaller.
std::size_t iteration_learner::most_live(const std::vector<planned_interval>& iv) {
  std::vector<std::pair<std::uint32_t, std::int64_t>> change;
  change.reserve(2 * iv.size());
  for (const planned_interval& v : iv) {
    change.emplace_back(v.start, static_cast<std::int64_t>(v.bytes));
    change.emplace_back(v.end, -static_cast<std::int64_t>(v.bytes));
  }
  std::sort(change.begin(), change.end());  // a free at the same call comes first
  std::int64_t now = 0, most = 0;
  for (const auto& c : change) most = std::max(most, now += c.second);
  return static_cast<std::size_t>(most);
}

/// The plans that size the region: laid out within 1/8 of their lower bound (a poor layout is
/// followed where it fits, never paid for), recurring (seen twice or more: a segment seen once,
/// such as loading the weights, does not size it) and recent (seen in the last 64 segments, or
/// in the last four times the longest segment's calls: a cycle of many short segments keeps the
/// long one's region).
bool iteration_learner::sizes_region(const plan& p) const noexcept {
  if (!p.laid || p.seen < 2 || p.size > p.lower_bound + p.lower_bound / 8) return false;
  return segments_ - p.last_seen <= recent_segments || calls_total_ - p.last_seen_call <= 4 * longest_;
}

/// The region holds the largest layout of the plans that size it (sizes_region).
void iteration_learner::adopt_region(const plan& latest) {
  std::size_t size = 0, alignment = pool_granule;
  for (const auto& p : plans_) {
    if (!sizes_region(*p)) continue;
    size = std::max(size, p->size);
    alignment = std::max(alignment, p->alignment);
  }
  const std::size_t have = host_.region_size();
  // Grow when a recurring layout needs more; shrink when the region is twice what they need.
  if (size == 0 || (size <= have && size >= have / 2)) return;
  const bool steady = latest.same_sizes >= 2 && latest.size == size;
  if (size == refused_size_ && steady == refused_steady_ && segments_ < refused_at_ + refusal_patience) return;
  if (host_.set_region(size, alignment, latest.slot, steady, 0)) {
    refused_size_ = 0;
  } else {
    refused_size_ = size;
    refused_steady_ = steady;
    refused_at_ = segments_;
  }
}

void iteration_learner::start_segment() {
  longest_ = std::max<std::uint64_t>(longest_, calls_total_ - seg_start_call_);
  seg_start_call_ = calls_total_;
  last_cut_ = calls_total_;
  calls_.clear();
  seg_calls_ = 0;
  seg_allocs_ = 0;
  hash_ = structure_seed;
  seg_first_seq_ = next_seq_;
  seg_low_ = ~std::size_t{0};
  seg_high_ = 0;  // the segment's first allocation is its first high
  marks_used_ = 0;
  marks_next_ = 0;
  recording_ = settings_.learn;
  plan_ = nullptr;
  matched_ = false;
}

}  // namespace unimem::detail

