#include "pools/general_allocator.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/size_math.hpp"
#include "pools/pool_errors.hpp"

namespace unimem::detail {
namespace {

std::uint8_t log2_of(std::size_t pow2) noexcept { return static_cast<std::uint8_t>(__builtin_ctzll(pow2)); }

}  // namespace

template <class Index>
general_allocator<Index>::general_allocator(upstream_account& upstream, growth_policy& growth,
                                            std::size_t maximum_size, stream_event_source* events,
                                            virtual_range* range)
    : upstream_(upstream),
      growth_(growth),
      maximum_size_(maximum_size),
      slots_(events),
      free_(slots_, blocks_),
      region_free_(slots_, blocks_, &map_),
      range_(range) {}

template <class Index>
general_allocator<Index>::~general_allocator() {
  // The pool owns its chunks even when allocations leak: the pointers dangle from here on.
  for (auto& c : chunks_) {
    try {
      if (c->in_range) {
        range_->resize(0);
      } else {
        upstream_.resource().deallocate(reinterpret_cast<void*>(c->base), c->size, c->alignment, chunk_stream(*c));
      }
    } catch (...) {
      // A destructor cannot report more than the leak report did.
    }
  }
}

template <class Index>
void general_allocator<Index>::reserve(std::size_t bytes) {
  free_.insert(add_chunk(align_up(bytes, pool_granule), pool_granule, stream_view{}));
}

template <class Index>
pool_block* general_allocator<Index>::allocate(std::size_t bytes, std::size_t alignment, stream_view stream,
                                               std::uint32_t s, region_use region, std::size_t live_bytes) {
  if (bytes > maximum_size_) throw_over_maximum(bytes, alignment, maximum_size_);
  const std::size_t a = std::max(alignment, pool_granule);
  const std::size_t n = align_up(bytes, pool_granule);
  // Room for the worst-case shift to an alignment above the granule.
  const std::size_t need = n + (a - pool_granule);
  if (n < bytes || need < n || need > maximum_size_) throw_over_maximum(bytes, alignment, maximum_size_);

  pool_block* b = free_.find(need, s);
  if (b != nullptr && growth_.too_loose(*b, need)) b = nullptr;
  if (b == nullptr && region == region_use::allowed && region_ != nullptr) b = region_free_.find(need, s);
  if (b == nullptr) {
    try {
      b = grow(n, a, need, s, stream, region, bytes, live_bytes);
    } catch (const out_of_memory&) {
      // Kept out of the region to keep the layout clean, not at the price of failing: its free
      // space serves before the pool gives up.
      if (region == region_use::allowed || region_ == nullptr || (b = region_free_.find(need, s)) == nullptr) throw;
    }
  }
  b = carve(b, align_up(b->addr, a), n);
  take_used(b, bytes, alignment);
  return b;
}

template <class Index>
pool_block* general_allocator<Index>::place_at(std::size_t offset, std::size_t bytes, std::size_t alignment,
                                               std::uint32_t s) {
  if (region_ == nullptr) return nullptr;
  const std::size_t n = align_up(bytes, pool_granule);
  if (n < bytes || offset > region_->size || n > region_->size - offset) return nullptr;
  const std::uintptr_t addr = region_->base + offset;
  if (addr % std::max(alignment, pool_granule) != 0) return nullptr;
  pool_block* b = map_.free_block_at(addr);
  if (b == nullptr) return nullptr;
  if (b->addr + b->size < addr + n) {
    // Free neighbours of other streams (not merged while their work may run) can complete the
    // place: check first, then take them over.
    std::uintptr_t end = b->addr + b->size;
    for (const pool_block* x = b->next; end < addr + n && x != nullptr && x->is_free; x = x->next) end += x->size;
    if (end < addr + n) return nullptr;
    b = region_free_.usable_by(b, s);
    while (b->addr + b->size < addr + n) {
      pool_block* next = region_free_.usable_by(b->next, s);  // merges into b when it becomes s's
      if (next != b) {
        // Settled and s's blocks join; the result is s's (with the later stamp) if either was.
        const std::uint32_t slot = std::max(b->slot, next->slot);
        const std::uint64_t stamp = std::max(b->stamp, next->stamp);
        region_free_.remove(next);
        region_free_.remove(b);
        region_free_.absorb_next(b);
        b->slot = slot;
        b->stamp = stamp;
        region_free_.insert(b);
      }
    }
  } else {
    b = region_free_.usable_by(b, s);
  }
  b = carve(b, addr, n);
  take_used(b, bytes, alignment);
  return b;
}

template <class Index>
void general_allocator<Index>::take_used(pool_block* b, std::size_t bytes, std::size_t alignment) {
  b->requested = bytes;
  b->align_log2 = log2_of(alignment);
  b->tag = current_tag();
  used_.insert(b->addr, b);
  ++b->chunk->used;
}

template <class Index>
void general_allocator<Index>::free(pool_block* b, std::uint32_t s) {
  used_.erase(b->addr);
  --b->chunk->used;
  index_of(b).free_block(b, s);
}

template <class Index>
bool general_allocator<Index>::contains(std::uintptr_t addr) const noexcept {
  for (const auto& c : chunks_) {
    if (addr >= c->base && addr < c->base + c->size) return true;
  }
  return false;
}

/// Splits the free block `b` so that [start, start + n) is used; returns the used block (out of
/// the index). The leading gap and the tail stay free with the same owner.
template <class Index>
pool_block* general_allocator<Index>::carve(pool_block* b, std::uintptr_t start, std::size_t n) {
  stream_free_index<Index>& ix = index_of(b);
  ix.remove(b);
  if (start != b->addr) {
    pool_block* lead = b;
    b = split(lead, start - lead->addr);
    ix.insert(lead);
  }
  if (b->size - n >= pool_granule) ix.insert(split(b, n));
  b->is_free = false;
  return b;
}

/// Cuts `b` at `at` bytes and returns the upper part (same chunk, owner and stamp).
template <class Index>
pool_block* general_allocator<Index>::split(pool_block* b, std::size_t at) {
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
  if (b->chunk->is_region) map_.mark_start(hi->addr);
  return hi;
}

/// Takes a new chunk for a request of `n` bytes at alignment `a` and returns its free block
/// (in the index). Returns an existing block when waiting for other streams freed one.
template <class Index>
pool_block* general_allocator<Index>::grow(std::size_t n, std::size_t a, std::size_t need, std::uint32_t s,
                                           stream_view stream, region_use region, std::size_t requested,
                                           std::size_t live_bytes) {
  std::size_t bytes = growth_.chunk_bytes(n, upstream_.reserved());
  if (growth_policy::return_free_chunks_first(upstream_.reserved(), bytes, upstream_.peak(), live_bytes + n)) {
    release_free_chunks(everything, s, region == region_use::released_when_idle);
  }
  if (upstream_.reserved() + n > maximum_size_) {
    release_free_chunks(everything, s, region == region_use::released_when_idle);
    if (upstream_.reserved() + n > maximum_size_) {
      throw out_of_memory(requested, "unimem::pool_resource",
                          fmt::format("the pool holds {} of its maximum_size {} ({} live); free allocations, "
                                      "raise maximum_size, or share the budget differently",
                                      format_bytes(upstream_.reserved()), format_bytes(maximum_size_),
                                      format_bytes(live_bytes)));
    }
    bytes = std::min(bytes, maximum_size_ - upstream_.reserved());
  }
  try {
    pool_block* b = add_chunk(bytes, a, stream);
    free_.insert(b);
    return b;
  } catch (const out_of_memory&) {
    // Before giving up: memory other streams freed may only be waiting for their work.
    if (slots_.count() > 2) {
      free_.settle_others(s, true);
      region_free_.settle_others(s, true);
      if (pool_block* b = free_.find(need, s)) return b;
      if (region == region_use::allowed && region_ != nullptr) {
        if (pool_block* b = region_free_.find(need, s)) return b;
      }
    }
    release_free_chunks(everything, s, region == region_use::released_when_idle);
    try {
      pool_block* b = add_chunk(n, a, stream);
      free_.insert(b);
      return b;
    } catch (const out_of_memory& e) {
      throw out_of_memory(requested, "unimem::pool_resource",
                          fmt::format("upstream {} refused {} ({}); the pool holds {} in {} chunks with {} live",
                                      upstream_.resource().name(), format_bytes(n), e.what(),
                                      format_bytes(upstream_.reserved()), chunks_.size(), format_bytes(live_bytes)));
    }
  }
}

template <class Index>
pool_block* general_allocator<Index>::add_chunk(std::size_t bytes, std::size_t alignment, stream_view stream) {
  void* p = upstream_.allocate(bytes, alignment, stream);
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
  return b;
}

/// The stream slot whose work may still use the wholly free chunk `c` (0: none), or `mixed` when
/// it is used or blocks of several streams are pending in it.
template <class Index>
std::uint32_t general_allocator<Index>::owner(const pool_chunk& c) const noexcept {
  if (c.used != 0) return mixed;
  std::uint32_t o = 0;
  for (const pool_block* b = c.first; b != nullptr; b = b->next) {
    if (b->slot == 0 || b->slot == o) continue;
    if (o != 0) return mixed;
    o = b->slot;
  }
  return o;
}

template <class Index>
stream_view general_allocator<Index>::chunk_stream(const pool_chunk& c) const noexcept {
  const std::uint32_t o = owner(c);
  return o != 0 && o != mixed ? slots_.stream(o) : stream_view{};
}

/// The chunk can go back to upstream: nothing is live in it and at most one stream may still
/// use it, whose work orders the upstream deallocation (the stream argument of deallocate).
template <class Index>
bool general_allocator<Index>::quiet(const pool_chunk& c, std::uint32_t) const noexcept {
  return owner(c) != mixed;
}

template <class Index>
std::size_t general_allocator<Index>::releasable(std::uint32_t s) const {
  std::size_t bytes = 0;
  for (const auto& c : chunks_) {
    if (!c->is_region && quiet(*c, s)) bytes += c->size;
  }
  return bytes;
}

template <class Index>
void general_allocator<Index>::drop_chunk(pool_chunk* c) {
  const stream_view st = chunk_stream(*c);
  for (pool_block* b = c->first; b != nullptr;) {
    pool_block* next = b->next;
    index_of(b).remove(b);
    blocks_.put(b);
    b = next;
  }
  if (c->in_range) {
    range_->resize(0);
    upstream_.unmapped(c->size);
  } else {
    upstream_.deallocate(reinterpret_cast<void*>(c->base), c->size, c->alignment, st);
  }
  if (c == region_) region_ = nullptr;
  chunks_.erase(std::find_if(chunks_.begin(), chunks_.end(), [c](const auto& u) { return u.get() == c; }));
}

template <class Index>
std::size_t general_allocator<Index>::release_free_chunks(std::size_t target, std::uint32_t s, bool region) {
  // Blocks whose streams finished become everybody's and merge, which makes more chunks whole.
  // The user's release() and trim() (slot 0) wait for those streams; the pool's own policy polls.
  for (std::uint32_t t = 1; t < slots_.count(); ++t) {
    free_.settle_one(t, s == 0);
    region_free_.settle_one(t, s == 0);
  }
  std::vector<pool_chunk*> free_chunks;
  for (auto& c : chunks_) {
    if (!region && c->is_region) continue;
    // Unmapping is not stream-ordered: range memory goes only once every stream is done with it.
    if (c->in_range ? owner(*c) == 0 : quiet(*c, s)) free_chunks.push_back(c.get());
  }
  std::sort(free_chunks.begin(), free_chunks.end(), [](const pool_chunk* x, const pool_chunk* y) { return x->size > y->size; });
  std::size_t freed = 0;
  for (pool_chunk* c : free_chunks) {
    if (target != everything && upstream_.reserved() <= target) break;
    freed += c->size;
    drop_chunk(c);
  }
  return freed;
}

// ---------------------------------------------------------------- the plan region

/// Most bytes the pool may hold once a region is adopted: no more than at its peak so far (a
/// layout that needs more than the general allocator did is not worth having), except for a
/// steady iteration, 1/8 more (frugal growth keeps an iteration at its live peak, which a
/// layout may just miss, and the plan then removes every upstream call of the iterations).
template <class Index>
std::size_t general_allocator<Index>::adoption_limit(bool steady) const noexcept {
  return upstream_.peak() + (steady ? upstream_.peak() / 8 : 0);
}

/// Regions smaller than this many granules of the virtual range stay upstream chunks: rounding
/// them up to whole granules (2 MiB on a GPU) would cost more than chunks do.
constexpr std::size_t range_min_granules = 16;

template <class Index>
bool general_allocator<Index>::set_region(std::size_t size, std::size_t alignment, std::uint32_t s, bool steady,
                                          std::size_t outside) {
  size = align_up(size, pool_granule);
  alignment = std::max(alignment, pool_granule);
  if (range_ != nullptr && alignment <= range_->granularity() &&
      ((region_ != nullptr && region_->in_range) || size >= range_min_granules * range_->granularity())) {
    return set_range_region(size, s, steady, outside);
  }
  const bool shrink = region_ != nullptr && size < region_->size;
  if (region_ != nullptr && region_->size >= size && region_->alignment >= alignment && !shrink) return true;
  if (shrink && owner(*region_) != 0) return false;  // shrinking waits for an idle, settled region
  const bool idle = region_ != nullptr && quiet(*region_, s);
  const std::size_t keep = upstream_.reserved() - releasable(s) - (idle ? region_->size : 0);
  const std::size_t allowed = adoption_limit(steady);
  if (keep + size + outside > allowed || keep + size > maximum_size_) return false;
  if (region_ != nullptr) {
    if (idle) {
      drop_chunk(region_);
    } else {
      demote_region();
    }
  }
  release_free_chunks(everything, s, false);
  pool_block* b = nullptr;
  try {
    b = add_chunk(size, alignment, slots_.stream(s));
  } catch (const out_of_memory&) {
    return false;
  }
  region_ = b->chunk;
  region_->is_region = true;
  map_.reset(region_->base, region_->size);
  map_.mark_start(b->addr);
  region_free_.insert(b);
  return true;
}

/// The region in the virtual range: grown in place (live allocations stay where they are) or
/// shrunk at its free top, never swapped.
template <class Index>
bool general_allocator<Index>::set_range_region(std::size_t size, std::uint32_t s, bool steady,
                                                std::size_t outside) {
  const std::size_t g = range_->granularity();
  const std::size_t want = align_up(size, g);
  const bool from_chunk = region_ != nullptr && !region_->in_range;
  const std::size_t have = region_ != nullptr && region_->in_range ? region_->size : 0;
  if (want == have) return true;
  if (want > have) {
    const bool chunk_idle = from_chunk && quiet(*region_, s);
    const std::size_t keep = upstream_.reserved() - releasable(s) - (chunk_idle ? region_->size : 0);
    const std::size_t allowed = adoption_limit(steady);
    if (keep + (want - have) + outside > allowed || keep + (want - have) > maximum_size_) return false;
    if (from_chunk) {
      // From a chunk region to the range: the chunk goes (or stays as an ordinary chunk).
      if (chunk_idle) {
        drop_chunk(region_);
      } else {
        demote_region();
      }
    }
    release_free_chunks(everything, s, false);
    try {
      range_->resize(want);
    } catch (const out_of_memory&) {
      return false;
    }
    upstream_.mapped(want - have);
    if (region_ == nullptr) {
      auto c = std::make_unique<pool_chunk>();
      c->base = range_->base();
      c->alignment = g;
      c->is_region = true;
      c->in_range = true;
      region_ = c.get();
      chunks_.push_back(std::move(c));
      map_.reset(region_->base, want);
    } else {
      map_.extend(want);
    }
    region_->size = want;
    // The new top joins a free last block of the region or becomes one.
    pool_block* last = region_->first;
    while (last != nullptr && last->next != nullptr) last = last->next;
    if (last != nullptr && last->is_free) {
      region_free_.remove(last);
      last->size += want - have;
      region_free_.insert(last);
    } else {
      pool_block* b = blocks_.get();
      b->addr = region_->base + have;
      b->size = want - have;
      b->chunk = region_;
      b->is_free = true;
      b->slot = 0;
      b->prev = last;
      if (last != nullptr) {
        last->next = b;
      } else {
        region_->first = b;
      }
      map_.mark_start(b->addr);
      region_free_.insert(b);
    }
    return true;
  }
  // Shrink: only a settled free top goes (unmapping memory a stream may still use would fault).
  pool_block* last = region_->first;
  while (last->next != nullptr) last = last->next;
  if (!last->is_free || last->slot != 0) return false;
  const std::size_t keep_bytes = align_up(std::max(want, last->addr - region_->base), g);
  if (keep_bytes >= have) return false;
  range_->resize(keep_bytes);
  const std::size_t now = range_->mapped();
  if (now >= have) return false;
  upstream_.unmapped(have - now);
  region_->size = now;
  region_free_.remove(last);
  if (last->addr - region_->base >= now) {
    if (last->prev != nullptr) last->prev->next = nullptr;
    if (region_->first == last) region_->first = nullptr;
    map_.clear_start(last->addr);
    blocks_.put(last);
  } else {
    last->size = region_->base + now - last->addr;
    region_free_.insert(last);
  }
  if (region_->first == nullptr) {
    chunks_.erase(std::find_if(chunks_.begin(), chunks_.end(), [this](const auto& u) { return u.get() == region_; }));
    region_ = nullptr;
  }
  return true;
}

/// The region still holds live allocations: it becomes an ordinary chunk.
template <class Index>
void general_allocator<Index>::demote_region() {
  std::vector<pool_block*> free_blocks;
  for (pool_block* b = region_->first; b != nullptr; b = b->next) {
    if (b->is_free) free_blocks.push_back(b);
  }
  for (pool_block* b : free_blocks) region_free_.remove(b);
  region_->is_region = false;
  for (pool_block* b : free_blocks) free_.insert(b);
  region_ = nullptr;
}

// ---------------------------------------------------------------- reports and checks

template <class Index>
void general_allocator<Index>::tally(tag_tally& t) const {
  used_.for_each([&](const pool_block* b) { t.add(b->tag, b->requested); });
}

template <class Index>
std::size_t general_allocator<Index>::verify() const {
  std::size_t reserved = 0;
  std::size_t used_blocks = 0;
  std::size_t free_blocks = 0;
  std::size_t region_free_blocks = 0;
  std::size_t regions = 0;
  for (const auto& c : chunks_) {
    reserved += c->size;
    if (c->is_region) {
      ++regions;
      if (c.get() != region_) throw_broken("a chunk marked as the region is not the region");
    }
    std::uintptr_t at = c->base;
    std::size_t used_here = 0;
    for (const pool_block* b = c->first; b != nullptr; b = b->next) {
      if (b->addr != at) throw_broken(fmt::format("chunk {:#x}: block at {:#x}, expected {:#x}", c->base, b->addr, at));
      if (b->size == 0 || b->size % pool_granule != 0) throw_broken("block size not a positive multiple of the granule");
      if (b->chunk != c.get()) throw_broken("block points at another chunk");
      if (b->next != nullptr && b->next->prev != b) throw_broken("neighbour links disagree");
      if (c->is_region) {
        if (!map_.is_start(b->addr)) throw_broken("region block start missing from the region map");
        for (std::uintptr_t g = b->addr + pool_granule; g < b->addr + b->size; g += pool_granule) {
          if (map_.is_start(g)) throw_broken("region map marks a start inside a block");
        }
      }
      if (b->is_free) {
        ++free_blocks;
        if (c->is_region) {
          ++region_free_blocks;
          if (map_.free_block_at(b->addr) != b) throw_broken("free region block missing from the region map");
        }
        if (b->slot >= slots_.count()) throw_broken("free block owned by an unknown stream slot");
        if (b->next != nullptr && b->next->is_free && b->next->slot == b->slot) {
          throw_broken("two free neighbours of one owner");
        }
      } else {
        ++used_here;
        if (used_.find(b->addr) != b) throw_broken("used block missing from the table");
      }
      at += b->size;
    }
    if (at != c->base + c->size) throw_broken("blocks do not cover their chunk");
    if (used_here != c->used) throw_broken("chunk's used count is wrong");
    used_blocks += used_here;
  }
  if (regions != (region_ != nullptr ? 1u : 0u)) throw_broken("the region is not one of the chunks");
  if (used_blocks != used_.size()) throw_broken("table holds blocks that are in no chunk");
  if (region_free_.indexed() != region_free_blocks || map_.free_count() != region_free_blocks) {
    throw_broken(fmt::format("{} free region blocks but {} indexed", region_free_blocks, region_free_.indexed()));
  }
  const std::size_t indexed = free_.indexed() + region_free_.indexed();
  if (indexed != free_blocks) throw_broken(fmt::format("{} free blocks but {} indexed", free_blocks, indexed));
  return reserved;
}

template class general_allocator<tlsf_index>;
template class general_allocator<ordered_index>;

}  // namespace unimem::detail


