// pool_resource on allocation traces recorded from real PyTorch workloads on an H200
// (data/workload-traces: variable shapes, weights that stay live, fine-tuning, two streams),
// replayed twice as unimem-replay does: no overlap, and at most 1.15 x the live peak reserved.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/pools/pool_resource.hpp>
#include <unimem/trace.hpp>

#include "support/manual_event_source.hpp"
#include "support/test_upstreams.hpp"
#include "support/trace_files.hpp"

namespace unimem::test {
namespace {

alloc_trace workload(const std::string& name) {
  return load_trace(std::string(UNIMEM_WORKLOAD_TRACE_DIR) + "/" + name + ".csv.gz");
}

class pool_workloads : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(trace, pool_workloads,
                         ::testing::Values("amp_finetune_varying_batch", "detector_varying_resolution",
                                           "encoder_varying_seqlen", "segmentation_varying_batch",
                                           "two_models_two_streams"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(pool_workloads, two_passes_stay_within_1_15_of_the_live_peak) {
  const alloc_trace trace = workload(GetParam());
  canary_upstream up;
  up.fill_canary = false;  // hundreds of MiB: the overlap checker is the safety net here
  pool_resource pool(up);
  std::vector<stream_view> streams;
  for (std::uintptr_t s = 0; s < 4; ++s) streams.push_back(s == 0 ? stream_view{} : fake_stream(s));
  for (int pass = 0; pass < 2; ++pass) ASSERT_EQ(replay_pass(trace, pool, streams), "") << "pass " << pass;
  EXPECT_EQ(pool.statistics().live_count, 0u);
  const double ratio = static_cast<double>(up.peak_held()) / static_cast<double>(trace.peak_live_bytes());
  EXPECT_LE(ratio, 1.15) << GetParam();
}

TEST(pool_workloads_streams, two_models_on_two_streams_reuse_memory_across_the_streams) {
  const alloc_trace trace = workload("two_models_two_streams");
  auto events = std::make_shared<manual_event_source>();
  canary_upstream up;
  up.fill_canary = false;
  pool_options o;
  o.events = events;
  pool_resource pool(up, o);
  const std::vector<stream_view> streams = {fake_stream(1), fake_stream(2), fake_stream(3)};
  ASSERT_EQ(replay_pass(trace, pool, streams), "");  // the streams' work never finishes on the host
  EXPECT_GT(pool.statistics().stream_waits, 0u);
  EXPECT_EQ(events->synchronizes(), 0);
  const double ratio = static_cast<double>(up.peak_held()) / static_cast<double>(trace.peak_live_bytes());
  EXPECT_LE(ratio, 1.15);
}

}  // namespace
}  // namespace unimem::test
