// Internal: what an adaptor remembers of each allocation it handed out (address -> size, alignment
// and the adaptor's own datum: a tag, a trace id, a chain position). Not installed.
//
// An adaptor that keeps accounting (statistics, budget, trace) must refuse a foreign pointer, a
// double free or a wrong size *before* forwarding: its upstream may be malloc, which cannot tell
// (free() of a stack address), and a wrong size would corrupt the counters (a budget's `used`
// wrapping below zero). The check needs the adaptor's own table; one hash lookup per call.
//
// Not locked by itself: the adaptor holds its own mutex around every call (free_checked takes it),
// so that the table and its counters change together.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

namespace unimem::detail {

template <class Datum>
class live_allocations {
 public:
  struct record {
    std::size_t bytes = 0;
    std::size_t alignment = 0;
    Datum datum{};
  };

  /// Remembers `p`. A record already at `p` means the upstream handed the address out again, so
  /// the allocation it described was freed behind this adaptor's back (straight to the upstream);
  /// it is returned so the caller can take it out of its counters.
  std::optional<record> add(void* p, const record& r) {
    auto [it, inserted] = live_.try_emplace(p, r);
    if (inserted) return std::nullopt;
    const record displaced = it->second;
    it->second = r;
    return displaced;
  }

  /// Forgets `p` if it was the allocation (bytes, alignment) and returns its record; otherwise
  /// throws std::invalid_argument naming `adaptor`'s call, the values and the fix, and changes
  /// nothing. The caller forwards the free after this and calls restore() if the upstream refuses.
  record take(const char* adaptor, void* p, std::size_t bytes, std::size_t alignment) {
    auto it = live_.find(p);
    if (it == live_.end()) {
      throw std::invalid_argument(fmt::format(
          "{}::deallocate({}, {} B, alignment {}): no live allocation of this adaptor starts here (freed twice, or "
          "from another resource); pass only pointers its allocate() returned, once each (nothing was freed)",
          adaptor, p, bytes, alignment));
    }
    const record r = it->second;
    if (r.bytes != bytes || r.alignment != alignment) {
      throw std::invalid_argument(fmt::format(
          "{}::deallocate({}, {} B, alignment {}): this allocation was made with {} B, alignment {}; pass the size "
          "and alignment given to allocate() (nothing was freed)",
          adaptor, p, bytes, alignment, r.bytes, r.alignment));
    }
    live_.erase(it);
    return r;
  }

  /// Puts back what take() removed, after the upstream refused the free.
  void restore(void* p, const record& r) { live_.emplace(p, r); }

  /// A checked free: take() under `mutex`, then `forward(record)` (the upstream's deallocate)
  /// outside it, and restore() if that throws, so a refused free changes nothing. Returns the
  /// record.
  template <class Forward>
  record free_checked(std::mutex& mutex, const char* adaptor, void* p, std::size_t bytes, std::size_t alignment,
                      Forward&& forward) {
    record r;
    {
      std::lock_guard<std::mutex> lock(mutex);
      r = take(adaptor, p, bytes, alignment);
    }
    try {
      forward(static_cast<const record&>(r));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      restore(p, r);
      throw;
    }
    return r;
  }

  std::size_t size() const noexcept { return live_.size(); }

 private:
  std::unordered_map<void*, record> live_;
};

}  // namespace unimem::detail
