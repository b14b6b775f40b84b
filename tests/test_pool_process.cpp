// pool_resource as a PyTorch process uses it: weights allocated once and kept live in the same
// pool, then the same step (a recorded inference iteration, data/alloc-traces) run again and
// again. What costs wall time on a GPU is counted: upstream allocations (cudaMalloc), upstream
// deallocations and the rounds they come in (each cudaFree round synchronizes the device).
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/pools/pool_resource.hpp>
#include <unimem/trace.hpp>

#include "support/test_upstreams.hpp"

namespace unimem::test {
namespace {

constexpr std::size_t KiB = 1024;

alloc_trace step_trace(const std::string& name) {
  return load_trace(std::string(UNIMEM_ALLOC_TRACE_DIR) + "/" + name + ".csv.gz");
}

/// The trace's first pass: its calls until nothing it allocated is live (one forward pass of the
/// recorded traces, which hold several).
alloc_trace first_pass(const alloc_trace& trace) {
  alloc_trace pass = trace;
  std::size_t live = 0, end = 0;
  do {
    live = trace.ops[end].is_alloc ? live + 1 : live - 1;
    ++end;
  } while (live > 0 && end < trace.ops.size());
  pass.ops.resize(end);
  return pass;
}

/// Per iteration of the process: what the pool asked of its upstream.
struct iteration_calls {
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t rounds = 0;
};

struct process_run {
  std::vector<iteration_calls> per_iteration;  // [0] is loading the weights
  std::size_t peak_reserved = 0;
  std::size_t peak_live = 0;  // weights + the step's live peak
};

/// Loads `weights` tensors (kept live), then runs `trace` `iterations` times.
process_run run_process(const alloc_trace& trace, std::size_t weights, int iterations) {
  canary_upstream up;
  up.fill_canary = false;
  pool_resource pool(up);
  process_run run;
  pool_statistics before = pool.statistics();
  auto note = [&] {
    const pool_statistics s = pool.statistics();
    run.per_iteration.push_back({s.upstream_allocations - before.upstream_allocations,
                                 s.upstream_deallocations - before.upstream_deallocations,
                                 s.release_rounds - before.release_rounds});
    before = s;
  };
  std::mt19937 rng(7);
  std::vector<std::pair<void*, std::size_t>> kept;
  std::size_t weight_bytes = 0;
  for (std::size_t i = 0; i < weights; ++i) {
    // Convolution and linear weights with their small biases and norms.
    const std::size_t n = i % 3 == 0 ? (1 + rng() % 16) * KiB : (64 + rng() % 4096) * KiB;
    kept.emplace_back(pool.allocate(n), n);
    weight_bytes += n;
  }
  note();
  std::vector<void*> ptr(trace.id_bound(), nullptr);
  for (int it = 0; it < iterations; ++it) {
    for (const trace_op& op : trace.ops) {
      if (op.is_alloc) {
        ptr[op.id] = pool.allocate(op.bytes);
      } else {
        pool.deallocate(ptr[op.id], op.bytes);
      }
    }
    note();
  }
  run.peak_reserved = pool.statistics().peak_reserved_bytes;
  run.peak_live = weight_bytes + trace.peak_live_bytes();
  for (auto [p, n] : kept) pool.deallocate(p, n);
  return run;
}

std::string describe(const process_run& run) {
  std::string s;
  for (std::size_t i = 0; i < run.per_iteration.size(); ++i) {
    const iteration_calls& c = run.per_iteration[i];
    s += (i == 0 ? "weights " : " | ") + std::to_string(c.allocations) + "/" + std::to_string(c.deallocations) + "/" +
         std::to_string(c.rounds);
  }
  return s + " (allocations/deallocations/rounds)";
}

class pool_process : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(step, pool_process,
                         ::testing::Values("resnet50_b1_float32", "resnet50_b8_float16", "vit_b_16_b1_float32",
                                           "densenet121_b1_float32", "ssdlite320_mobilenet_v3_large_b1_float32"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(pool_process, weights_live_then_a_repeated_step_costs_no_upstream_call_after_warm_up) {
  const alloc_trace trace = step_trace(GetParam());
  const process_run run = run_process(trace, 160, 12);
  SCOPED_TRACE(describe(run));
  // Steady state from the second iteration: the level between iterations (the weights) is found
  // where it recurs in the first one (the recorded step holds several passes), the step is
  // planned and the region holds it; the weights stay where they are.
  for (std::size_t it = 2; it < run.per_iteration.size(); ++it) {
    EXPECT_EQ(run.per_iteration[it].allocations + run.per_iteration[it].deallocations, 0u) << "iteration " << it;
  }
  // Warm-up: chunks go back in a few rounds (each a device synchronization over cudaFree), not
  // one at a time between allocations.
  for (std::size_t it = 1; it < 2; ++it) {
    const iteration_calls& c = run.per_iteration[it];
    EXPECT_LE(4 * c.rounds, c.deallocations + 3) << "iteration " << it;
  }
  const double ratio = static_cast<double>(run.peak_reserved) / static_cast<double>(run.peak_live);
  EXPECT_LE(ratio, 1.10) << GetParam();
}

TEST_P(pool_process, one_pass_per_iteration_is_planned_after_the_second_iteration) {
  const alloc_trace pass = first_pass(step_trace(GetParam()));
  const process_run run = run_process(pass, 160, 8);
  SCOPED_TRACE(describe(run));
  // The level recurs at the end of the second iteration, and the first one had the same calls:
  // both are segments of one structure, so the third iteration follows its plan. A pass longer
  // than the lift's window (2048 calls: ssdlite's 6918) is cut by the lift first, one iteration
  // later.
  const std::size_t steady = pass.ops.size() < 2048 ? 3 : 4;
  for (std::size_t it = steady; it < run.per_iteration.size(); ++it) {
    EXPECT_EQ(run.per_iteration[it].allocations + run.per_iteration[it].deallocations, 0u) << "iteration " << it;
  }
  const double ratio = static_cast<double>(run.peak_reserved) / static_cast<double>(run.peak_live);
  EXPECT_LE(ratio, 1.10) << GetParam();
}

}  // namespace
}  // namespace unimem::test
