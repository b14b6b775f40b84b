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
                                            std::size_t maximum_size, stream_event_source* events)
    : upstream_(upstream), growth_(growth), maximum_size_(maximum_size), free_(events, blocks_) {}

template <class Index>
general_allocator<Index>::~general_allocator() {
  // The pool owns its chunks even when allocations leak: the pointers dangle from here on.
  for (auto& c : chunks_) {
    try {
      upstream_.resource().deallocate(reinterpret_cast<void*>(c->base), c->size, c->alignment, chunk_stream(*c));
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
                                               std::size_t live_bytes) {
  if (bytes > maximum_size_) throw_over_maximum(bytes, alignment, maximum_size_);
  const std::size_t a = std::max(alignment, pool_granule);
  const std::size_t n = align_up(bytes, pool_granule);
  // Room for the worst-case shift to an alignment above the granule.
  const std::size_t need = n + (a - pool_granule);
  if (n < bytes || need < n || need > maximum_size_) throw_over_maximum(bytes, alignment, maximum_size_);

  const std::uint32_t s = free_.slot_for(stream);
  pool_block* b = free_.find(need, s);
  if (b == nullptr || growth_.too_loose(*b, need)) b = grow(n, a, need, s, stream, bytes, live_bytes);
  b = carve(b, n, a);

  b->requested = bytes;
  b->align_log2 = log2_of(alignment);
  b->tag = current_tag();
  used_.insert(b->addr, b);
  ++b->chunk->used;
  return b;
}

template <class Index>
void general_allocator<Index>::free(pool_block* b, stream_view stream) {
  used_.erase(b->addr);
  --b->chunk->used;
  free_.free_block(b, free_.slot_for(stream));
}

template <class Index>
bool general_allocator<Index>::contains(std::uintptr_t addr) const noexcept {
  for (const auto& c : chunks_) {
    if (addr >= c->base && addr < c->base + c->size) return true;
  }
  return false;
}

/// Splits the block so that [aligned start, +n) is used; returns the used block (out of the index).
template <class Index>
pool_block* general_allocator<Index>::carve(pool_block* b, std::size_t n, std::size_t a) {
  free_.remove(b);
  const std::uintptr_t start = align_up(b->addr, a);
  if (start != b->addr) {
    // The leading gap stays free with the same owner.
    pool_block* lead = b;
    b = split(lead, start - lead->addr);
    free_.insert(lead);
  }
  if (b->size - n >= pool_granule) free_.insert(split(b, n));
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
  return hi;
}

/// Takes a new chunk for a request of `n` bytes at alignment `a` and returns its free block
/// (in the index). Returns an existing block when waiting for other streams freed one.
template <class Index>
pool_block* general_allocator<Index>::grow(std::size_t n, std::size_t a, std::size_t need, std::uint32_t s,
                                           stream_view stream, std::size_t requested, std::size_t live_bytes) {
  std::size_t bytes = growth_.chunk_bytes(n, upstream_.reserved());
  if (growth_policy::return_free_chunks_first(upstream_.reserved(), bytes, upstream_.peak())) {
    release_free_chunks(everything, s);
  }
  if (upstream_.reserved() + n > maximum_size_) {
    release_free_chunks(everything, s);
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
    if (free_.slot_count() > 2) {
      free_.settle_others(s, true);
      if (pool_block* b = free_.find(need, s)) return b;
    }
    release_free_chunks(everything, s);
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

template <class Index>
stream_view general_allocator<Index>::chunk_stream(const pool_chunk& c) const noexcept {
  return c.first != nullptr && c.first->slot != 0 ? free_.stream(c.first->slot) : stream_view{};
}

template <class Index>
std::size_t general_allocator<Index>::release_free_chunks(std::size_t target, std::uint32_t s) {
  if (s == 0) {
    for (std::uint32_t t = 1; t < free_.slot_count(); ++t) free_.settle_one(t, true);
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
    if (target != everything && upstream_.reserved() <= target) break;
    const stream_view st = chunk_stream(*c);
    for (pool_block* b = c->first; b != nullptr;) {
      pool_block* next = b->next;
      free_.remove(b);
      blocks_.put(b);
      b = next;
    }
    upstream_.deallocate(reinterpret_cast<void*>(c->base), c->size, c->alignment, st);
    freed += c->size;
    auto it = std::find_if(chunks_.begin(), chunks_.end(), [c](const auto& u) { return u.get() == c; });
    chunks_.erase(it);
  }
  return freed;
}

template <class Index>
void general_allocator<Index>::release_free_chunks_for(stream_view stream) {
  release_free_chunks(everything, free_.slot_for(stream));
}

template <class Index>
bool general_allocator<Index>::take_snug_chunk(std::size_t size, std::size_t alignment, stream_view stream,
                                               pool_chunk& out) {
  const std::uint32_t s = free_.slot_for(stream);
  pool_chunk* keep = nullptr;
  for (auto& c : chunks_) {
    if (growth_policy::snug(c->size, c->alignment, size, alignment) && c->first->is_free &&
        c->first->size == c->size && (c->first->slot == 0 || c->first->slot == s)) {
      keep = c.get();
    }
  }
  if (keep == nullptr) return false;
  free_.remove(keep->first);
  blocks_.put(keep->first);
  out = *keep;
  out.first = nullptr;
  chunks_.erase(std::find_if(chunks_.begin(), chunks_.end(), [keep](const auto& u) { return u.get() == keep; }));
  return true;
}

template <class Index>
void general_allocator<Index>::adopt(const pool_chunk& region, const std::vector<adopted_block>& live,
                                     stream_view stream) {
  auto c = std::make_unique<pool_chunk>(region);
  c->first = nullptr;
  const std::uint32_t s = free_.slot_for(stream);
  // Gaps were used by allocations already freed on the plan's stream: they belong to it.
  const std::uint64_t stamp = free_.note_free(s);
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
      free_.insert(b);
    }
    last = b;
    return b;
  };
  std::uintptr_t at = c->base;
  for (const adopted_block& a : live) {
    const std::uintptr_t addr = c->base + a.offset;
    if (addr > at) append(at, addr - at, true);
    pool_block* b = append(addr, align_up(a.requested, pool_granule), false);
    b->requested = a.requested;
    b->align_log2 = a.align_log2;
    b->tag = a.tag;
    b->rec_index = a.rec_index;
    used_.insert(addr, b);
    at = addr + b->size;
  }
  if (at < c->base + c->size) append(at, c->base + c->size - at, true);
  c->used = live.size();
  chunks_.push_back(std::move(c));
}

template <class Index>
void general_allocator<Index>::tally(tag_tally& t) const {
  used_.for_each([&](const pool_block* b) { t.add(b->tag, b->requested); });
}

template <class Index>
std::size_t general_allocator<Index>::verify() const {
  std::size_t reserved = 0;
  std::size_t used_blocks = 0;
  std::size_t free_blocks = 0;
  for (const auto& c : chunks_) {
    reserved += c->size;
    std::uintptr_t at = c->base;
    std::size_t used_here = 0;
    for (const pool_block* b = c->first; b != nullptr; b = b->next) {
      if (b->addr != at) throw_broken(fmt::format("chunk {:#x}: block at {:#x}, expected {:#x}", c->base, b->addr, at));
      if (b->size == 0 || b->size % pool_granule != 0) throw_broken("block size not a positive multiple of the granule");
      if (b->chunk != c.get()) throw_broken("block points at another chunk");
      if (b->next != nullptr && b->next->prev != b) throw_broken("neighbour links disagree");
      if (b->is_free) {
        ++free_blocks;
        if (b->slot >= free_.index_count()) throw_broken("free block owned by an unknown stream slot");
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
  if (used_blocks != used_.size()) throw_broken("table holds blocks that are in no chunk");
  const std::size_t indexed = free_.indexed();
  if (indexed != free_blocks) throw_broken(fmt::format("{} free blocks but {} indexed", free_blocks, indexed));
  return reserved;
}

template class general_allocator<tlsf_index>;
template class general_allocator<ordered_index>;

}  // namespace unimem::detail
