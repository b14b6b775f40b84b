// pool_resource: coalescing, fit, growth and release, bad input, leaks and stream ordering (with a
// manual event source, so without a GPU). Iteration learning: test_pool_learning.cpp.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/tag.hpp>

#include "support/manual_event_source.hpp"
#include "support/test_upstreams.hpp"

namespace unimem::test {
namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

/// The general allocator alone: no iteration learning, a first chunk of `initial`.
pool_options plain(std::size_t initial = 0, fit_strategy fit = fit_strategy::tlsf) {
  pool_options o;
  o.learn_iterations = false;
  o.initial_size = initial;
  o.fit = fit;
  o.checked = true;
  return o;
}

class pool_fits : public ::testing::TestWithParam<fit_strategy> {};

INSTANTIATE_TEST_SUITE_P(fit, pool_fits, ::testing::Values(fit_strategy::tlsf, fit_strategy::ordered_best_fit),
                         [](const auto& info) { return info.param == fit_strategy::tlsf ? "tlsf" : "ordered_best_fit"; });

TEST_P(pool_fits, freed_neighbours_coalesce_into_the_whole_chunk) {
  canary_upstream up;
  pool_resource pool(up, plain(MiB, GetParam()));
  void* a = pool.allocate(256 * KiB);
  void* b = pool.allocate(256 * KiB);
  void* c = pool.allocate(512 * KiB);
  EXPECT_EQ(up.allocations(), 1u);
  pool.deallocate(a, 256 * KiB);
  pool.deallocate(c, 512 * KiB);
  pool.deallocate(b, 256 * KiB);  // joins both neighbours
  void* whole = pool.allocate(MiB);
  EXPECT_EQ(whole, a) << "the three blocks should have merged back into the chunk";
  EXPECT_EQ(up.allocations(), 1u);
  pool.deallocate(whole, MiB);
}

TEST_P(pool_fits, a_freed_block_of_the_right_size_is_reused) {
  canary_upstream up;
  pool_resource pool(up, plain(4 * MiB, GetParam()));
  void* x = pool.allocate(64 * KiB);
  void* y = pool.allocate(128 * KiB);
  void* z = pool.allocate(64 * KiB);
  pool.deallocate(y, 128 * KiB);
  void* again = pool.allocate(100 * KiB);  // fits the 128 KiB hole exactly in granules
  EXPECT_EQ(again, y);
  pool.deallocate(again, 100 * KiB);
  pool.deallocate(x, 64 * KiB);
  pool.deallocate(z, 64 * KiB);
}

TEST_P(pool_fits, over_aligned_requests_are_aligned_and_the_gap_stays_usable) {
  canary_upstream up;
  pool_resource pool(up, plain(4 * MiB, GetParam()));
  void* small = pool.allocate(256);
  void* big = pool.allocate(1000, 1 * MiB);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big) % MiB, 0u);
  // The gap between `small` and `big` went back to the free lists and is found again.
  const std::size_t gap = static_cast<std::size_t>(static_cast<char*>(big) - static_cast<char*>(small)) - 256;
  if (gap > 0) {
    void* filler = pool.allocate(gap);
    EXPECT_EQ(filler, static_cast<char*>(small) + 256);
    pool.deallocate(filler, gap);
  }
  pool.deallocate(big, 1000, 1 * MiB);
  pool.deallocate(small, 256);
  EXPECT_EQ(up.allocations(), 1u);
}

TEST(pool_resource, grows_by_the_growth_step_and_never_beyond_maximum_size) {
  canary_upstream up;
  pool_options o = plain();
  o.growth_step = 4 * MiB;
  o.maximum_size = 8 * MiB;
  pool_resource pool(up, o);
  void* a = pool.allocate(MiB);
  EXPECT_EQ(up.held(), 4 * MiB);
  void* b = pool.allocate(3 * MiB);
  EXPECT_EQ(up.held(), 4 * MiB) << "fits in the first chunk";
  void* c = pool.allocate(2 * MiB);
  EXPECT_EQ(up.held(), 8 * MiB);
  const std::string what = what_of([&] { pool.allocate(3 * MiB); });
  EXPECT_NE(what.find("maximum_size"), std::string::npos) << what;
  EXPECT_NE(what.find("unimem::pool_resource"), std::string::npos) << what;
  pool.deallocate(c, 2 * MiB);
  void* d = pool.allocate(2 * MiB);  // still usable after the failure
  pool.deallocate(d, 2 * MiB);
  pool.deallocate(b, 3 * MiB);
  pool.deallocate(a, MiB);
}

TEST(pool_resource, a_request_over_the_maximum_is_out_of_memory_and_the_pool_keeps_working) {
  canary_upstream up;
  pool_options o = plain();
  o.maximum_size = MiB;
  pool_resource pool(up, o);
  try {
    pool.allocate(2 * MiB);
    FAIL() << "2 MiB allocated from a pool capped at 1 MiB";
  } catch (const out_of_memory& e) {
    EXPECT_EQ(e.requested_bytes(), 2 * MiB);
    EXPECT_EQ(e.resource(), "unimem::pool_resource");
    EXPECT_NE(e.hint().find("maximum_size"), std::string::npos) << e.hint();
  }
  EXPECT_EQ(up.allocations(), 0u);
  void* p = pool.allocate(512 * KiB);
  pool.deallocate(p, 512 * KiB);
}

TEST(pool_resource, out_of_memory_upstream_leaves_the_pool_consistent) {
  canary_upstream up(8 * MiB);
  pool_options o = plain();
  o.growth_step = MiB;
  pool_resource pool(up, o);
  std::vector<void*> held;
  for (int i = 0; i < 8; ++i) held.push_back(pool.allocate(MiB));
  EXPECT_THROW(pool.allocate(MiB), out_of_memory);
  EXPECT_THROW(pool.allocate(4 * MiB), out_of_memory);
  pool.deallocate(held.back(), MiB);
  held.pop_back();
  held.push_back(pool.allocate(MiB));  // the freed megabyte is found again
  for (void* p : held) pool.deallocate(p, MiB);
  EXPECT_EQ(pool.statistics().live_count, 0u);
  // With everything free, the pool can give back chunks to make one large block.
  void* large = pool.allocate(6 * MiB);
  pool.deallocate(large, 6 * MiB);
}

TEST(pool_resource, free_chunks_kept_for_reuse_go_back_before_out_of_memory) {
  canary_upstream up(40 * MiB);
  pool_options o;  // default settings: learning, frugal growth, free chunks kept within 1/16 of live
  o.checked = true;
  pool_resource pool(up, o);
  void* weights = pool.allocate(30 * MiB);
  void* scratch = pool.allocate(3 * MiB / 2);
  pool.deallocate(scratch, 3 * MiB / 2);
  ASSERT_EQ(up.deallocations(), 0u) << "a free chunk within the allowance is kept";
  // Upstream refuses 9 MiB beside the kept chunk: the pool gives it back and asks again.
  void* big = pool.allocate(9 * MiB);
  EXPECT_EQ(up.deallocations(), 1u);
  EXPECT_THROW(pool.allocate(20 * MiB), out_of_memory);
  void* small = pool.allocate(MiB / 2);  // still usable
  pool.deallocate(small, MiB / 2);
  pool.deallocate(big, 9 * MiB);
  pool.deallocate(weights, 30 * MiB);
  EXPECT_EQ(pool.statistics().live_count, 0u);
  pool.release();
  EXPECT_EQ(up.held(), 0u);
}

TEST(pool_resource, release_and_trim_return_wholly_free_chunks) {
  canary_upstream up;
  pool_options o = plain();
  o.growth_step = MiB;
  pool_resource pool(up, o);
  std::vector<void*> p;
  for (int i = 0; i < 4; ++i) p.push_back(pool.allocate(MiB));
  EXPECT_EQ(pool.statistics().chunk_count, 4u);
  pool.deallocate(p[0], MiB);
  pool.deallocate(p[1], MiB);
  pool.deallocate(p[2], MiB);
  EXPECT_EQ(pool.trim(2 * MiB), 2 * MiB);
  EXPECT_EQ(pool.statistics().reserved_bytes, 2 * MiB);
  EXPECT_EQ(pool.release(), MiB);
  EXPECT_EQ(pool.statistics().reserved_bytes, MiB);
  pool.deallocate(p[3], MiB);
  EXPECT_EQ(pool.release(), MiB);
  EXPECT_EQ(up.held(), 0u);
}

TEST(pool_resource, keeps_the_upstream_traits) {
  auto events = std::make_shared<manual_event_source>();
  const resource_traits pinned_like{memory_kind::pinned, true, true, true};
  canary_upstream up(std::numeric_limits<std::size_t>::max(), pinned_like);
  pool_options o;
  o.events = events;
  pool_resource pool(up, o);
  const resource_traits t = pool.traits();
  EXPECT_EQ(t.kind, memory_kind::pinned);
  EXPECT_TRUE(t.host_accessible);
  EXPECT_TRUE(t.device_accessible);
  EXPECT_TRUE(t.device_pointer_is_host_pointer);
}

TEST(pool_resource, never_writes_into_the_memory_it_manages) {
  for (bool learn : {false, true}) {
    canary_upstream up;
    {
      pool_options o;
      o.learn_iterations = learn;
      o.checked = true;
      pool_resource pool(up, o);
      std::mt19937 rng(7);
      for (int iteration = 0; iteration < 3; ++iteration) {
        std::mt19937 same(11);  // identical iterations, so the learned plan is used
        std::vector<std::pair<void*, std::size_t>> live;
        for (int i = 0; i < 300; ++i) {
          if (live.empty() || same() % 3 != 0) {
            const std::size_t n = 1 + same() % (256 * KiB);
            live.emplace_back(pool.allocate(n), n);
          } else {
            const std::size_t k = same() % live.size();
            pool.deallocate(live[k].first, live[k].second);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
          }
        }
        for (auto [p, n] : live) pool.deallocate(p, n);
      }
      pool.release();
    }
    EXPECT_EQ(up.dirty_returns(), 0u) << "learn " << learn << ": the pool wrote into managed memory";
    EXPECT_EQ(up.held(), 0u);
  }
}

TEST(pool_resource, bad_deallocations_throw_and_change_nothing) {
  canary_upstream up;
  pool_resource pool(up, plain(MiB));
  void* p = pool.allocate(1000);
  void* q = pool.allocate(4096, 4096);
  int not_ours = 0;

  std::string what = what_of([&] { pool.deallocate(&not_ours, 4); });
  EXPECT_NE(what.find("not allocated by this pool"), std::string::npos) << what;
  what = what_of([&] { pool.deallocate(static_cast<char*>(p) + 256, 100); });
  EXPECT_NE(what.find("inside the pool"), std::string::npos) << what;
  what = what_of([&] { pool.deallocate(p, 999); });
  EXPECT_NE(what.find("made with 1000 B"), std::string::npos) << what;
  EXPECT_NE(what.find("999 B"), std::string::npos) << what;
  what = what_of([&] { pool.deallocate(q, 4096); });  // default alignment, allocated at 4096
  EXPECT_NE(what.find("alignment 4096"), std::string::npos) << what;

  EXPECT_EQ(pool.statistics().live_count, 2u);
  pool.deallocate(p, 1000);
  what = what_of([&] { pool.deallocate(p, 1000); });
  EXPECT_NE(what.find("freed twice"), std::string::npos) << what;
  pool.deallocate(q, 4096, 4096);
  EXPECT_EQ(pool.statistics().live_count, 0u);
}

TEST(pool_resource, reports_live_allocations_by_tag_at_destruction) {
  canary_upstream up;
  leak_report seen;
  int reports = 0;
  {
    pool_options o;
    o.on_leak = [&](const leak_report& r) {
      seen = r;
      ++reports;
    };
    pool_resource pool(up, o);
    {
      tag_scope scope{"detector"};
      pool.allocate(3 * MiB);
      pool.allocate(MiB);
    }
    pool.allocate(100);
    const auto rows = pool.live_by_tag();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].name, "detector");
  }
  ASSERT_EQ(reports, 1);
  EXPECT_EQ(seen.resource, "unimem::pool_resource");
  EXPECT_EQ(seen.count, 3u);
  EXPECT_EQ(seen.bytes, 4 * MiB + 100);
  ASSERT_EQ(seen.by_tag.size(), 2u);
  EXPECT_EQ(seen.by_tag[0].name, "detector");
  EXPECT_EQ(seen.by_tag[0].count, 2u);
  EXPECT_EQ(seen.by_tag[0].bytes, 4 * MiB);
  EXPECT_EQ(seen.by_tag[1].name, "(untagged)");
  EXPECT_EQ(up.held(), 0u) << "the pool returns its chunks even when allocations leak";
}

TEST(pool_resource, no_report_when_everything_was_freed) {
  canary_upstream up;
  int reports = 0;
  {
    pool_options o;
    o.on_leak = [&](const leak_report&) { ++reports; };
    pool_resource pool(up, o);
    pool.deallocate(pool.allocate(100), 100);
  }
  EXPECT_EQ(reports, 0);
}

TEST(pool_resource, inconsistent_options_are_refused) {
  canary_upstream up;
  pool_options o;
  o.initial_size = 2 * MiB;
  o.maximum_size = MiB;
  const std::string what = what_of([&] { pool_resource pool(up, o); });
  EXPECT_NE(what.find("initial_size"), std::string::npos) << what;
}

// Issue 12: initial_size = SIZE_MAX was rounded up to the granule, wrapped to 0 and "reserved" as
// a chunk of nothing; growth_step = SIZE_MAX wrapped the same way into growing by the request.
TEST(pool_resource, sizes_no_upstream_can_give_are_refused_not_rounded_to_nothing) {
  canary_upstream up;
  for (const std::size_t bytes : {SIZE_MAX, SIZE_MAX - 100, std::size_t{1} << 63}) {
    pool_options initial;
    initial.initial_size = bytes;
    EXPECT_EQ(what_of([&] { pool_resource pool(up, initial); }),
              "unimem::pool_resource(initial_size " + std::to_string(bytes) +
                  " B): no upstream can give a chunk that large (more than 9223372036854775807 B); pass 0 to grow "
                  "on demand, or the bytes the workload needs");
    pool_options step;
    step.growth_step = bytes;
    EXPECT_NE(what_of([&] { pool_resource pool(up, step); })
                  .find("unimem::pool_resource(growth_step " + std::to_string(bytes) + " B): no upstream can give"),
              std::string::npos);
  }
  EXPECT_EQ(up.allocations(), 0u);
  // The largest accepted initial size is asked of the upstream as it is, and refused there.
  pool_options largest;
  largest.initial_size = PTRDIFF_MAX;
  EXPECT_THROW(pool_resource(up, largest), out_of_memory);
}

// ------------------------------------------------------------------ stream ordering

struct stream_fixture : ::testing::Test {
  std::shared_ptr<manual_event_source> events = std::make_shared<manual_event_source>();
  canary_upstream up;
  stream_view a = fake_stream(1);
  stream_view b = fake_stream(2);

  pool_options options(std::size_t initial = 4 * MiB) {
    pool_options o = plain(initial);
    o.events = events;
    return o;
  }
};

TEST_F(stream_fixture, a_block_freed_on_a_stream_is_reused_at_once_on_that_stream) {
  pool_resource pool(up, options());
  void* p = pool.allocate(MiB, 256, a);
  pool.deallocate(p, MiB, 256, a);
  EXPECT_EQ(pool.allocate(MiB, 256, a), p);
  pool.deallocate(p, MiB, 256, a);
  EXPECT_EQ(events->synchronizes(), 0);
}

TEST_F(stream_fixture, another_stream_reuses_it_by_waiting_on_the_device_instead_of_growing) {
  pool_resource pool(up, options(2 * MiB));
  void* keep = pool.allocate(MiB, 256, a);
  void* p = pool.allocate(MiB, 256, a);
  pool.deallocate(p, MiB, 256, a);
  EXPECT_EQ(events->records(), 1) << "an event is recorded on A when the block is freed";

  void* q = pool.allocate(MiB, 256, b);  // A's work may still use p: B waits for it on the device
  EXPECT_EQ(q, p);
  EXPECT_EQ(up.allocations(), 1u) << "no growth";
  ASSERT_EQ(events->waits(), 1);
  EXPECT_EQ(events->waited()[0].first, b);
  EXPECT_EQ(events->waited()[0].second, a) << "B waits for an event recorded on A";
  EXPECT_EQ(events->synchronizes(), 0) << "the host never blocks";
  EXPECT_EQ(pool.statistics().stream_waits, 1u);
  pool.deallocate(q, MiB, 256, b);
  pool.deallocate(keep, MiB, 256, a);
}

TEST_F(stream_fixture, memory_another_stream_finished_with_is_taken_without_a_wait) {
  pool_resource pool(up, options(2 * MiB));
  void* keep = pool.allocate(MiB, 256, a);
  void* p = pool.allocate(MiB, 256, a);
  pool.deallocate(p, MiB, 256, a);
  events->complete(a);
  void* q = pool.allocate(MiB, 256, b);
  EXPECT_EQ(q, p);
  EXPECT_EQ(events->waits(), 0) << "A's event completed: p is everybody's";
  pool.deallocate(q, MiB, 256, b);
  pool.deallocate(keep, MiB, 256, a);
}

TEST_F(stream_fixture, one_wait_covers_every_free_before_it) {
  pool_resource pool(up, options(4 * MiB));
  void* x[4];
  for (void*& p : x) p = pool.allocate(MiB, 256, a);
  pool.deallocate(x[0], MiB, 256, a);
  pool.deallocate(x[2], MiB, 256, a);
  void* y0 = pool.allocate(MiB, 256, b);  // the event covering both frees is recorded now
  void* y1 = pool.allocate(MiB, 256, b);
  EXPECT_TRUE((y0 == x[0] && y1 == x[2]) || (y0 == x[2] && y1 == x[0]));
  EXPECT_EQ(events->waits(), 1) << "batched: the second block was covered by the first wait";
  EXPECT_EQ(up.allocations(), 1u);
  pool.deallocate(y0, MiB, 256, b);
  pool.deallocate(y1, MiB, 256, b);
  pool.deallocate(x[1], MiB, 256, a);
  pool.deallocate(x[3], MiB, 256, a);
}

TEST_F(stream_fixture, under_memory_pressure_another_stream_still_gets_the_memory_without_a_host_wait) {
  canary_upstream tight(2 * MiB);
  pool_options o = options(2 * MiB);
  pool_resource pool(tight, o);
  void* p = pool.allocate(2 * MiB, 256, a);
  pool.deallocate(p, 2 * MiB, 256, a);
  void* q = pool.allocate(2 * MiB, 256, b);  // upstream is full: B waits for A on the device
  EXPECT_EQ(q, p);
  EXPECT_EQ(events->waits(), 1);
  EXPECT_EQ(events->synchronizes(), 0);
  pool.deallocate(q, 2 * MiB, 256, b);
}

TEST_F(stream_fixture, blocks_freed_on_different_streams_merge_once_settled) {
  pool_resource pool(up, options(MiB));
  void* x = pool.allocate(512 * KiB, 256, a);
  void* y = pool.allocate(512 * KiB, 256, b);
  pool.deallocate(x, 512 * KiB, 256, a);
  pool.deallocate(y, 512 * KiB, 256, b);
  events->complete(a);
  events->complete(b);
  void* whole = pool.allocate(MiB, 256, fake_stream(3));
  EXPECT_EQ(whole, x) << "settled, the two halves merged into one block";
  pool.deallocate(whole, MiB, 256, fake_stream(3));
  EXPECT_EQ(events->synchronizes(), 0);
  EXPECT_EQ(pool.release(), MiB) << "release() waits for the stream that freed the memory";
  EXPECT_EQ(events->synchronizes(), 1);
}

TEST_F(stream_fixture, a_host_only_upstream_needs_no_events) {
  pool_resource pool(up, plain(MiB));  // host upstream, no event source: frees are reusable anywhere
  void* p = pool.allocate(MiB, 256, a);
  pool.deallocate(p, MiB, 256, a);
  EXPECT_EQ(pool.allocate(MiB, 256, b), p);
  pool.deallocate(p, MiB, 256, b);
}

TEST_F(stream_fixture, events_are_released_with_the_pool) {
  {
    pool_resource pool(up, options());
    void* p = pool.allocate(MiB, 256, a);
    pool.deallocate(p, MiB, 256, a);
    void* q = pool.allocate(MiB, 256, b);
    pool.deallocate(q, MiB, 256, b);
  }
  EXPECT_EQ(events->outstanding(), 0);
}

// ------------------------------------------------------------------ randomized and concurrent

TEST_P(pool_fits, random_calls_keep_every_invariant) {
  for (bool learn : {false, true}) {
    canary_upstream up(64 * MiB);
    pool_options o;
    o.learn_iterations = learn;
    o.fit = GetParam();
    o.checked = true;  // verify() after every call
    pool_resource pool(up, o);
    std::mt19937 rng(42);
    overlap_checker check;
    std::vector<std::tuple<void*, std::size_t, std::size_t>> live;
    for (int i = 0; i < 3000; ++i) {
      if (live.empty() || rng() % 2 == 0) {
        const std::size_t n = 1 + (rng() % 4 == 0 ? rng() % (4 * MiB) : rng() % 4096);
        const std::size_t align = std::size_t{1} << (rng() % 14);
        void* p = nullptr;
        try {
          p = pool.allocate(n, align);
        } catch (const out_of_memory&) {
          continue;
        }
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u);
        ASSERT_TRUE(check.add(p, n).empty());
        live.emplace_back(p, n, align);
      } else {
        const std::size_t k = rng() % live.size();
        auto [p, n, align] = live[k];
        check.remove(p);
        pool.deallocate(p, n, align);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
      }
    }
    for (auto [p, n, align] : live) pool.deallocate(p, n, align);
    pool.release();
    EXPECT_EQ(up.held(), 0u) << "everything freed coalesces back into whole chunks";
  }
}

TEST(pool_resource, concurrent_threads_share_one_pool) {
  host_resource host;
  pool_options o;
  o.checked = false;
  pool_resource pool(host, o);
  constexpr int threads = 4;
  std::atomic<int> corrupt{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<std::pair<unsigned char*, std::size_t>> live;
      const auto mark = static_cast<unsigned char>(t + 1);
      for (int i = 0; i < 2000; ++i) {
        if (live.empty() || rng() % 2 == 0) {
          const std::size_t n = 1 + rng() % 8192;
          auto* p = static_cast<unsigned char*>(pool.allocate(n));
          std::fill(p, p + n, mark);
          live.emplace_back(p, n);
        } else {
          const std::size_t k = rng() % live.size();
          auto [p, n] = live[k];
          if (std::any_of(p, p + n, [mark](unsigned char c) { return c != mark; })) ++corrupt;
          pool.deallocate(p, n);
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        }
      }
      for (auto [p, n] : live) pool.deallocate(p, n);
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(corrupt.load(), 0) << "another thread's allocation overlapped";
  EXPECT_EQ(pool.statistics().live_count, 0u);
}

}  // namespace
}  // namespace unimem::test
