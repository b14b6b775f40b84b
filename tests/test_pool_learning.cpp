// pool_resource's iteration learning: iterations cut without an empty pool, plans keyed on the
// call structure and laid out for the largest sizes, allocations that outlive their iteration
// kept apart, several streams, the region in a virtual range. CPU only (manual stream events).
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/adaptors/limiting_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/resources/virtual_memory.hpp>
#include <unimem/trace.hpp>

#include "support/manual_event_source.hpp"
#include "support/test_upstreams.hpp"
#include "support/trace_files.hpp"

namespace unimem::test {
namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

/// One inference-like iteration: a chain of activations with a few that live longer, sizes
/// multiplied by `scale` (a batch that varies keeps the structure and scales the sizes).
std::vector<trace_op> synthetic_iteration(std::uint32_t seed, std::size_t layers, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::vector<trace_op> ops;
  std::uint64_t id = 0;
  std::vector<std::pair<std::uint64_t, std::size_t>> live;
  for (std::size_t l = 0; l < layers; ++l) {
    const auto base = static_cast<double>((1 + rng() % 64) * 16 * KiB + rng() % 1000);
    const auto bytes = static_cast<std::size_t>(base * scale);
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

std::size_t peak_live(const std::vector<trace_op>& ops) {
  alloc_trace t;
  t.ops = ops;
  return t.peak_live_bytes();
}

/// Replays `ops` on `stream`, checking that no two live allocations overlap.
void replay(pool_resource& pool, const std::vector<trace_op>& ops, overlap_checker& check, stream_view stream = {}) {
  std::map<std::uint64_t, void*> ptr;
  for (const trace_op& op : ops) {
    if (op.is_alloc) {
      void* p = pool.allocate(op.bytes, default_alignment, stream);
      const std::string hit = check.add(p, op.bytes);
      ASSERT_TRUE(hit.empty()) << "allocation " << op.id << " " << hit;
      ptr[op.id] = p;
    } else {
      check.remove(ptr[op.id]);
      pool.deallocate(ptr[op.id], op.bytes, default_alignment, stream);
    }
  }
}

/// Checked learning options; with `region_range`, the region lives in that range.
pool_options learning(std::shared_ptr<virtual_range> region_range = nullptr) {
  pool_options o;
  o.checked = true;
  o.region_range = std::move(region_range);
  return o;
}

/// 1 GiB of host address space, reserved in 64 KiB granules, for a region to grow into.
std::shared_ptr<virtual_range> host_range_1g() {
  return std::shared_ptr<virtual_range>(make_host_virtual_range(std::size_t{1} << 30, 64 * KiB));
}

std::size_t upstream_calls(const canary_upstream& up) { return up.allocations() + up.deallocations(); }

TEST(pool_learning, a_repeated_iteration_is_planned_and_then_needs_no_upstream_call) {
  canary_upstream up;
  pool_resource pool(up, learning());
  const auto iteration = synthetic_iteration(1, 200);
  overlap_checker check;
  for (int i = 0; i < 4; ++i) replay(pool, iteration, check);
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_EQ(pool.statistics().plans_built, 1u);
  const std::size_t calls = upstream_calls(up);
  for (int i = 0; i < 4; ++i) replay(pool, iteration, check);
  EXPECT_EQ(upstream_calls(up), calls) << "planned iterations need no upstream call";
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_EQ(pool.statistics().plan_divergences, 0u);
  EXPECT_LE(static_cast<double>(up.peak_held()), 1.15 * static_cast<double>(peak_live(iteration)));
}

/// Learns `iteration` in `pool`, then asks for something new nearly as large as its peak (and a
/// second request while that lives): the idle plan region must make room rather than the cap or
/// the budget refusing them.
void unplanned_requests_fit_beside_a_learned_region(pool_resource& pool, const std::vector<trace_op>& iteration) {
  const std::size_t live = peak_live(iteration);
  overlap_checker check;
  for (int i = 0; i < 6; ++i) replay(pool, iteration, check);
  ASSERT_TRUE(pool.statistics().plan_active);
  const std::size_t big = live - live / 8;
  void* p = pool.allocate(big);
  EXPECT_TRUE(check.add(p, big).empty());
  void* q = pool.allocate(live / 16);
  EXPECT_TRUE(check.add(q, live / 16).empty());
  check.remove(q);
  pool.deallocate(q, live / 16);
  check.remove(p);
  pool.deallocate(p, big);
  replay(pool, iteration, check);  // the pool still serves the learned iteration
}

TEST(pool_learning, under_a_maximum_size_an_unplanned_allocation_may_still_use_the_plan_region) {
  // An allocation of a segment that follows no plan keeps out of the region; under a cap that
  // must not turn into an out-of-memory the region's memory could have served.
  const auto iteration = synthetic_iteration(1, 200);
  canary_upstream up;
  pool_options o = learning();
  o.maximum_size = peak_live(iteration) + peak_live(iteration) / 2;
  pool_resource pool(up, o);
  unplanned_requests_fit_beside_a_learned_region(pool, iteration);
  EXPECT_LE(pool.statistics().peak_reserved_bytes, o.maximum_size);
}

TEST(pool_learning, under_an_upstream_budget_an_unplanned_allocation_may_still_use_the_plan_region) {
  // The same with the limit below the pool (as UNIMEM_TORCH_BUDGET is): upstream refuses.
  const auto iteration = synthetic_iteration(1, 200);
  canary_upstream up;
  auto budget = std::make_shared<memory_budget>("test budget", peak_live(iteration) + peak_live(iteration) / 2);
  limiting_resource limited(up, budget);
  pool_resource pool(limited, learning());
  unplanned_requests_fit_beside_a_learned_region(pool, iteration);
  EXPECT_LE(budget->peak(), budget->limit());
}

TEST(pool_learning, iterations_are_found_while_weights_stay_live) {
  canary_upstream up;
  pool_resource pool(up, learning());
  overlap_checker check;
  std::vector<std::pair<void*, std::size_t>> weights;
  std::size_t weight_bytes = 0;
  for (std::size_t i = 0; i < 40; ++i) {
    const std::size_t n = (1 + i % 7) * 96 * KiB;
    weights.emplace_back(pool.allocate(n), n);
    ASSERT_TRUE(check.add(weights.back().first, n).empty());
    weight_bytes += n;
  }
  const auto iteration = synthetic_iteration(2, 150);
  // The first cut comes once the level between iterations is known (a few thousand calls).
  for (int i = 0; i < 12; ++i) replay(pool, iteration, check);
  EXPECT_GE(pool.statistics().plans_built, 1u) << "a plan without the pool ever emptying";
  EXPECT_TRUE(pool.statistics().plan_active);
  const std::size_t calls = upstream_calls(up);
  for (int i = 0; i < 6; ++i) replay(pool, iteration, check);
  EXPECT_EQ(upstream_calls(up), calls) << "zero upstream calls per iteration in steady state";
  EXPECT_LE(static_cast<double>(up.peak_held()), 1.15 * static_cast<double>(weight_bytes + peak_live(iteration)));
  for (auto [p, n] : weights) pool.deallocate(p, n);
}

TEST(pool_learning, an_allocation_that_outlives_its_iteration_stays_out_of_the_region) {
  canary_upstream up;
  const auto range = host_range_1g();
  pool_resource pool(up, learning(range));
  auto in_range = [&](const void* p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    return a >= range->base() && a < range->base() + range->capacity();
  };
  overlap_checker check;
  const auto iteration = synthetic_iteration(3, 120, 4.0);  // large enough for the range
  void* cache = nullptr;  // a cache that each iteration replaces, like a growing KV cache
  const std::size_t cache_bytes = 3 * MiB;
  std::size_t calls = 0;
  for (int it = 0; it < 16; ++it) {
    void* fresh = pool.allocate(cache_bytes);
    ASSERT_TRUE(check.add(fresh, cache_bytes).empty());
    if (cache != nullptr) {
      check.remove(cache);
      pool.deallocate(cache, cache_bytes);
    }
    cache = fresh;
    std::map<std::uint64_t, void*> ptr;
    bool all_in_range = true;
    for (const trace_op& op : iteration) {
      if (op.is_alloc) {
        ptr[op.id] = pool.allocate(op.bytes);
        ASSERT_TRUE(check.add(ptr[op.id], op.bytes).empty());
        all_in_range = all_in_range && in_range(ptr[op.id]);
      } else {
        check.remove(ptr[op.id]);
        pool.deallocate(ptr[op.id], op.bytes);
      }
    }
    if (it >= 11) {
      EXPECT_TRUE(all_in_range) << "iteration " << it << ": planned allocations live in the region";
      EXPECT_FALSE(in_range(cache)) << "iteration " << it << ": the cache outlives its iteration";
    }
    if (it == 11) calls = upstream_calls(up);
  }
  EXPECT_EQ(upstream_calls(up), calls);
  EXPECT_TRUE(pool.statistics().plan_active);
  pool.deallocate(cache, cache_bytes);
}

TEST(pool_learning, variable_shapes_reuse_the_plan_laid_out_for_the_largest) {
  canary_upstream up;
  pool_resource pool(up, learning());
  overlap_checker check;
  // The largest input first: later, smaller ones fit the same layout.
  const double scales[] = {1.0, 0.5, 1.0, 0.75, 0.6, 0.9, 0.5, 0.8, 0.55, 1.0, 0.7, 0.65};
  std::size_t plans = 0, calls = 0;
  for (std::size_t i = 0; i < std::size(scales); ++i) {
    replay(pool, synthetic_iteration(4, 100, scales[i]), check);
    if (i == 4) {
      plans = pool.statistics().plans_built;
      calls = upstream_calls(up);
    }
  }
  EXPECT_EQ(pool.statistics().plans_built, plans) << "one plan serves every size up to the largest";
  EXPECT_EQ(upstream_calls(up), calls);
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_LE(static_cast<double>(up.peak_held()), 1.15 * static_cast<double>(peak_live(synthetic_iteration(4, 100))));
}

TEST(pool_learning, a_new_high_water_mark_costs_a_few_upstream_calls_not_one_per_allocation) {
  canary_upstream up;
  pool_resource pool(up, learning());
  overlap_checker check;
  const auto small = synthetic_iteration(5, 200, 0.5);
  for (int i = 0; i < 5; ++i) replay(pool, small, check);
  ASSERT_TRUE(pool.statistics().plan_active);
  const std::size_t before = upstream_calls(up);
  const auto big = synthetic_iteration(5, 200, 1.0);  // same structure, twice the sizes
  replay(pool, big, check);
  const std::size_t grew = upstream_calls(up) - before;
  EXPECT_LT(grew, 40u) << "200 allocations, all larger than planned";
  for (int i = 0; i < 3; ++i) replay(pool, big, check);
  const std::size_t settled = upstream_calls(up);
  for (int i = 0; i < 3; ++i) replay(pool, big, check);
  EXPECT_EQ(upstream_calls(up), settled) << "relaid out for the new sizes";
}

TEST(pool_learning, alternating_iterations_each_get_a_plan) {
  canary_upstream up;
  pool_resource pool(up, learning());
  const auto detector = synthetic_iteration(7, 60);
  auto classifier = synthetic_iteration(8, 40);
  classifier[0].bytes += 256;  // make sure the first calls differ
  for (auto& op : classifier) {
    if (!op.is_alloc && op.id == classifier[0].id) op.bytes = classifier[0].bytes;
  }
  overlap_checker check;
  for (int round = 0; round < 5; ++round) {
    replay(pool, detector, check);
    replay(pool, classifier, check);
  }
  const pool_statistics s = pool.statistics();
  EXPECT_EQ(s.plans_built, 2u);
  EXPECT_TRUE(s.plan_active);
  const std::size_t calls = upstream_calls(up);
  for (int round = 0; round < 2; ++round) {
    replay(pool, detector, check);
    replay(pool, classifier, check);
  }
  EXPECT_EQ(upstream_calls(up), calls);
  // One region holds both layouts. (While the second shape was still being learned the region
  // laid out for the first one was in use and the pool grew beside it: warm-up.)
  EXPECT_LE(static_cast<double>(up.held()),
            1.15 * static_cast<double>(std::max(peak_live(detector), peak_live(classifier))));
}

TEST(pool_learning, frees_in_another_order_stay_safe) {
  canary_upstream up;
  pool_resource pool(up, learning());
  for (int it = 0; it < 6; ++it) {
    overlap_checker check;
    void* anchor = pool.allocate(256);  // keeps the iteration open across the frees
    void* a = pool.allocate(MiB);
    void* b = pool.allocate(2 * MiB);
    void* e = pool.allocate(512 * KiB);
    ASSERT_TRUE(check.add(anchor, 256).empty());
    ASSERT_TRUE(check.add(a, MiB).empty());
    ASSERT_TRUE(check.add(b, 2 * MiB).empty());
    ASSERT_TRUE(check.add(e, 512 * KiB).empty());
    if (it != 4) {
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
    pool.deallocate(e, 512 * KiB);
    pool.deallocate(anchor, 256);
  }
  EXPECT_EQ(pool.statistics().live_count, 0u);
}

TEST(pool_learning, an_allocation_whose_planned_place_is_taken_goes_elsewhere) {
  canary_upstream up;
  pool_resource pool(up, learning());
  overlap_checker check;
  for (int it = 0; it < 6; ++it) {
    void* a = pool.allocate(MiB);
    void* b = pool.allocate(MiB);
    void* d = pool.allocate(64 * KiB);
    ASSERT_TRUE(check.add(a, MiB).empty());
    ASSERT_TRUE(check.add(b, MiB).empty());
    ASSERT_TRUE(check.add(d, 64 * KiB).empty());
    if (it != 5) {
      pool.deallocate(a, MiB);
      check.remove(a);
    }
    // Planned into a's place; in the last iteration a is still live.
    void* c = pool.allocate(MiB);
    EXPECT_TRUE(check.add(c, MiB).empty()) << "iteration " << it;
    if (it == 5) {
      pool.deallocate(a, MiB);
      check.remove(a);
    }
    for (auto [p, n] : {std::pair<void*, std::size_t>{b, MiB}, {c, MiB}, {d, 64 * KiB}}) {
      pool.deallocate(p, n);
      check.remove(p);
    }
  }
  EXPECT_EQ(pool.statistics().live_count, 0u);
}

TEST(pool_learning, an_iteration_over_several_streams_is_planned) {
  auto events = std::make_shared<manual_event_source>();
  canary_upstream up;
  pool_options o = learning();
  o.events = events;
  pool_resource pool(up, o);
  const stream_view s1 = fake_stream(1), s2 = fake_stream(2);
  // Two models on two streams, interleaved; the streams' work never finishes on the host.
  const auto m1 = synthetic_iteration(11, 40), m2 = synthetic_iteration(12, 40);
  overlap_checker check;
  std::size_t calls = 0;
  for (int it = 0; it < 8; ++it) {
    replay(pool, m1, check, s1);
    replay(pool, m2, check, s2);
    if (it == 4) calls = upstream_calls(up);
  }
  EXPECT_GE(pool.statistics().plans_built, 1u);
  EXPECT_EQ(upstream_calls(up), calls) << "reuse across the streams instead of growth";
  EXPECT_GT(events->waits(), 0) << "memory freed on one stream went to the other by a device-side wait";
  EXPECT_EQ(events->synchronizes(), 0) << "the host never blocked";
}

TEST(pool_learning, an_iteration_that_keeps_changing_stays_correct) {
  canary_upstream up;
  pool_resource pool(up, learning());
  overlap_checker check;
  for (std::uint32_t it = 0; it < 12; ++it) replay(pool, synthetic_iteration(100 + it, 60), check);
  EXPECT_FALSE(pool.statistics().plan_active) << "no structure recurred";
  EXPECT_EQ(pool.statistics().live_count, 0u);
}

TEST(pool_learning, learning_can_be_turned_off) {
  canary_upstream up;
  pool_options o;
  o.learn_iterations = false;
  o.checked = true;
  pool_resource pool(up, o);
  overlap_checker check;
  const auto iteration = synthetic_iteration(3, 50);
  for (int i = 0; i < 4; ++i) replay(pool, iteration, check);
  EXPECT_EQ(pool.statistics().plans_built, 0u);
  EXPECT_FALSE(pool.statistics().plan_active);
}

TEST(pool_learning, release_returns_the_region_and_the_plan_takes_it_back) {
  canary_upstream up;
  pool_resource pool(up, learning());
  overlap_checker check;
  const auto iteration = synthetic_iteration(5, 80);
  for (int i = 0; i < 4; ++i) replay(pool, iteration, check);
  ASSERT_TRUE(pool.statistics().plan_active);
  EXPECT_GT(pool.release(), 0u);
  EXPECT_EQ(up.held(), 0u);
  for (int i = 0; i < 3; ++i) replay(pool, iteration, check);
  EXPECT_TRUE(pool.statistics().plan_active);
  const std::size_t calls = upstream_calls(up);
  replay(pool, iteration, check);
  EXPECT_EQ(upstream_calls(up), calls);
}

TEST(pool_learning, bad_deallocations_during_a_learned_iteration_keep_the_plan) {
  canary_upstream up;
  pool_resource pool(up, learning());
  for (int it = 0; it < 4; ++it) {
    void* a = pool.allocate(100 * KiB);
    void* b = pool.allocate(200 * KiB);
    void* c = pool.allocate(300 * KiB);
    void* d = pool.allocate(50 * KiB);
    if (it == 3) {
      ASSERT_TRUE(pool.statistics().plan_active);
      int not_ours = 0;
      EXPECT_THROW(pool.deallocate(&not_ours, 4), std::invalid_argument);
      EXPECT_THROW(pool.deallocate(a, 5), std::invalid_argument);
      EXPECT_TRUE(pool.statistics().plan_active) << "a caller's mistake is not a new iteration shape";
    }
    pool.deallocate(a, 100 * KiB);
    pool.deallocate(b, 200 * KiB);
    pool.deallocate(c, 300 * KiB);
    pool.deallocate(d, 50 * KiB);
    if (it == 3) {
      EXPECT_THROW(pool.deallocate(b, 200 * KiB), std::invalid_argument);
    }
  }
  EXPECT_EQ(pool.statistics().plan_divergences, 0u);
}

TEST(pool_learning, the_region_grows_in_place_in_a_virtual_range) {
  canary_upstream up;
  const auto range = host_range_1g();
  pool_resource pool(up, learning(range));
  overlap_checker check;
  for (int i = 0; i < 4; ++i) replay(pool, synthetic_iteration(6, 150, 2.0), check);
  const std::size_t first = range->mapped();
  ASSERT_GT(first, 0u) << "the region lives in the range";
  const std::size_t upstream_before = up.allocations();
  for (int i = 0; i < 4; ++i) replay(pool, synthetic_iteration(6, 150, 4.0), check);
  EXPECT_GT(range->mapped(), first) << "grown in place for the larger sizes";
  EXPECT_LE(up.allocations() - upstream_before, 40u) << "misses of the larger iteration, not a region swap";
  const pool_statistics s = pool.statistics();
  EXPECT_TRUE(s.plan_active);
  EXPECT_GE(s.reserved_bytes, range->mapped()) << "the range's memory counts as reserved";
  EXPECT_GT(pool.release(), 0u);
  EXPECT_EQ(range->mapped(), 0u) << "release() unmaps an idle region";
  EXPECT_EQ(up.held(), 0u);
}

TEST(pool_learning, a_recorded_inference_trace_stays_within_1_15_of_its_live_peak) {
  const alloc_trace trace = load_trace(std::string(UNIMEM_TEST_DATA_DIR) + "/squeezenet1_1_b1_float32.csv");
  for (bool learn : {true, false}) {
    canary_upstream up;
    pool_options o = learning();
    o.learn_iterations = learn;
    pool_resource pool(up, o);
    for (int pass = 0; pass < 2; ++pass) ASSERT_EQ(replay_pass(trace, pool, {stream_view{}}), "");
    const double ratio = static_cast<double>(up.peak_held()) / static_cast<double>(trace.peak_live_bytes());
    if (learn) {
      EXPECT_LE(ratio, 1.15) << "reserved / live at peak";
    }
    EXPECT_GE(ratio, 1.0);
  }
}

}  // namespace
}  // namespace unimem::test
