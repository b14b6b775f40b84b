// copy: the plan for every pair of memory kinds on every simulated profile, the calls it makes,
// and on the GPU that the data arrives (or, when elided, is readable where it is).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/movement/copy.hpp>
#include <unimem/resources/device_resource.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/resources/mapped_resource.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/resources/registered_resource.hpp>

#include "support/device_kernels.hpp"
#include "support/fake_resource.hpp"
#include "support/gpu_test.hpp"
#include "support/movement_kernels.hpp"
#include "support/recording_calls.hpp"

namespace unimem::test {
namespace {

using strings = std::vector<std::string>;

resource_traits t(memory_kind k) { return fake_resource::traits_of(k); }

copy_method plan(memory_kind src, memory_kind dst, side reader, const device_profile& prof) {
  return plan_copy(t(src), t(dst), reader, prof).method;
}

TEST(copy_policy, uploads_are_elided_on_every_jetson_from_memory_both_sides_address) {
  for (const auto& prof : device_profile::simulated_profiles()) {
    for (memory_kind src : {memory_kind::mapped, memory_kind::managed, memory_kind::registered, memory_kind::pinned}) {
      const copy_method m = plan(src, memory_kind::device, side::device, prof);
      EXPECT_EQ(m, prof.integrated ? copy_method::none : copy_method::async)
          << prof.name << ": " << to_string(src) << " -> device";
    }
  }
}

TEST(copy_policy, pageable_memory_is_never_elided_and_is_reported) {
  for (const auto& prof : device_profile::simulated_profiles()) {
    const copy_plan up = plan_copy(t(memory_kind::host), t(memory_kind::device), side::device, prof);
    EXPECT_EQ(up.method, copy_method::pageable) << prof.name;
    EXPECT_NE(std::string(up.reason).find("pinned_resource"), std::string::npos) << up.reason;
    EXPECT_EQ(plan(memory_kind::device, memory_kind::host, side::host, prof), copy_method::pageable) << prof.name;
    EXPECT_EQ(plan(memory_kind::host, memory_kind::host, side::host, prof), copy_method::host) << prof.name;
  }
}

TEST(copy_policy, device_memory_is_only_ever_reached_by_a_copy) {
  for (const auto& prof : device_profile::simulated_profiles()) {
    EXPECT_EQ(plan(memory_kind::device, memory_kind::pinned, side::host, prof), copy_method::async) << prof.name;
    EXPECT_EQ(plan(memory_kind::device, memory_kind::device, side::device, prof), copy_method::async)
        << prof.name << ": a device-to-device copy is a real copy the caller asked for";
  }
}

TEST(copy_policy, downloads_from_managed_are_elided_on_jetsons_and_copied_on_discrete) {
  for (const auto& prof : device_profile::simulated_profiles()) {
    EXPECT_EQ(plan(memory_kind::managed, memory_kind::pinned, side::host, prof),
              prof.integrated ? copy_method::none : copy_method::async)
        << prof.name;
  }
}

TEST(copy_policy, cpu_reads_of_uncached_pinned_memory_are_not_elided_on_nano_and_tx2) {
  // Pinned/mapped memory is uncached on the CPU below CC 7.2: reading it in place would be 7-12x
  // slower than the copy into cached (managed) memory.
  EXPECT_EQ(plan(memory_kind::pinned, memory_kind::managed, side::host, device_profile::jetson_nano()),
            copy_method::async);
  EXPECT_EQ(plan(memory_kind::mapped, memory_kind::managed, side::host, device_profile::jetson_tx2()),
            copy_method::async);
  EXPECT_EQ(plan(memory_kind::pinned, memory_kind::managed, side::host, device_profile::jetson_agx_xavier()),
            copy_method::none);
}

TEST(copy_policy, same_side_copies_between_shared_kinds_are_real_copies) {
  for (const auto& prof : device_profile::simulated_profiles()) {
    EXPECT_EQ(plan(memory_kind::mapped, memory_kind::mapped, side::device, prof), copy_method::async) << prof.name;
    EXPECT_EQ(plan(memory_kind::managed, memory_kind::managed, side::device, prof), copy_method::async) << prof.name;
  }
}

TEST(copy_policy, a_reader_that_cannot_access_the_destination_is_refused) {
  const auto orin = device_profile::jetson_agx_orin();
  try {
    (void)plan_copy(t(memory_kind::pinned), t(memory_kind::host), side::device, orin);
    FAIL() << "kernels reading pageable memory accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("destination is host memory"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)plan_copy(t(memory_kind::pinned), t(memory_kind::device), side::host, orin), std::invalid_argument);
}

TEST(copy_calls, elided_copy_hands_back_the_source_and_makes_no_call) {
  recording_calls calls;
  std::vector<std::uint8_t> frame(1000, 9);
  const copy_report r = copy(destination{nullptr, t(memory_kind::device), side::device},
                             source{frame.data(), t(memory_kind::mapped)}, frame.size(),
                             recording_calls::fake_stream(1), device_profile::jetson_orin_nano(), calls);
  EXPECT_EQ(r.method, copy_method::none);
  EXPECT_EQ(r.data, frame.data());
  EXPECT_EQ(r.bytes, 1000u);
  EXPECT_FALSE(r.synchronous);
  EXPECT_TRUE(calls.calls().empty());
}

TEST(copy_calls, async_and_pageable_copies_go_on_the_stream_and_are_reported) {
  recording_calls calls;
  std::vector<std::uint8_t> a(64), b(64);
  calls.name_pointer(a.data(), "a");
  calls.name_pointer(b.data(), "b");
  const auto h100 = device_profile::discrete_h100();
  copy_report r = copy(destination{b.data(), t(memory_kind::device), side::device}, source{a.data(), t(memory_kind::pinned)},
                       64, recording_calls::fake_stream(2), h100, calls);
  EXPECT_EQ(r.method, copy_method::async);
  EXPECT_EQ(r.data, b.data());
  EXPECT_FALSE(r.synchronous);
  r = copy(destination{b.data(), t(memory_kind::device), side::device}, source{a.data(), t(memory_kind::host)}, 64,
           recording_calls::fake_stream(2), h100, calls);
  EXPECT_EQ(r.method, copy_method::pageable);
  EXPECT_TRUE(r.synchronous);
  EXPECT_NE(std::string(r.reason).find("7 vs 55 GB/s"), std::string::npos) << r.reason;
  EXPECT_EQ(calls.calls(), (strings{"memcpy(b, a, 64, s2)", "memcpy(b, a, 64, s2)"}));
}

TEST(copy_calls, pageable_to_pageable_is_a_plain_memcpy) {
  recording_calls calls;
  std::vector<std::uint8_t> a(300), b(300, 0);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint8_t>(i);
  const copy_report r = copy(destination{b.data(), t(memory_kind::host), side::host}, source{a.data(), t(memory_kind::host)},
                             a.size(), {}, device_profile::jetson_nano(), calls);
  EXPECT_EQ(r.method, copy_method::host);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(calls.calls().empty());
}

TEST(copy_calls, bad_arguments_are_refused_before_any_call) {
  recording_calls calls;
  std::vector<std::uint8_t> a(128);
  const auto h100 = device_profile::discrete_h100();
  EXPECT_THROW((void)copy(destination{a.data(), t(memory_kind::device), side::device}, source{nullptr, t(memory_kind::pinned)},
                          8, {}, h100, calls),
               std::invalid_argument);
  try {
    (void)copy(destination{nullptr, t(memory_kind::device), side::device}, source{a.data(), t(memory_kind::pinned)}, 8, {},
               h100, calls);
    FAIL() << "null destination accepted where the copy is needed";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be elided"), std::string::npos) << e.what();
  }
  try {
    (void)copy(destination{a.data() + 8, t(memory_kind::device), side::device}, source{a.data(), t(memory_kind::pinned)},
               64, {}, h100, calls);
    FAIL() << "overlap accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("overlap"), std::string::npos) << e.what();
  }
  try {  // a size that wraps the address space (e.g. -1 as size_t): the overlap test must not wrap too
    (void)copy(destination{a.data() + 64, t(memory_kind::device), side::device}, source{a.data(), t(memory_kind::pinned)},
               SIZE_MAX - 8, {}, h100, calls);
    FAIL() << "a size past the end of the address space was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("passes the end of the address space"), std::string::npos) << e.what();
  }
  const copy_report zero = copy(destination{a.data(), t(memory_kind::device), side::device},
                                source{nullptr, t(memory_kind::pinned)}, 0, {}, h100, calls);
  EXPECT_EQ(zero.method, copy_method::none);
  EXPECT_TRUE(calls.calls().empty());
}

// ---- On the GPU ------------------------------------------------------------------------------

class copy_gpu : public gpu_test {
 protected:
  static constexpr std::size_t bytes = 3u << 20;
};

TEST_F(copy_gpu, every_host_kind_to_device_and_back_arrives_intact) {
  const device_profile prof = device_profile::current();
  std::vector<std::unique_ptr<memory_resource>> hosts;
  hosts.push_back(std::make_unique<host_resource>());
  hosts.push_back(std::make_unique<pinned_resource>(pinned_options{}, prof));
  hosts.push_back(std::make_unique<mapped_resource>(false, prof));
  hosts.push_back(std::make_unique<managed_resource>(managed_attach::global, prof));
  if (prof.host_register_supported) hosts.push_back(std::make_unique<registered_resource>(prof));
  device_resource dev;
  cuda_stream stream;
  for (auto& host : hosts) {
    auto* h = static_cast<std::uint8_t*>(host->allocate(bytes));
    auto* d = static_cast<std::uint8_t*>(dev.allocate(bytes));
    for (std::size_t i = 0; i < bytes; ++i) h[i] = static_cast<std::uint8_t>(i % 251);
    const copy_report up = copy(destination{d, dev.traits(), side::device}, source{h, host->traits()}, bytes, stream, prof);
    EXPECT_EQ(up.method == copy_method::none, prof.integrated && host->traits().kind != memory_kind::host) << host->name();
    EXPECT_EQ(up.method == copy_method::pageable, host->traits().kind == memory_kind::host) << host->name();
    // The kernel reads report.data, whichever buffer that is.
    launch_add(up.data, d, bytes, 1, stream);
    stream.synchronize();
    std::memset(h, 0, bytes);
    const copy_report down = copy(destination{h, host->traits(), side::host}, source{d, dev.traits()}, bytes, stream, prof);
    EXPECT_NE(down.method, copy_method::none) << "the CPU cannot read device memory";
    stream.synchronize();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < bytes; ++i) bad += h[i] != static_cast<std::uint8_t>(i % 251 + 1);
    EXPECT_EQ(bad, 0u) << host->name();
    dev.deallocate(d, bytes);
    host->deallocate(h, bytes);
  }
}

TEST_F(copy_gpu, an_elided_upload_is_read_in_place_by_the_kernel) {
  // The integrated path on this GPU: treat it as integrated, so copy() elides, and check that the
  // kernel reading the source in place (mapped memory, across PCIe here) gets the right bytes.
  device_profile prof = device_profile::current();
  prof.integrated = true;
  mapped_resource mapped(false, prof);
  device_resource dev;
  cuda_stream stream;
  auto* frame = static_cast<std::uint8_t*>(mapped.allocate(bytes));
  auto* out = static_cast<std::uint8_t*>(dev.allocate(bytes));
  std::memset(frame, 20, bytes);
  const copy_report up = copy(destination{nullptr, dev.traits(), side::device}, source{frame, mapped.traits()}, bytes,
                              stream, prof);
  ASSERT_EQ(up.method, copy_method::none);
  ASSERT_EQ(up.data, frame);
  launch_add(up.data, out, bytes, 2, stream);
  stream.synchronize();
  EXPECT_EQ(device_count_mismatches(out, bytes, 22), 0u);
  dev.deallocate(out, bytes);
  mapped.deallocate(frame, bytes);
}

}  // namespace
}  // namespace unimem::test
