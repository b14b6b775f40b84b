#include <unimem/pools/fixed_block_pool.hpp>

#include <algorithm>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/size_math.hpp"
#include "pools/leak_report.hpp"
#include "pools/optional_lock.hpp"
#include "pools/stream_slots.hpp"

namespace unimem {
namespace detail {

class fixed_block_core {
 public:
  fixed_block_core(memory_resource& upstream, std::size_t block_size, std::size_t stride,
                   fixed_block_pool_options options, bool device_accessible)
      : upstream_(upstream),
        block_size_(block_size),
        stride_(stride),
        opts_(std::move(options)),
        per_chunk_(opts_.blocks_per_chunk != 0 ? opts_.blocks_per_chunk
                                               : std::max<std::size_t>(1, (std::size_t{2} << 20) / stride)),
        events_(opts_.events ? opts_.events : (device_accessible ? make_cuda_event_source() : nullptr)),
        slots_(events_.get()),
        free_(1) {}

  ~fixed_block_core() {
    if (live_ > 0) {
      leak_report r;
      r.resource = "unimem::fixed_block_pool";
      r.count = live_;
      r.bytes = live_bytes_;
      try {
        r.by_tag = by_tag();
      } catch (...) {
      }
      report_leaks(r, opts_.on_leak);
    }
    for (auto& c : chunks_) {
      try {
        upstream_.deallocate(reinterpret_cast<void*>(c->base), c->blocks * stride_, opts_.block_alignment);
      } catch (...) {
      }
    }
  }

  std::mutex* mutex() noexcept { return opts_.thread_safe ? &mutex_ : nullptr; }

  void* allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
    if (bytes > block_size_) {
      throw out_of_memory(bytes, "unimem::fixed_block_pool",
                          fmt::format("every block of this pool holds {} B; use a pool_resource for other sizes or "
                                      "construct the pool with a larger block size",
                                      block_size_));
    }
    if (alignment > opts_.block_alignment) {
      throw std::invalid_argument(fmt::format(
          "unimem::fixed_block_pool::allocate({} B, alignment {}): blocks are aligned to {}; construct the pool "
          "with fixed_block_pool_options::block_alignment >= {}",
          bytes, alignment, opts_.block_alignment, alignment));
    }
    const std::uint32_t s = slot_for(stream);
    std::uintptr_t addr = take(s);
    if (addr == 0) addr = grow(s, stream, bytes);
    chunk& c = *find_chunk(addr);
    const std::size_t i = (addr - c.base) / stride_;
    c.used[i] = 1;
    c.tags[i] = current_tag();
    if (opts_.checked) c.requested[i] = bytes;
    ++c.live;
    ++live_;
    live_bytes_ += opts_.checked ? bytes : block_size_;
    return reinterpret_cast<void*>(addr);
  }

  void deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    chunk* c = find_chunk(addr);
    auto fail = [&](const std::string& why) {
      throw std::invalid_argument(fmt::format(
          "unimem::fixed_block_pool::deallocate({}, {} B, alignment {}): {}; pass only pointers this pool's "
          "allocate() returned, once each, with their size (nothing was freed)",
          p, bytes, alignment, why));
    };
    if (c == nullptr || (addr - c->base) % stride_ != 0) fail("this pointer is not a block of this pool");
    const std::size_t i = (addr - c->base) / stride_;
    if (!c->used[i]) fail("this block is already free (freed twice)");
    if (bytes > block_size_) fail(fmt::format("the size exceeds the block size {} B", block_size_));
    if (opts_.checked && c->requested[i] != bytes) fail(fmt::format("it was allocated with {} B", c->requested[i]));
    if (alignment > opts_.block_alignment) fail(fmt::format("no block was allocated with an alignment above {}", opts_.block_alignment));
    c->used[i] = 0;
    --c->live;
    --live_;
    live_bytes_ -= opts_.checked ? c->requested[i] : block_size_;
    const std::uint32_t s = slot_for(stream);
    free_[s].push_back(entry{addr, slots_.note_free(s)});
  }

  std::size_t release() {
    for (std::uint32_t t = 1; t < free_.size(); ++t) settle(t, true);
    std::unordered_map<chunk*, std::size_t> free_count;
    for (const entry& e : free_[0]) {
      chunk* c = find_chunk(e.addr);
      if (c->live == 0) ++free_count[c];
    }
    std::size_t freed = 0;
    for (auto& [c, n] : free_count) {
      if (n != c->blocks) continue;  // some blocks still wait for another stream's work
      const std::uintptr_t lo = c->base, hi = c->base + c->blocks * stride_;
      free_[0].erase(std::remove_if(free_[0].begin(), free_[0].end(),
                                    [&](const entry& e) { return e.addr >= lo && e.addr < hi; }),
                     free_[0].end());
      upstream_.deallocate(reinterpret_cast<void*>(c->base), c->blocks * stride_, opts_.block_alignment);
      freed += c->blocks * stride_;
      total_ -= c->blocks;
      auto it = std::find_if(chunks_.begin(), chunks_.end(), [c = c](const auto& u) { return u.get() == c; });
      chunks_.erase(it);
    }
    return freed;
  }

  std::size_t live() const noexcept { return live_; }
  std::size_t total() const noexcept { return total_; }

  std::vector<tag_usage> by_tag() const {
    tag_tally tally;
    for (const auto& c : chunks_) {
      for (std::size_t i = 0; i < c->blocks; ++i) {
        if (c->used[i]) tally.add(c->tags[i], opts_.checked ? c->requested[i] : block_size_);
      }
    }
    return tally.rows();
  }

 private:
  struct chunk {
    std::uintptr_t base = 0;
    std::size_t blocks = 0;
    std::size_t live = 0;
    std::vector<std::uint8_t> used;
    std::vector<tag_id> tags;
    std::vector<std::size_t> requested;  // checked mode only
  };
  struct entry {
    std::uintptr_t addr;
    std::uint64_t stamp;  // stamps grow along each deque, so settled blocks form a prefix
  };

  std::uint32_t slot_for(stream_view stream) {
    const std::uint32_t s = slots_.slot_of(stream);
    if (free_.size() < slots_.count()) free_.resize(slots_.count());
    return s;
  }

  std::uintptr_t pop(std::uint32_t s) {
    if (free_[s].empty()) return 0;
    const std::uintptr_t a = free_[s].back().addr;
    free_[s].pop_back();
    return a;
  }

  /// A free block usable on slot s now, or 0.
  std::uintptr_t take(std::uint32_t s) {
    if (std::uintptr_t a = s != 0 ? pop(s) : 0) return a;
    if (std::uintptr_t a = pop(0)) return a;
    for (std::uint32_t t = 1; t < free_.size(); ++t) {
      if (t != s) settle(t, false);
    }
    return pop(0);
  }

  /// Moves blocks of slot t whose work has completed to slot 0.
  void settle(std::uint32_t t, bool block) {
    if (free_[t].empty()) return;
    const std::uint64_t done = block ? slots_.wait(t) : slots_.poll(t);
    std::deque<entry>& q = free_[t];
    while (!q.empty() && q.front().stamp <= done) {
      free_[0].push_back(q.front());
      q.pop_front();
    }
  }

  std::uintptr_t grow(std::uint32_t s, stream_view stream, std::size_t bytes) {
    const std::size_t room = opts_.max_blocks - std::min(opts_.max_blocks, total_);
    const std::size_t n = std::min(per_chunk_, room);
    if (n == 0) {
      for (std::uint32_t t = 1; t < free_.size(); ++t) {
        if (t != s) settle(t, true);
      }
      if (std::uintptr_t a = pop(0)) return a;
      throw out_of_memory(bytes, "unimem::fixed_block_pool",
                          fmt::format("all {} blocks (max_blocks) are in use; free a block or raise max_blocks",
                                      total_));
    }
    // The bookkeeping first: if host memory runs out for it, nothing is taken from upstream.
    auto c = std::make_unique<chunk>();
    c->blocks = n;
    c->used.assign(n, 0);
    c->tags.assign(n, untagged);
    if (opts_.checked) c->requested.assign(n, 0);
    chunks_.reserve(chunks_.size() + 1);
    // n <= blocks per chunk, whose product with the stride the constructor checked.
    const std::size_t chunk_bytes = n * stride_;
    void* p = nullptr;
    try {
      p = upstream_.allocate(chunk_bytes, opts_.block_alignment, stream);
      if (p == nullptr) {
        throw out_of_memory(chunk_bytes, "unimem::fixed_block_pool",
                            fmt::format("the upstream {} returned null for a chunk of {} blocks; it breaks the "
                                        "memory_resource contract (throw out_of_memory instead)",
                                        upstream_.name(), n));
      }
    } catch (const out_of_memory&) {
      for (std::uint32_t t = 1; t < free_.size(); ++t) {
        if (t != s) settle(t, true);
      }
      if (std::uintptr_t a = pop(0)) return a;
      throw;
    }
    c->base = reinterpret_cast<std::uintptr_t>(p);
    const auto pos = std::upper_bound(chunks_.begin(), chunks_.end(), c->base,
                                      [](std::uintptr_t a, const auto& u) { return a < u->base; });
    chunk* raw = chunks_.insert(pos, std::move(c))->get();  // cannot throw: reserved
    // Push in reverse so the lowest block is handed out first.
    std::size_t pushed = 0;
    try {
      for (std::size_t i = n; i-- > 1; ++pushed) free_[0].push_back(entry{raw->base + i * stride_, 0});
    } catch (...) {
      // Out of host memory halfway: give the chunk back and leave the pool as it was.
      free_[0].erase(free_[0].end() - static_cast<std::ptrdiff_t>(pushed), free_[0].end());
      chunks_.erase(std::find_if(chunks_.begin(), chunks_.end(), [raw](const auto& u) { return u.get() == raw; }));
      upstream_.deallocate(p, chunk_bytes, opts_.block_alignment, stream);
      throw;
    }
    total_ += n;
    return raw->base;
  }

  chunk* find_chunk(std::uintptr_t addr) const noexcept {
    auto it = std::upper_bound(chunks_.begin(), chunks_.end(), addr,
                               [](std::uintptr_t a, const auto& u) { return a < u->base; });
    if (it == chunks_.begin()) return nullptr;
    chunk* c = std::prev(it)->get();
    return addr < c->base + c->blocks * stride_ ? c : nullptr;
  }

  memory_resource& upstream_;
  std::size_t block_size_;
  std::size_t stride_;
  fixed_block_pool_options opts_;
  std::size_t per_chunk_;
  std::shared_ptr<stream_event_source> events_;
  stream_slots slots_;
  std::vector<std::deque<entry>> free_;  // per stream slot
  std::vector<std::unique_ptr<chunk>> chunks_;  // ascending base
  std::size_t live_ = 0;
  std::size_t live_bytes_ = 0;
  std::size_t total_ = 0;
  std::mutex mutex_;
};

}  // namespace detail

namespace {

std::size_t checked_stride(std::size_t block_size, std::size_t alignment) {
  if (block_size == 0) {
    throw std::invalid_argument("unimem::fixed_block_pool(block_size 0): blocks need at least one byte");
  }
  if (alignment < default_alignment || (alignment & (alignment - 1)) != 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::fixed_block_pool(block_alignment {}): must be a power of two of at least {}", alignment,
        default_alignment));
  }
  std::size_t stride = 0;
  if (!detail::checked_align_up(block_size, alignment, stride)) {
    throw std::invalid_argument(fmt::format(
        "unimem::fixed_block_pool(block_size {} B, block_alignment {}): the block size rounded up to the "
        "alignment does not fit in std::size_t; no upstream can give such a block",
        block_size, alignment));
  }
  return stride;
}

/// A chunk of `blocks_per_chunk` blocks must be a size an upstream can be asked for.
void check_chunk(std::size_t block_size, std::size_t stride, std::size_t blocks_per_chunk) {
  std::size_t chunk = 0;
  if (!detail::checked_mul(stride, blocks_per_chunk, chunk) ||
      chunk > static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max())) {
    throw std::invalid_argument(fmt::format(
        "unimem::fixed_block_pool(block_size {} B, blocks_per_chunk {}): a chunk of {} blocks of {} B each is "
        "more bytes than any upstream can give; lower blocks_per_chunk (0 picks it) or the block size",
        block_size, blocks_per_chunk, blocks_per_chunk, stride));
  }
}

}  // namespace

fixed_block_pool::fixed_block_pool(memory_resource& upstream, std::size_t block_size, fixed_block_pool_options options)
    : block_size_(block_size), block_alignment_(options.block_alignment), traits_(upstream.traits()) {
  const std::size_t stride = checked_stride(block_size, options.block_alignment);
  check_chunk(block_size, stride, std::max<std::size_t>(options.blocks_per_chunk, 1));
  core_ = std::make_unique<detail::fixed_block_core>(upstream, block_size, stride, std::move(options),
                                                     traits_.device_accessible);
}

fixed_block_pool::~fixed_block_pool() = default;

std::size_t fixed_block_pool::live_blocks() const {
  detail::optional_lock lock(core_->mutex());
  return core_->live();
}

std::size_t fixed_block_pool::total_blocks() const {
  detail::optional_lock lock(core_->mutex());
  return core_->total();
}

std::size_t fixed_block_pool::release() {
  detail::optional_lock lock(core_->mutex());
  return core_->release();
}

std::vector<tag_usage> fixed_block_pool::live_by_tag() const {
  detail::optional_lock lock(core_->mutex());
  return core_->by_tag();
}

void* fixed_block_pool::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  detail::optional_lock lock(core_->mutex());
  return core_->allocate(bytes, alignment, stream);
}

void fixed_block_pool::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) {
  detail::optional_lock lock(core_->mutex());
  core_->deallocate(p, bytes, alignment, stream);
}

}  // namespace unimem
