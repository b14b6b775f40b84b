// The PyTorch allocator's own logic (integrations/torch_allocator), on simulated devices: its
// settings and their errors, one pool per device with the device made current around each call
// and restored after, the budget, frees after process exit began or while CUDA shuts down, and
// many threads on several devices. PyTorch itself is exercised by python/tests on a GPU.
#include <gtest/gtest.h>

#if defined(UNIMEM_TEST_TORCH_ALLOCATOR)

#include <atomic>
#include <cstdio>
#include <fstream>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/trace.hpp>

#include "config.hpp"
#include "device_pools.hpp"

namespace unimem::test {
namespace {

using torch_allocator::config;
using torch_allocator::config_from_environment;
using torch_allocator::device_pools;
using torch_allocator::device_statistics;
using torch_allocator::parse_bytes;
using torch_allocator::set_option;
using torch_allocator::upstream_choice;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

TEST(torch_allocator_config, sizes_take_binary_suffixes_and_refuse_the_rest) {
  EXPECT_EQ(parse_bytes("1048576", "X"), 1048576U);
  EXPECT_EQ(parse_bytes("512MiB", "X"), 512U << 20);
  EXPECT_EQ(parse_bytes("8G", "X"), std::size_t{8} << 30);
  EXPECT_EQ(parse_bytes(" 6 gib ", "X"), std::size_t{6} << 30);
  EXPECT_EQ(parse_bytes("4k", "X"), 4096U);
  EXPECT_EQ(parse_bytes("0", "X"), 0U);
  const std::string ambiguous = message_of([] { parse_bytes("10MB", "UNIMEM_TORCH_BUDGET"); });
  EXPECT_TRUE(contains(ambiguous, "UNIMEM_TORCH_BUDGET")) << ambiguous;
  EXPECT_TRUE(contains(ambiguous, "ambiguous")) << ambiguous;
  EXPECT_TRUE(contains(ambiguous, "GiB")) << ambiguous;  // says what to write instead
  EXPECT_THROW(parse_bytes("12Q", "X"), std::invalid_argument);
  EXPECT_THROW(parse_bytes("", "X"), std::invalid_argument);
  EXPECT_THROW(parse_bytes("-1", "X"), std::invalid_argument);
  EXPECT_THROW(parse_bytes("99999999999999999999", "X"), std::invalid_argument);
  EXPECT_THROW(parse_bytes("99999999T", "X"), std::invalid_argument);  // overflows once shifted
}

TEST(torch_allocator_config, every_option_is_set_by_keyword_or_variable) {
  config c;
  EXPECT_EQ(c.upstream, upstream_choice::policy);
  EXPECT_EQ(c.budget_bytes, 0U);
  set_option(c, "upstream", "managed");
  EXPECT_EQ(c.upstream, upstream_choice::managed);
  set_option(c, "UNIMEM_TORCH_UPSTREAM", "Device");
  EXPECT_EQ(c.upstream, upstream_choice::device);
  set_option(c, "budget", "2GiB");
  EXPECT_EQ(c.budget_bytes, std::size_t{2} << 30);
  set_option(c, "initial_size", "64M");
  set_option(c, "growth_step", "8M");
  set_option(c, "fit", "best_fit");
  set_option(c, "learn_iterations", "off");
  set_option(c, "max_learned_calls", "1000");
  set_option(c, "checked", "yes");
  set_option(c, "verbose", "1");
  const pool_options o = c.pool();
  EXPECT_EQ(o.initial_size, 64U << 20);
  EXPECT_EQ(o.growth_step, 8U << 20);
  EXPECT_EQ(o.fit, fit_strategy::ordered_best_fit);
  EXPECT_FALSE(o.learn_iterations);
  EXPECT_EQ(o.max_learned_calls, 1000U);
  EXPECT_TRUE(o.checked);
  EXPECT_TRUE(o.thread_safe);  // always: PyTorch allocates from several threads
  EXPECT_TRUE(c.verbose);
  set_option(c, "budget", "");  // empty: back to the default
  EXPECT_EQ(c.budget_bytes, 0U);
  const std::string json = torch_allocator::to_json(c);
  EXPECT_TRUE(contains(json, "\"upstream\": \"device\"")) << json;
  EXPECT_TRUE(contains(json, "\"fit\": \"best_fit\"")) << json;
}

TEST(torch_allocator_config, bad_values_name_the_variable_the_value_and_what_it_takes) {
  config c;
  const std::string upstream = message_of([&] { set_option(c, "upstream", "gpu"); });
  EXPECT_TRUE(contains(upstream, "UNIMEM_TORCH_UPSTREAM")) << upstream;
  EXPECT_TRUE(contains(upstream, "'gpu'")) << upstream;
  EXPECT_TRUE(contains(upstream, "device, managed or policy")) << upstream;
  const std::string flag = message_of([&] { set_option(c, "checked", "maybe"); });
  EXPECT_TRUE(contains(flag, "UNIMEM_TORCH_CHECKED")) << flag;
  const std::string count = message_of([&] { set_option(c, "max_learned_calls", "1e6"); });
  EXPECT_TRUE(contains(count, "whole number")) << count;
  const std::string unknown = message_of([&] { set_option(c, "bugdet", "1G"); });
  EXPECT_TRUE(contains(unknown, "'bugdet'")) << unknown;
  EXPECT_TRUE(contains(unknown, "budget")) << unknown;  // lists the real ones
  set_option(c, "budget", "1M");
  const std::string too_big = message_of([&] { set_option(c, "initial_size", "2M"); });
  EXPECT_TRUE(contains(too_big, "exceeds UNIMEM_TORCH_BUDGET")) << too_big;
}

TEST(torch_allocator_config, the_environment_applies_and_a_misspelt_variable_is_an_error) {
  const config c = config_from_environment({{"PATH", "/usr/bin"},
                                            {"UNIMEM_TORCH_BUDGET", "3G"},
                                            {"UNIMEM_TORCH_FIT", "tlsf"},
                                            {"UNIMEM_TORCH_LIBRARY", "/opt/unimem/lib/libunimem_torch.so"},
                                            {"UNIMEM_TORCH_VERBOSE", ""}});
  EXPECT_EQ(c.budget_bytes, std::size_t{3} << 30);
  EXPECT_EQ(c.fit, fit_strategy::tlsf);
  EXPECT_FALSE(c.verbose);
  const std::string typo = message_of([] { config_from_environment({{"UNIMEM_TORCH_BUGDET", "3G"}}); });
  EXPECT_TRUE(contains(typo, "UNIMEM_TORCH_BUGDET=3G")) << typo;
  EXPECT_TRUE(contains(typo, "UNIMEM_TORCH_BUDGET")) << typo;
  EXPECT_TRUE(contains(typo, "docs/pytorch.md")) << typo;
  EXPECT_THROW(config_from_environment({{"UNIMEM_TORCH_BUDGET", "lots"}}), std::invalid_argument);
}

/// Simulated devices: the current device is per thread (as CUDA's is), upstreams are host memory
/// that records which device was current at each allocation.
class fake_devices final : public torch_allocator::device_ops {
 public:
  struct shared_state {
    std::mutex mutex;
    std::vector<std::pair<int, int>> upstream_calls;  // (pool's device, device current then)
    int pools_made = 0;
    std::atomic<int> fail_set_device{0};  // 1: a shutdown error, 2: another error
  };

  explicit fake_devices(std::shared_ptr<shared_state> state) : state_(std::move(state)) {}

  static int& current() {
    thread_local int device = 0;
    return device;
  }
  int current_device() override { return current(); }
  void set_device(int device) override {
    const int f = state_->fail_set_device.load();
    if (f == 1) throw shutdown_error();
    if (f == 2) throw std::runtime_error("cudaSetDevice: an unexpected failure");
    current() = device;
  }
  std::unique_ptr<memory_resource> make_upstream(int device, std::string& note) override {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->pools_made;
    note = "simulated";
    return std::make_unique<device_checking_upstream>(device, state_);
  }
  bool shutting_down(const std::exception& e) const noexcept override {
    return dynamic_cast<const shutdown_error*>(&e) != nullptr;
  }

 private:
  struct shutdown_error : std::runtime_error {
    shutdown_error() : std::runtime_error("cudaErrorCudartUnloading (simulated)") {}
  };

  class device_checking_upstream final : public memory_resource {
   public:
    device_checking_upstream(int device, std::shared_ptr<shared_state> state)
        : device_(device), state_(std::move(state)) {}

   private:
    void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override {
      {
        const std::lock_guard<std::mutex> lock(state_->mutex);
        state_->upstream_calls.emplace_back(device_, current());
      }
      return host_.allocate(bytes, alignment, stream);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, stream_view stream) override {
      host_.deallocate(p, bytes, alignment, stream);
    }
    resource_traits do_traits() const noexcept override { return host_.traits(); }
    std::string_view do_name() const noexcept override { return "fake device upstream"; }

    int device_;
    std::shared_ptr<shared_state> state_;
    host_resource host_;
  };

  std::shared_ptr<shared_state> state_;
};

struct pools_under_test {
  std::shared_ptr<fake_devices::shared_state> state = std::make_shared<fake_devices::shared_state>();
  device_pools pools;
  explicit pools_under_test(config c = {})
      : pools(std::move(c), std::make_unique<fake_devices>(state), "PyTorch's allocator") {
    fake_devices::current() = 0;
  }
};

TEST(torch_allocator_pools, each_device_gets_its_own_pool_made_while_that_device_is_current) {
  pools_under_test t;
  EXPECT_EQ(t.pools.allocate(0, 1, {}), nullptr);  // nothing for zero bytes, and no pool made
  EXPECT_EQ(t.state->pools_made, 0);
  void* a = t.pools.allocate(1000, 1, {});
  void* b = t.pools.allocate(3000, 2, {});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(fake_devices::current(), 0) << "the caller's device must be restored";
  EXPECT_EQ(t.state->pools_made, 2);
  for (const auto& [pool_device, current] : t.state->upstream_calls) {
    EXPECT_EQ(pool_device, current) << "upstream of device " << pool_device << " ran with device " << current;
  }
  device_statistics s;
  EXPECT_FALSE(t.pools.statistics(0, s));
  ASSERT_TRUE(t.pools.statistics(1, s));
  EXPECT_EQ(s.requested_bytes, 1000U);
  EXPECT_EQ(s.allocations, 1U);
  EXPECT_GE(s.pool.reserved_bytes, 1000U);
  EXPECT_EQ(s.budget_limit, 0U);
  fake_devices::current() = 2;  // PyTorch frees with whatever device is current
  t.pools.deallocate(a, 1000, 1, {});
  EXPECT_EQ(fake_devices::current(), 2);
  ASSERT_TRUE(t.pools.statistics(1, s));
  EXPECT_EQ(s.requested_bytes, 0U);
  EXPECT_EQ(s.peak_requested_bytes, 1000U);
  EXPECT_EQ(s.deallocations, 1U);
  EXPECT_EQ(s.pool.live_count, 0U);
  t.pools.deallocate(b, 3000, 2, {});
  EXPECT_GT(t.pools.release(-1), 0U);
  ASSERT_TRUE(t.pools.statistics(2, s));
  EXPECT_EQ(s.pool.reserved_bytes, 0U);
}

TEST(torch_allocator_pools, device_ordinals_out_of_range_are_refused_and_frees_of_them_ignored) {
  pools_under_test t;
  EXPECT_THROW((void)t.pools.allocate(64, -1, {}), std::invalid_argument);
  EXPECT_THROW((void)t.pools.allocate(64, device_pools::max_devices, {}), std::invalid_argument);
  int foreign = 0;
  t.pools.deallocate(&foreign, 4, 3, {});   // no pool on device 3: reported, not thrown
  t.pools.deallocate(&foreign, 4, 999, {});
  device_statistics s;
  EXPECT_THROW((void)t.pools.statistics(999, s), std::invalid_argument);
}

TEST(torch_allocator_pools, the_budget_refuses_with_a_message_that_names_it_and_the_pool_stays_usable) {
  config c;
  c.budget_bytes = 1 << 20;
  pools_under_test t(c);
  void* small = t.pools.allocate(100'000, 0, {});
  const std::string what = message_of([&] { (void)t.pools.allocate(4 << 20, 0, {}); });
  EXPECT_TRUE(contains(what, "UNIMEM_TORCH_BUDGET")) << what;
  EXPECT_TRUE(contains(what, "device 0")) << what;
  EXPECT_TRUE(contains(what, "PyTorch's allocator")) << what;
  EXPECT_THROW((void)t.pools.allocate(4 << 20, 0, {}), out_of_memory);
  device_statistics s;
  ASSERT_TRUE(t.pools.statistics(0, s));
  EXPECT_EQ(s.failed_allocations, 2U);
  EXPECT_EQ(s.budget_limit, 1U << 20);
  EXPECT_LE(s.budget_peak, 1U << 20);
  void* again = t.pools.allocate(200'000, 0, {});  // still serving
  EXPECT_NE(again, nullptr);
  t.pools.deallocate(small, 100'000, 0, {});
  t.pools.deallocate(again, 200'000, 0, {});
}

TEST(torch_allocator_pools, after_exit_began_frees_do_nothing) {
  pools_under_test t;
  void* p = t.pools.allocate(4096, 0, {});
  t.pools.begin_exit();
  t.pools.deallocate(p, 4096, 0, {});
  device_statistics s;
  ASSERT_TRUE(t.pools.statistics(0, s));
  EXPECT_EQ(s.pool.live_count, 1U);  // left for the process's end to reclaim
  EXPECT_EQ(t.pools.frees_skipped_at_exit(), 1U);
  // The test's pools are destroyed now and report the allocation as a leak on stderr: the
  // library's own pools are never destroyed, so they never report.
}

TEST(torch_allocator_config, the_trace_path_is_checked_and_each_device_gets_its_own_file) {
  config c;
  EXPECT_EQ(torch_allocator::trace_path_for(c, 0), "");
  set_option(c, "UNIMEM_TORCH_TRACE", "/tmp/run/step.csv.gz");
  EXPECT_EQ(torch_allocator::trace_path_for(c, 0), "/tmp/run/step.csv.gz");
  EXPECT_EQ(torch_allocator::trace_path_for(c, 3), "/tmp/run/step.dev3.csv.gz");
  set_option(c, "trace", "/tmp/a.b/.hidden");
  EXPECT_EQ(torch_allocator::trace_path_for(c, 1), "/tmp/a.b/.hidden.dev1");
  set_option(c, "trace", "say\"hi\"");
  EXPECT_TRUE(contains(torch_allocator::to_json(c), R"("trace": "say\"hi\"")")) << torch_allocator::to_json(c);
  const std::string what = message_of([&] { set_option(c, "trace", std::string("a\nb")); });
  EXPECT_TRUE(contains(what, "UNIMEM_TORCH_TRACE")) << what;
  EXPECT_TRUE(contains(what, "control byte")) << what;
  EXPECT_EQ(c.trace, "say\"hi\"");  // a refused value changes nothing
  set_option(c, "trace", "");
  EXPECT_TRUE(c.trace.empty());
  EXPECT_TRUE(contains(torch_allocator::to_json(c), "\"trace\": null"));
}

TEST(torch_allocator_pools, a_trace_records_every_call_and_replays) {
  const std::string dir = ::testing::TempDir();
  config c;
  c.trace = dir + "unimem_torch_trace_test.csv";
  std::remove(c.trace.c_str());
  std::remove(torch_allocator::trace_path_for(c, 1).c_str());
  {
    pools_under_test t(c);
    void* a = t.pools.allocate(1000, 0, {});
    void* b = t.pools.allocate(3000, 1, {});
    void* d = t.pools.allocate(500, 0, {});
    t.pools.deallocate(a, 1000, 0, {});
    t.pools.deallocate(d, 500, 0, {});
    t.pools.begin_exit();  // closes the traces, as the library's atexit handler does
    t.pools.deallocate(b, 3000, 1, {});
    // Calls after exit began are still served (untraced), on a device with a pool and on a new one.
    void* late = t.pools.allocate(64, 0, {});
    EXPECT_NE(late, nullptr);
    void* fresh = t.pools.allocate(64, 5, {});
    EXPECT_NE(fresh, nullptr);
  }
  std::ifstream none(torch_allocator::trace_path_for(c, 5));
  EXPECT_FALSE(none) << "a pool made after exit began opens no trace";
  std::ifstream in0(c.trace);
  ASSERT_TRUE(in0) << c.trace;
  const alloc_trace t0 = read_trace(in0, c.trace);
  ASSERT_EQ(t0.ops.size(), 4U);
  EXPECT_EQ(t0.ops[0].bytes, 1000U);
  EXPECT_EQ(t0.ops[1].bytes, 500U);
  EXPECT_FALSE(t0.ops[2].is_alloc);
  std::ifstream in1(torch_allocator::trace_path_for(c, 1));
  const alloc_trace t1 = read_trace(in1, "device 1");
  ASSERT_EQ(t1.ops.size(), 1U);  // its free came after exit began: skipped, not written
  EXPECT_EQ(t1.ops[0].bytes, 3000U);
  std::remove(c.trace.c_str());
  std::remove(torch_allocator::trace_path_for(c, 1).c_str());
}

TEST(torch_allocator_pools, a_trace_that_cannot_be_created_fails_the_allocation_with_its_path) {
  config c;
  c.trace = "/nonexistent-unimem-dir/trace.csv";
  pools_under_test t(c);
  const std::string what = message_of([&] { (void)t.pools.allocate(64, 0, {}); });
  EXPECT_TRUE(contains(what, "UNIMEM_TORCH_TRACE")) << what;
  EXPECT_TRUE(contains(what, "/nonexistent-unimem-dir/trace.csv")) << what;
}

TEST(torch_allocator_pools, a_free_that_fails_while_cuda_shuts_down_is_skipped_and_others_are_counted) {
  pools_under_test t;
  void* a = t.pools.allocate(4096, 1, {});
  void* b = t.pools.allocate(4096, 1, {});
  t.state->fail_set_device = 1;  // cudaErrorCudartUnloading while switching to device 1
  t.pools.deallocate(a, 4096, 1, {});
  EXPECT_EQ(t.pools.frees_skipped_at_exit(), 1U);
  t.state->fail_set_device = 2;  // anything else: counted, reported, never thrown
  t.pools.deallocate(b, 4096, 1, {});
  device_statistics s;
  ASSERT_TRUE(t.pools.statistics(1, s));
  EXPECT_EQ(s.failed_deallocations, 1U);
  EXPECT_EQ(s.pool.live_count, 2U);
  t.state->fail_set_device = 0;
  t.pools.deallocate(a, 4096, 1, {});
  t.pools.deallocate(b, 4096, 1, {});
  ASSERT_TRUE(t.pools.statistics(1, s));
  EXPECT_EQ(s.pool.live_count, 0U);
}

TEST(torch_allocator_pools, many_threads_on_several_devices_keep_their_own_current_device) {
  pools_under_test t;
  constexpr int threads = 4;
  constexpr int devices = 3;
  constexpr int rounds = 400;
  std::atomic<int> wrong_device{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      fake_devices::current() = w % devices;
      std::vector<std::pair<void*, std::pair<std::size_t, int>>> held;
      for (int i = 0; i < rounds; ++i) {
        const int device = (w + i) % devices;
        const std::size_t bytes = 256 + static_cast<std::size_t>((i * 7919 + w) % 50'000);
        held.push_back({t.pools.allocate(bytes, device, {}), {bytes, device}});
        if (fake_devices::current() != w % devices) wrong_device.fetch_add(1);
        if (i % 3 == 2) {  // free out of order, from another device
          auto [p, what] = held[held.size() / 2];
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(held.size() / 2));
          t.pools.deallocate(p, what.first, what.second, {});
        }
      }
      for (auto& [p, what] : held) t.pools.deallocate(p, what.first, what.second, {});
    });
  }
  for (auto& th : workers) th.join();
  EXPECT_EQ(wrong_device.load(), 0);
  EXPECT_EQ(t.state->pools_made, devices);
  std::size_t allocations = 0;
  for (int d = 0; d < devices; ++d) {
    device_statistics s;
    ASSERT_TRUE(t.pools.statistics(d, s));
    EXPECT_EQ(s.requested_bytes, 0U) << d;
    EXPECT_EQ(s.pool.live_count, 0U) << d;
    EXPECT_EQ(s.allocations, s.deallocations) << d;
    allocations += s.allocations;
  }
  EXPECT_EQ(allocations, static_cast<std::size_t>(threads * rounds));
  for (const auto& [pool_device, current] : t.state->upstream_calls) EXPECT_EQ(pool_device, current);
}

}  // namespace
}  // namespace unimem::test

#else

TEST(torch_allocator, built) {
  GTEST_SKIP() << "integrations/torch_allocator is not built (UNIMEM_BUILD_TORCH_ALLOCATOR=OFF)";
}

#endif
