// Test support: an instrumented host upstream and a checker for overlapping allocations.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <string>

#include <unimem/error.hpp>
#include <unimem/memory_resource.hpp>

namespace unimem::test {

/// The message of what `f` throws, or "(no exception)".
inline std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

/// Host memory that counts calls, can run out at a byte limit, can claim any traits, and fills
/// what it hands out with a canary byte so a test can prove the pool never writes into the
/// memory it manages (device memory could not hold its metadata).
class canary_upstream final : public memory_resource {
 public:
  static constexpr std::uint8_t canary = 0xCD;

  explicit canary_upstream(std::size_t limit = std::numeric_limits<std::size_t>::max(),
                           resource_traits traits = {memory_kind::host, true, false, false})
      : limit_(limit), traits_(traits) {}

  ~canary_upstream() override {
    for (auto& [p, b] : live_) std::free(reinterpret_cast<void*>(p));
  }

  std::size_t allocations() const { std::lock_guard<std::mutex> l(m_); return allocations_; }
  std::size_t deallocations() const { std::lock_guard<std::mutex> l(m_); return deallocations_; }
  std::size_t held() const { std::lock_guard<std::mutex> l(m_); return held_; }
  std::size_t peak_held() const { std::lock_guard<std::mutex> l(m_); return peak_; }
  /// Chunks that came back with a byte other than the canary (set when the pool wrote into them).
  std::size_t dirty_returns() const { std::lock_guard<std::mutex> l(m_); return dirty_; }
  void set_limit(std::size_t limit) { std::lock_guard<std::mutex> l(m_); limit_ = limit; }
  bool fill_canary = true;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view) override {
    std::lock_guard<std::mutex> l(m_);
    if (bytes > limit_ - std::min(limit_, held_)) {
      throw out_of_memory(bytes, "canary_upstream", "test limit reached");
    }
    void* p = nullptr;
    if (::posix_memalign(&p, std::max<std::size_t>(alignment, sizeof(void*)), bytes) != 0) {
      throw out_of_memory(bytes, "canary_upstream", "posix_memalign failed");
    }
    if (fill_canary) std::memset(p, canary, bytes);
    live_[reinterpret_cast<std::uintptr_t>(p)] = bytes;
    held_ += bytes;
    peak_ = std::max(peak_, held_);
    ++allocations_;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t, stream_view) override {
    std::lock_guard<std::mutex> l(m_);
    auto it = live_.find(reinterpret_cast<std::uintptr_t>(p));
    if (it == live_.end() || it->second != bytes) throw std::invalid_argument("canary_upstream: bad deallocate");
    if (fill_canary) {
      const auto* b = static_cast<const std::uint8_t*>(p);
      for (std::size_t i = 0; i < bytes; ++i) {
        if (b[i] != canary) {
          ++dirty_;
          break;
        }
      }
    }
    live_.erase(it);
    held_ -= bytes;
    ++deallocations_;
    std::free(p);
  }
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return "canary_upstream"; }

  mutable std::mutex m_;
  std::size_t limit_;
  resource_traits traits_;
  std::map<std::uintptr_t, std::size_t> live_;
  std::size_t held_ = 0, peak_ = 0, allocations_ = 0, deallocations_ = 0, dirty_ = 0;
};

/// Records live [address, address + bytes) ranges; add() reports an overlap with a live one.
class overlap_checker {
 public:
  /// Empty string when [p, p + bytes) overlaps nothing live; otherwise what it hit.
  std::string add(const void* p, std::size_t bytes) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    auto next = live_.lower_bound(a);
    if (next != live_.end() && next->first < a + bytes) return "overlaps a later block";
    if (next != live_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second > a) return "overlaps an earlier block";
    }
    live_[a] = bytes;
    return {};
  }
  void remove(const void* p) { live_.erase(reinterpret_cast<std::uintptr_t>(p)); }
  std::size_t size() const { return live_.size(); }

 private:
  std::map<std::uintptr_t, std::size_t> live_;
};

}  // namespace unimem::test
