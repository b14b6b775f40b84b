// libFuzzer target: random allocate / free / release / trim sequences through pool_resource
// (both fits, learning on and off, stream-ordered with a manual event source whose streams wait
// on each other's events, the plan region in a host virtual range) checked against a reference
// model: alignment, no overlap, byte and count accounting, nothing written into the managed
// memory, every bad free refused without a change, and everything freed coalescing back into
// whole chunks that release() returns.
//
// The input is a header and a body; the body runs several times as "iterations", so the learned
// plans, their switches and divergences are exercised too. Allocations marked persistent stay
// live across iterations (weights, caches), so iterations are also cut without an empty pool.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include <unimem/error.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/resources/virtual_memory.hpp>
#include <unimem/stream_events.hpp>

namespace {

using namespace unimem;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_pool: %s\n", what);
  std::abort();
}

/// Host memory with a byte limit; checks every deallocate and that nothing wrote into it.
class checked_upstream final : public memory_resource {
 public:
  /// The first and last 16 bytes of every 256-byte granule: where a pool would put a header or a
  /// footer. (All of it would be thorough but slow the fuzzer tenfold.)
  template <class F>
  static void for_each_probe(void* p, std::size_t bytes, F f) {
    auto* b = static_cast<unsigned char*>(p);
    for (std::size_t g = 0; g < bytes; g += 256) {
      const std::size_t end = std::min(bytes, g + 256);
      for (std::size_t i = g; i < std::min(end, g + 16); ++i) f(b[i]);
      for (std::size_t i = std::max(g + 16, end > 16 ? end - 16 : 0); i < end; ++i) f(b[i]);
    }
  }

  explicit checked_upstream(std::size_t limit) : limit_(limit) {}
  ~checked_upstream() override {
    if (!live_.empty()) fail("pool destroyed without returning every chunk");
  }
  std::size_t held() const { return held_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view) override {
    if (bytes > limit_ - held_) throw out_of_memory(bytes, "checked_upstream", "fuzz limit");
    void* p = nullptr;
    if (posix_memalign(&p, std::max<std::size_t>(alignment, sizeof(void*)), bytes) != 0) {
      throw out_of_memory(bytes, "checked_upstream", "posix_memalign");
    }
    for_each_probe(p, bytes, [](unsigned char& c) { c = 0xCD; });
    live_[p] = bytes;
    held_ += bytes;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t, stream_view) override {
    auto it = live_.find(p);
    if (it == live_.end() || it->second != bytes) fail("pool returned a chunk it did not get, or with another size");
    for_each_probe(p, bytes, [](unsigned char& c) {
      if (c != 0xCD) fail("pool wrote into the memory it manages");
    });
    live_.erase(it);
    held_ -= bytes;
    std::free(p);
  }
  resource_traits do_traits() const noexcept override { return {memory_kind::host, true, false, false}; }
  std::string_view do_name() const noexcept override { return "checked_upstream"; }

  std::size_t limit_;
  std::size_t held_ = 0;
  std::map<void*, std::size_t> live_;
};

class manual_events final : public stream_event_source {
 public:
  token record(stream_view s) override {
    events_.push_back({s, false});
    return static_cast<token>(events_.size() - 1);
  }
  bool ready(token t) override { return events_.at(t).done; }
  void synchronize(token t) override { events_.at(t).done = true; }
  void release(token) noexcept override {}
  void wait(stream_view, token) override { ++waits; }  // the device orders the streams
  int waits = 0;
  void complete(stream_view s) {
    for (auto& e : events_) e.done = e.done || e.stream == s;
  }

 private:
  struct event {
    stream_view stream;
    bool done;
  };
  std::vector<event> events_;
};

stream_view stream_no(unsigned k) { return stream_view{reinterpret_cast<CUstream_st*>(std::uintptr_t{64} * (k + 1))}; }

struct live_block {
  std::size_t bytes;
  std::size_t alignment;
  unsigned stream;
  bool persistent;  // kept across iterations
};

struct model {
  std::map<std::uintptr_t, live_block> live;
  std::size_t bytes = 0;

  void add(void* p, std::size_t n, std::size_t a, unsigned s, bool persistent) {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    if (at % a != 0) fail("misaligned allocation");
    auto next = live.lower_bound(at);
    if (next != live.end() && next->first < at + n) fail("overlaps a later live block");
    if (next != live.begin() && std::prev(next)->first + std::prev(next)->second.bytes > at) {
      fail("overlaps an earlier live block");
    }
    live[at] = {n, a, s, persistent};
    bytes += n;
  }
};

void check_accounting(const pool_resource& pool, const model& m, const checked_upstream& up, const virtual_range* range) {
  const pool_statistics s = pool.statistics();
  if (s.live_count != m.live.size()) fail("live count differs from the model");
  if (s.live_bytes != m.bytes) fail("live bytes differ from the model");
  const std::size_t mapped = range != nullptr ? range->mapped() : 0;
  if (s.reserved_bytes != up.held() + mapped) fail("reserved bytes differ from what upstream and the range hold");
  if (s.reserved_bytes < m.bytes) fail("less reserved than live");
}

class reader {
 public:
  reader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool empty() const { return i_ >= n_; }
  std::uint8_t byte() { return i_ < n_ ? d_[i_++] : 0; }
  std::uint16_t word() { return static_cast<std::uint16_t>(byte() | (byte() << 8)); }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t i_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  reader head(data, 4);
  const std::uint8_t flags = head.byte();
  const int iterations = 1 + head.byte() % 4;
  const std::size_t limit = std::size_t{1} << (18 + head.byte() % 6);  // 256 KiB .. 8 MiB upstream
  const std::uint8_t growth = head.byte();

  auto events = std::make_shared<manual_events>();
  checked_upstream up(limit);
  std::shared_ptr<virtual_range> range;
  {
    pool_options o;
    o.fit = (flags & 1) ? fit_strategy::ordered_best_fit : fit_strategy::tlsf;
    o.learn_iterations = (flags & 2) != 0;
    o.checked = true;
    o.thread_safe = false;
    if (flags & 4) o.events = events;  // stream-ordered over three fake streams
    if (flags & 8) o.growth_step = std::size_t{64} << (growth % 12);
    if (flags & 16) o.maximum_size = limit / 2;
    if (flags & 32) {
      range = make_host_virtual_range(limit, std::size_t{64} << 10);
      o.region_range = range;
    }
    const bool persistent_allowed = (flags & 64) != 0;
    o.on_leak = [](const leak_report&) {};
    pool_resource pool(up, o);
    const bool ordered = (flags & 4) != 0;
    model m;

    for (int it = 0; it < iterations; ++it) {
      reader in(data + 4, size - 4);
      while (!in.empty()) {
        const std::uint8_t op = in.byte();
        const unsigned s = ordered ? op % 3 : 0;
        switch ((op >> 2) % 8) {
          case 0:
          case 1:
          case 2: {  // allocate; a "varying" op changes size from one iteration to the next
            const std::uint16_t w = in.word();
            std::size_t n = (std::size_t{1} + (w & 0x3ff)) << ((w >> 10) % 12);
            if (op & 0x80) n += static_cast<std::size_t>(it) * 256;
            const std::size_t a = std::size_t{1} << (in.byte() % 13);
            void* p = nullptr;
            try {
              p = pool.allocate(n, a, stream_no(s));
            } catch (const out_of_memory&) {
              check_accounting(pool, m, up, range.get());
              break;
            }
            m.add(p, n, a, s, persistent_allowed && (op & 0x40) != 0);
            break;
          }
          case 3:
          case 4: {  // free the k-th live block, on its own stream or another
            if (m.live.empty()) break;
            auto itb = m.live.begin();
            std::advance(itb, in.byte() % m.live.size());
            const unsigned fs = (op & 0x80) && ordered ? (itb->second.stream + 1) % 3 : itb->second.stream;
            pool.deallocate(reinterpret_cast<void*>(itb->first), itb->second.bytes, itb->second.alignment,
                            stream_no(fs));
            m.bytes -= itb->second.bytes;
            m.live.erase(itb);
            break;
          }
          case 5:  // a stream's work finished
            events->complete(stream_no(in.byte() % 3));
            break;
          case 6:  // give memory back
            if (op & 0x80) {
              pool.trim(std::size_t{1} << (in.byte() % 26));
            } else {
              pool.release();
            }
            break;
          case 7: {  // bad input must be refused and change nothing
            const pool_statistics before = pool.statistics();
            int local = 0;
            bool refused = false;
            try {
              if (!m.live.empty() && (op & 0x80)) {
                const auto& [at, b] = *m.live.begin();
                pool.deallocate(reinterpret_cast<void*>(at), b.bytes + 1, b.alignment, stream_no(b.stream));
              } else {
                pool.deallocate(&local, 4);
              }
            } catch (const std::invalid_argument&) {
              refused = true;
            }
            if (!refused) fail("a bad free was accepted");
            const pool_statistics after = pool.statistics();
            if (after.live_count != before.live_count || after.live_bytes != before.live_bytes) {
              fail("a refused free changed the pool");
            }
            break;
          }
        }
        check_accounting(pool, m, up, range.get());
      }
      // End of the iteration: free everything but what is persistent (in address order).
      for (auto itb = m.live.begin(); itb != m.live.end();) {
        const live_block b = itb->second;
        if (b.persistent && it + 1 < iterations) {
          ++itb;
          continue;
        }
        pool.deallocate(reinterpret_cast<void*>(itb->first), b.bytes, b.alignment, stream_no(b.stream));
        m.bytes -= b.bytes;
        itb = m.live.erase(itb);
      }
      check_accounting(pool, m, up, range.get());
    }
    // Everything is free: once every stream's work is done, all of it coalesces into whole
    // chunks and goes back.
    for (unsigned s = 0; s < 3; ++s) events->complete(stream_no(s));
    pool.release();
    if (range != nullptr && range->mapped() != 0) fail("release() left the region's range mapped");
    if (up.held() != 0) {
      const pool_statistics st = pool.statistics();
      std::fprintf(stderr, "held %zu reserved %zu chunks %zu plan %d\n", up.held(), st.reserved_bytes, st.chunk_count, st.plan_active);
      fail("free memory did not coalesce back into whole chunks");
    }
  }
  return 0;
}
