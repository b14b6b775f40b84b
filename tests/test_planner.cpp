// Static memory planner: the toy instance of Pisarchyk & Lee (2020), random instances, exhaustive
// optimality on tiny instances, the readers, and the shared lifetimes and traces.
#include <unimem/planning/planner.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using unimem::memory_plan;
using unimem::plan_options;
using unimem::tensor_lifetime;
using lifetimes = std::vector<tensor_lifetime>;

// The example of Pisarchyk & Lee, "Efficient Memory Management for Deep Neural Net Inference"
// (2020): records (first_op, last_op, bytes).
lifetimes toy_instance() {
  const std::size_t records[][3] = {{0, 1, 32}, {1, 4, 28}, {2, 5, 36}, {3, 5, 16},
                                    {4, 5, 8},  {5, 7, 64}, {6, 8, 10}, {7, 8, 40}};
  lifetimes t;
  for (const auto& r : records) t.push_back({r[2], r[0], r[1], 1});
  return t;
}

// Lifetimes in the shape of a layer graph's: mostly short-lived activations, a few long-lived
// skip connections, sizes from a few hundred bytes to a few MiB.
lifetimes random_instance(std::mt19937_64& rng, std::size_t n, std::size_t horizon, std::size_t max_duration,
                          bool aligned = false) {
  lifetimes t(n);
  std::uniform_real_distribution<double> log_size(8.0, 22.0);
  for (auto& x : t) {
    x.first_op = rng() % horizon;
    x.last_op = x.first_op + rng() % max_duration;
    x.bytes = static_cast<std::size_t>(std::pow(2.0, log_size(rng)));
    if (rng() % 50 == 0) x.bytes = 0;  // zero-byte tensors must be harmless
    if (aligned) x.alignment = std::size_t{1} << (rng() % 9);
  }
  return t;
}

// Minimum arena over every order of placing each tensor on top of the already placed tensors it
// overlaps in time. Every settled plan is such a stack in order of offset, so this is optimal.
std::size_t brute_force_optimum(const lifetimes& t) {
  std::vector<std::size_t> perm(t.size());
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  std::size_t best = ~std::size_t{0};
  do {
    std::vector<std::size_t> off(t.size(), 0);
    std::size_t arena = 0;
    for (std::size_t x = 0; x < perm.size(); ++x) {
      const std::size_t i = perm[x];
      if (t[i].bytes == 0) continue;
      std::size_t floor = 0;
      for (std::size_t y = 0; y < x; ++y) {
        const std::size_t j = perm[y];
        if (t[j].bytes == 0 || t[j].last_op < t[i].first_op || t[i].last_op < t[j].first_op) continue;
        floor = std::max(floor, off[j] + t[j].bytes);
      }
      off[i] = (floor + t[i].alignment - 1) / t[i].alignment * t[i].alignment;
      arena = std::max(arena, off[i] + t[i].bytes);
    }
    best = std::min(best, arena);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

void expect_valid(const lifetimes& t, const memory_plan& plan) {
  const auto check = unimem::validate_plan(t, plan);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_GE(plan.arena_bytes, plan.lower_bound_bytes);
  EXPECT_EQ(plan.lower_bound_bytes, unimem::lower_bound_bytes(t));
}

TEST(planner, toy_instance_reaches_the_lower_bound) {
  const lifetimes t = toy_instance();
  EXPECT_EQ(unimem::lower_bound_bytes(t), 124u);
  EXPECT_EQ(unimem::naive_bytes(t), 234u);
  const memory_plan greedy = unimem::plan_greedy_by_size(t);
  expect_valid(t, greedy);
  EXPECT_EQ(greedy.arena_bytes, 124u);  // as in the paper
  const memory_plan plan = unimem::plan_memory(t);
  expect_valid(t, plan);
  EXPECT_EQ(plan.arena_bytes, 124u);
  EXPECT_TRUE(plan.optimal());
  EXPECT_DOUBLE_EQ(plan.ratio(), 1.0);
}

TEST(planner, empty_and_zero_byte_inputs) {
  const memory_plan empty = unimem::plan_memory({});
  EXPECT_EQ(empty.arena_bytes, 0u);
  EXPECT_TRUE(empty.offsets.empty());
  const lifetimes zeros = {{0, 0, 3, 1}, {0, 1, 2, 64}};
  const memory_plan plan = unimem::plan_memory(zeros);
  EXPECT_EQ(plan.arena_bytes, 0u);
  ASSERT_EQ(plan.offsets.size(), 2u);
  EXPECT_TRUE(unimem::validate_plan(zeros, plan).ok);
}

TEST(planner, rejects_bad_input_naming_the_tensor) {
  const lifetimes backwards = {{16, 0, 1, 1}, {16, 5, 2, 1}};
  try {
    unimem::plan_memory(backwards);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 1 has last_op 2 < first_op 5"), std::string::npos) << e.what();
  }
  const lifetimes bad_alignment = {{16, 0, 1, 3}};
  EXPECT_THROW(unimem::plan_memory(bad_alignment), std::invalid_argument);
  EXPECT_THROW(unimem::plan_greedy_by_size(bad_alignment), std::invalid_argument);
  EXPECT_THROW(unimem::lower_bound_bytes(backwards), std::invalid_argument);
  const lifetimes huge = {{~std::size_t{0} / 2, 0, 0, 1}};
  EXPECT_THROW(unimem::plan_memory(huge), std::invalid_argument);
  // Each fits, together they would overflow the planner's sums.
  const lifetimes many(6, {~std::size_t{0} / 20, 0, 5, 1});
  EXPECT_THROW(unimem::plan_memory(many), std::invalid_argument);
  const lifetimes over_aligned = {{16, 0, 1, std::size_t{1} << 40}};
  EXPECT_THROW(unimem::plan_memory(over_aligned), std::invalid_argument);
}

TEST(planner, validate_plan_finds_each_kind_of_defect) {
  const lifetimes t = {{100, 0, 2, 1}, {50, 1, 3, 16}, {70, 3, 4, 1}};
  memory_plan plan;
  plan.offsets = {0, 112, 0};  // tensor 2 starts after tensor 0 ends: may share its bytes
  plan.arena_bytes = 162;
  plan.arena_alignment = 16;
  ASSERT_TRUE(unimem::validate_plan(t, plan).ok) << unimem::validate_plan(t, plan).message;

  memory_plan overlap = plan;
  overlap.offsets[1] = 96;  // [96, 146) meets [0, 100) while both live at ops 1..2
  auto check = unimem::validate_plan(t, overlap);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(std::min(check.first, check.second), 0u);
  EXPECT_EQ(std::max(check.first, check.second), 1u);
  EXPECT_NE(check.message.find("overlap"), std::string::npos) << check.message;

  memory_plan overlap_later = plan;
  overlap_later.offsets[2] = 140;  // meets tensor 1 at op 3 only
  overlap_later.arena_bytes = 300;
  check = unimem::validate_plan(t, overlap_later);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.first + check.second, 3u);

  memory_plan misaligned = plan;
  misaligned.offsets[1] = 104;
  EXPECT_FALSE(unimem::validate_plan(t, misaligned).ok);

  memory_plan outside = plan;
  outside.arena_bytes = 150;
  EXPECT_FALSE(unimem::validate_plan(t, outside).ok);

  memory_plan short_plan = plan;
  short_plan.offsets.pop_back();
  EXPECT_FALSE(unimem::validate_plan(t, short_plan).ok);

  memory_plan base_unaligned = plan;
  base_unaligned.arena_alignment = 8;
  EXPECT_FALSE(unimem::validate_plan(t, base_unaligned).ok);
}

TEST(planner, random_instances_are_valid_and_at_least_the_lower_bound) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 60; ++round) {
    const std::size_t n = 1 + rng() % 400;
    const lifetimes t = random_instance(rng, n, 1 + rng() % 300, 1 + rng() % 40, round % 3 == 0);
    SCOPED_TRACE(testing::Message() << "round " << round << ", " << n << " tensors");
    const memory_plan greedy = unimem::plan_greedy_by_size(t);
    expect_valid(t, greedy);
    plan_options fast;
    fast.search_work = 200000;
    const memory_plan plan = unimem::plan_memory(t, fast);
    expect_valid(t, plan);
    EXPECT_LE(plan.arena_bytes, greedy.arena_bytes);  // the portfolio starts from greedy-by-size
    EXPECT_LE(plan.arena_bytes, unimem::naive_bytes(t));
  }
}

// Without a greedy budget nothing walks the conflict graph: the placements that need none still
// give valid plans, dense or not.
TEST(planner, inputs_over_the_greedy_budget_are_planned_without_a_conflict_graph) {
  std::mt19937_64 rng(11);
  plan_options opts;
  opts.greedy_work = 0;
  opts.search_work = 0;
  for (int round = 0; round < 12; ++round) {
    const lifetimes t = random_instance(rng, 500 + rng() % 3000, 20 + rng() % 200, 1 + rng() % 60, round % 2 == 0);
    SCOPED_TRACE(testing::Message() << "round " << round);
    const memory_plan plan = unimem::plan_memory(t, opts);
    EXPECT_EQ(plan.method.rfind("greedy", 0), std::string::npos) << plan.method;
    EXPECT_NE(plan.method, "search");
    expect_valid(t, plan);
    EXPECT_LE(plan.arena_bytes, unimem::naive_bytes(t));
  }
}

// A trace far over the greedy budget still lands within the brief's 5 %.
TEST(planner, a_large_trace_over_the_greedy_budget_stays_within_five_percent) {
  const std::filesystem::path file = std::filesystem::path(UNIMEM_TEST_DATA_DIR) / ".." / ".." / "data" /
                                     "alloc-traces" / "ssdlite320_mobilenet_v3_large_b1_float32.csv.gz";
  const lifetimes t = unimem::load_tensor_lifetimes(file.string());
  plan_options opts;
  opts.greedy_work = 200000;  // far below one greedy run (about 1.5 million)
  opts.search_work = 0;
  const memory_plan plan = unimem::plan_memory(t, opts);
  expect_valid(t, plan);
  EXPECT_LE(plan.ratio(), 1.05);
}

// The canonical search loses no optimum for unaligned tensors (with alignments it is a heuristic:
// see detail/placement/search.hpp), and it proves the optimum where the bound is out of reach.
TEST(planner, exhaustive_search_is_optimal_on_tiny_instances) {
  std::mt19937_64 rng(3);
  plan_options exhaustive;
  exhaustive.search_work = 5000000000;
  int improved = 0;
  for (int round = 0; round < 150; ++round) {
    const std::size_t n = 2 + rng() % 6;
    lifetimes t = random_instance(rng, n, 4 + round % 5, 2 + round % 5);
    for (auto& x : t) x.bytes = x.bytes % 97 + (rng() % 4 == 0 ? 0 : 1);
    SCOPED_TRACE(testing::Message() << "round " << round);
    const memory_plan plan = unimem::plan_memory(t, exhaustive);
    expect_valid(t, plan);
    const std::size_t best = brute_force_optimum(t);
    EXPECT_EQ(plan.arena_bytes, best);
    EXPECT_TRUE(plan.proved_optimal) << "the search covers tiny instances completely";
    if (unimem::plan_greedy_by_size(t).arena_bytes > best) ++improved;
  }
  EXPECT_GT(improved, 0) << "the instances should include some that greedy-by-size does not solve";
}

// Nine tensors whose lower bound (27 B) no layout reaches: the search proves 28 optimal.
TEST(planner, search_proves_the_optimum_when_the_bound_is_out_of_reach) {
  const lifetimes t = {{7, 5, 7, 1}, {12, 1, 2, 1}, {5, 4, 4, 1}, {11, 2, 3, 1}, {7, 4, 6, 1},
                       {7, 5, 8, 1}, {6, 3, 5, 1},  {4, 1, 4, 1}, {4, 3, 4, 1}};
  const memory_plan plan = unimem::plan_memory(t);
  expect_valid(t, plan);
  EXPECT_EQ(plan.lower_bound_bytes, 27u);
  EXPECT_EQ(plan.arena_bytes, brute_force_optimum(t));
  EXPECT_EQ(plan.arena_bytes, 28u);
  EXPECT_TRUE(plan.proved_optimal);
  EXPECT_FALSE(plan.optimal()) << "optimal() means the bound itself";
}

TEST(planner, lifetimes_csv_parses_and_rejects_malformed_lines) {
  std::istringstream good("tensor,first_op,last_op,bytes\nx,0,1,602112\nconv1,1,2,3211264\n\n");
  const lifetimes t = unimem::parse_lifetimes_csv(good, "good.csv");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].first_op, 1u);
  EXPECT_EQ(t[1].last_op, 2u);
  EXPECT_EQ(t[1].bytes, 3211264u);

  std::istringstream bad_header("name,start,end,size\nx,0,1,2\n");
  EXPECT_THROW(unimem::parse_lifetimes_csv(bad_header, "h.csv"), std::runtime_error);
  std::istringstream bad_number("tensor,first_op,last_op,bytes\nx,0,1,12a\n");
  try {
    unimem::parse_lifetimes_csv(bad_number, "n.csv");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("n.csv:2"), std::string::npos) << e.what();
  }
  std::istringstream backwards("tensor,first_op,last_op,bytes\nx,3,1,12\n");
  EXPECT_THROW(unimem::parse_lifetimes_csv(backwards, "b.csv"), std::runtime_error);
}

TEST(planner, allocation_trace_becomes_lifetimes) {
  std::istringstream trace("op,id,bytes,stream\na,0,100,0\na,1,50,0\nf,0,100,0\na,2,70,0\nf,2,70,0\n");
  const lifetimes t = unimem::parse_alloc_trace(trace, "t.csv");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].first_op, 0u);
  EXPECT_EQ(t[0].last_op, 2u);
  EXPECT_EQ(t[1].first_op, 1u);
  EXPECT_EQ(t[1].last_op, 4u);  // never freed: live to the end
  EXPECT_EQ(t[2].first_op, 3u);
  EXPECT_EQ(t[2].last_op, 4u);
  EXPECT_EQ(unimem::lower_bound_bytes(t), 150u);
  EXPECT_EQ(unimem::plan_memory(t).arena_bytes, 150u);

  std::istringstream unknown("op,id,bytes,stream\nf,9,10,0\n");
  EXPECT_THROW(unimem::parse_alloc_trace(unknown, "u.csv"), std::runtime_error);
  std::istringstream twice("op,id,bytes,stream\na,1,10,0\na,1,10,0\n");
  EXPECT_THROW(unimem::parse_alloc_trace(twice, "d.csv"), std::runtime_error);
  std::istringstream bad_op("op,id,bytes,stream\nx,1,10,0\n");
  EXPECT_THROW(unimem::parse_alloc_trace(bad_op, "o.csv"), std::runtime_error);
  std::istringstream wrong_size("op,id,bytes,stream\na,1,10,0\nf,1,11,0\n");
  EXPECT_THROW(unimem::parse_alloc_trace(wrong_size, "s.csv"), std::runtime_error);
}

TEST(planner, load_tensor_lifetimes_reads_plain_and_gzip_and_rejects_others) {
  const std::string dir = UNIMEM_TEST_DATA_DIR;
  EXPECT_THROW(unimem::load_tensor_lifetimes(dir + "/does-not-exist.csv"), std::runtime_error);
  const auto tmp = std::filesystem::temp_directory_path() / "unimem_planner_test_other.csv";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("a,b,c\n1,2,3\n", f);
    std::fclose(f);
  }
  EXPECT_THROW(unimem::load_tensor_lifetimes(tmp.string()), std::runtime_error);
  std::filesystem::remove(tmp);
}

// The numbers of BRIEF §4 on the shared data: arena == lower bound on every lifetimes file, at
// most 1.05x on every allocation trace.
TEST(planner, shared_lifetimes_reach_the_lower_bound) {
  const std::filesystem::path dir = std::filesystem::path(UNIMEM_TEST_DATA_DIR) / ".." / ".." / "data" / "lifetimes";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const lifetimes t = unimem::load_tensor_lifetimes(entry.path().string());
    const memory_plan plan = unimem::plan_memory(t);
    SCOPED_TRACE(entry.path().filename().string());
    expect_valid(t, plan);
    EXPECT_EQ(plan.arena_bytes, plan.lower_bound_bytes);
    ++files;
  }
  EXPECT_GE(files, 5);
}

TEST(planner, shared_and_recorded_allocation_traces_within_five_percent) {
  int files = 0;
  for (const char* sub : {"alloc-traces", "workload-traces"}) {
    const std::filesystem::path dir = std::filesystem::path(UNIMEM_TEST_DATA_DIR) / ".." / ".." / "data" / sub;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".gz") continue;
      const lifetimes t = unimem::load_tensor_lifetimes(entry.path().string());
      const memory_plan plan = unimem::plan_memory(t);
      SCOPED_TRACE(entry.path().filename().string());
      expect_valid(t, plan);
      EXPECT_LE(plan.ratio(), 1.05);
      ++files;
    }
  }
  EXPECT_GE(files, 25);
}

}  // namespace
