// host_access: which calls the guard makes on entry and exit for each profile and attachment
// (recording_calls), then its scope on the GPU.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/movement/host_access.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/movement/prefetch.hpp>

#include "support/gpu_test.hpp"
#include "support/jetson_like.hpp"
#include "support/movement_kernels.hpp"
#include "support/recording_calls.hpp"

namespace unimem::test {
namespace {

using strings = std::vector<std::string>;

alignas(256) char managed_stand_in[4096];
void* const p = managed_stand_in;
const stream_view s1 = recording_calls::fake_stream(1);
const stream_view s2 = recording_calls::fake_stream(2);
const stream_view s3 = recording_calls::fake_stream(3);

struct scope_calls {
  strings entry;
  strings exit;
};

scope_calls run_scope(const device_profile& prof, const std::vector<stream_view>& streams, attachment current,
                      std::size_t bytes = 4096) {
  recording_calls calls;
  calls.name_pointer(p, "p");
  scope_calls out;
  {
    host_access guard(p, bytes, streams, current, prof, calls);
    out.entry = calls.take();
  }
  out.exit = calls.take();
  return out;
}

std::vector<device_profile> jetsons_before_thor() {
  std::vector<device_profile> out;
  for (auto& prof : device_profile::simulated_profiles()) {
    if (!prof.concurrent_managed_access) out.push_back(prof);
  }
  return out;
}

TEST(host_access_policy, every_jetson_before_thor_lacks_concurrent_access_and_is_covered) {
  EXPECT_EQ(jetsons_before_thor().size(), 6u);  // Nano, TX2, Xavier, Orin AGX / NX / Nano
}

TEST(host_access_policy, no_concurrent_access_global_with_streams_syncs_them_and_attaches_to_host_for_the_scope) {
  for (const auto& prof : jetsons_before_thor()) {
    const scope_calls c = run_scope(prof, {s1, s2}, attachment::global());
    EXPECT_EQ(c.entry, (strings{"sync(s2)", "attach(s1, p, host)", "sync(s1)"})) << prof.name;
    EXPECT_EQ(c.exit, (strings{"attach(s1, p, global)"})) << prof.name;
  }
}

TEST(host_access_policy, no_concurrent_access_global_without_streams_is_the_classic_device_synchronize_plus_attach) {
  for (const auto& prof : jetsons_before_thor()) {
    const scope_calls c = run_scope(prof, {}, attachment::global());
    EXPECT_EQ(c.entry, (strings{"device_sync()", "attach(s0, p, host)", "sync(s0)"})) << prof.name;
    EXPECT_EQ(c.exit, (strings{"attach(s0, p, global)"})) << prof.name;
  }
}

TEST(host_access_policy, no_concurrent_access_single_waits_only_for_its_stream_and_gives_it_back) {
  for (const auto& prof : jetsons_before_thor()) {
    // The listed streams are irrelevant: only s3 may use singly attached memory.
    const scope_calls c = run_scope(prof, {s1, s2}, attachment::single(s3));
    EXPECT_EQ(c.entry, (strings{"attach(s3, p, host)", "sync(s3)"})) << prof.name;
    EXPECT_EQ(c.exit, (strings{"attach(s3, p, single)"})) << prof.name;
  }
}

TEST(host_access_policy, no_concurrent_access_host_attached_needs_nothing) {
  for (const auto& prof : jetsons_before_thor()) {
    const scope_calls c = run_scope(prof, {s1}, attachment::host());
    EXPECT_TRUE(c.entry.empty()) << prof.name;
    EXPECT_TRUE(c.exit.empty()) << prof.name;
  }
}

TEST(host_access_policy, discrete_gpu_prefetches_to_the_cpu_after_the_other_streams) {
  const auto h100 = device_profile::discrete_h100();
  scope_calls c = run_scope(h100, {s1, s2}, attachment::global());
  EXPECT_EQ(c.entry, (strings{"sync(s2)", "prefetch(p, 4096, host, s1)", "sync(s1)"}));
  EXPECT_TRUE(c.exit.empty());
  c = run_scope(h100, {}, attachment::global());
  EXPECT_EQ(c.entry, (strings{"device_sync()", "prefetch(p, 4096, host, s0)", "sync(s0)"}));
  // A singly attached allocation's stream stands in for the missing list.
  c = run_scope(h100, {}, attachment::single(s3));
  EXPECT_EQ(c.entry, (strings{"prefetch(p, 4096, host, s3)", "sync(s3)"}));
  EXPECT_TRUE(c.exit.empty());
}

TEST(host_access_policy, thor_only_synchronizes_because_its_pages_are_already_in_the_one_dram) {
  const auto thor = device_profile::jetson_thor();
  scope_calls c = run_scope(thor, {s1, s2}, attachment::global());
  EXPECT_EQ(c.entry, (strings{"sync(s2)", "sync(s1)"}));
  EXPECT_TRUE(c.exit.empty());
  c = run_scope(thor, {}, attachment::global());
  EXPECT_EQ(c.entry, (strings{"device_sync()"}));
  c = run_scope(thor, {}, attachment::host());
  EXPECT_EQ(c.entry, (strings{"device_sync()"})) << "with concurrent access a host attachment proves nothing";
}

TEST(host_access_policy, empty_scope_and_bad_arguments) {
  for (const auto& prof : device_profile::simulated_profiles()) {
    const scope_calls c = run_scope(prof, {s1}, attachment::global(), 0);
    EXPECT_TRUE(c.entry.empty() && c.exit.empty()) << prof.name;
  }
  recording_calls calls;
  const auto nano = device_profile::jetson_nano();
  try {
    host_access g(nullptr, 64, {}, attachment::global(), nano, calls);
    FAIL() << "null accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unimem::host_access(nullptr, 64 B)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(host_access(p, 64, {}, attachment::single({}), nano, calls), std::invalid_argument);
  device_profile no_managed = nano;
  no_managed.managed_memory = false;
  EXPECT_THROW(host_access(p, 64, {}, attachment::global(), no_managed, calls), unsupported_error);
  EXPECT_TRUE(calls.calls().empty());
}

TEST(host_access_policy, close_restores_once_and_reports_errors_the_destructor_swallows) {
  const auto orin = device_profile::jetson_agx_orin();
  recording_calls calls;
  calls.name_pointer(p, "p");
  {
    host_access g(p, 64, {s1}, attachment::global(), orin, calls);
    EXPECT_TRUE(g.attached_to_host());
    EXPECT_EQ(g.data(), p);
    EXPECT_EQ(g.size(), 64u);
    calls.take();
    g.close();
    EXPECT_FALSE(g.attached_to_host());
    g.close();
    EXPECT_EQ(calls.take(), (strings{"attach(s1, p, global)"}));
  }
  EXPECT_TRUE(calls.calls().empty()) << "the destructor must not restore twice";

  calls.fail_prefix = "attach(s1, p, global)";
  {
    host_access g(p, 64, {s1}, attachment::global(), orin, calls);
    EXPECT_THROW(g.close(), cuda_error);
  }
  EXPECT_NO_THROW({ host_access g(p, 64, {s1}, attachment::global(), orin, calls); });
}

TEST(host_access_policy, a_failed_synchronization_leaves_nothing_to_restore) {
  recording_calls calls;
  calls.fail_prefix = "sync(s1)";  // e.g. an earlier kernel faulted
  EXPECT_THROW(host_access(p, 64, {s1}, attachment::global(), device_profile::jetson_tx2(), calls), cuda_error);
  // The constructor threw, so no destructor runs: the host attachment stays, which is the safe
  // state after a failed kernel (no further kernel may use the memory until it is attached again).
  EXPECT_EQ(calls.count("attach(s1"), 1u);
}

// ---- On the GPU ------------------------------------------------------------------------------

class host_access_gpu : public gpu_test {
 protected:
  static constexpr std::size_t bytes = 4u << 20;
  static std::vector<device_profile> profiles() { return real_and_jetson_like_profiles(); }
  static std::size_t count_not(const std::uint8_t* a, std::size_t n, std::uint8_t v) {
    return static_cast<std::size_t>(std::count_if(a, a + n, [v](std::uint8_t x) { return x != v; }));
  }
};

TEST_F(host_access_gpu, the_scope_waits_for_a_kernel_still_writing_on_a_listed_stream) {
  for (const device_profile& prof : profiles()) {
    managed_resource mr(managed_attach::global, prof);
    cuda_stream producer, other;
    auto* a = static_cast<std::uint8_t*>(mr.allocate(bytes));
    std::memset(a, 0, bytes);
    // 50 ms of spinning before the write: without the guard's wait the host would read zeros.
    launch_slow_fill(a, bytes, 0x77, 50'000, producer);
    {
      host_access guard(a, bytes, {other.view(), producer.view()}, attachment::global(), prof);
      EXPECT_EQ(count_not(a, bytes, 0x77), 0u) << prof.name;
      std::memset(a, 0x11, bytes);  // the CPU writes inside the scope too
    }
    // After the scope the allocation is usable by kernels again and holds the CPU's writes.
    launch_add(a, a, bytes, 1, producer);
    {
      host_access guard(a, bytes, {producer.view()}, attachment::global(), prof);
      EXPECT_EQ(count_not(a, bytes, 0x12), 0u) << prof.name;
    }
    mr.deallocate(a, bytes);
  }
}

TEST_F(host_access_gpu, without_streams_it_waits_for_the_whole_device) {
  for (const device_profile& prof : profiles()) {
    managed_resource mr(managed_attach::global, prof);
    cuda_stream producer;
    auto* a = static_cast<std::uint8_t*>(mr.allocate(bytes));
    std::memset(a, 0, bytes);
    launch_slow_fill(a, bytes, 0x5a, 50'000, producer);
    {
      host_access guard(a, bytes, {}, attachment::global(), prof);
      EXPECT_EQ(count_not(a, bytes, 0x5a), 0u) << prof.name;
    }
    mr.deallocate(a, bytes);
  }
}

TEST_F(host_access_gpu, singly_attached_memory_is_handed_to_the_host_and_back_to_its_stream) {
  for (const device_profile& prof : profiles()) {
    managed_resource mr(managed_attach::host, prof);
    cuda_stream owner;
    auto* a = static_cast<std::uint8_t*>(mr.allocate(bytes));
    std::memset(a, 1, bytes);
    attach(a, attach_mode::single, owner, prof);
    launch_slow_fill(a, bytes, 0x33, 20'000, owner);
    {
      host_access guard(a, bytes, {}, attachment::single(owner), prof);
      EXPECT_EQ(count_not(a, bytes, 0x33), 0u) << prof.name;
      a[0] = 0x34;
    }
    launch_add(a, a, bytes, 1, owner);  // only legal on `owner` if the guard gave it back
    owner.synchronize();
    EXPECT_EQ(a[0], 0x35) << prof.name;
    EXPECT_EQ(count_not(a + 1, bytes - 1, 0x34), 0u) << prof.name;
    mr.deallocate(a, bytes);
  }
}

}  // namespace
}  // namespace unimem::test
