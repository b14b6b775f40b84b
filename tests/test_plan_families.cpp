// The planner on structure and at scale: the family generator and the optima it guarantees,
// proofs that a bound is out of reach, MiniMalloc's format and challenging set, and the pool's
// learned plans for iterations with millions of allocations live at the same time. Sizes stay
// small enough for the sanitizer builds; the large ones are in bench/bench_planner.cpp.
#include <unimem/planning/minimalloc_io.hpp>
#include <unimem/planning/plan_families.hpp>
#include <unimem/planning/planner.hpp>
#include <unimem/pools/pool_resource.hpp>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_upstreams.hpp"

namespace {

using unimem::memory_plan;
using unimem::plan_options;
using unimem::tensor_lifetime;
using lifetimes = std::vector<tensor_lifetime>;

const std::filesystem::path data_dir = std::filesystem::path(UNIMEM_TEST_DATA_DIR) / ".." / ".." / "data";

void expect_valid(const lifetimes& t, const memory_plan& plan) {
  const auto check = unimem::validate_plan(t, plan);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_GE(plan.arena_bytes, plan.lower_bound_bytes);
}

TEST(plan_families, each_family_gives_the_tensors_asked_the_same_way_every_time) {
  for (const std::string& family : unimem::plan_family_names()) {
    SCOPED_TRACE(family);
    const auto a = unimem::make_plan_family(family, 777, 5);
    const auto b = unimem::make_plan_family(family, 777, 5);
    const auto c = unimem::make_plan_family(family, 777, 6);
    ASSERT_EQ(a.tensors.size(), 777u);
    bool same = true, differs = false;
    for (std::size_t i = 0; i < a.tensors.size(); ++i) {
      same = same && a.tensors[i].bytes == b.tensors[i].bytes && a.tensors[i].first_op == b.tensors[i].first_op &&
             a.tensors[i].last_op == b.tensors[i].last_op;
      differs = differs || a.tensors[i].bytes != c.tensors[i].bytes || a.tensors[i].first_op != c.tensors[i].first_op;
    }
    EXPECT_TRUE(same) << "one seed, one instance";
    EXPECT_TRUE(differs) << "another seed, another instance";
    if (a.optimum != 0) {
      EXPECT_EQ(a.optimum, unimem::lower_bound_bytes(a.tensors)) << "a known optimum is the bound";
    }
  }
  EXPECT_THROW(unimem::make_plan_family("no-such-family", 10), std::invalid_argument);
  EXPECT_THROW(unimem::make_plan_family("nested", 0), std::invalid_argument);
}

// Issue 12: a count no memory holds was asked of std::vector ("cannot create std::vector larger
// than max_size()"), and an unknown name was printed raw.
TEST(plan_families, impossible_counts_and_hostile_names_are_refused_by_name) {
  const auto what = [](const std::string& family, std::size_t n) {
    try {
      (void)unimem::make_plan_family(family, n);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(what("random", std::size_t(-1)),
            "unimem::make_plan_family(random, 18446744073709551615): ask for 1 to 100000000 tensors");
  EXPECT_NE(what("random", unimem::max_plan_family_tensors + 1).find("ask for 1 to 100000000 tensors"),
            std::string::npos);
  const std::string escaped = what("ra\x1b[2Jndom\n", 10);
  EXPECT_EQ(escaped.find('\x1b'), std::string::npos) << escaped;
  EXPECT_NE(escaped.find("unknown family 'ra\\x1b[2Jndom\\x0a'"), std::string::npos) << escaped;
}

// Every family whose optimum is known is planned to it, and the plan says it is optimal.
// (Guillotine cuts are only guaranteed at this size: see docs/planning.md.)
TEST(plan_families, known_optima_are_reached) {
  struct family_size {
    const char* family;
    std::size_t tensors;
  };
  const family_size cases[] = {{"nested", 1000},       {"nested", 20000},    {"deep_nesting", 1000},
                               {"deep_nesting", 20000}, {"two_sided", 1000},  {"two_sided", 20000},
                               {"equal_sizes", 1000},  {"equal_sizes", 20000}, {"levels", 1000},
                               {"levels", 20000},      {"guillotine", 300},  {"guillotine", 1000}};
  for (const auto& [family, n] : cases) {
    for (std::uint64_t seed = 1; seed <= 2; ++seed) {
      SCOPED_TRACE(testing::Message() << family << " " << n << " seed " << seed);
      const auto instance = unimem::make_plan_family(family, n, seed);
      ASSERT_NE(instance.optimum, 0u);
      const memory_plan plan = unimem::plan_memory(instance.tensors);
      expect_valid(instance.tensors, plan);
      EXPECT_EQ(plan.arena_bytes, instance.optimum) << plan.method;
      EXPECT_TRUE(plan.proved_optimal);
    }
  }
}

// The families without a known optimum stay within 5 % of the bound (their optimum may be above
// it).
TEST(plan_families, others_stay_near_the_lower_bound) {
  for (const char* family : {"growing_cache", "few_sizes", "random"}) {
    for (std::size_t n : {1000u, 10000u}) {
      SCOPED_TRACE(testing::Message() << family << " " << n);
      const auto instance = unimem::make_plan_family(family, n, 3);
      const memory_plan plan = unimem::plan_memory(instance.tensors);
      expect_valid(instance.tensors, plan);
      EXPECT_LE(plan.ratio(), 1.05) << plan.method;
    }
  }
}

// Nesting 50 000 deep is an ordinary input: the decomposition does not recurse.
TEST(plan_families, deep_nesting_needs_no_deep_recursion) {
  lifetimes t;
  const std::size_t depth = 50000;
  for (std::size_t i = 0; i < depth; ++i) t.push_back({64 + i % 7, i, 2 * depth - i, 1});
  const memory_plan plan = unimem::plan_memory(t);
  expect_valid(t, plan);
  EXPECT_TRUE(plan.optimal());
}

TEST(minimalloc_io, reads_half_open_intervals_and_refuses_bad_lines) {
  std::istringstream in("id,lower,upper,size\n0,0,4,100\n1,4,6,50\n\n2,2,5,10\n");
  const lifetimes t = unimem::parse_minimalloc_csv(in, "m.csv");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].first_op, 0u);
  EXPECT_EQ(t[0].last_op, 3u);  // [0, 4) ends before 4, where buffer 1 starts
  EXPECT_EQ(t[1].first_op, 4u);
  EXPECT_EQ(unimem::lower_bound_bytes(t), 110u);
  std::istringstream aligned("size,upper,lower,id,alignment\n64,3,1,a,32\n");
  const lifetimes a = unimem::parse_minimalloc_csv(aligned, "a.csv");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].alignment, 32u);
  EXPECT_EQ(a[0].last_op, 2u);
  std::istringstream empty_interval("id,lower,upper,size\n0,4,4,100\n");
  EXPECT_THROW(unimem::parse_minimalloc_csv(empty_interval, "e.csv"), std::runtime_error);
  std::istringstream bad_number("id,lower,upper,size\n0,1,x,100\n");
  try {
    unimem::parse_minimalloc_csv(bad_number, "n.csv");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("n.csv:2"), std::string::npos) << e.what();
  }
  std::istringstream wrong_header("tensor,first_op,last_op,bytes\n");
  EXPECT_THROW(unimem::parse_minimalloc_csv(wrong_header, "h.csv"), std::runtime_error);
  EXPECT_EQ(unimem::minimalloc_capacity("benchmarks/challenging/A.1048576.csv"), 1048576u);
  EXPECT_EQ(unimem::minimalloc_capacity("input.csv"), 0u);
  EXPECT_EQ(unimem::minimalloc_capacity("x.12a.csv"), 0u);
  EXPECT_THROW(unimem::load_minimalloc_csv("/does/not/exist.csv"), std::runtime_error);
}

// Issue 12: MiniMalloc files go through the one strict number reader like every other input.
TEST(minimalloc_io, numbers_are_read_strictly_and_named_with_their_range) {
  const auto what = [](const std::string& text) {
    std::istringstream in(text);
    try {
      (void)unimem::parse_minimalloc_csv(in, "m.csv");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(what("id,lower,upper,size\n0,0,18446744073709551616,1\n"),
            "m.csv:2: upper '18446744073709551616' is not an integer from 0 to 18446744073709551615");
  for (const char* bad : {"-1", "+1", "0x10", "1e3", "1 kB", "\xd9\xa3"}) {
    EXPECT_NE(what(std::string("id,lower,upper,size\n0,0,4,") + bad + "\n").find("m.csv:2: size '"),
              std::string::npos)
        << bad;
  }
  // The widest interval and the largest size the format can say are read as they are.
  std::istringstream wide("id,lower,upper,size\n0,0,18446744073709551615,18446744073709551615\n");
  const lifetimes t = unimem::parse_minimalloc_csv(wide, "w.csv");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].last_op, std::size_t(-2));
  EXPECT_EQ(t[0].bytes, std::size_t(-1));
  EXPECT_EQ(unimem::minimalloc_capacity("x.+12.csv"), 0u);
  EXPECT_EQ(unimem::minimalloc_capacity("x.18446744073709551616.csv"), 0u);
}

// Three of MiniMalloc's challenging instances (the quick ones; bench_planner runs all 11)
// reach their capacity within a search budget, as MiniMalloc's solver does.
TEST(minimalloc_io, challenging_instances_reach_their_capacity) {
  for (const char* name : {"B.1048576.csv", "F.1048576.csv", "K.1048576.csv"}) {
    SCOPED_TRACE(name);
    const std::string path = (data_dir / "minimalloc-challenging" / name).string();
    const lifetimes t = unimem::load_minimalloc_csv(path);
    plan_options opts;
    opts.target_bytes = unimem::minimalloc_capacity(path);
    opts.search_work = 2000000000;
    const memory_plan plan = unimem::plan_memory(t, opts);
    expect_valid(t, plan);
    EXPECT_LE(plan.arena_bytes, opts.target_bytes) << plan.method;
  }
}

// One iteration with 2 500 allocations live at once (over 3 million pairs) is learned like any
// other: the pool's placer has no size limit any more.
TEST(pool_plan, an_iteration_with_millions_of_overlapping_pairs_is_learned) {
  unimem::test::canary_upstream up;
  unimem::pool_options o;
  o.checked = true;
  unimem::pool_resource pool(up, o);
  constexpr std::size_t count = 2500;
  auto iteration = [&] {
    std::vector<void*> p(count);
    for (std::size_t i = 0; i < count; ++i) p[i] = pool.allocate(256 * (1 + i % 13));
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t j = (i * 7) % count;  // frees in another order than allocations
      pool.deallocate(p[j], 256 * (1 + j % 13));
    }
  };
  iteration();  // recorded and laid out
  iteration();  // recognised
  iteration();  // served from the region the recurring plan sized
  const std::size_t calls = up.allocations() + up.deallocations();
  iteration();
  EXPECT_TRUE(pool.statistics().plan_active);
  EXPECT_GE(pool.statistics().plans_built, 1u);
  EXPECT_EQ(up.allocations() + up.deallocations(), calls) << "the planned iteration needs no upstream call";
}

}  // namespace
