#include <unimem/movement/pipeline.hpp>

#include <cstdint>
#include <new>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/resources/policy.hpp>

#include "detail/cuda_check.hpp"
#include "detail/nvtx_range.hpp"

namespace unimem {

pipeline_memory pipeline_memory::recommended(const device_profile& profile) {
  pipeline_memory m;
  const recommendation in = recommend(profile, access_pattern::cpu_writes_gpu_reads);
  m.device_input = make_resource(in.kind, profile);
  m.host_input = in.needs_copy && in.staging ? std::shared_ptr<memory_resource>(make_resource(*in.staging, profile))
                                             : m.device_input;
  const recommendation out = recommend(profile, access_pattern::gpu_writes_cpu_reads);
  m.device_output = make_resource(out.kind, profile);
  m.host_output = out.needs_copy && out.staging ? std::shared_ptr<memory_resource>(make_resource(*out.staging, profile))
                                                : m.device_output;
  return m;
}

namespace {

void fill_missing(pipeline_memory& m, const device_profile& profile) {
  if (m.host_input && m.device_input && m.device_output && m.host_output) return;
  const pipeline_memory r = pipeline_memory::recommended(profile);
  if (!m.host_input) m.host_input = r.host_input;
  if (!m.device_input) m.device_input = r.device_input;
  if (!m.device_output) m.device_output = r.device_output;
  if (!m.host_output) m.host_output = r.host_output;
}

// How data crosses from `from` to `to` for `reader`: none when both are one resource.
copy_method plan_between(const memory_resource& from, const memory_resource& to, side reader,
                         const device_profile& profile) {
  if (&from == &to) return copy_method::none;
  return plan_copy(from.traits(), to.traits(), reader, profile).method;
}

}  // namespace

frame_pipeline::frame_pipeline(pipeline_options options, stage produce, stage compute, stage consume,
                               pipeline_memory memory, const device_profile& profile, cuda_calls& calls)
    : options_(options),
      produce_(std::move(produce)),
      compute_(std::move(compute)),
      consume_(std::move(consume)),
      memory_(std::move(memory)),
      profile_(profile),
      calls_(&calls) {
  if (options_.buffers == 0 || options_.streams == 0 || options_.streams > options_.buffers ||
      options_.input_bytes == 0) {
    throw std::invalid_argument(fmt::format(
        "unimem::frame_pipeline(buffers {}, streams {}, input {} B): need buffers >= 1, 1 <= streams <= buffers "
        "(a stream without a buffer of its own would idle) and input_bytes > 0",
        options_.buffers, options_.streams, options_.input_bytes));
  }
  if (options_.buffers > slots_.max_size() || options_.streams > streams_.max_size()) {
    // An absurd count (a size_t that wrapped, SIZE_MAX for "many"): not even the records fit.
    throw std::invalid_argument(fmt::format(
        "unimem::frame_pipeline(buffers {}, streams {}): cannot hold that many buffer or stream records; a few "
        "buffers per stream keep every stage busy",
        options_.buffers, options_.streams));
  }
  fill_missing(memory_, profile_);
  if (!memory_.host_input->traits().host_accessible) {
    throw std::invalid_argument(fmt::format(
        "unimem::frame_pipeline: host_input is {} ({}), which the CPU cannot write; use pinned, mapped or managed "
        "memory",
        memory_.host_input->name(), to_string(memory_.host_input->traits().kind)));
  }
  upload_ = plan_between(*memory_.host_input, *memory_.device_input, side::device, profile_);
  if (options_.output_bytes != 0) {
    download_ = plan_between(*memory_.device_output, *memory_.host_output, side::host, profile_);
  }
  const auto is_managed = [](const memory_resource& r) { return r.traits().kind == memory_kind::managed; };
  attach_managed_ = !profile_.concurrent_managed_access &&
                    (is_managed(*memory_.host_input) || is_managed(*memory_.device_input) ||
                     (options_.output_bytes != 0 && (is_managed(*memory_.device_output) || is_managed(*memory_.host_output))));

  try {
    streams_.reserve(options_.streams);
    for (std::size_t k = 0; k < options_.streams; ++k) streams_.push_back(calls_->stream_create());
    slots_.resize(options_.buffers);
    for (slot& s : slots_) {
      s.done = calls_->event_create();
      s.host_input = memory_.host_input->allocate(options_.input_bytes);
      if (upload_ != copy_method::none) s.device_input = memory_.device_input->allocate(options_.input_bytes);
      if (options_.output_bytes != 0) {
        s.device_output = memory_.device_output->allocate(options_.output_bytes);
        if (download_ != copy_method::none) s.host_output = memory_.host_output->allocate(options_.output_bytes);
      }
      // Managed memory starts globally attached; on a device without concurrent managed access the
      // CPU could then not write a frame while another frame's kernel runs. Hand it to the host.
      if (attach_managed_) attach_managed(s, stream_of(0), attach_mode::host);
    }
    if (attach_managed_) calls_->stream_synchronize(stream_of(0));
  } catch (const out_of_memory&) {
    release();  // a resource's own refusal names its resource and size: passed on as it is
    throw;
  } catch (const std::bad_alloc&) {
    // The host could not hold the buffers' records (a count too large to be meant).
    release();
    const std::size_t record_bytes =
        options_.buffers > SIZE_MAX / sizeof(slot) ? SIZE_MAX : options_.buffers * sizeof(slot);
    throw out_of_memory(record_bytes, "unimem::frame_pipeline",
                        fmt::format("no host memory for the records of {} buffers and {} streams; use fewer buffers",
                                    options_.buffers, options_.streams));
  } catch (...) {
    release();
    throw;
  }
}

frame_pipeline::~frame_pipeline() { release(); }

void frame_pipeline::release() noexcept {
  for (slot& s : slots_) {
    if (s.busy) {
      try {
        calls_->event_synchronize(s.done);
      } catch (...) {  // NOLINT(bugprone-empty-catch): freeing anyway is all a destructor can do
      }
      s.busy = false;
    }
  }
  for (slot& s : slots_) {
    try {
      if (s.host_input) memory_.host_input->deallocate(s.host_input, options_.input_bytes);
      if (s.device_input) memory_.device_input->deallocate(s.device_input, options_.input_bytes);
      if (s.device_output) memory_.device_output->deallocate(s.device_output, options_.output_bytes);
      if (s.host_output) memory_.host_output->deallocate(s.host_output, options_.output_bytes);
    } catch (...) {  // NOLINT(bugprone-empty-catch)
    }
    s.host_input = s.device_input = s.device_output = s.host_output = nullptr;
    calls_->event_destroy(s.done);
    s.done = nullptr;
  }
  for (CUstream_st* st : streams_) calls_->stream_destroy(st);
  streams_.clear();
}

stream_view frame_pipeline::stream_of(std::size_t frame) const { return stream_view{streams_[frame % streams_.size()]}; }

frame_slot frame_pipeline::view_of(const slot& s, std::size_t frame) const {
  frame_slot v;
  v.frame = frame;
  v.index = frame % slots_.size();
  v.stream = stream_of(frame);
  v.host_input = s.host_input;
  v.device_input = s.device_input != nullptr ? s.device_input : s.host_input;
  v.device_output = s.device_output;
  v.host_output = s.host_output != nullptr ? s.host_output : s.device_output;
  return v;
}

void frame_pipeline::attach_managed(const slot& s, stream_view stream, attach_mode mode) {
  const auto each = [&](void* p, const memory_resource& r) {
    if (p != nullptr && r.traits().kind == memory_kind::managed) calls_->stream_attach_mem_async(stream, p, mode);
  };
  each(s.host_input, *memory_.host_input);
  each(s.device_input, *memory_.device_input);
  each(s.device_output, *memory_.device_output);
  each(s.host_output, *memory_.host_output);
}

void frame_pipeline::retire_oldest(bool wait) {
  slot& s = slots_[oldest_ % slots_.size()];
  if (wait) calls_->event_synchronize(s.done);
  s.busy = false;
  const std::size_t frame = oldest_++;
  if (s.failed) {
    s.failed = false;
    return;
  }
  ++consumed_;
  if (consume_) consume_(view_of(s, frame));
}

void frame_pipeline::push() {
  // Consume, in order, whatever has finished: results reach the CPU as early as they can.
  while (in_flight() != 0 && calls_->event_ready(slots_[oldest_ % slots_.size()].done)) retire_oldest(false);
  slot& s = slots_[next_ % slots_.size()];
  if (s.busy) retire_oldest(true);  // the slot's frame is the oldest in flight

  const std::size_t frame = next_;
  const frame_slot v = view_of(s, frame);
  detail::nvtx_range range("unimem::frame_pipeline::push", options_.input_bytes);
  if (produce_) produce_(v);  // nothing is queued yet: a throw leaves the slot free

  bool queued = false;
  try {
    if (attach_managed_) {
      queued = true;
      attach_managed(s, v.stream, attach_mode::single);
    }
    if (upload_ != copy_method::none) {
      queued = true;
      (void)copy(destination{s.device_input, memory_.device_input->traits(), side::device},
                 source{s.host_input, memory_.host_input->traits()}, options_.input_bytes, v.stream, profile_, *calls_);
    }
    queued = true;
    if (compute_) compute_(v);
    if (download_ != copy_method::none) {
      (void)copy(destination{s.host_output, memory_.host_output->traits(), side::host},
                 source{s.device_output, memory_.device_output->traits()}, options_.output_bytes, v.stream, profile_,
                 *calls_);
    }
    if (attach_managed_) attach_managed(s, v.stream, attach_mode::host);
    calls_->event_record(s.done, v.stream);
  } catch (...) {
    // Work may be queued that still reads or writes the slot: fence it so the slot is not reused
    // before that work is done, and drop the frame.
    if (queued) {
      try {
        if (attach_managed_) attach_managed(s, v.stream, attach_mode::host);
        calls_->event_record(s.done, v.stream);
        s.busy = true;
        s.failed = true;
        s.frame = frame;
        ++next_;
      } catch (...) {  // NOLINT(bugprone-empty-catch): the original error is the one to report
      }
    }
    throw;
  }
  s.busy = true;
  s.failed = false;
  s.frame = frame;
  ++next_;
}

void frame_pipeline::drain() {
  while (in_flight() != 0) retire_oldest(true);
}

}  // namespace unimem
