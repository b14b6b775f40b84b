#include "replay_core.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/device_profile.hpp>
#include <unimem/error.hpp>
#include <unimem/stream.hpp>
#include <unimem_support/json.hpp>
#include <unimem_support/stats.hpp>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace unimem::replay {
namespace {

// ---------------------------------------------------------------- a cheap per-call clock
//
// steady_clock costs ~20 ns a read, as much as a pool call. The cycle counter (x86 TSC, ARM
// generic timer) costs a few ns; it is calibrated against steady_clock once, and the cost of
// reading it twice is measured and subtracted from every sample.

std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#elif defined(__aarch64__)
  std::uint64_t v;
  asm volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
  return v;
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

struct clock_calibration {
  double ns_per_tick = 1.0;
  double overhead_ns = 0.0;
};

const clock_calibration& calibration() {
  static const clock_calibration c = [] {
    clock_calibration out;
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t k0 = ticks();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(20)) {
    }
    const auto t1 = std::chrono::steady_clock::now();
    const std::uint64_t k1 = ticks();
    out.ns_per_tick = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(k1 - k0);
    std::vector<double> empty(2001);
    for (double& e : empty) {
      const std::uint64_t a = ticks();
      const std::uint64_t b = ticks();
      e = static_cast<double>(b - a) * out.ns_per_tick;
    }
    std::nth_element(empty.begin(), empty.begin() + 1000, empty.end());
    out.overhead_ns = empty[1000];
    return out;
  }();
  return c;
}

}  // namespace

std::vector<std::string> trace_files(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) throw std::runtime_error(fmt::format("{}: no such file or folder", printable(path)));
  if (!fs::is_directory(path)) return {path};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path)) {
    const std::string n = e.path().filename().string();
    auto ends = [&](const std::string& s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
    if (e.is_regular_file() && (ends(".csv") || ends(".csv.gz"))) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) {
    throw std::runtime_error(fmt::format("{}: no *.csv or *.csv.gz traces in this folder", printable(path)));
  }
  return out;
}

bool gpu_available(std::string* why) { return cuda_device_count(why) > 0; }

struct stream_set::owned {
  std::vector<cuda_stream> streams;
};

stream_set::stream_set(const alloc_trace& trace, bool gpu) : owned_(std::make_unique<owned>()) {
  const std::uint32_t count = trace.stream_count();
  if (count > max_streams) {
    throw std::runtime_error(fmt::format("{}: uses {} streams; unimem-replay replays traces of at most {}",
                                         printable(trace.name), count, max_streams));
  }
  views_.resize(count);
  for (std::uint32_t i = 1; i < views_.size(); ++i) {
    if (gpu) {
      owned_->streams.emplace_back();
      views_[i] = owned_->streams.back().view();
    } else {
      views_[i] = stream_view{reinterpret_cast<CUstream_st*>(static_cast<std::uintptr_t>(i) * 64)};
    }
  }
}

stream_set::~stream_set() = default;

double replay_once(const alloc_trace& trace, memory_resource& mr, std::vector<void*>& slots,
                   const std::vector<stream_view>& streams) {
  return replay_calls(trace, 0, trace.ops.size(), mr, slots, streams);
}

double replay_calls(const alloc_trace& trace, std::size_t begin, std::size_t end, memory_resource& mr,
                    std::vector<void*>& slots, const std::vector<stream_view>& streams) {
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = begin; i < end; ++i) {
    const trace_op& op = trace.ops[i];
    if (op.is_alloc) {
      slots[op.id] = mr.allocate(op.bytes, default_alignment, streams[op.stream]);
    } else {
      mr.deallocate(slots[op.id], op.bytes, default_alignment, streams[op.stream]);
    }
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
}

void free_left_live(const alloc_trace& trace, memory_resource& mr, std::vector<void*>& slots,
                    const std::vector<stream_view>& streams) {
  std::vector<std::uint8_t> live(slots.size(), 0);
  for (const trace_op& op : trace.ops) live[op.id] = op.is_alloc ? 1 : 0;
  for (auto it = trace.ops.rbegin(); it != trace.ops.rend(); ++it) {
    if (it->is_alloc && live[it->id]) {
      mr.deallocate(slots[it->id], it->bytes, default_alignment, streams[it->stream]);
      live[it->id] = 0;
    }
  }
}

replay_result run_replay(const alloc_trace& trace, const replay_target& target, const replay_options& options) {
  const clock_calibration& clk = calibration();
  const bool gpu = target.needs_gpu;
  stream_set streams(trace, gpu);
  const std::vector<stream_view>& sv = streams.views();
  std::unique_ptr<replay_instance> inst = target.make();
  memory_resource& mr = inst->resource();
  std::vector<void*> slots(trace.id_bound(), nullptr);
  // A trace without calls (a header only) has no time per call: NaN, written as null in JSON.
  const auto calls = static_cast<double>(trace.ops.size());
  auto per_call = [calls](double ns) { return calls > 0 ? ns / calls : std::numeric_limits<double>::quiet_NaN(); };

  replay_result r;
  r.trace = trace.name;
  r.resource = target.name;
  r.calls = trace.ops.size();
  r.peak_live_bytes = trace.peak_live_bytes();

  // Cold: the first replay on a fresh resource, growth included, in slices (see cold_slice_done).
  double cold_ns = 0;
  const int slices = replay_instance::cold_slices;
  for (int k = 0; k < slices; ++k) {
    const std::size_t n = trace.ops.size();
    cold_ns += replay_calls(trace, n * k / slices, n * (k + 1) / slices, mr, slots, sv);
    inst->cold_slice_done();
  }
  r.cold_ns_per_op = per_call(cold_ns);
  free_left_live(trace, mr, slots, sv);
  inst->finish();

  // Warm, every call timed on its own.
  const int warm = std::max(options.repetitions - 1, 1);
  std::vector<double> samples;
  samples.reserve(trace.ops.size() * static_cast<std::size_t>(warm));
  for (int rep = 0; rep < warm; ++rep) {
    for (const trace_op& op : trace.ops) {
      std::uint64_t t0, t1;
      if (op.is_alloc) {
        t0 = ticks();
        slots[op.id] = mr.allocate(op.bytes, default_alignment, sv[op.stream]);
        t1 = ticks();
      } else {
        t0 = ticks();
        mr.deallocate(slots[op.id], op.bytes, default_alignment, sv[op.stream]);
        t1 = ticks();
      }
      samples.push_back(std::max(0.0, static_cast<double>(t1 - t0) * clk.ns_per_tick - clk.overhead_ns));
      inst->after_call();
    }
    free_left_live(trace, mr, slots, sv);
    inst->finish();
  }
  r.p99_ns_per_op = support::percentile(samples, 0.99);
  r.ns_per_op = support::percentile(samples, 0.5);

  // Warm, whole replays without per-call clocks.
  std::vector<double> means;
  for (int rep = 0; rep < warm; ++rep) {
    means.push_back(per_call(replay_once(trace, mr, slots, sv)));
    free_left_live(trace, mr, slots, sv);
    inst->finish();
  }
  r.mean_ns_per_op = support::median(means);
  r.peak_reserved_bytes = inst->peak_reserved_bytes();
  if (r.peak_reserved_bytes == 0) r.peak_reserved_bytes = r.peak_live_bytes;  // no cache: holds what is live
  r.extra_json = inst->extra_json();
  return r;
}

std::string to_json(const replay_result& r) {
  support::json_object o;
  o.add("trace", r.trace)
      .add("resource", r.resource)
      .add("calls", r.calls)
      .add("ns_per_op", r.ns_per_op, 1)
      .add("mean_ns_per_op", r.mean_ns_per_op, 1)
      .add("p99_ns_per_op", r.p99_ns_per_op, 1)
      .add("cold_ns_per_op", r.cold_ns_per_op, 1)
      .add("peak_reserved_bytes", r.peak_reserved_bytes)
      .add("peak_live_bytes", r.peak_live_bytes)
      .add("reserved_over_live", r.reserved_over_live(), 4)
      .add_fields(r.extra_json);
  return o.str();
}

}  // namespace unimem::replay
