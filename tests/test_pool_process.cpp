// pool_resource as a PyTorch process uses it: weights allocated once and kept live in the same
// pool, then the same step (a recorded inference iteration, data/alloc-traces) run again and
// again. What costs wall time on a GPU is counted: upstream allocations (cudaMalloc), upstream
// deallocations and the rounds they come in (each cudaFree round synchronizes the device).
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/pools/pool_resource.hpp>
#include <unimem/resources/virtual_memory.hpp>
#include <unimem/trace.hpp>

#include "support/manual_event_source.hpp"
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

// ---------------------------------------------------------------- traces of real processes

/// data/process-traces/iterations.csv: where each timed iteration of a workload began.
std::vector<std::size_t> iteration_starts(const std::string& workload) {
  std::ifstream in(std::string(UNIMEM_PROCESS_TRACE_DIR) + "/iterations.csv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, workload.size() + 1, workload + ",") != 0) continue;
    std::istringstream starts(line.substr(workload.size() + 1, line.find(',', workload.size() + 1) - workload.size() - 1));
    std::vector<std::size_t> out;
    for (std::size_t v = 0; starts >> v;) out.push_back(v);
    return out;
  }
  return {};
}

/// A recorded process through a pool over host memory whose plan region grows in a host virtual
/// range (the H200 run had a CUDA one): upstream calls per iteration of the first pass. With
/// `passes` > 1 the process runs again in the same pool (what it left live freed in between),
/// as unimem-replay's repetitions do.
process_run replay_process(const alloc_trace& trace, const std::vector<std::size_t>& starts, int passes = 1) {
  canary_upstream up;
  up.fill_canary = false;
  pool_options o;
  o.region_range = make_host_virtual_range(std::size_t{64} << 30, std::size_t{2} << 20);
  pool_resource pool(up, o);
  process_run run;
  pool_statistics before = pool.statistics();
  std::vector<void*> ptr(trace.id_bound(), nullptr);
  std::vector<stream_view> streams(trace.stream_count());
  for (std::size_t s = 1; s < streams.size(); ++s) streams[s] = fake_stream(s);
  std::size_t live = 0;
  for (int pass = 0; pass < passes; ++pass) {
    std::size_t next = pass == 0 ? 0 : starts.size();
    for (std::size_t i = 0; i <= trace.ops.size(); ++i) {
      if (next < starts.size() && i == starts[next]) {
        const pool_statistics s = pool.statistics();
        run.per_iteration.push_back({s.upstream_allocations - before.upstream_allocations,
                                     s.upstream_deallocations - before.upstream_deallocations,
                                     s.release_rounds - before.release_rounds});
        before = s;
        ++next;
      }
      if (i == trace.ops.size()) break;
      const trace_op& op = trace.ops[i];
      if (op.is_alloc) {
        ptr[op.id] = pool.allocate(op.bytes, default_alignment, streams[op.stream]);
        live += op.bytes;
        run.peak_live = std::max(run.peak_live, live);
      } else {
        pool.deallocate(ptr[op.id], op.bytes, default_alignment, streams[op.stream]);
        ptr[op.id] = nullptr;
        live -= op.bytes;
      }
    }
    for (const trace_op& op : trace.ops) {  // what the process left live at its exit
      if (op.is_alloc && ptr[op.id] != nullptr) {
        pool.deallocate(ptr[op.id], op.bytes, default_alignment, streams[op.stream]);
        ptr[op.id] = nullptr;
        live -= op.bytes;
      }
    }
  }
  run.peak_reserved = pool.statistics().peak_reserved_bytes;
  return run;
}

class real_process : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(harness, real_process,
                         ::testing::Values("resnet50_repeated", "detector_varying_resolution", "encoder_varying_seqlen",
                                           "llm_serving_varied", "amp_finetune_varying_batch",
                                           "two_models_two_streams", "camera_preprocess_classify"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(real_process, holds_within_1_15_of_the_live_peak_and_repeated_work_reaches_a_steady_state) {
  const std::string name = GetParam();
  const alloc_trace trace = load_trace(std::string(UNIMEM_PROCESS_TRACE_DIR) + "/" + name + ".csv.gz");
  const std::vector<std::size_t> starts = iteration_starts(name);
  ASSERT_GE(starts.size(), 2u) << "no iteration starts for " << name << " in iterations.csv";
  const process_run run = replay_process(trace, starts);
  SCOPED_TRACE(describe(run));
  const double ratio = static_cast<double>(run.peak_reserved) / static_cast<double>(run.peak_live);
  EXPECT_LE(ratio, 1.15) << name;
  // Run again in the same pool: the plans of the first run must not hold memory beside what the
  // second run's unplanned iterations grow (resnet50_repeated reached 1.20 so).
  const process_run twice = replay_process(trace, starts, 2);
  EXPECT_LE(static_cast<double>(twice.peak_reserved) / static_cast<double>(twice.peak_live), 1.15) << name << ", twice";
  if (name == "resnet50_repeated" || name == "camera_preprocess_classify") {
    // The same inference again and again: once planned, an iteration asks nothing of upstream.
    // (Warm-up takes several iterations in these runs: docs/pools.md, "Warm-up in a real process".)
    const std::size_t n = run.per_iteration.size();
    for (std::size_t it = n - 4; it < n; ++it) {
      EXPECT_EQ(run.per_iteration[it].allocations + run.per_iteration[it].deallocations, 0u) << "iteration " << it;
    }
  }
}

}  // namespace
}  // namespace unimem::test
