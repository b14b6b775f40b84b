// Replays every trace in data/alloc-traces through unimem's pool (over host, device and pinned
// memory) and its peers — cub::CachingDeviceAllocator (default and power-of-two bins), a fresh
// cudaMemPool, cudaMalloc — in one run, then prints unimem's time and memory against each peer's.
// Without a GPU only the host-memory resources run; the others are left out, in one line.
//
// Each benchmark iteration replays the whole trace on one resource instance (the first replay,
// which grows the pool, happens before timing). Counters: ns_per_op (median of calls timed one by
// one, as unimem-replay reports it), mean_ns_per_op (iteration time / calls), reserved_over_live.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "replay_core.hpp"
#include "support/bench_env.hpp"
#include "support/summary.hpp"

namespace {

using namespace unimem;
using namespace unimem::replay;

struct loaded {
  std::vector<alloc_trace> traces;
  std::vector<replay_target> targets;
};

loaded& data() {
  static loaded d;
  return d;
}

void bm_replay(benchmark::State& state, const alloc_trace* trace, const replay_target* target) {
  replay_options quick;
  quick.repetitions = 3;
  // Per-call medians and peak memory from the same engine as unimem-replay.
  const replay_result r = run_replay(*trace, *target, quick);

  stream_set streams(*trace, target->needs_gpu);
  auto inst = target->make();
  std::vector<void*> slots(trace->id_bound());
  replay_once(*trace, inst->resource(), slots, streams.views());  // cold pass, untimed
  free_left_live(*trace, inst->resource(), slots, streams.views());
  inst->finish();
  for (auto _ : state) {
    replay_once(*trace, inst->resource(), slots, streams.views());
    // What the trace leaves live is freed, and stream-ordered frees finish, outside the timed
    // region, as in the tool.
    state.PauseTiming();
    free_left_live(*trace, inst->resource(), slots, streams.views());
    if (target->needs_gpu) inst->finish();
    state.ResumeTiming();
  }
  const double calls = static_cast<double>(trace->ops.size());
  state.counters["ns_per_op"] = r.ns_per_op;
  state.counters["mean_ns_per_op"] =
      benchmark::Counter(calls, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert,
                         benchmark::Counter::kIs1000);
  state.counters["reserved_over_live"] = r.reserved_over_live();
  state.counters["peak_reserved_MiB"] = static_cast<double>(r.peak_reserved_bytes) / (1 << 20);
}

void summary(const unimem::bench::keeping_reporter& rep) {
  const std::vector<std::string> pools = {"pool_host", "pool_device", "pool_pinned"};
  const std::vector<std::string> peers = {"cub_pow2", "cub_default", "cuda_mempool", "cuda_malloc", "malloc"};
  std::printf("\nunimem's pool against the peers of the same run (speed-up = peer time / pool time, per call)\n");
  std::printf("%-42s %-12s %-13s %9s %9s %9s %10s\n", "trace", "pool", "peer", "pool ns", "peer ns", "speed-up",
              "res/live");
  for (const alloc_trace& t : data().traces) {
    for (const std::string& pool : pools) {
      const std::string pname = "replay/" + t.name + "/" + pool;
      if (rep.find(pname) == nullptr) continue;
      const double pns = rep.counter(pname, "mean_ns_per_op") * 1e9;
      for (const std::string& peer : peers) {
        const std::string qname = "replay/" + t.name + "/" + peer;
        if (rep.find(qname) == nullptr) continue;
        const double qns = rep.counter(qname, "mean_ns_per_op") * 1e9;
        std::printf("%-42s %-12s %-13s %9.1f %9.1f %9.1f %10.3f\n", t.name.c_str(), pool.c_str(), peer.c_str(), pns,
                    qns, pns > 0 ? qns / pns : 0.0, rep.counter(pname, "reserved_over_live"));
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace ub = unimem::bench;
  // The README's quick run replays three representative traces; the full run replays them all.
  const std::vector<std::string> quick_traces = {"mobilenet_v2_b1_float32", "resnet50_b8_float16", "vit_b_16_b8_float16"};
  loaded& d = data();
  for (const std::string& f : trace_files(std::string(UNIMEM_BENCH_DATA_DIR) + "/alloc-traces")) {
    alloc_trace t = load_trace(f);
    if (ub::quick_mode() && std::find(quick_traces.begin(), quick_traces.end(), t.name) == quick_traces.end()) {
      continue;
    }
    d.traces.push_back(std::move(t));
  }
  d.targets = all_targets();
  for (const alloc_trace& t : d.traces) {
    for (const replay_target& target : d.targets) {
      const std::string name = "replay/" + t.name + "/" + target.name;
      if (target.needs_gpu && !ub::gpu().ok) {
        ub::leave_out(name, ub::no_gpu_reason());
        continue;
      }
      ub::add(name, bm_replay, &t, &target)->Unit(benchmark::kMicrosecond)->UseRealTime();
    }
  }
  unimem::bench::keeping_reporter reporter;
  return ub::run_benchmarks(argc, argv, reporter, {}, [&reporter] { summary(reporter); });
}
