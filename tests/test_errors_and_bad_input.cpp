// Errors carry what a user needs: the call, the value, the fix. Bad input to each resource is
// refused before it reaches CUDA where it can be, and leaves nothing behind.
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/unimem.hpp>

#include "support/gpu_test.hpp"

namespace unimem {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(errors, cuda_error_names_call_error_and_hint) {
  const cuda_error e("cudaHostRegister(0x7f00, 4096 B)", 801 /* cudaErrorNotSupported */, "use mapped");
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "cudaHostRegister(0x7f00, 4096 B) failed")) << what;
  EXPECT_TRUE(contains(what, "cudaErrorNotSupported")) << what;
  EXPECT_TRUE(contains(what, "use mapped")) << what;
  EXPECT_EQ(e.code(), 801);
  EXPECT_EQ(e.error_name(), "cudaErrorNotSupported");
  EXPECT_FALSE(e.error_text().empty());
}

TEST(errors, out_of_memory_is_a_bad_alloc_with_the_request) {
  try {
    throw out_of_memory(12345, "unimem::device_resource", "free something");
  } catch (const std::bad_alloc& e) {
    const std::string what = e.what();
    EXPECT_TRUE(contains(what, "unimem::device_resource")) << what;
    EXPECT_TRUE(contains(what, "12345 B")) << what;
    EXPECT_TRUE(contains(what, "free something")) << what;
    const auto* oom = dynamic_cast<const out_of_memory*>(&e);
    ASSERT_NE(oom, nullptr);
    EXPECT_EQ(oom->requested_bytes(), 12345u);
  }
}

TEST(bad_input, registered_region_refuses_null_and_empty_ranges) {
  std::vector<char> mem(4096);
  const device_profile orin = device_profile::jetson_agx_orin();
  try {
    registered_region r(nullptr, 4096, {}, orin);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "unimem::registered_region")) << e.what();
    EXPECT_TRUE(contains(e.what(), "4096 B")) << e.what();
  }
  EXPECT_THROW(registered_region(mem.data(), 0, {}, orin), std::invalid_argument);
}

TEST(bad_input, registered_memory_on_nano_and_tx2_names_the_mapped_resource) {
  std::vector<char> mem(4096);
  for (const auto& p : {device_profile::jetson_nano(), device_profile::jetson_tx2()}) {
    try {
      registered_region r(mem.data(), mem.size(), {}, p);
      FAIL() << p.name;
    } catch (const unsupported_error& e) {
      EXPECT_TRUE(contains(e.what(), "hostRegisterSupported = 0")) << e.what();
      EXPECT_TRUE(contains(e.what(), "unimem::mapped_resource")) << e.what();
      EXPECT_TRUE(contains(e.what(), p.name)) << e.what();
    }
    EXPECT_THROW(registered_resource{p}, unsupported_error);
  }
}

TEST(bad_input, read_only_registration_needs_the_capability) {
  std::vector<char> mem(4096);
  register_options ro;
  ro.read_only = true;
  try {
    registered_region r(mem.data(), mem.size(), ro, device_profile::jetson_agx_orin());
    FAIL();
  } catch (const unsupported_error& e) {
    EXPECT_TRUE(contains(e.what(), "hostRegisterReadOnlySupported = 0")) << e.what();
  }
}

TEST(bad_input, mapped_and_managed_refuse_devices_without_the_capability) {
  device_profile p = device_profile::jetson_orin_nano();
  p.can_map_host_memory = false;
  try {
    mapped_resource m(false, p);
    FAIL();
  } catch (const unsupported_error& e) {
    EXPECT_TRUE(contains(e.what(), "canMapHostMemory = 0")) << e.what();
    EXPECT_TRUE(contains(e.what(), "unimem::pinned_resource")) << e.what();
  }
  p.managed_memory = false;
  EXPECT_THROW(managed_resource(managed_attach::global, p), unsupported_error);
}

TEST(bad_input, without_a_gpu_cuda_resources_fail_with_a_cuda_error_not_a_crash) {
  std::string why;
  if (test::gpu_available(&why)) GTEST_SKIP() << "a GPU is present; this checks the no-GPU path";
  device_resource d;
  EXPECT_THROW((void)d.allocate(1024), cuda_error);
  pinned_resource pinned(pinned_options{}, device_profile::discrete_h100());
  EXPECT_THROW((void)pinned.allocate(1024), cuda_error);
  EXPECT_THROW((void)device_profile::current(), cuda_error);
}

class bad_input_gpu : public test::gpu_test {};

TEST_F(bad_input_gpu, deallocating_a_foreign_pointer_is_a_cuda_error_and_the_resource_survives) {
  device_resource d;
  int local = 0;
  try {
    d.deallocate(&local, sizeof(local));
    FAIL() << "cudaFree of a stack pointer succeeded";
  } catch (const cuda_error& e) {
    EXPECT_TRUE(contains(e.what(), "cudaFree")) << e.what();
  }
  void* p = d.allocate(1 << 20);
  EXPECT_NE(p, nullptr);
  d.deallocate(p, 1 << 20);

  pinned_resource pinned;
  EXPECT_THROW(pinned.deallocate(&local, sizeof(local)), cuda_error);
  void* q = pinned.allocate(4096);
  pinned.deallocate(q, 4096);
}

TEST_F(bad_input_gpu, registering_the_same_range_twice_is_refused_with_a_hint) {
  std::vector<char> mem(1 << 16);
  registered_region first(mem.data(), mem.size());
  try {
    registered_region second(mem.data(), mem.size());
    FAIL() << "double registration accepted";
  } catch (const cuda_error& e) {
    EXPECT_TRUE(contains(e.what(), "already registered")) << e.what();
  }
}

TEST_F(bad_input_gpu, registered_region_maps_caller_memory_and_unregisters_on_destruction) {
  std::vector<char> mem(1 << 16, 7);
  {
    registered_region r(mem.data(), mem.size());
    EXPECT_EQ(r.host_pointer(), mem.data());
    EXPECT_NE(r.device_pointer(), nullptr);
    EXPECT_EQ(r.size(), mem.size());
    registered_region moved = std::move(r);
    EXPECT_EQ(r.host_pointer(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_EQ(moved.host_pointer(), mem.data());
  }
  // Unregistered: registering again must work.
  EXPECT_NO_THROW(registered_region(mem.data(), mem.size()));
}

TEST_F(bad_input_gpu, mapped_resource_exposes_the_device_alias) {
  mapped_resource m;
  void* p = m.allocate(4096);
  EXPECT_NE(m.device_pointer(p), nullptr);
  int local = 0;
  EXPECT_THROW((void)m.device_pointer(&local), cuda_error);
  m.deallocate(p, 4096);
}

}  // namespace
}  // namespace unimem
