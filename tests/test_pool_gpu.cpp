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

#include "support/device_kernels.hpp"
#include "support/gpu_test.hpp"

namespace unimem::test {
namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;

/// Holds a stream at a host function until release() — the stream's earlier work "runs" that long.
class stream_gate {
 public:
  explicit stream_gate(stream_view s) {
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

TEST_F(pool_gpu, device_pool_hands_a_block_to_another_stream_only_after_the_first_finished) {
  device_resource device;
  pool_options o;
  o.learn_iterations = false;
  o.initial_size = 2 * MiB;  // exactly keep + p
  o.maximum_size = 3 * MiB;  // room for one more megabyte, then nothing
  pool_resource pool(device, o);
  cuda_stream a, b;
  void* keep = pool.allocate(MiB, 256, a);
  void* p = pool.allocate(MiB, 256, a);
  stream_gate gate(a);              // A's work before the free is still running ...
  pool.deallocate(p, MiB, 256, a);  // ... when p is freed on A (an event is recorded on A now)
  void* q = pool.allocate(MiB, 256, b);
  EXPECT_NE(q, p) << "B must not get memory A may still be using; the pool grows instead";
  gate.release();
  a.synchronize();
  // B has no other free memory and the pool is at its maximum: p, once A's event completed.
  void* r = pool.allocate(MiB, 256, b);
  EXPECT_EQ(r, p);
  pool.deallocate(r, MiB, 256, b);
  pool.deallocate(q, MiB, 256, b);
  pool.deallocate(keep, MiB, 256, a);
}

TEST_F(pool_gpu, blocks_written_by_kernels_do_not_overlap) {
  device_resource device;
  pool_resource pool(device);
  for (int it = 0; it < 3; ++it) {
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
