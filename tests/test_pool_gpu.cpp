// Pools over real CUDA memory and streams. Skipped without a GPU (failed under UNIMEM_REQUIRE_GPU=1).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <tuple>
#include <chrono>
#include <thread>
#include <vector>

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <unimem/resources/device_resource.hpp>
#include <unimem/pools/fixed_block_pool.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/stream.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/resources/virtual_memory.hpp>

#include "support/device_kernels.hpp"
#include "support/gpu_test.hpp"

namespace unimem::test {
namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;

/// Holds a stream at a host function until release() — the stream's earlier work "runs" that long.
/// The test kernels are loaded first: a kernel's first launch may synchronise the context, which
/// while the gate is closed would wait for the gated stream forever (each ctest case is a fresh
/// process, so "first" is the rule there).
class stream_gate {
 public:
  explicit stream_gate(stream_view s) {
    load_device_kernels();
    if (cudaLaunchHostFunc(s.value(), &stream_gate::wait, this) != cudaSuccess) {
      ADD_FAILURE() << "cudaLaunchHostFunc failed";
      open_.store(true);
    }
  }
  ~stream_gate() { release(); }
  void release() { open_.store(true); }

 private:
  static void CUDART_CB wait(void* self) {
    auto* g = static_cast<stream_gate*>(self);
    while (!g->open_.load()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  std::atomic<bool> open_{false};
};

class pool_gpu : public gpu_test {};

TEST_F(pool_gpu, device_pool_reuses_a_block_at_once_on_the_stream_that_freed_it) {
  device_resource device;
  pool_options o;
  o.learn_iterations = false;
  pool_resource pool(device, o);
  cuda_stream a;
  void* p = pool.allocate(MiB, 256, a);
  stream_gate gate(a);  // A is busy while p is freed and taken again: stream order protects it
  pool.deallocate(p, MiB, 256, a);
  EXPECT_EQ(pool.allocate(MiB, 256, a), p);
  pool.deallocate(p, MiB, 256, a);
  gate.release();
  a.synchronize();
}

TEST_F(pool_gpu, device_pool_hands_a_block_to_another_stream_by_a_device_side_wait) {
  device_resource device;
  pool_options o;
  o.learn_iterations = false;
  o.initial_size = 2 * MiB;  // exactly keep + p
  pool_resource pool(device, o);
  cuda_stream a, b;
  void* keep = pool.allocate(MiB, 256, a);
  void* p = pool.allocate(MiB, 256, a);
  stream_gate gate(a);                   // A is held up ...
  device_fill_async(p, MiB, 0x11, a);    // ... before a kernel that writes p
  pool.deallocate(p, MiB, 256, a);       // p is freed on A while that kernel has not run
  void* q = pool.allocate(MiB, 256, b);  // B gets p at once: it waits for A on the device
  EXPECT_EQ(q, p) << "reuse across streams before growth";
  EXPECT_EQ(pool.statistics().upstream_allocations, 1u);
  EXPECT_EQ(pool.statistics().stream_waits, 1u);
  device_fill_async(q, MiB, 0x22, b);    // queued behind A's kernel by cudaStreamWaitEvent
  gate.release();
  a.synchronize();
  b.synchronize();
  EXPECT_EQ(device_count_mismatches(q, MiB, 0x22), 0u) << "B's kernel ran after A's, not before";
  pool.deallocate(q, MiB, 256, b);
  pool.deallocate(keep, MiB, 256, a);
}

TEST_F(pool_gpu, blocks_written_by_kernels_do_not_overlap) {
  device_resource device;
  pool_resource pool(device);
  for (int it = 0; it < 6; ++it) {
    std::vector<std::tuple<void*, std::size_t, std::uint8_t>> live;
    for (int i = 0; i < 16; ++i) {
      const std::size_t n = (1 + (i * 5) % 7) * 512 * 1024 + 256 * i;
      const auto v = static_cast<std::uint8_t>(1 + i);
      void* p = pool.allocate(n);
      device_fill(p, n, v);
      live.emplace_back(p, n, v);
      if (i % 4 == 3) {
        auto [q, m, w] = live[live.size() / 2];
        EXPECT_EQ(device_count_mismatches(q, m, w), 0u);
        pool.deallocate(q, m);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(live.size() / 2));
      }
    }
    for (auto [p, n, v] : live) {
      EXPECT_EQ(device_count_mismatches(p, n, v), 0u) << "iteration " << it;
      pool.deallocate(p, n);
    }
  }
  EXPECT_TRUE(pool.statistics().plan_active);
}

TEST_F(pool_gpu, the_probe_reports_what_the_driver_grants) {
  const device_profile p = device_profile::current();
  const virtual_memory_support s = probe_virtual_memory(p.device, p.total_memory_bytes);
  const virtual_memory_decision d = decide_virtual_memory(p);
  if (d.use) {
    EXPECT_TRUE(s.supported) << s.detail;
    EXPECT_GT(s.granularity, 0u);
    EXPECT_GT(s.reserved_bytes, 0u) << s.detail;
    EXPECT_TRUE(s.mapped) << s.detail;
  }
  if (!s.supported) {
    EXPECT_FALSE(s.detail.empty());
  }
}

TEST_F(pool_gpu, a_device_range_maps_memory_kernels_can_write) {
  const device_profile p = device_profile::current();
  if (!probe_virtual_memory(p.device, std::size_t{1} << 30).mapped) GTEST_SKIP() << "no virtual memory management";
  auto range = make_device_virtual_range(p.device, std::size_t{4} << 30);
  const std::size_t g = range->granularity();
  range->resize(2 * g);
  device_fill(reinterpret_cast<void*>(range->base()), 2 * g, 0x5A);
  range->resize(5 * g);  // grown in place: the first pages keep their contents
  device_fill(reinterpret_cast<void*>(range->base() + 2 * g), 3 * g, 0x6B);
  EXPECT_EQ(device_count_mismatches(reinterpret_cast<void*>(range->base()), 2 * g, 0x5A), 0u);
  EXPECT_EQ(device_count_mismatches(reinterpret_cast<void*>(range->base() + 2 * g), 3 * g, 0x6B), 0u);
  range->resize(2 * g);
  EXPECT_EQ(range->mapped(), 2 * g) << "the top piece went back";
  EXPECT_EQ(device_count_mismatches(reinterpret_cast<void*>(range->base()), 2 * g, 0x5A), 0u);
}

TEST_F(pool_gpu, a_pool_over_device_memory_grows_its_region_in_place) {
  const device_profile p = device_profile::current();
  if (!decide_virtual_memory(p).use) GTEST_SKIP() << decide_virtual_memory(p).reason;
  device_resource device;
  pool_resource pool(device);  // default settings: the pool reserves a range itself
  const auto run = [&](std::size_t unit, std::uint8_t v) {
    // Iterations of 48 MiB-scale activations: the region is large enough for the range.
    std::vector<std::pair<void*, std::size_t>> live;
    for (int i = 0; i < 12; ++i) {
      const std::size_t n = (1 + i % 4) * unit;
      void* q = pool.allocate(n);
      device_fill(q, n, v);
      live.emplace_back(q, n);
      if (live.size() > 3) {
        EXPECT_EQ(device_count_mismatches(live.front().first, live.front().second, v), 0u);
        pool.deallocate(live.front().first, live.front().second);
        live.erase(live.begin());
      }
    }
    for (auto [q, n] : live) pool.deallocate(q, n);
  };
  for (int it = 0; it < 6; ++it) run(8 * MiB, static_cast<std::uint8_t>(it + 1));
  const pool_statistics small = pool.statistics();
  EXPECT_TRUE(small.plan_active);
  for (int it = 0; it < 6; ++it) run(16 * MiB, static_cast<std::uint8_t>(it + 7));
  const pool_statistics big = pool.statistics();
  EXPECT_TRUE(big.plan_active);
  EXPECT_GT(big.reserved_bytes, small.reserved_bytes);
  EXPECT_LE(big.chunk_count, small.chunk_count + 1) << "the region grew in place instead of adding chunks";
  const std::size_t calls = big.upstream_allocations + big.upstream_deallocations;
  run(16 * MiB, 0x7F);
  const pool_statistics again = pool.statistics();
  EXPECT_EQ(again.upstream_allocations + again.upstream_deallocations, calls) << "steady: no upstream call";
}

TEST_F(pool_gpu, pinned_pool_is_host_and_device_accessible) {
  pinned_resource pinned;
  pool_resource pool(pinned);
  EXPECT_TRUE(pool.traits().host_accessible);
  void* p = pool.allocate(3 * MiB);
  std::memset(p, 0x42, 3 * MiB);
  EXPECT_EQ(device_count_mismatches(p, 3 * MiB, 0x42), 0u);
  pool.deallocate(p, 3 * MiB);
}

TEST_F(pool_gpu, fixed_block_pool_over_device_is_stream_ordered) {
  device_resource device;
  fixed_block_pool_options o;
  o.blocks_per_chunk = 1;
  fixed_block_pool pool(device, MiB, o);
  cuda_stream a, b;
  void* p = pool.allocate(MiB, 256, a);
  {
    stream_gate gate(a);
    pool.deallocate(p, MiB, 256, a);
    void* q = pool.allocate(MiB, 256, b);
    EXPECT_NE(q, p);
    pool.deallocate(q, MiB, 256, b);
    gate.release();
    a.synchronize();
  }
  void* r = nullptr;
  std::vector<void*> got;
  for (int tries = 0; tries < 100 && r != p; ++tries) {
    r = pool.allocate(MiB, 256, b);
    got.push_back(r);
    if (r != p) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(r, p);
  for (void* x : got) pool.deallocate(x, MiB, 256, b);
}

}  // namespace
}  // namespace unimem::test
