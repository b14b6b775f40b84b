// pool_resource: coalescing, fit, growth and release, bad input, leaks, stream ordering (with a
// manual event source, so without a GPU) and iteration learning.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/tag.hpp>
#include <unimem/trace.hpp>

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

TEST(pool_resource, bad_deallocations_during_a_learned_iteration_keep_the_plan) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  for (int it = 0; it < 2; ++it) {
    void* a = pool.allocate(100 * KiB);
    void* b = pool.allocate(200 * KiB);
    if (it == 1) {
      ASSERT_TRUE(pool.statistics().plan_active);
      int not_ours = 0;
      EXPECT_THROW(pool.deallocate(&not_ours, 4), std::invalid_argument);
      EXPECT_THROW(pool.deallocate(a, 5), std::invalid_argument);
      EXPECT_TRUE(pool.statistics().plan_active) << "a caller's mistake is not a new iteration shape";
    }
    pool.deallocate(a, 100 * KiB);
    pool.deallocate(b, 200 * KiB);
    if (it == 1) {
      EXPECT_THROW(pool.deallocate(b, 200 * KiB), std::invalid_argument);
    }
  }
  EXPECT_EQ(pool.statistics().plan_divergences, 0u);
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

TEST_F(stream_fixture, another_stream_gets_it_only_after_the_free_time_event_completed) {
  pool_resource pool(up, options(2 * MiB));
  void* keep = pool.allocate(MiB, 256, a);
  void* p = pool.allocate(MiB, 256, a);
  pool.deallocate(p, MiB, 256, a);
  EXPECT_EQ(events->records(), 1) << "an event is recorded on A when the block is freed";

  void* q = pool.allocate(MiB, 256, b);  // A's work may still use p
  EXPECT_NE(q, p);
  EXPECT_EQ(up.allocations(), 2u) << "B had to grow instead";
  pool.deallocate(q, MiB, 256, b);

  events->complete(a);
  void* r = pool.allocate(2 * MiB, 256, b);  // too large for q's chunk; p's space is usable now
  void* s = pool.allocate(MiB, 256, b);
  EXPECT_TRUE(r == p || s == p) << "once A's event completed, B reuses p";
  EXPECT_EQ(events->synchronizes(), 0) << "never waits while growth is possible";
  pool.deallocate(r, 2 * MiB, 256, b);
  pool.deallocate(s, MiB, 256, b);
  pool.deallocate(keep, MiB, 256, a);
}

TEST_F(stream_fixture, under_memory_pressure_the_pool_waits_for_one_stream_not_the_device) {
  canary_upstream tight(2 * MiB);
  pool_options o = options(2 * MiB);
  pool_resource pool(tight, o);
  void* p = pool.allocate(2 * MiB, 256, a);
  pool.deallocate(p, 2 * MiB, 256, a);
  void* q = pool.allocate(2 * MiB, 256, b);  // upstream is full: wait for A's event, then reuse
  EXPECT_EQ(q, p);
  EXPECT_EQ(events->synchronizes(), 1);
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

// ------------------------------------------------------------------ iteration learning

/// One inference-like iteration: a chain of activations with a few that live longer.
std::vector<trace_op> synthetic_iteration(std::uint32_t seed, std::size_t layers) {
  std::mt19937 rng(seed);
  std::vector<trace_op> ops;
  std::uint64_t id = 0;
  std::vector<std::pair<std::uint64_t, std::size_t>> live;
  for (std::size_t l = 0; l < layers; ++l) {
    const std::size_t bytes = (1 + rng() % 64) * 16 * KiB + rng() % 1000;
    ops.push_back({true, id, bytes, 0});
    live.emplace_back(id++, bytes);
    while (live.size() > 1 + rng() % 4) {
      const std::size_t k = rng() % (live.size() - 1);
      ops.push_back({false, live[k].first, live[k].second, 0});
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  for (auto [i, n] : live) ops.push_back({false, i, n, 0});
  return ops;
}

/// Replays `ops` and checks that no two live allocations overlap.
void replay(pool_resource& pool, const std::vector<trace_op>& ops, overlap_checker& check) {
  std::map<std::uint64_t, void*> ptr;
  for (const trace_op& op : ops) {
    if (op.is_alloc) {
      void* p = pool.allocate(op.bytes);
      const std::string hit = check.add(p, op.bytes);
      ASSERT_TRUE(hit.empty()) << "allocation " << op.id << " " << hit;
      ptr[op.id] = p;
    } else {
      check.remove(ptr[op.id]);
      pool.deallocate(ptr[op.id], op.bytes);
    }
  }
}

std::size_t peak_live(const std::vector<trace_op>& ops) {
  alloc_trace t;
  t.ops = ops;
  return t.peak_live_bytes();
}

TEST(pool_learning, a_repeated_iteration_is_planned_and_served_without_upstream_calls) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  const auto iteration = synthetic_iteration(1, 200);
  overlap_checker check;
  replay(pool, iteration, check);
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_EQ(pool.statistics().plans_built, 1u);
  const std::size_t calls = up.allocations() + up.deallocations();
  for (int i = 0; i < 3; ++i) replay(pool, iteration, check);
  EXPECT_EQ(up.allocations() + up.deallocations(), calls) << "planned iterations need no upstream call";
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_EQ(pool.statistics().plan_divergences, 0u);
  EXPECT_LE(static_cast<double>(up.peak_held()), 1.15 * static_cast<double>(peak_live(iteration)));
}

TEST(pool_learning, a_different_iteration_falls_back_at_once_and_is_planned_in_turn) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  const auto first = synthetic_iteration(1, 120);
  auto second = first;
  // Same start, then a different size half-way: the plan holds until there.
  for (std::size_t i = second.size() / 2; i < second.size(); ++i) second[i].bytes += 4096;
  for (auto& op : second) {
    if (!op.is_alloc) {
      for (auto& a : second) {
        if (a.is_alloc && a.id == op.id) op.bytes = a.bytes;
      }
    }
  }
  overlap_checker check;
  replay(pool, first, check);
  replay(pool, second, check);
  EXPECT_EQ(pool.statistics().plan_divergences, 1u);
  EXPECT_TRUE(pool.statistics().plan_active) << "the second shape was recorded and planned";
  replay(pool, second, check);
  replay(pool, second, check);
  EXPECT_EQ(pool.statistics().plan_divergences, 1u);
  EXPECT_EQ(pool.statistics().live_count, 0u);
}

TEST(pool_learning, frees_in_another_order_keep_the_plan_and_stay_safe) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  for (int it = 0; it < 3; ++it) {
    overlap_checker check;
    void* anchor = pool.allocate(256);  // keeps the iteration open across the frees
    void* a = pool.allocate(MiB);
    void* b = pool.allocate(2 * MiB);
    ASSERT_TRUE(check.add(anchor, 256).empty());
    ASSERT_TRUE(check.add(a, MiB).empty());
    ASSERT_TRUE(check.add(b, 2 * MiB).empty());
    if (it != 1) {
      pool.deallocate(a, MiB);
      pool.deallocate(b, 2 * MiB);
    } else {
      pool.deallocate(b, 2 * MiB);  // the plan expected a first
      pool.deallocate(a, MiB);
    }
    check.remove(a);
    check.remove(b);
    void* c = pool.allocate(3 * MiB);  // planned over a and b: both are free either way
    EXPECT_TRUE(check.add(c, 3 * MiB).empty()) << "iteration " << it;
    pool.deallocate(c, 3 * MiB);
    pool.deallocate(anchor, 256);
  }
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_EQ(pool.statistics().plan_divergences, 0u);
}

TEST(pool_learning, alternating_shapes_each_get_a_plan) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  const auto detector = synthetic_iteration(7, 60);
  auto classifier = synthetic_iteration(8, 40);
  classifier[0].bytes += 256;  // make sure the first calls differ
  for (auto& op : classifier) {
    if (!op.is_alloc && op.id == classifier[0].id) op.bytes = classifier[0].bytes;
  }
  overlap_checker check;
  for (int round = 0; round < 4; ++round) {
    replay(pool, detector, check);
    replay(pool, classifier, check);
  }
  const pool_statistics s = pool.statistics();
  EXPECT_EQ(s.plans_built, 2u);
  EXPECT_EQ(s.plan_divergences, 1u) << "only the first classifier iteration was new";
  EXPECT_TRUE(s.plan_active);
  const std::size_t calls = up.allocations() + up.deallocations();
  replay(pool, detector, check);
  replay(pool, classifier, check);
  EXPECT_EQ(up.allocations() + up.deallocations(), calls);
  EXPECT_LE(static_cast<double>(up.peak_held()),
            1.15 * static_cast<double>(std::max(peak_live(detector), peak_live(classifier))));
}

TEST(pool_learning, a_new_shape_is_learned_frugally_from_scratch) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  const auto small = synthetic_iteration(9, 80);
  auto big = small;
  for (auto& op : big) op.bytes = op.bytes * 3 / 2;  // a larger input from now on
  overlap_checker check;
  replay(pool, small, check);
  replay(pool, small, check);
  replay(pool, big, check);
  replay(pool, big, check);
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_LE(static_cast<double>(up.peak_held()), 1.15 * static_cast<double>(peak_live(big)));
}

TEST(pool_learning, an_allocation_out_of_order_is_placed_only_when_safe) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  overlap_checker check;
  for (int it = 0; it < 3; ++it) {
    void* a = pool.allocate(MiB);
    void* b = pool.allocate(MiB);
    ASSERT_TRUE(check.add(a, MiB).empty());
    ASSERT_TRUE(check.add(b, MiB).empty());
    if (it < 2) {
      pool.deallocate(a, MiB);
      check.remove(a);
    }
    // Planned into a's place; in the third iteration a is still live.
    void* c = pool.allocate(MiB);
    EXPECT_TRUE(check.add(c, MiB).empty()) << "iteration " << it;
    if (it == 2) {
      pool.deallocate(a, MiB);
      check.remove(a);
    }
    pool.deallocate(b, MiB);
    check.remove(b);
    pool.deallocate(c, MiB);
    check.remove(c);
  }
  EXPECT_EQ(pool.statistics().plan_divergences, 1u);
  EXPECT_EQ(pool.statistics().live_count, 0u);
}

TEST(pool_learning, an_iteration_over_several_streams_is_not_planned) {
  auto events = std::make_shared<manual_event_source>();
  canary_upstream up;
  pool_options o;
  o.events = events;
  o.checked = true;
  pool_resource pool(up, o);
  for (int it = 0; it < 3; ++it) {
    void* x = pool.allocate(MiB, 256, fake_stream(1));
    void* y = pool.allocate(MiB, 256, fake_stream(2));
    pool.deallocate(x, MiB, 256, fake_stream(1));
    pool.deallocate(y, MiB, 256, fake_stream(2));
  }
  EXPECT_EQ(pool.statistics().plans_built, 0u);
}

TEST(pool_learning, an_iteration_that_keeps_changing_is_not_replanned_every_time) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  overlap_checker check;
  for (std::uint32_t it = 0; it < 12; ++it) replay(pool, synthetic_iteration(100 + it, 60), check);
  const pool_statistics s = pool.statistics();
  EXPECT_LT(s.plans_built, 8u) << "backs off after repeated divergences";
  EXPECT_EQ(s.live_count, 0u);
}

TEST(pool_learning, learning_can_be_turned_off) {
  canary_upstream up;
  pool_resource pool(up, plain());
  overlap_checker check;
  const auto iteration = synthetic_iteration(3, 50);
  replay(pool, iteration, check);
  replay(pool, iteration, check);
  EXPECT_EQ(pool.statistics().plans_built, 0u);
}

TEST(pool_learning, release_between_iterations_drops_the_plan_and_relearns) {
  canary_upstream up;
  pool_options o;
  o.checked = true;
  pool_resource pool(up, o);
  overlap_checker check;
  const auto iteration = synthetic_iteration(5, 80);
  replay(pool, iteration, check);
  ASSERT_TRUE(pool.statistics().plan_active);
  EXPECT_GT(pool.release(), 0u);
  EXPECT_EQ(up.held(), 0u);
  EXPECT_FALSE(pool.statistics().plan_active);
  replay(pool, iteration, check);
  replay(pool, iteration, check);
  EXPECT_TRUE(pool.statistics().plan_active);
}

TEST(pool_learning, a_recorded_inference_trace_stays_within_1_15_of_its_live_peak) {
  std::ifstream in(std::string(UNIMEM_TEST_DATA_DIR) + "/squeezenet1_1_b1_float32.csv");
  std::stringstream text;
  text << in.rdbuf();
  const alloc_trace trace = parse_trace(text.str(), "squeezenet1_1_b1_float32");
  for (bool learn : {true, false}) {
    canary_upstream up;
    pool_options o;
    o.learn_iterations = learn;
    o.checked = true;
    pool_resource pool(up, o);
    overlap_checker check;
    replay(pool, trace.ops, check);
    replay(pool, trace.ops, check);
    const double ratio = static_cast<double>(up.peak_held()) / static_cast<double>(trace.peak_live_bytes());
    if (learn) {
      EXPECT_LE(ratio, 1.15) << "reserved / live at peak";
    }
    EXPECT_GE(ratio, 1.0);
  }
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
