#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/stream.hpp>

#include "support/gpu_test.hpp"

namespace unimem {
namespace {

TEST(stream_view, default_is_stream_zero_and_compares_by_handle) {
  stream_view a;
  EXPECT_EQ(a.value(), nullptr);
  EXPECT_TRUE(a.is_default());
  EXPECT_TRUE(stream_view::per_thread().is_default());
  EXPECT_TRUE(stream_view::legacy().is_default());
  EXPECT_NE(stream_view::per_thread(), stream_view::legacy());
  EXPECT_EQ(a, stream_view{});
}

class stream_gpu : public test::gpu_test {};

TEST_F(stream_gpu, owning_stream_and_event_order_work) {
  cuda_stream s;
  EXPECT_NE(s.view().value(), nullptr);
  EXPECT_FALSE(s.view().is_default());
  cuda_event start(true), stop(true);
  start.record(s);
  stop.record(s);
  stop.synchronize();
  EXPECT_TRUE(stop.ready());
  EXPECT_TRUE(s.view().ready());
  EXPECT_GE(stop.elapsed_ms(start), 0.0f);

  cuda_stream other;
  other.wait(stop);
  other.synchronize();

  cuda_stream moved = std::move(s);
  EXPECT_NE(moved.view().value(), nullptr);
  moved.synchronize();
}

TEST_F(stream_gpu, elapsed_time_without_timing_is_a_clear_error) {
  cuda_event a, b;  // timing disabled
  a.record();
  b.record();
  b.synchronize();
  EXPECT_THROW((void)b.elapsed_ms(a), cuda_error);
}

}  // namespace
}  // namespace unimem
