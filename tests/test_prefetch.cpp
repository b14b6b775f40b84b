// prefetch / attach / advise: the decision on every simulated profile (which CUDA calls are made,
// via recording_calls), then the real calls on the GPU.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/movement/prefetch.hpp>
#include <unimem/stream.hpp>

#include "support/gpu_test.hpp"
#include "support/jetson_like.hpp"
#include "support/movement_kernels.hpp"
#include "support/recording_calls.hpp"

namespace unimem::test {
namespace {

using strings = std::vector<std::string>;

alignas(256) char managed_stand_in[4096];  // recording_calls never dereferences it
void* const p = managed_stand_in;

std::string where(const device_profile& prof) { return prof.name; }

TEST(prefetch_policy, only_thor_and_the_discrete_gpu_really_prefetch) {
  // The constants behind the decision, stated once: a change of a profile shows up here.
  EXPECT_FALSE(device_profile::jetson_nano().concurrent_managed_access);
  EXPECT_FALSE(device_profile::jetson_tx2().concurrent_managed_access);
  EXPECT_FALSE(device_profile::jetson_agx_xavier().concurrent_managed_access);
  EXPECT_FALSE(device_profile::jetson_agx_orin().concurrent_managed_access);
  EXPECT_FALSE(device_profile::jetson_orin_nx().concurrent_managed_access);
  EXPECT_FALSE(device_profile::jetson_orin_nano().concurrent_managed_access);
  EXPECT_TRUE(device_profile::jetson_thor().concurrent_managed_access);
  EXPECT_TRUE(device_profile::discrete_h100().concurrent_managed_access);
}

TEST(prefetch_policy, device_target_prefetches_or_attaches_globally_never_fails) {
  const stream_view s1 = recording_calls::fake_stream(1);
  for (const device_profile& prof : device_profile::simulated_profiles()) {
    recording_calls calls;
    calls.name_pointer(p, "p");
    prefetch_result r;
    ASSERT_NO_THROW(r = prefetch(p, 4096, location::on_device(0), s1, prof, calls)) << where(prof);
    if (prof.concurrent_managed_access) {
      EXPECT_EQ(r.action, prefetch_action::prefetched) << where(prof);
      EXPECT_EQ(calls.calls(), (strings{"prefetch(p, 4096, device 0, s1)"})) << where(prof);
    } else {
      EXPECT_EQ(r.action, prefetch_action::attached) << where(prof);
      EXPECT_EQ(calls.calls(), (strings{"attach(s1, p, global)"})) << where(prof);
      EXPECT_NE(std::string(r.reason).find("concurrentManagedAccess = 0"), std::string::npos) << r.reason;
    }
  }
}

TEST(prefetch_policy, host_target_prefetches_or_attaches_to_host_and_synchronizes) {
  const stream_view s2 = recording_calls::fake_stream(2);
  for (const device_profile& prof : device_profile::simulated_profiles()) {
    recording_calls calls;
    calls.name_pointer(p, "p");
    const prefetch_result r = prefetch(p, 100, location::host(), s2, prof, calls);
    if (prof.concurrent_managed_access) {
      EXPECT_EQ(r.action, prefetch_action::prefetched) << where(prof);
      EXPECT_EQ(calls.calls(), (strings{"prefetch(p, 100, host, s2)"})) << where(prof);
    } else {
      EXPECT_EQ(r.action, prefetch_action::attached_and_synchronized) << where(prof);
      EXPECT_EQ(calls.calls(), (strings{"attach(s2, p, host)", "sync(s2)"})) << where(prof);
    }
  }
}

TEST(prefetch_policy, plan_matches_what_prefetch_does) {
  for (const device_profile& prof : device_profile::simulated_profiles()) {
    for (location to : {location::host(), location::on_device(0)}) {
      recording_calls calls;
      EXPECT_EQ(plan_prefetch(prof, 64, to).action, prefetch(p, 64, to, {}, prof, calls).action) << where(prof);
    }
  }
}

TEST(prefetch_policy, zero_bytes_does_nothing_and_null_is_refused) {
  recording_calls calls;
  const auto nano = device_profile::jetson_nano();
  EXPECT_EQ(prefetch(p, 0, location::host(), {}, nano, calls).action, prefetch_action::none);
  EXPECT_EQ(prefetch(nullptr, 0, location::host(), {}, nano, calls).action, prefetch_action::none);
  EXPECT_TRUE(calls.calls().empty());
  try {
    (void)prefetch(nullptr, 64, location::on_device(0), {}, nano, calls);
    FAIL() << "null pointer accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unimem::prefetch(nullptr, 64 B, device 0)"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(calls.calls().empty());
}

TEST(prefetch_policy, a_device_without_managed_memory_is_refused_with_the_alternative) {
  device_profile prof = device_profile::jetson_orin_nano();
  prof.managed_memory = false;
  recording_calls calls;
  try {
    (void)prefetch(p, 64, location::on_device(0), {}, prof, calls);
    FAIL() << "accepted";
  } catch (const unsupported_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("managedMemory = 0"), std::string::npos) << what;
    EXPECT_NE(what.find("pinned_resource"), std::string::npos) << what;
  }
  EXPECT_THROW(attach(p, attach_mode::host, {}, prof, calls), unsupported_error);
  EXPECT_TRUE(calls.calls().empty());
}

TEST(attach_policy, forwards_every_mode_and_refuses_single_on_the_default_stream) {
  recording_calls calls;
  calls.name_pointer(p, "p");
  const auto orin = device_profile::jetson_agx_orin();
  const stream_view s3 = recording_calls::fake_stream(3);
  attach(p, attach_mode::single, s3, orin, calls);
  attach(p, attach_mode::host, s3, orin, calls);
  attach(p, attach_mode::global, {}, orin, calls);
  EXPECT_EQ(calls.take(), (strings{"attach(s3, p, single)", "attach(s3, p, host)", "attach(s0, p, global)"}));
  try {
    attach(p, attach_mode::single, {}, orin, calls);
    FAIL() << "single on the default stream accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("default stream"), std::string::npos) << e.what();
  }
  EXPECT_THROW(attach(p, attach_mode::single, stream_view::per_thread(), orin, calls), std::invalid_argument);
  EXPECT_THROW(attach(nullptr, attach_mode::host, s3, orin, calls), std::invalid_argument);
  EXPECT_TRUE(calls.calls().empty());
}

TEST(attach_policy, a_failing_call_surfaces_as_cuda_error) {
  recording_calls calls;
  calls.fail_prefix = "attach";
  EXPECT_THROW(attach(p, attach_mode::host, recording_calls::fake_stream(1), device_profile::jetson_nano(), calls),
               cuda_error);
  EXPECT_THROW((void)prefetch(p, 64, location::host(), {}, device_profile::jetson_nano(), calls), cuda_error);
  // The failed attach is not followed by a synchronization that would hide it.
  EXPECT_EQ(calls.count("sync"), 0u);
}

const mem_advice all_advice[] = {mem_advice::set_read_mostly,        mem_advice::unset_read_mostly,
                                 mem_advice::set_preferred_location, mem_advice::unset_preferred_location,
                                 mem_advice::set_accessed_by,        mem_advice::unset_accessed_by};

bool is_set(mem_advice a) {
  return a == mem_advice::set_read_mostly || a == mem_advice::set_preferred_location ||
         a == mem_advice::set_accessed_by;
}

TEST(advise_policy, issued_where_concurrent_managed_access_else_set_is_refused_and_unset_is_a_no_op) {
  for (const device_profile& prof : device_profile::simulated_profiles()) {
    for (mem_advice a : all_advice) {
      for (location l : {location::host(), location::on_device(0)}) {
        recording_calls calls;
        calls.name_pointer(p, "p");
        const auto refusal = advice_refusal(prof, a, l);
        if (prof.concurrent_managed_access) {
          EXPECT_FALSE(refusal.has_value()) << where(prof) << " " << to_string(a);
          EXPECT_TRUE(advise(p, 4096, a, l, prof, calls));
          EXPECT_EQ(calls.calls(), (strings{"advise(p, 4096, " + std::string(to_string(a)) + ", " + to_string(l) + ")"}));
        } else if (is_set(a)) {
          ASSERT_TRUE(refusal.has_value()) << where(prof) << " " << to_string(a);
          try {
            (void)advise(p, 4096, a, l, prof, calls);
            ADD_FAILURE() << where(prof) << " accepted " << to_string(a);
          } catch (const unsupported_error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("unimem::advise("), std::string::npos) << what;
            EXPECT_NE(what.find("concurrentManagedAccess = 0"), std::string::npos) << what;
            EXPECT_NE(what.find(prof.name), std::string::npos) << what;
            EXPECT_NE(what.find(std::string(to_string(a))), std::string::npos) << what;
            EXPECT_NE(what.find(*refusal), std::string::npos) << what;
          }
          EXPECT_TRUE(calls.calls().empty());
        } else {
          EXPECT_FALSE(refusal.has_value());
          EXPECT_FALSE(advise(p, 4096, a, l, prof, calls)) << "unset is a documented no-op";
          EXPECT_TRUE(calls.calls().empty());
        }
      }
    }
  }
}

TEST(advise_policy, refusal_names_the_reason_for_gpu_and_host_targets) {
  const auto xavier = device_profile::jetson_agx_xavier();
  const auto gpu = advice_refusal(xavier, mem_advice::set_preferred_location, location::on_device(0));
  ASSERT_TRUE(gpu.has_value());
  EXPECT_NE(gpu->find("CUDA accepts a GPU as preferred location only"), std::string::npos) << *gpu;
  const auto rm = advice_refusal(xavier, mem_advice::set_read_mostly, location::host());
  ASSERT_TRUE(rm.has_value());
  EXPECT_NE(rm->find("read duplication"), std::string::npos) << *rm;
  device_profile none = xavier;
  none.managed_memory = false;
  EXPECT_TRUE(advice_refusal(none, mem_advice::unset_read_mostly, location::host()).has_value());
  recording_calls calls;
  EXPECT_THROW((void)advise(nullptr, 64, mem_advice::set_read_mostly, location::host(), device_profile::jetson_thor(), calls),
               std::invalid_argument);
}

// ---- On the GPU ------------------------------------------------------------------------------

/// The legacy attribute reports cudaCpuDeviceId for the host; CUDA 13 also has a location type,
/// which may say "host NUMA node" instead.
bool last_prefetch_was_host(const void* q, std::size_t n) {
  int legacy = -2;
  if (cudaMemRangeGetAttribute(&legacy, sizeof legacy, cudaMemRangeAttributeLastPrefetchLocation, q, n) == cudaSuccess &&
      legacy == cudaCpuDeviceId) {
    return true;
  }
#if CUDART_VERSION >= 13000
  int type = 0;
  if (cudaMemRangeGetAttribute(&type, sizeof type, cudaMemRangeAttributeLastPrefetchLocationType, q, n) == cudaSuccess) {
    return type == cudaMemLocationTypeHost || type == cudaMemLocationTypeHostNuma ||
           type == cudaMemLocationTypeHostNumaCurrent;
  }
#endif
  cudaGetLastError();
  return false;
}

class prefetch_gpu : public gpu_test {
 protected:
  static constexpr std::size_t bytes = 8u << 20;  // 8 MiB: small on purpose (managed memory)
  static std::vector<device_profile> profiles() { return real_and_jetson_like_profiles(); }
};

TEST_F(prefetch_gpu, data_survives_prefetch_to_device_kernel_and_prefetch_back) {
  for (const device_profile& prof : profiles()) {
    managed_resource mr(managed_attach::global, prof);
    cuda_stream stream;
    auto* a = static_cast<std::uint8_t*>(mr.allocate(bytes));
    auto* b = static_cast<std::uint8_t*>(mr.allocate(bytes));
    for (std::size_t i = 0; i < bytes; ++i) a[i] = static_cast<std::uint8_t>(i * 7);
    std::memset(b, 0, bytes);

    (void)prefetch(a, bytes, location::on_device(prof.device), stream, prof);
    (void)prefetch(b, bytes, location::on_device(prof.device), stream, prof);
    launch_add(a, b, bytes, 3, stream);
    const prefetch_result back = prefetch(b, bytes, location::host(), stream, prof);
    if (back.action == prefetch_action::prefetched) stream.synchronize();  // the degraded path already did
    std::size_t bad = 0;
    for (std::size_t i = 0; i < bytes; ++i) bad += b[i] != static_cast<std::uint8_t>(i * 7 + 3);
    EXPECT_EQ(bad, 0u) << prof.name;

    if (prof.concurrent_managed_access) {
      // The runtime agrees that the prefetches happened.
      EXPECT_TRUE(last_prefetch_was_host(b, bytes));
      int last = -2;
      ASSERT_EQ(cudaMemRangeGetAttribute(&last, sizeof last, cudaMemRangeAttributeLastPrefetchLocation, a, bytes),
                cudaSuccess);
      EXPECT_EQ(last, prof.device);
    }
    // After a host prefetch on the degraded path the allocation is attached to the host; give it
    // back to the kernels and use it once more.
    (void)prefetch(b, bytes, location::on_device(prof.device), stream, prof);
    launch_add(b, a, bytes, 1, stream);
    (void)prefetch(a, bytes, location::host(), stream, prof);
    stream.synchronize();
    bad = 0;
    for (std::size_t i = 0; i < bytes; ++i) bad += a[i] != static_cast<std::uint8_t>(i * 7 + 4);
    EXPECT_EQ(bad, 0u) << prof.name;
    mr.deallocate(a, bytes);
    mr.deallocate(b, bytes);
  }
}

TEST_F(prefetch_gpu, attach_single_then_host_keeps_data_correct) {
  for (const device_profile& prof : profiles()) {
    managed_resource mr(managed_attach::host, prof);
    cuda_stream stream;
    auto* a = static_cast<std::uint8_t*>(mr.allocate(bytes));
    std::memset(a, 41, bytes);
    attach(a, attach_mode::single, stream, prof);
    launch_add(a, a, bytes, 1, stream);
    attach(a, attach_mode::host, stream, prof);
    stream.synchronize();
    EXPECT_EQ(std::count(a, a + bytes, std::uint8_t{42}), static_cast<std::ptrdiff_t>(bytes)) << prof.name;
    mr.deallocate(a, bytes);
  }
}

TEST_F(prefetch_gpu, advice_is_accepted_by_the_runtime_where_the_profile_allows_it) {
  const device_profile prof = device_profile::current();
  managed_resource mr(managed_attach::global, prof);
  void* a = mr.allocate(bytes);
  for (mem_advice adv : all_advice) {
    for (location l : {location::host(), location::on_device(prof.device)}) {
      if (advice_refusal(prof, adv, l)) {
        EXPECT_THROW((void)advise(a, bytes, adv, l, prof), unsupported_error);
      } else {
        EXPECT_NO_THROW((void)advise(a, bytes, adv, l, prof)) << to_string(adv) << " " << to_string(l);
      }
    }
  }
  mr.deallocate(a, bytes);
}

TEST_F(prefetch_gpu, prefetch_of_memory_that_is_not_managed_is_a_cuda_error_naming_the_call) {
  const device_profile prof = device_profile::current();
  if (!prof.concurrent_managed_access) GTEST_SKIP() << "the degraded path issues no prefetch";
  if (prof.pageable_memory_access) GTEST_SKIP() << "with HMM, pageable memory may be prefetched too";
  int on_stack[64];
  try {
    (void)prefetch(on_stack, sizeof on_stack, location::on_device(prof.device), {}, prof);
    ADD_FAILURE() << "prefetch of stack memory accepted";
  } catch (const cuda_error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaMemPrefetchAsync("), std::string::npos) << e.what();
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "the error must not leak into the next call";
}

}  // namespace
}  // namespace unimem::test
