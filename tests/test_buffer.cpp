// buffer<T> over host memory: allocation, alignment, streams, moves, copies, resize and the
// refusal of host access to memory the CPU cannot touch. GPU paths are in test_typed_gpu.cpp.
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/typed/buffer.hpp>
#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/typed/tensor_view.hpp>

#include "support/typed_resources.hpp"

namespace unimem::test {
namespace {

static_assert(!std::is_copy_constructible_v<buffer<float>>);
static_assert(!std::is_copy_assignable_v<buffer<float>>);
static_assert(std::is_nothrow_move_constructible_v<buffer<float>>);
static_assert(std::is_nothrow_move_assignable_v<buffer<float>>);
static_assert(buffer<float>::alignment == 256);

struct alignas(512) wide {
  unsigned char bytes[512];
};
static_assert(buffer<wide>::alignment == 512);

std::vector<float> iota_floats(std::size_t n, float start = 0.0F) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(buffer, default_constructed_is_empty_and_has_no_resource) {
  buffer<float> b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0U);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.resource(), nullptr);
  EXPECT_TRUE(b.host_span().empty());  // nothing to refuse
  b.resize(0, {});                     // a no-op, needs no resource
  EXPECT_THROW(b.resize(3, {}), std::logic_error);
  EXPECT_THROW((void)b.copy({}), std::logic_error);
}

TEST(buffer, allocates_count_elements_256_aligned_on_the_given_stream) {
  recording_resource mr;
  const stream_view s = fake_stream(0x10);
  {
    buffer<double> b(1000, mr, s);
    ASSERT_EQ(mr.allocations.size(), 1U);
    EXPECT_EQ(mr.allocations[0].bytes, 8000U);
    EXPECT_EQ(mr.allocations[0].alignment, 256U);
    EXPECT_EQ(mr.allocations[0].stream, s);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % 256, 0U);
    EXPECT_EQ(b.size(), 1000U);
    EXPECT_EQ(b.size_bytes(), 8000U);
    EXPECT_EQ(b.resource(), &mr);
    EXPECT_EQ(b.stream(), s);
    EXPECT_TRUE(b.host_accessible());
    EXPECT_FALSE(b.device_accessible());
  }
  ASSERT_EQ(mr.deallocations.size(), 1U);
  EXPECT_EQ(mr.deallocations[0].p, mr.allocations[0].p);
  EXPECT_EQ(mr.deallocations[0].bytes, 8000U);
  EXPECT_EQ(mr.deallocations[0].alignment, 256U);
}

TEST(buffer, over_aligned_elements_get_their_alignment) {
  recording_resource mr;
  buffer<wide> b(3, mr);
  EXPECT_EQ(mr.allocations.at(0).alignment, 512U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % 512, 0U);
}

TEST(buffer, zero_elements_allocate_nothing) {
  recording_resource mr;
  {
    buffer<int> b(0, mr);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.data(), nullptr);
    EXPECT_EQ(b.resource(), &mr);
  }
  EXPECT_TRUE(mr.allocations.empty());
  EXPECT_TRUE(mr.deallocations.empty());
}

TEST(buffer, a_byte_count_that_overflows_is_refused_before_allocating) {
  recording_resource mr;
  const std::size_t too_many = std::numeric_limits<std::size_t>::max() / 4;
  try {
    buffer<double> b(too_many, mr);
    FAIL() << "expected std::length_error";
  } catch (const std::length_error& e) {
    EXPECT_NE(std::string(e.what()).find("unimem::buffer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(too_many)), std::string::npos) << e.what();
  }
  EXPECT_TRUE(mr.allocations.empty());
}

TEST(buffer, out_of_memory_propagates_and_leaves_nothing_behind) {
  recording_resource mr;
  mr.fail_next_allocate = true;
  EXPECT_THROW(buffer<float>(16, mr), out_of_memory);
  EXPECT_EQ(mr.live(), 0U);
}

TEST(buffer, moves_transfer_ownership_and_free_the_old_memory_on_its_stream) {
  recording_resource mr;
  buffer<int> a(10, mr, fake_stream(1));
  int* pa = a.data();
  buffer<int> b(std::move(a));
  EXPECT_EQ(b.data(), pa);
  EXPECT_EQ(b.size(), 10U);
  EXPECT_EQ(b.stream(), fake_stream(1));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(a.size(), 0U);

  buffer<int> c(5, mr, fake_stream(2));
  void* pc = c.data();
  c = std::move(b);
  ASSERT_EQ(mr.deallocations.size(), 1U);
  EXPECT_EQ(mr.deallocations[0].p, pc);
  EXPECT_EQ(mr.deallocations[0].stream, fake_stream(2));
  EXPECT_EQ(c.data(), pa);
  EXPECT_EQ(mr.live(), 1U);
}

TEST(buffer, is_freed_on_the_stream_it_was_last_used_on) {
  recording_resource mr;
  {
    buffer<float> b(8, mr, fake_stream(1));
    b.set_stream(fake_stream(2));
  }
  ASSERT_EQ(mr.deallocations.size(), 1U);
  EXPECT_EQ(mr.deallocations[0].stream, fake_stream(2));

  const std::vector<float> src = iota_floats(8);
  {
    buffer<float> b(8, mr, fake_stream(1));
    b.copy_from(src.data(), src.size(), fake_stream(3));  // a write on stream 3 moves it there
    EXPECT_EQ(b.stream(), fake_stream(3));
    std::vector<float> out(8);
    b.copy_to(out.data(), out.size(), fake_stream(4));  // a read does not
    EXPECT_EQ(b.stream(), fake_stream(3));
  }
  EXPECT_EQ(mr.deallocations.back().stream, fake_stream(3));
}

TEST(buffer, host_span_and_indexing_reach_host_memory) {
  host_resource mr;
  buffer<int> b(5, mr);
  auto s = b.host_span();
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<int>(i * i);
  EXPECT_EQ(b[3], 9);
  b[4] = 42;
  const buffer<int>& cb = b;
  EXPECT_EQ(cb[4], 42);
  int sum = 0;
  for (int x : cb.host_span()) sum += x;
  EXPECT_EQ(sum, 0 + 1 + 4 + 9 + 42);
  // span() is the unchecked twin, and converts to a one-dimensional view.
  tensor_view<const int, 1> v = cb.span();
  EXPECT_EQ(v.extent(0), 5);
  EXPECT_EQ(v(2), 4);
}

TEST(buffer, host_access_to_memory_the_cpu_cannot_touch_is_refused) {
  recording_resource mr(fake_device_traits);  // host memory that claims to be device memory
  buffer<float> b(64, mr);
  try {
    (void)b.host_span();
    FAIL() << "expected host_access_error";
  } catch (const host_access_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unimem::buffer::host_span"), std::string::npos) << what;
    EXPECT_NE(what.find("device memory"), std::string::npos) << what;
    EXPECT_NE(what.find("test::recording_resource"), std::string::npos) << what;
    EXPECT_NE(what.find("copy"), std::string::npos) << what;  // says how to get at the data
  }
  const buffer<float>& cb = b;
  EXPECT_THROW((void)cb.host_span(), host_access_error);
  // The unchecked accessors stay available: kernels and copies need the pointer.
  EXPECT_NE(b.data(), nullptr);
  EXPECT_EQ(b.span().size(), 64U);
}

TEST(buffer, checked_builds_refuse_element_access_to_device_memory_and_bad_indices) {
  if (!detail::checked_build) GTEST_SKIP() << "UNIMEM_CHECKED is 0 in this build (NDEBUG); operator[] is unchecked";
  recording_resource device_mr(fake_device_traits);
  buffer<float> d(4, device_mr);
  EXPECT_THROW((void)d[0], host_access_error);
  host_resource host_mr;
  buffer<float> h(4, host_mr);
  EXPECT_NO_THROW((void)h[3]);
  EXPECT_THROW((void)h[4], std::out_of_range);
}

TEST(buffer, copy_from_and_copy_to_move_elements_and_check_counts) {
  host_resource mr;
  buffer<float> b(6, mr);
  const std::vector<float> src = iota_floats(6, 1.0F);
  b.copy_from(src.data(), src.size(), {});
  std::vector<float> out(6, -1.0F);
  b.copy_to(out.data(), out.size(), {});
  EXPECT_EQ(out, src);

  const std::vector<float> head = {9.0F, 8.0F};
  b.copy_from(head.data(), head.size(), {});  // a prefix
  b.copy_to(out.data(), 3, {});
  EXPECT_EQ(out[0], 9.0F);
  EXPECT_EQ(out[1], 8.0F);
  EXPECT_EQ(out[2], 3.0F);

  EXPECT_THROW(b.copy_from(src.data(), 7, {}), std::out_of_range);
  EXPECT_THROW(b.copy_to(out.data(), 7, {}), std::out_of_range);
  EXPECT_NO_THROW(b.copy_from(nullptr, 0, {}));  // nothing to copy
}

TEST(buffer, copy_makes_an_independent_buffer_on_the_chosen_resource_and_stream) {
  host_resource mr;
  recording_resource other;
  buffer<float> b(4, mr);
  const std::vector<float> src = {1, 2, 3, 4};
  b.copy_from(src.data(), 4, {});
  buffer<float> c = b.copy(other, fake_stream(7));
  ASSERT_EQ(other.allocations.size(), 1U);
  EXPECT_EQ(other.allocations[0].stream, fake_stream(7));
  EXPECT_EQ(c.resource(), &other);
  EXPECT_EQ(c.stream(), fake_stream(7));
  EXPECT_NE(c.data(), b.data());
  b[0] = 100.0F;
  EXPECT_EQ(c[0], 1.0F);
  EXPECT_EQ(c[3], 4.0F);

  buffer<float> d = b.copy({});  // same resource
  EXPECT_EQ(d.resource(), &mr);
  EXPECT_EQ(d[0], 100.0F);

  buffer<float> e(4, mr);
  e.copy_from(c, {});
  EXPECT_EQ(e[3], 4.0F);
  buffer<float> f(3, mr);
  EXPECT_THROW(f.copy_from(c, {}), std::invalid_argument);
}

TEST(buffer, resize_keeps_the_prefix_and_frees_the_old_memory_on_the_new_stream) {
  recording_resource mr;
  buffer<int> b(4, mr, fake_stream(1));
  for (int i = 0; i < 4; ++i) b[static_cast<std::size_t>(i)] = i + 1;
  int* old = b.data();

  b.resize(6, fake_stream(2));
  EXPECT_EQ(b.size(), 6U);
  EXPECT_EQ(b.stream(), fake_stream(2));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b[static_cast<std::size_t>(i)], i + 1);
  ASSERT_EQ(mr.deallocations.size(), 1U);
  EXPECT_EQ(mr.deallocations[0].p, old);
  EXPECT_EQ(mr.deallocations[0].stream, fake_stream(2));
  EXPECT_EQ(mr.allocations.back().stream, fake_stream(2));

  b.resize(2, fake_stream(3));
  EXPECT_EQ(b.size(), 2U);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[1], 2);

  const std::size_t allocations = mr.allocations.size();
  b.resize(2, fake_stream(4));  // same size: no reallocation, just the stream
  EXPECT_EQ(mr.allocations.size(), allocations);
  EXPECT_EQ(b.stream(), fake_stream(4));

  b.resize(0, {});
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(mr.live(), 0U);
}

TEST(buffer, a_failed_resize_leaves_the_buffer_unchanged) {
  recording_resource mr;
  buffer<int> b(3, mr, fake_stream(1));
  b[0] = 7;
  int* before = b.data();
  mr.fail_next_allocate = true;
  EXPECT_THROW(b.resize(100, fake_stream(2)), out_of_memory);
  EXPECT_EQ(b.data(), before);
  EXPECT_EQ(b.size(), 3U);
  EXPECT_EQ(b.stream(), fake_stream(1));
  EXPECT_EQ(b[0], 7);
  b.resize(100, fake_stream(2));  // and the resource is usable afterwards
  EXPECT_EQ(b[0], 7);
}

TEST(buffer, a_throwing_deallocate_does_not_escape_the_destructor) {
  recording_resource mr;
  mr.throw_on_deallocate = true;
  { buffer<int> b(3, mr); }
  EXPECT_EQ(mr.deallocations.size(), 1U);
}

}  // namespace
}  // namespace unimem::test
