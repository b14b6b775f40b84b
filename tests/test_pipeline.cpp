// frame_pipeline: slot and stream rotation, waits, copies and attachments on simulated profiles
// (recording_calls over fake resources, with copies really performed so the data path is checked
// end to end), then real frames on the GPU.
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <limits>

#include <gtest/gtest.h>

#include <unimem/movement/pipeline.hpp>

#include "support/fake_resource.hpp"
#include "support/gpu_test.hpp"
#include "support/movement_kernels.hpp"
#include "support/recording_calls.hpp"

namespace unimem::test {
namespace {

using strings = std::vector<std::string>;

struct fakes {
  std::shared_ptr<fake_resource> host_in, dev_in, dev_out, host_out;
  pipeline_memory memory() const { return {host_in, dev_in, dev_out, host_out}; }
};

fakes discrete_fakes() {
  return {std::make_shared<fake_resource>(memory_kind::pinned), std::make_shared<fake_resource>(memory_kind::device),
          std::make_shared<fake_resource>(memory_kind::device), std::make_shared<fake_resource>(memory_kind::pinned)};
}

/// A CPU "kernel": the fake device memory is host memory, and compute runs when it is queued.
struct frame_checker {
  std::size_t in_bytes, out_bytes;
  std::vector<std::size_t> consumed;
  std::size_t bad = 0;

  pipeline_options options(std::size_t n, std::size_t k) const { return {n, k, in_bytes, out_bytes}; }
  /// A pipeline of `n` frame buffers on `k` streams whose three stages are this checker's.
  frame_pipeline pipeline(std::size_t n, std::size_t k, pipeline_memory memory, const device_profile& prof,
                          recording_calls& calls) {
    return frame_pipeline(options(n, k), produce(), compute(), consume(), std::move(memory), prof, calls);
  }
  frame_pipeline::stage produce() {
    return [this](const frame_slot& f) { std::memset(f.host_input, static_cast<int>(f.frame & 0xff), in_bytes); };
  }
  frame_pipeline::stage compute() {
    return [this](const frame_slot& f) {
      const auto* in = static_cast<const std::uint8_t*>(f.device_input);
      auto* out = static_cast<std::uint8_t*>(f.device_output);
      for (std::size_t i = 0; i < out_bytes; ++i) out[i] = static_cast<std::uint8_t>(in[i % in_bytes] + 1);
    };
  }
  frame_pipeline::stage consume() {
    return [this](const frame_slot& f) {
      consumed.push_back(f.frame);
      const auto* out = static_cast<const std::uint8_t*>(f.host_output);
      for (std::size_t i = 0; i < out_bytes; ++i) bad += out[i] != static_cast<std::uint8_t>((f.frame & 0xff) + 1);
    };
  }
};

/// Frames in mapped memory, read in place; results in managed memory (a Jetson Nano's choice).
pipeline_memory mapped_frames_managed_results() {
  auto mapped = std::make_shared<fake_resource>(memory_kind::mapped);
  auto managed = std::make_shared<fake_resource>(memory_kind::managed);
  return {mapped, mapped, managed, managed};
}

std::vector<std::size_t> iota(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(pipeline_policy, discrete_gpu_uploads_and_downloads_on_rotating_streams_and_waits_for_reused_slots) {
  recording_calls calls;
  calls.execute_copies = true;
  fakes f = discrete_fakes();
  frame_checker check{64, 16, {}, 0};
  {
    frame_pipeline pipe = check.pipeline(3, 2, f.memory(), device_profile::discrete_h100(), calls);
    EXPECT_EQ(pipe.upload_method(), copy_method::async);
    EXPECT_EQ(pipe.download_method(), copy_method::async);
    EXPECT_EQ(calls.live_streams, 2);
    EXPECT_EQ(calls.live_events, 3);
    EXPECT_EQ(f.host_in->live, 3);
    EXPECT_EQ(f.dev_in->live, 3);
    calls.take();

    for (int i = 0; i < 4; ++i) pipe.push();
    const strings c = calls.take();
    // Frame 0 (slot 0, s1); frame 1 (slot 1, s2) polls frame 0; frame 2 (slot 2, s1); frame 3 needs
    // slot 0 again: polls, then waits for e1 and consumes frame 0 before producing into it.
    const strings expected_kinds = {"memcpy", "memcpy", "record(e1, s1)",                     //
                                    "query(e1)", "memcpy", "memcpy", "record(e2, s2)",        //
                                    "query(e1)", "memcpy", "memcpy", "record(e3, s1)",        //
                                    "query(e1)", "wait(e1)", "memcpy", "memcpy", "record(e1, s2)"};
    ASSERT_EQ(c.size(), expected_kinds.size()) << ::testing::PrintToString(c);
    for (std::size_t i = 0; i < c.size(); ++i) {
      EXPECT_EQ(c[i].compare(0, expected_kinds[i].size(), expected_kinds[i]), 0) << i << ": " << c[i];
    }
    EXPECT_NE(c[13].find(", s2)"), std::string::npos) << "frame 3 runs on stream 3 % 2: " << c[13];
    EXPECT_EQ(check.consumed, (std::vector<std::size_t>{0}));
    EXPECT_EQ(pipe.in_flight(), 3u);
    for (int i = 0; i < 6; ++i) pipe.push();
    pipe.drain();
    EXPECT_EQ(pipe.in_flight(), 0u);
    EXPECT_EQ(pipe.frames_consumed(), 10u);
  }
  EXPECT_EQ(check.consumed, iota(10));
  EXPECT_EQ(check.bad, 0u);
  EXPECT_EQ(calls.live_streams, 0);
  EXPECT_EQ(calls.live_events, 0);
  EXPECT_EQ(f.host_in->live + f.dev_in->live + f.dev_out->live + f.host_out->live, 0);
}

TEST(pipeline_policy, finished_frames_are_consumed_at_the_next_push_without_blocking) {
  recording_calls calls;
  calls.execute_copies = true;
  calls.events_ready = true;
  fakes f = discrete_fakes();
  frame_checker check{32, 8, {}, 0};
  frame_pipeline pipe = check.pipeline(4, 2, f.memory(), device_profile::discrete_h100(), calls);
  for (int i = 0; i < 5; ++i) pipe.push();
  EXPECT_EQ(check.consumed, iota(4));
  EXPECT_EQ(calls.count("wait"), 0u);
  pipe.drain();
  EXPECT_EQ(check.consumed, iota(5));
  EXPECT_EQ(check.bad, 0u);
}

TEST(pipeline_policy, one_buffer_one_stream_serializes_every_frame) {
  recording_calls calls;
  calls.execute_copies = true;
  fakes f = discrete_fakes();
  frame_checker check{16, 16, {}, 0};
  frame_pipeline pipe = check.pipeline(1, 1, f.memory(), device_profile::discrete_h100(), calls);
  for (int i = 0; i < 5; ++i) pipe.push();
  EXPECT_EQ(calls.count("wait(e1)"), 4u);
  EXPECT_EQ(pipe.in_flight(), 1u);
  pipe.drain();
  EXPECT_EQ(check.consumed, iota(5));
  EXPECT_EQ(check.bad, 0u);
}

TEST(pipeline_policy, on_a_jetson_mapped_frames_are_read_in_place_and_the_device_buffer_never_allocated) {
  for (const auto& prof : device_profile::simulated_profiles()) {
    if (!prof.integrated || !prof.io_coherent()) continue;
    recording_calls calls;
    auto mapped = std::make_shared<fake_resource>(memory_kind::mapped);
    auto device = std::make_shared<fake_resource>(memory_kind::device);
    auto results = std::make_shared<fake_resource>(memory_kind::mapped);
    frame_checker check{64, 64, {}, 0};
    {
      frame_pipeline pipe = check.pipeline(3, 3, pipeline_memory{mapped, device, results, results}, prof, calls);
      EXPECT_EQ(pipe.upload_method(), copy_method::none) << prof.name;
      EXPECT_EQ(pipe.download_method(), copy_method::none) << prof.name;
      EXPECT_EQ(device->allocations, 0) << prof.name;
      for (int i = 0; i < 7; ++i) pipe.push();
      pipe.drain();
    }
    EXPECT_EQ(calls.count("memcpy"), 0u) << prof.name;
    EXPECT_EQ(calls.count("attach"), 0u) << prof.name;
    EXPECT_EQ(check.consumed, iota(7)) << prof.name;
    EXPECT_EQ(check.bad, 0u) << prof.name;
  }
}

TEST(pipeline_policy, managed_results_on_a_jetson_before_thor_are_attached_per_frame) {
  // Nano: results in managed memory (pinned is uncached on its CPU). Without concurrent managed
  // access the CPU may read them while the next frame's kernel runs only if they are attached to
  // the host: single to the frame's stream for the GPU work, host again before the event.
  recording_calls calls;
  frame_checker check{64, 64, {}, 0};
  frame_pipeline pipe = check.pipeline(2, 2, mapped_frames_managed_results(), device_profile::jetson_nano(), calls);
  const strings setup = calls.take();
  ASSERT_EQ(setup.size(), 3u) << ::testing::PrintToString(setup);
  EXPECT_EQ(setup[0].compare(0, 10, "attach(s1,"), 0) << setup[0];
  EXPECT_NE(setup[0].find(", host)"), std::string::npos);
  EXPECT_EQ(setup[2], "sync(s1)");
  pipe.push();
  pipe.push();
  const strings c = calls.take();
  ASSERT_EQ(c.size(), 7u) << ::testing::PrintToString(c);
  EXPECT_NE(c[0].find(", single)"), std::string::npos) << c[0];
  EXPECT_NE(c[1].find(", host)"), std::string::npos) << c[1];
  EXPECT_EQ(c[2], "record(e1, s1)");
  EXPECT_EQ(c[3], "query(e1)");
  EXPECT_EQ(c[4].compare(0, 10, "attach(s2,"), 0) << c[4];
  EXPECT_EQ(c[6], "record(e2, s2)");
  pipe.drain();
  EXPECT_EQ(check.bad, 0u);
  EXPECT_EQ(check.consumed, iota(2));
}

TEST(pipeline_policy, thor_needs_no_attachment_for_managed_results) {
  recording_calls calls;
  frame_checker check{8, 8, {}, 0};
  frame_pipeline pipe = check.pipeline(2, 1, mapped_frames_managed_results(), device_profile::jetson_thor(), calls);
  pipe.push();
  pipe.drain();
  EXPECT_EQ(calls.count("attach"), 0u);
  EXPECT_EQ(check.consumed, iota(1));
}

TEST(pipeline_policy, invalid_sizes_are_refused) {
  recording_calls calls;
  fakes f = discrete_fakes();
  const auto h100 = device_profile::discrete_h100();
  for (pipeline_options bad : {pipeline_options{0, 0, 64, 0}, pipeline_options{2, 3, 64, 0}, pipeline_options{2, 0, 64, 0},
                               pipeline_options{2, 2, 0, 0}}) {
    try {
      frame_pipeline pipe(bad, {}, {}, {}, f.memory(), h100, calls);
      ADD_FAILURE() << "accepted buffers " << bad.buffers << " streams " << bad.streams;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("unimem::frame_pipeline(buffers"), std::string::npos) << e.what();
    }
  }
  auto device_only = std::make_shared<fake_resource>(memory_kind::device);
  EXPECT_THROW(frame_pipeline(pipeline_options{2, 1, 64, 0}, {}, {}, {}, pipeline_memory{device_only, f.dev_in, f.dev_out, f.host_out},
                              h100, calls),
               std::invalid_argument);
  EXPECT_EQ(calls.live_streams, 0);
}

TEST(pipeline_policy, an_absurd_buffer_count_is_refused_with_the_call_and_nothing_is_leaked) {
  recording_calls calls;
  fakes f = discrete_fakes();
  const std::size_t absurd = std::numeric_limits<std::size_t>::max();
  try {
    frame_pipeline pipe(pipeline_options{absurd, 1, 64, 0}, {}, {}, {}, f.memory(), device_profile::discrete_h100(), calls);
    ADD_FAILURE() << "accepted " << absurd << " buffers";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unimem::frame_pipeline(buffers " + std::to_string(absurd)), std::string::npos) << what;
    EXPECT_NE(what.find("a few buffers per stream"), std::string::npos) << what;
  } catch (const out_of_memory& e) {
    EXPECT_NE(std::string(e.what()).find("unimem::frame_pipeline"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls.live_streams, 0);
  EXPECT_EQ(f.host_in->live, 0);
}

TEST(pipeline_policy, a_resource_out_of_memory_reaches_the_caller_as_it_was_thrown) {
  // The device buffers' resource refuses: its own message (resource, size) must not be replaced.
  class refusing final : public memory_resource {
    void* do_allocate(std::size_t bytes, std::size_t, stream_view) override {
      throw out_of_memory(bytes, "test refusing_resource", "it refuses everything");
    }
    void do_deallocate(void*, std::size_t, std::size_t, stream_view) override {}
    resource_traits do_traits() const noexcept override { return fake_resource::traits_of(memory_kind::device); }
    std::string_view do_name() const noexcept override { return "refusing"; }
  };
  recording_calls calls;
  fakes f = discrete_fakes();
  pipeline_memory m = f.memory();
  m.device_input = std::make_shared<refusing>();
  try {
    frame_pipeline pipe(pipeline_options{2, 1, 4096, 0}, {}, {}, {}, m, device_profile::discrete_h100(), calls);
    ADD_FAILURE() << "a refusing resource was not noticed";
  } catch (const out_of_memory& e) {
    EXPECT_NE(std::string(e.what()).find("test refusing_resource"), std::string::npos) << e.what();
    EXPECT_EQ(e.requested_bytes(), 4096u);
  }
  EXPECT_EQ(calls.live_streams, 0);
  EXPECT_EQ(f.host_in->live, 0);
}

TEST(pipeline_policy, no_output_means_no_download) {
  recording_calls calls;
  fakes f = discrete_fakes();
  frame_pipeline pipe(pipeline_options{2, 2, 32, 0}, {}, {}, {}, f.memory(), device_profile::discrete_h100(), calls);
  EXPECT_EQ(pipe.download_method(), copy_method::none);
  pipe.push();
  pipe.drain();
  EXPECT_EQ(calls.count("memcpy"), 1u);
  EXPECT_EQ(f.dev_out->allocations + f.host_out->allocations, 0);
}

TEST(pipeline_policy, a_throwing_stage_drops_its_frame_and_the_pipeline_goes_on) {
  recording_calls calls;
  calls.execute_copies = true;
  fakes f = discrete_fakes();
  frame_checker check{16, 16, {}, 0};
  auto compute = check.compute();
  frame_pipeline pipe(
      check.options(2, 2), check.produce(),
      [&](const frame_slot& s) {
        if (s.frame == 1) throw std::runtime_error("model failed");
        compute(s);
      },
      check.consume(), f.memory(), device_profile::discrete_h100(), calls);
  pipe.push();
  EXPECT_THROW(pipe.push(), std::runtime_error);
  EXPECT_EQ(calls.count("record(e2"), 1u) << "queued work of the failed frame is fenced";
  for (int i = 0; i < 3; ++i) pipe.push();
  pipe.drain();
  EXPECT_EQ(pipe.frames_pushed(), 5u);
  EXPECT_EQ(pipe.frames_consumed(), 4u);
  EXPECT_EQ(check.consumed, (std::vector<std::size_t>{0, 2, 3, 4}));
  EXPECT_EQ(check.bad, 0u);

  // A produce stage that throws has queued nothing: the slot stays free.
  int n = 0;
  frame_pipeline pipe2(check.options(1, 1), [&](const frame_slot&) { if (n++ == 0) throw std::runtime_error("camera"); },
                       {}, {}, f.memory(), device_profile::discrete_h100(), calls);
  EXPECT_THROW(pipe2.push(), std::runtime_error);
  EXPECT_EQ(pipe2.frames_pushed(), 0u);
  pipe2.push();
  EXPECT_EQ(pipe2.frames_pushed(), 1u);
}

// ---- On the GPU ------------------------------------------------------------------------------

class pipeline_gpu : public gpu_test {
 protected:
  static constexpr std::size_t in_bytes = 1u << 20;
  static constexpr std::size_t out_bytes = 1u << 20;

  /// Runs `frames` frames through the pipeline with the add kernel and returns the number of
  /// wrong result bytes; `consumed` receives the frame order.
  static std::size_t run(const device_profile& prof, pipeline_options opt, std::size_t frames,
                         std::vector<std::size_t>& consumed, copy_method* upload = nullptr) {
    std::size_t bad = 0;
    frame_pipeline pipe(
        opt, [](const frame_slot& f) { std::memset(f.host_input, static_cast<int>(f.frame * 3 & 0xff), in_bytes); },
        [](const frame_slot& f) { launch_add(f.device_input, f.device_output, out_bytes, 5, f.stream); },
        [&](const frame_slot& f) {
          consumed.push_back(f.frame);
          const auto* out = static_cast<const std::uint8_t*>(f.host_output);
          const auto want = static_cast<std::uint8_t>((f.frame * 3 & 0xff) + 5);
          for (std::size_t i = 0; i < out_bytes; ++i) bad += out[i] != want;
        },
        {}, prof);
    if (upload) *upload = pipe.upload_method();
    for (std::size_t i = 0; i < frames; ++i) pipe.push();
    pipe.drain();
    return bad;
  }
};

TEST_F(pipeline_gpu, frames_come_back_in_order_and_intact_with_the_recommended_memory) {
  for (pipeline_options opt : {pipeline_options{1, 1, in_bytes, out_bytes}, pipeline_options{3, 2, in_bytes, out_bytes},
                               pipeline_options{4, 4, in_bytes, out_bytes}}) {
    std::vector<std::size_t> consumed;
    EXPECT_EQ(run(device_profile::current(), opt, 24, consumed), 0u) << opt.buffers << "x" << opt.streams;
    EXPECT_EQ(consumed, iota(24));
  }
}

TEST_F(pipeline_gpu, the_jetson_paths_run_correctly_here_too) {
  // As an I/O-coherent Jetson (mapped frames and results, no copies) and as a Nano (managed
  // results attached per frame), on this GPU: slower across PCIe, but the bytes must be right.
  device_profile orin_like = device_profile::current();
  orin_like.integrated = true;
  device_profile nano_like = orin_like;
  nano_like.cc_major = 5;
  nano_like.cc_minor = 3;
  nano_like.concurrent_managed_access = false;
  for (const device_profile& prof : {orin_like, nano_like}) {
    std::vector<std::size_t> consumed;
    copy_method upload = copy_method::async;
    EXPECT_EQ(run(prof, pipeline_options{3, 2, in_bytes, out_bytes}, 12, consumed, &upload), 0u) << prof.cc_major;
    EXPECT_EQ(upload, copy_method::none);
    EXPECT_EQ(consumed, iota(12));
  }
}

}  // namespace
}  // namespace unimem::test
