#include <unimem/pools/arena_resource.hpp>

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/size_math.hpp"
#include "pools/pool_errors.hpp"

namespace unimem {

struct arena_resource::live_table {
  std::unordered_map<std::uintptr_t, std::size_t> bytes;  // pointer -> requested bytes
  std::size_t contiguous_need = 0;  // bytes this pass would take in one block
  std::size_t max_alignment = default_alignment;
};

namespace {

constexpr std::size_t default_first_block = std::size_t{1} << 20;

std::uintptr_t align_up(std::uintptr_t v, std::size_t a) { return (v + a - 1) & ~(std::uintptr_t{a} - 1); }

}  // namespace

arena_resource::arena_resource(memory_resource& upstream, arena_options options)
    : upstream_(&upstream), options_(options), traits_(upstream.traits()), live_(std::make_unique<live_table>()) {
  detail::refuse_unobtainable("unimem::arena_resource", "initial_size", options_.initial_size, "a block",
                              "pass 0 for the default (1 MiB) or the bytes one pass needs");
  if (options_.initial_size > options_.maximum_size) {
    throw std::invalid_argument(fmt::format(
        "unimem::arena_resource(initial_size {} B, maximum_size {} B): the first block would exceed the maximum; "
        "raise maximum_size or lower initial_size",
        options_.initial_size, options_.maximum_size));
  }
}

arena_resource::~arena_resource() { release_all(); }

std::size_t arena_resource::used_bytes() const noexcept {
  return blocks_.empty() ? 0 : used_before_ + static_cast<std::size_t>(top_ - blocks_[current_].base);
}

void* arena_resource::do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) {
  if (bytes > options_.maximum_size || bytes > std::numeric_limits<std::size_t>::max() - alignment) {
    throw out_of_memory(bytes, "unimem::arena_resource",
                        fmt::format("{} B at alignment {} exceeds the arena's maximum_size {}; raise maximum_size",
                                    bytes, alignment, detail::format_bytes(options_.maximum_size)));
  }
  for (;;) {
    if (!blocks_.empty()) {
      const block& b = blocks_[current_];
      const std::uintptr_t start = align_up(top_, alignment);
      if (start >= top_ && start - b.base <= b.size && b.size - (start - b.base) >= bytes) {
        top_ = start + bytes;
        break;
      }
      if (current_ + 1 < blocks_.size()) {
        used_before_ += b.size;
        ++current_;
        top_ = blocks_[current_].base;
        continue;
      }
    }
    // Doubling saturates: add_block caps the size at what maximum_size leaves.
    const std::size_t last = blocks_.empty() ? 0 : blocks_.back().size;
    const std::size_t next = blocks_.empty() ? (options_.initial_size != 0 ? options_.initial_size : default_first_block)
                             : last > std::numeric_limits<std::size_t>::max() / 2 ? std::numeric_limits<std::size_t>::max()
                                                                               : last * 2;
    try {
      add_block(std::max(next, bytes + alignment), bytes + alignment, alignment, stream);
    } catch (const out_of_memory& e) {
      throw out_of_memory(bytes, "unimem::arena_resource", e.hint());
    }
  }
  // What one contiguous block would need for this pass, so reset() can size it.
  // Saturates: a pass too large for one block is not consolidated by reset().
  std::size_t need = 0;
  if (!detail::checked_align_up(live_->contiguous_need, alignment, need) || !detail::checked_add(need, bytes, need)) {
    need = std::numeric_limits<std::size_t>::max();
  }
  live_->contiguous_need = need;
  live_->max_alignment = std::max(live_->max_alignment, alignment);
  peak_used_ = std::max(peak_used_, used_bytes());
  void* p = reinterpret_cast<void*>(top_ - bytes);
  if (options_.checked) live_->bytes.emplace(top_ - bytes, bytes);
  return p;
}

void arena_resource::add_block(std::size_t bytes, std::size_t min_bytes, std::size_t alignment, stream_view stream) {
  const std::size_t room = options_.maximum_size - std::min(options_.maximum_size, reserved_);
  if (min_bytes > room) {
    throw out_of_memory(min_bytes, "unimem::arena_resource",
                        fmt::format("the arena holds {} of its maximum_size {} ({} used this pass); call reset() "
                                    "between passes or raise maximum_size",
                                    detail::format_bytes(reserved_), detail::format_bytes(options_.maximum_size),
                                    detail::format_bytes(used_bytes())));
  }
  bytes = std::min(bytes, room);
  const std::size_t a = std::max(alignment, default_alignment);
  blocks_.reserve(blocks_.size() + 1);  // so that recording the block cannot fail once it is taken
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes, a, stream);
    if (p == nullptr) {
      throw out_of_memory(bytes, std::string(upstream_->name()),
                          "the upstream returned null; it breaks the memory_resource contract (throw out_of_memory)");
    }
  } catch (const out_of_memory& e) {
    if (bytes == min_bytes) throw out_of_memory(min_bytes, "unimem::arena_resource", fmt::format("upstream: {}", e.what()));
    // The doubled block did not fit: the bare request may.
    add_block(min_bytes, min_bytes, alignment, stream);
    return;
  }
  if (!blocks_.empty()) used_before_ += blocks_[current_].size;
  blocks_.push_back(block{reinterpret_cast<std::uintptr_t>(p), bytes, a});
  current_ = blocks_.size() - 1;
  top_ = blocks_.back().base;
  reserved_ += bytes;
}

void arena_resource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  auto fail = [&](const char* why) {
    throw std::invalid_argument(fmt::format(
        "unimem::arena_resource::deallocate({}, {} B, alignment {}): {}; pass only pointers this arena returned "
        "since its last reset(), once each, with their size",
        p, bytes, alignment, why));
  };
  if (options_.checked) {
    auto it = live_->bytes.find(addr);
    if (it == live_->bytes.end()) fail("no live allocation of this arena starts here (freed twice, or not from it)");
    if (it->second != bytes) fail("the size differs from the one given to allocate()");
    live_->bytes.erase(it);
    return;
  }
  const bool inside = std::any_of(blocks_.begin(), blocks_.end(),
                                  [addr](const block& b) { return addr >= b.base && addr < b.base + b.size; });
  if (!inside) fail("this pointer is not inside the arena");
  // Monotonic: the memory comes back at reset().
}

void arena_resource::reset() {
  if (current_ > 0) {
    // The pass spilled over several blocks: hold one block that fits it whole next time. If that
    // block cannot be had, the arena starts empty and grows again as the next pass asks.
    std::size_t need = 0;
    const bool fits = detail::checked_align_up(live_->contiguous_need, default_alignment, need);
    const std::size_t alignment = live_->max_alignment;
    release_all();
    if (fits) {
      try {
        add_block(need, need, alignment, stream_view{});
      } catch (const std::bad_alloc&) {  // out_of_memory included
      }
    }
  }
  current_ = 0;
  used_before_ = 0;
  top_ = blocks_.empty() ? 0 : blocks_[0].base;
  live_->bytes.clear();
  live_->contiguous_need = 0;
  live_->max_alignment = default_alignment;
}

void arena_resource::release_all() noexcept {
  for (const block& b : blocks_) {
    try {
      upstream_->deallocate(reinterpret_cast<void*>(b.base), b.size, b.alignment);
    } catch (...) {
      // Nothing sensible to do in a destructor or in reset() halfway through.
    }
  }
  blocks_.clear();
  reserved_ = 0;
  current_ = 0;
  used_before_ = 0;
  top_ = 0;
}

}  // namespace unimem
