#include <unimem/pools/pool_resource.hpp>

#include <algorithm>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/size_math.hpp"
#include "pools/leak_report.hpp"
#include "pools/optional_lock.hpp"
#include "pools/pool_detail.hpp"
#include "pools/pool_plan.hpp"
#include "pools/stream_slots.hpp"

namespace unimem {
namespace detail {

/// What pool_resource forwards to; one implementation per free-block index.
class pool_core {
 public:
  virtual ~pool_core() = default;
  virtual void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream) = 0;
  virtual void deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) = 0;
  virtual std::size_t release() = 0;
  virtual std::size_t trim(std::size_t target) = 0;
  virtual pool_statistics statistics() const = 0;
  virtual std::vector<tag_usage> live_by_tag() const = 0;
};

namespace {

constexpr std::size_t frugal_min_chunk = std::size_t{64} << 10;
constexpr std::size_t adaptive_min_step = std::size_t{1} << 20;
constexpr std::size_t adaptive_max_step = std::size_t{64} << 20;

std::uint8_t log2_of(std::size_t pow2) noexcept { return static_cast<std::uint8_t>(__builtin_ctzll(pow2)); }

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

template <class Index>
class pool_impl final : public pool_core {
 public:
  pool_impl(memory_resource& upstream, pool_options options, bool device_accessible)
      : upstream_(upstream),
        opts_(std::move(options)),
        events_(opts_.events ? opts_.events : (device_accessible ? make_cuda_event_source() : nullptr)),
        slots_(events_.get()),
        index_(1),
        frugal_(opts_.learn_iterations && opts_.initial_size == 0 && opts_.growth_step == 0),
        recording_(opts_.learn_iterations),
        mutex_(opts_.thread_safe ? std::make_unique<std::mutex>() : nullptr) {
    if (opts_.initial_size > opts_.maximum_size) {
      throw std::invalid_argument(fmt::format(
          "unimem::pool_resource(initial_size {} B, maximum_size {} B): the initial size exceeds the maximum; "
          "raise maximum_size or lower initial_size",
          opts_.initial_size, opts_.maximum_size));
    }
    if (opts_.initial_size > 0) {
      pool_block* b = add_chunk(align_up(opts_.initial_size, pool_granule), pool_granule, stream_view{});
      index_[b->slot].insert(b);
    }
  }

  ~pool_impl() override {
    if (live_count_ > 0) report_live_allocations();
    // The pool owns its chunks even when allocations leak: the pointers dangle from here on.
    for (auto& c : chunks_) {
      try {
        upstream_.deallocate(reinterpret_cast<void*>(c->base), c->size, c->alignment, chunk_stream(*c));
      } catch (...) {
        // A destructor cannot report more than the leak report did.
      }
    }
    if (have_region_) {
      try {
        release_region();
      } catch (...) {
      }
    }
  }

  void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override {
    optional_lock lock(mutex_.get());
    void* p = plan_active_ ? plan_allocate(bytes, alignment, stream) : nullptr;
    if (p == nullptr) p = general_allocate(bytes, alignment, stream);
    if (opts_.checked) verify();
    return p;
  }

  void deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override {
    optional_lock lock(mutex_.get());
    if (!plan_active_ || !plan_deallocate(p, bytes, alignment, stream)) general_deallocate(p, bytes, alignment, stream);
    if (opts_.checked) verify();
  }

  std::size_t release() override {
    optional_lock lock(mutex_.get());
    std::size_t freed = 0;
    if (have_region_ && live_count_ == 0) {
      freed += region_.size;
      release_region();
      plans_.clear();
      recording_ = opts_.learn_iterations;
      rec_.clear();
      rec_allocs_ = 0;
    }
    freed += release_free_chunks(everything, 0);
    return freed;
  }

  std::size_t trim(std::size_t target) override {
    optional_lock lock(mutex_.get());
    return release_free_chunks(target, 0);
  }

  pool_statistics statistics() const override {
    optional_lock lock(mutex_.get());
    pool_statistics s;
    s.reserved_bytes = reserved_;
    s.peak_reserved_bytes = peak_reserved_;
    s.live_bytes = live_bytes_;
    s.live_count = live_count_;
    s.chunk_count = chunks_.size() + (have_region_ ? 1 : 0);
    s.upstream_allocations = upstream_allocations_;
    s.upstream_deallocations = upstream_deallocations_;
    s.plan_active = plan_active_;
    s.plans_built = plans_built_;
    s.plan_divergences = divergences_;
    return s;
  }

  std::vector<tag_usage> live_by_tag() const override {
    optional_lock lock(mutex_.get());
    return collect_by_tag();
  }

 private:
  // ---------------------------------------------------------------- general allocator

  void* general_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
    if (bytes > opts_.maximum_size) throw_over_maximum(bytes, alignment);
    const std::size_t a = std::max(alignment, pool_granule);
    const std::size_t n = align_up(bytes, pool_granule);
    // Room for the worst-case shift to an alignment above the granule.
    const std::size_t need = n + (a - pool_granule);
    if (n < bytes || need < n || need > opts_.maximum_size) throw_over_maximum(bytes, alignment);

    const std::uint32_t s = slot_for(stream);
    pool_block* b = find_block(need, s);
    if (b == nullptr || (frugal_ && too_loose(*b, need))) b = grow(n, a, need, s, stream, bytes);
    b = carve(b, n, a);

    b->requested = bytes;
    b->align_log2 = log2_of(alignment);
    b->tag = current_tag();
    used_.insert(b->addr, b);
    ++b->chunk->used;
    live_bytes_ += bytes;
    ++live_count_;
    if (recording_) {
      if (rec_.empty()) {
        rec_stream_ = stream;
        rec_single_stream_ = true;
      } else if (stream != rec_stream_) {
        rec_single_stream_ = false;
      }
      b->rec_index = rec_allocs_++;
      rec_.push_back(recorded_call{bytes, b->align_log2, false});
      if (rec_.size() > opts_.max_learned_calls) stop_recording();
    }
    return reinterpret_cast<void*>(b->addr);
  }

  void general_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    pool_block* b = used_.find(addr);
    if (b == nullptr) throw_unknown_pointer(p, bytes, alignment);
    if (b->requested != bytes || b->align_log2 != log2_of(alignment)) {
      throw_wrong_size(p, bytes, alignment, b->requested, b->align_log2);
    }
    used_.erase(addr);
    --b->chunk->used;
    live_bytes_ -= bytes;
    --live_count_;
    if (recording_) {
      if (stream != rec_stream_) rec_single_stream_ = false;
      rec_.push_back(recorded_call{b->rec_index, 0, true});
      if (rec_.size() > opts_.max_learned_calls) stop_recording();
    }

    const std::uint32_t s = slot_for(stream);
    b->is_free = true;
    // A neighbour with no pending work (slot 0) may join memory owned by stream s: the merged
    // block is then usable by s at once and by others after s's event, which is safe for both.
    auto joinable = [s](const pool_block* nb) { return nb != nullptr && nb->is_free && (nb->slot == s || nb->slot == 0); };
    // Loops: absorbing a slot-0 neighbour can bring another block of slot s next to this one.
    while (joinable(b->next)) {
      index_[b->next->slot].remove(b->next);
      absorb_next(b);
    }
    while (joinable(b->prev)) {
      pool_block* lower = b->prev;
      index_[lower->slot].remove(lower);
      absorb_next(lower);
      b = lower;
    }
    b->slot = s;
    // Stamps only grow per stream, so the new stamp covers every block merged in.
    b->stamp = slots_.note_free(s);
    index_[s].insert(b);

    if (live_count_ == 0) end_of_iteration();
  }

  std::uint32_t slot_for(stream_view stream) {
    const std::uint32_t s = slots_.slot_of(stream);
    if (index_.size() < slots_.count()) index_.resize(slots_.count());
    return s;
  }

  pool_block* find_block(std::size_t need, std::uint32_t s) {
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

  /// Hands blocks owned by other streams whose events completed to slot 0. `block` waits on each
  /// stream's event instead of polling (only before out_of_memory).
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

  /// Folds b->next (already out of every index) into b.
  void absorb_next(pool_block* b) {
    pool_block* second = b->next;
    b->size += second->size;
    b->next = second->next;
    if (second->next != nullptr) second->next->prev = b;
    blocks_.put(second);
  }

  /// In the frugal phase a wholly free chunk much larger than the request is not cut up: the pool
  /// grows by exactly the request (small ones: by a 64 KiB chunk) instead, and returns that chunk
  /// if the growth would set a new high-water mark, so a small allocation does not pin memory a
  /// large one will need.
  bool too_loose(const pool_block& b, std::size_t need) const noexcept {
    return b.chunk->used == 0 && b.size > std::max(need + need / 8, frugal_min_chunk);
  }

  /// Splits the block so that [aligned start, +n) is used; returns the used block (out of the index).
  pool_block* carve(pool_block* b, std::size_t n, std::size_t a) {
    index_[b->slot].remove(b);
    const std::uintptr_t start = align_up(b->addr, a);
    if (start != b->addr) {
      // The leading gap stays free with the same owner.
      pool_block* lead = b;
      b = split(lead, start - lead->addr);
      index_[lead->slot].insert(lead);
    }
    if (b->size - n >= pool_granule) {
      pool_block* tail = split(b, n);
      index_[tail->slot].insert(tail);
    }
    b->is_free = false;
    return b;
  }

  /// Cuts `b` at `at` bytes and returns the upper part (same chunk, owner and stamp).
  pool_block* split(pool_block* b, std::size_t at) {
    pool_block* hi = blocks_.get();
    hi->addr = b->addr + at;
    hi->size = b->size - at;
    hi->chunk = b->chunk;
    hi->slot = b->slot;
    hi->stamp = b->stamp;
    hi->is_free = true;
    hi->prev = b;
    hi->next = b->next;
    if (b->next != nullptr) b->next->prev = hi;
    b->next = hi;
    b->size = at;
    return hi;
  }

  std::size_t growth_bytes(std::size_t n) const noexcept {
    std::size_t step = opts_.growth_step;
    if (frugal_) {
      step = frugal_min_chunk;
    } else if (step == 0) {
      step = std::clamp(reserved_ / 8, adaptive_min_step, adaptive_max_step);
    }
    std::size_t bytes = std::max(n, align_up(step, pool_granule));
    if (opts_.maximum_size - std::min(opts_.maximum_size, reserved_) < bytes) bytes = n;  // stay under the cap
    return bytes;
  }

  /// Takes a new chunk for a request of `n` bytes at alignment `a` and returns its free block
  /// (in the index). Returns an existing block when waiting for other streams freed one.
  pool_block* grow(std::size_t n, std::size_t a, std::size_t need, std::uint32_t s, stream_view stream,
                   std::size_t requested) {
    std::size_t bytes = growth_bytes(n);
    // Wholly free chunks go back before the pool would hold more than it ever has: they are
    // likely the wrong shape for what is being asked now, and this keeps the peak low.
    if (reserved_ + bytes > peak_reserved_) release_free_chunks(everything, s);
    if (reserved_ + n > opts_.maximum_size) {
      release_free_chunks(everything, s);
      if (reserved_ + n > opts_.maximum_size) {
        throw out_of_memory(requested, "unimem::pool_resource",
                            fmt::format("the pool holds {} of its maximum_size {} ({} live); free allocations, "
                                        "raise maximum_size, or share the budget differently",
                                        format_bytes(reserved_), format_bytes(opts_.maximum_size),
                                        format_bytes(live_bytes_)));
      }
      bytes = std::min(bytes, opts_.maximum_size - reserved_);
    }
    try {
      pool_block* b = add_chunk(bytes, a, stream);
      index_[b->slot].insert(b);
      return b;
    } catch (const out_of_memory&) {
      // Before giving up: memory other streams freed may only be waiting for their work.
      if (slots_.count() > 2) {
        settle_others(s, true);
        if (pool_block* b = find_block(need, s)) return b;
      }
      release_free_chunks(everything, s);
      try {
        pool_block* b = add_chunk(n, a, stream);
        index_[b->slot].insert(b);
        return b;
      } catch (const out_of_memory& e) {
        throw out_of_memory(requested, "unimem::pool_resource",
                            fmt::format("upstream {} refused {} ({}); the pool holds {} in {} chunks with {} live",
                                        upstream_.name(), format_bytes(n), e.what(), format_bytes(reserved_),
                                        chunks_.size(), format_bytes(live_bytes_)));
      }
    }
  }

  pool_block* add_chunk(std::size_t bytes, std::size_t alignment, stream_view stream) {
    void* p = upstream_.allocate(bytes, alignment, stream);
    ++upstream_allocations_;
    auto c = std::make_unique<pool_chunk>();
    c->base = reinterpret_cast<std::uintptr_t>(p);
    c->size = bytes;
    c->alignment = alignment;
    pool_block* b = blocks_.get();
    b->addr = c->base;
    b->size = bytes;
    b->chunk = c.get();
    b->is_free = true;
    b->slot = 0;
    c->first = b;
    chunks_.push_back(std::move(c));
    reserved_ += bytes;
    peak_reserved_ = std::max(peak_reserved_, reserved_);
    return b;
  }

  stream_view chunk_stream(const pool_chunk& c) const noexcept {
    return c.first != nullptr && c.first->slot != 0 ? slots_.stream(c.first->slot) : stream_view{};
  }

  static constexpr std::size_t everything = std::numeric_limits<std::size_t>::max();

  /// Returns wholly free chunks, largest first, until at most `target` bytes are held. A chunk
  /// goes back only when no stream other than slot `s` may still have work on it: giving it to
  /// upstream must not depend on upstream synchronizing. For s == 0 (release() and trim(), called
  /// by the user) the pool first waits for the events of streams that freed memory.
  std::size_t release_free_chunks(std::size_t target, std::uint32_t s) {
    if (s == 0) {
      for (std::uint32_t t = 1; t < slots_.count(); ++t) settle_one(t, true);
    }
    std::vector<pool_chunk*> free_chunks;
    for (auto& c : chunks_) {
      bool quiet = c->used == 0;
      for (const pool_block* b = c->first; quiet && b != nullptr; b = b->next) quiet = b->slot == 0 || b->slot == s;
      if (quiet) free_chunks.push_back(c.get());
    }
    std::sort(free_chunks.begin(), free_chunks.end(), [](const pool_chunk* x, const pool_chunk* y) { return x->size > y->size; });
    std::size_t freed = 0;
    for (pool_chunk* c : free_chunks) {
      if (target != everything && reserved_ <= target) break;
      const stream_view st = chunk_stream(*c);
      for (pool_block* b = c->first; b != nullptr;) {
        pool_block* next = b->next;
        index_[b->slot].remove(b);
        blocks_.put(b);
        b = next;
      }
      upstream_.deallocate(reinterpret_cast<void*>(c->base), c->size, c->alignment, st);
      ++upstream_deallocations_;
      reserved_ -= c->size;
      freed += c->size;
      auto it = std::find_if(chunks_.begin(), chunks_.end(), [c](const auto& u) { return u.get() == c; });
      chunks_.erase(it);
    }
    return freed;
  }

  // ---------------------------------------------------------------- iteration learning
  //
  // An iteration runs from one moment the pool is empty to the next. While the pool allocates
  // generally it records the iteration's calls; when it empties, it plans their layout (offsets in
  // one region) and follows the plan while the calls repeat. Plans of the last few iteration
  // shapes are kept (a warm-up pass, two models taking turns) and share the region, which is as
  // large as the largest of them; an iteration picks the plan whose first call it makes.

  static constexpr std::size_t max_plans = 4;

  void stop_recording() {
    recording_ = false;
    rec_.clear();
    rec_.shrink_to_fit();
    frugal_ = false;  // an iteration this long is not the shape the frugal phase is for
  }

  void end_of_iteration() {
    const bool plannable = recording_ && !rec_.empty() && (rec_single_stream_ || !slots_.ordered());
    if (plannable && skip_plans_ == 0) {
      build_plan();
    } else if (skip_plans_ > 0) {
      --skip_plans_;
    }
    if (!plan_active_) frugal_ = false;  // only a first iteration of a shape grows frugally
    rec_.clear();
    rec_allocs_ = 0;
    recording_ = opts_.learn_iterations && !plan_active_;
  }

  /// Plans the recorded iteration (or finds the same plan cached) and follows it from now on.
  void build_plan() {
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
    frugal_ = false;
  }

  static bool same_calls(const std::vector<recorded_call>& x, const std::vector<recorded_call>& y) {
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), [](const recorded_call& a, const recorded_call& b) {
             return a.value == b.value && a.align_log2 == b.align_log2 && a.is_free == b.is_free;
           });
  }

  /// Moves `pl` to the front of the cache (most recently used).
  void promote(iteration_plan* pl) {
    auto it = std::find_if(plans_.begin(), plans_.end(), [pl](const auto& u) { return u.get() == pl; });
    std::rotate(plans_.begin(), it, it + 1);
  }

  /// Offsets, predecessors and size of the plan of `pl.calls`; false when it is too large to plan.
  static bool lay_out(iteration_plan& pl, std::uint32_t allocs) {
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

  /// Holds a region of at least `size` bytes; only called when nothing is live. Keeps the
  /// current region or a free chunk if it fits snugly, else returns everything free before
  /// taking a new region, so the swap never holds both.
  bool ensure_region(std::size_t size, std::size_t alignment, stream_view stream) {
    auto snug = [&](std::size_t have, std::size_t have_alignment) {
      return have >= size && have - size <= size / 8 && have_alignment >= alignment;
    };
    if (have_region_ && snug(region_.size, region_.alignment)) return true;
    if (have_region_) release_region();
    const std::uint32_t s = slot_for(stream);
    pool_chunk* keep = nullptr;
    for (auto& c : chunks_) {
      if (snug(c->size, c->alignment) && c->first->is_free && c->first->size == c->size &&
          (c->first->slot == 0 || c->first->slot == s)) {
        keep = c.get();
      }
    }
    if (keep != nullptr) {
      index_[keep->first->slot].remove(keep->first);
      blocks_.put(keep->first);
      region_ = *keep;
      region_.first = nullptr;
      chunks_.erase(std::find_if(chunks_.begin(), chunks_.end(), [keep](const auto& u) { return u.get() == keep; }));
    }
    release_free_chunks(everything, s);
    if (keep == nullptr) {
      try {
        void* p = upstream_.allocate(size, alignment, stream);
        ++upstream_allocations_;
        reserved_ += size;
        peak_reserved_ = std::max(peak_reserved_, reserved_);
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

  void release_region() {
    have_region_ = false;
    plan_active_ = false;
    plan_ = nullptr;
    upstream_.deallocate(reinterpret_cast<void*>(region_.base), region_.size, region_.alignment, region_stream_);
    ++upstream_deallocations_;
    reserved_ -= region_.size;
  }

  /// Serves the call the plan expects next in O(1). At the start of an iteration another cached
  /// plan may be the one that fits; an allocation out of the planned order is still placed by the
  /// plan when its predecessors are free (loose mode); anything else leaves the plan and returns
  /// null.
  void* plan_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
    const std::uint8_t align_log2 = log2_of(alignment);
    auto starts_with_this = [&](const iteration_plan& p) {
      return p.calls[0].value == bytes && p.calls[0].align_log2 == align_log2 &&
             (!slots_.ordered() || stream == p.stream) && p.size <= region_.size;
    };
    if (live_count_ == 0 && !starts_with_this(*plan_)) {
      for (auto& cached : plans_) {
        if (starts_with_this(*cached)) {
          plan_ = cached.get();
          promote(plan_);
          break;
        }
      }
    }
    iteration_plan& pl = *plan_;
    const bool same_stream = !slots_.ordered() || stream == pl.stream;
    if (!pl.loose && pl.cursor < pl.calls.size()) {
      const recorded_call& c = pl.calls[pl.cursor];
      if (!c.is_free && c.value == bytes && c.align_log2 == align_log2 && same_stream) {
        ++pl.cursor;
        return place_planned(pl, bytes);
      }
    }
    const std::uint32_t j = pl.next_alloc;
    if (live_count_ > 0 && same_stream && j < pl.bytes.size() && pl.bytes[j] == bytes &&
        pl.align_log2[j] == align_log2 && predecessors_free(pl, j)) {
      go_loose(pl);
      rec_.push_back(recorded_call{bytes, align_log2, false});
      ++rec_allocs_;
      return place_planned(pl, bytes);
    }
    leave_plan();
    return nullptr;
  }

  void* place_planned(iteration_plan& pl, std::size_t bytes) {
    const std::uint32_t j = pl.next_alloc++;
    pl.tag[j] = current_tag();
    pl.live[j] = 1;
    live_bytes_ += bytes;
    ++live_count_;
    return reinterpret_cast<void*>(region_.base + pl.offset[j]);
  }

  static bool predecessors_free(const iteration_plan& pl, std::uint32_t j) noexcept {
    for (std::uint32_t k = pl.before.begin[j]; k < pl.before.begin[j + 1]; ++k) {
      if (pl.live[pl.before.list[k]]) return false;
    }
    return true;
  }

  /// From here on this iteration is recorded as it happens (it may need a plan of its own).
  void go_loose(iteration_plan& pl) {
    if (pl.loose) return;
    pl.loose = true;
    rec_.assign(pl.calls.begin(), pl.calls.begin() + static_cast<std::ptrdiff_t>(pl.cursor));
    rec_allocs_ = pl.next_alloc;
  }

  /// True when the free was served by the plan. A pointer the plan never handed out, or a wrong
  /// size, throws without leaving the plan. A live planned allocation freed out of the planned
  /// order switches to loose mode (frees in any order; allocations placed when safe).
  bool plan_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
    iteration_plan& pl = *plan_;
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    const bool same_stream = !slots_.ordered() || stream == pl.stream;
    if (!pl.loose && live_count_ > 0) {
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
    if (found == ~std::uint32_t{0}) throw_unknown_pointer(p, bytes, alignment);
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

  void free_planned(iteration_plan& pl, std::uint32_t j) {
    pl.live[j] = 0;
    live_bytes_ -= pl.bytes[j];
    if (--live_count_ > 0) return;
    // The iteration ended, perhaps with frees reordered, perhaps shorter than planned (which
    // still fits the plan, so it stays): the next one starts from the top.
    if (pl.loose && pl.next_alloc != pl.bytes.size()) ++divergences_;
    pl.loose = false;
    rec_.clear();
    rec_allocs_ = 0;
    pl.cursor = 0;
    pl.next_alloc = 0;
    diverged_in_a_row_ = 0;
  }

  /// The iteration differs from its plan: turn the region into an ordinary chunk holding the
  /// plan's live allocations, and continue recording this iteration so it can be planned.
  void leave_plan() {
    iteration_plan& pl = *plan_;
    if (live_count_ == 0 && diverged_in_a_row_ == 0) {
      // A new shape from its first call: learn it like the first iteration, from nothing.
      release_region();
      ++divergences_;
      diverged_in_a_row_ = 1;
      frugal_ = true;
      recording_ = opts_.learn_iterations;
      rec_.clear();
      rec_allocs_ = 0;
      return;
    }
    auto c = std::make_unique<pool_chunk>(region_);
    std::vector<std::uint32_t> live;
    for (std::uint32_t j = 0; j < pl.next_alloc; ++j) {
      if (pl.live[j]) live.push_back(j);
    }
    std::sort(live.begin(), live.end(), [&](std::uint32_t x, std::uint32_t y) { return pl.offset[x] < pl.offset[y]; });
    const std::uint32_t s = slot_for(pl.stream);
    // Gaps were used by allocations already freed on the plan's stream: they belong to it.
    const std::uint64_t stamp = slots_.note_free(s);
    pool_block* last = nullptr;
    auto append = [&](std::uintptr_t addr, std::size_t size, bool is_free) {
      pool_block* b = blocks_.get();
      b->addr = addr;
      b->size = size;
      b->chunk = c.get();
      b->is_free = is_free;
      b->prev = last;
      if (last != nullptr) {
        last->next = b;
      } else {
        c->first = b;
      }
      if (is_free) {
        b->slot = s;
        b->stamp = stamp;
        index_[s].insert(b);
      }
      last = b;
      return b;
    };
    std::uintptr_t at = c->base;
    for (std::uint32_t j : live) {
      const std::uintptr_t addr = c->base + pl.offset[j];
      if (addr > at) append(at, addr - at, true);
      pool_block* b = append(addr, align_up(pl.bytes[j], pool_granule), false);
      b->requested = pl.bytes[j];
      b->align_log2 = pl.align_log2[j];
      b->tag = pl.tag[j];
      b->rec_index = j;
      used_.insert(addr, b);
      at = addr + b->size;
    }
    if (at < c->base + c->size) append(at, c->base + c->size - at, true);
    c->used = live.size();
    chunks_.push_back(std::move(c));
    have_region_ = false;

    // This iteration is recorded from its start so that it can be planned when it ends.
    go_loose(pl);
    recording_ = opts_.learn_iterations && rec_.size() <= opts_.max_learned_calls;
    rec_stream_ = pl.stream;
    rec_single_stream_ = true;
    // The cached plan is left ready for a later iteration.
    for (std::uint32_t j : live) pl.live[j] = 0;
    pl.cursor = 0;
    pl.next_alloc = 0;
    pl.loose = false;
    plan_ = nullptr;
    plan_active_ = false;
    ++divergences_;
    // The rest of this iteration is new ground: grow by what it needs, as in the first one.
    // An iteration that keeps changing shape is not worth that, nor re-planning every time.
    frugal_ = ++diverged_in_a_row_ == 1;
    if (diverged_in_a_row_ >= 2) skip_plans_ = std::size_t{1} << std::min<std::size_t>(diverged_in_a_row_ - 1, 6);
  }

  // ---------------------------------------------------------------- errors and reports

  [[noreturn]] void throw_over_maximum(std::size_t bytes, std::size_t alignment) const {
    throw out_of_memory(bytes, "unimem::pool_resource",
                        fmt::format("{} B at alignment {} exceeds the pool's maximum_size {}; raise maximum_size or "
                                    "split the buffer",
                                    bytes, alignment, format_bytes(opts_.maximum_size)));
  }

  [[noreturn]] static void throw_wrong_size(void* p, std::size_t bytes, std::size_t alignment, std::size_t was_bytes,
                                            std::uint8_t was_align_log2) {
    throw std::invalid_argument(fmt::format(
        "unimem::pool_resource::deallocate({}, {} B, alignment {}): this allocation was made with {} B, "
        "alignment {}; pass the size and alignment given to allocate() (nothing was freed)",
        p, bytes, alignment, was_bytes, std::size_t{1} << was_align_log2));
  }

  [[noreturn]] void throw_unknown_pointer(void* p, std::size_t bytes, std::size_t alignment) const {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    bool inside = false;
    for (const auto& c : chunks_) inside = inside || (addr >= c->base && addr < c->base + c->size);
    if (have_region_) inside = inside || (addr >= region_.base && addr < region_.base + region_.size);
    throw std::invalid_argument(fmt::format(
        "unimem::pool_resource::deallocate({}, {} B, alignment {}): {}; pass only pointers this pool's allocate() "
        "returned, once each (nothing was freed)",
        p, bytes, alignment,
        inside ? "this address is inside the pool but no live allocation starts there (freed twice, or not the "
                 "pointer allocate() returned)"
               : "this pointer was not allocated by this pool"));
  }

  std::vector<tag_usage> collect_by_tag() const {
    tag_tally tally;
    used_.for_each([&](const pool_block* b) { tally.add(b->tag, b->requested); });
    if (plan_active_) {
      for (std::uint32_t j = 0; j < plan_->next_alloc; ++j) {
        if (plan_->live[j]) tally.add(plan_->tag[j], plan_->bytes[j]);
      }
    }
    return tally.rows();
  }

  void report_live_allocations() noexcept {
    leak_report r;
    r.resource = "unimem::pool_resource";
    r.bytes = live_bytes_;
    r.count = live_count_;
    try {
      r.by_tag = collect_by_tag();
    } catch (...) {
    }
    report_leaks(r, opts_.on_leak);
  }

  // ---------------------------------------------------------------- checked mode

  [[noreturn]] static void broken(const std::string& what) {
    throw std::logic_error("unimem::pool_resource invariant broken: " + what);
  }

  void verify() const {
    std::size_t reserved = have_region_ ? region_.size : 0;
    if (plan_active_ && (!have_region_ || plan_ == nullptr)) broken("following a plan without a region");
    std::size_t used_blocks = 0;
    std::size_t free_blocks = 0;
    for (const auto& c : chunks_) {
      reserved += c->size;
      std::uintptr_t at = c->base;
      std::size_t used_here = 0;
      for (const pool_block* b = c->first; b != nullptr; b = b->next) {
        if (b->addr != at) broken(fmt::format("chunk {:#x}: block at {:#x}, expected {:#x}", c->base, b->addr, at));
        if (b->size == 0 || b->size % pool_granule != 0) broken("block size not a positive multiple of the granule");
        if (b->chunk != c.get()) broken("block points at another chunk");
        if (b->next != nullptr && b->next->prev != b) broken("neighbour links disagree");
        if (b->is_free) {
          ++free_blocks;
          if (b->slot >= index_.size()) broken("free block owned by an unknown stream slot");
          if (b->next != nullptr && b->next->is_free && b->next->slot == b->slot) broken("two free neighbours of one owner");
        } else {
          ++used_here;
          if (used_.find(b->addr) != b) broken("used block missing from the table");
        }
        at += b->size;
      }
      if (at != c->base + c->size) broken("blocks do not cover their chunk");
      if (used_here != c->used) broken("chunk's used count is wrong");
      used_blocks += used_here;
    }
    if (reserved != reserved_) broken(fmt::format("reserved {} but chunks sum to {}", reserved_, reserved));
    if (used_blocks != used_.size()) broken("table holds blocks that are in no chunk");
    std::size_t indexed = 0;
    for (const Index& ix : index_) indexed += ix.size();
    if (indexed != free_blocks) broken(fmt::format("{} free blocks but {} indexed", free_blocks, indexed));
    const std::size_t plan_live = plan_active_ ? static_cast<std::size_t>(std::count(plan_->live.begin(), plan_->live.end(), 1)) : 0;
    if (used_.size() + plan_live != live_count_) broken("live count disagrees with the blocks");
  }

  memory_resource& upstream_;
  pool_options opts_;
  std::shared_ptr<stream_event_source> events_;
  stream_slots slots_;
  std::vector<Index> index_;  // per stream slot
  std::vector<std::unique_ptr<pool_chunk>> chunks_;
  block_store blocks_;
  block_table used_;

  std::size_t reserved_ = 0;
  std::size_t peak_reserved_ = 0;
  std::size_t live_bytes_ = 0;
  std::size_t live_count_ = 0;
  std::size_t upstream_allocations_ = 0;
  std::size_t upstream_deallocations_ = 0;

  bool frugal_;
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

  std::unique_ptr<std::mutex> mutex_;
};

}  // namespace
}  // namespace detail

pool_resource::pool_resource(memory_resource& upstream, pool_options options)
    : upstream_(&upstream), traits_(upstream.traits()) {
  const bool device = traits_.device_accessible;
  if (options.fit == fit_strategy::ordered_best_fit) {
    core_ = std::make_unique<detail::pool_impl<detail::ordered_index>>(upstream, std::move(options), device);
  } else {
    core_ = std::make_unique<detail::pool_impl<detail::tlsf_index>>(upstream, std::move(options), device);
  }
}

pool_resource::~pool_resource() = default;

std::size_t pool_resource::release() { return core_->release(); }
std::size_t pool_resource::trim(std::size_t target_bytes) { return core_->trim(target_bytes); }
pool_statistics pool_resource::statistics() const { return core_->statistics(); }
std::vector<tag_usage> pool_resource::live_by_tag() const { return core_->live_by_tag(); }

void* pool_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  return core_->allocate(bytes, alignment, stream);
}

void pool_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  core_->deallocate(p, bytes, alignment, stream);
}

}  // namespace unimem
