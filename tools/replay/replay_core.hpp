// unimem-replay's engine, shared with bench/bench_replay: replays traces (read by unimem's one
// trace reader, unimem::load_trace) through a resource, timing every call. Tables are indexed by
// the trace's dense ids and stream numbers (trace.hpp), never by what the file wrote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <unimem/memory_resource.hpp>
#include <unimem/trace.hpp>

namespace unimem::replay {

/// The trace files of `path`: the file itself, or every *.csv / *.csv.gz in a folder, sorted.
std::vector<std::string> trace_files(const std::string& path);

/// One resource built fresh for one trace, and how to read what it held from its upstream.
class replay_instance {
 public:
  virtual ~replay_instance() = default;
  virtual memory_resource& resource() = 0;
  /// Most bytes the resource held at once over its life (from its upstream, the driver, or its
  /// own accounting); 0 for a resource without a cache, which holds exactly what is live.
  virtual std::size_t peak_reserved_bytes() = 0;
  /// Called after every call, outside the timed region (resources sampled by polling).
  virtual void after_call() {}
  /// Waits for asynchronous work (stream-ordered frees) before the instance is judged.
  virtual void finish() {}
  /// Extra "key": value pairs for the JSON line (already formatted, without braces).
  virtual std::string extra_json() { return {}; }
  /// The cold pass (the trace as its process ran it: weights loaded once, then its iterations)
  /// is replayed in `cold_slices` equal runs of calls; this is called after each one, outside the
  /// timed region, so a resource can say how its upstream calls spread over the process.
  virtual void cold_slice_done() {}
  static constexpr int cold_slices = 10;
};

/// A named way to make replay instances.
struct replay_target {
  std::string name;
  std::string description;
  bool needs_gpu = false;
  std::function<std::unique_ptr<replay_instance>()> make;
};

/// Every target this build knows: unimem's pool over host, device and pinned memory, and the
/// peers (cub::CachingDeviceAllocator with default and power-of-two bins, a cudaMemPool with
/// cudaMallocFromPoolAsync, plain cudaMalloc, and malloc for the host).
std::vector<replay_target> all_targets();

/// True when a CUDA device is usable; otherwise `why` says why not.
bool gpu_available(std::string* why);

struct replay_options {
  int repetitions = 5;  ///< replays of the trace; the first one is the cold one
};

struct replay_result {
  std::string trace;
  std::string resource;
  std::size_t calls = 0;            ///< allocate + free calls per replay
  double ns_per_op = 0;             ///< median time of one call over the warm replays
  double mean_ns_per_op = 0;        ///< median over warm replays of (replay time / calls), untimed calls
  double p99_ns_per_op = 0;         ///< 99th percentile of one call over the warm replays
  double cold_ns_per_op = 0;        ///< first replay on the fresh resource: (time / calls)
  std::size_t peak_reserved_bytes = 0;
  std::size_t peak_live_bytes = 0;
  std::string extra_json;
  double reserved_over_live() const {
    return peak_live_bytes == 0 ? 0.0 : static_cast<double>(peak_reserved_bytes) / static_cast<double>(peak_live_bytes);
  }
};

/// Replays `trace` through a fresh instance of `target`.
/// @throws whatever the resource throws (out_of_memory, cuda_error)
replay_result run_replay(const alloc_trace& trace, const replay_target& target, const replay_options& options);

/// One JSON object on one line: names escaped, a value that is not a number (a trace without
/// calls has no time per call) written as null.
std::string to_json(const replay_result& r);

/// Replays the trace once through `mr` without per-call timing; returns nanoseconds. What the
/// trace leaves live (weights, optimizer state) stays live: call free_left_live before the next
/// pass, outside the timed region.
double replay_once(const alloc_trace& trace, memory_resource& mr, std::vector<void*>& slots,
                   const std::vector<stream_view>& streams);

/// Replays the calls [begin, end) of the trace, as replay_once does the whole of it.
double replay_calls(const alloc_trace& trace, std::size_t begin, std::size_t end, memory_resource& mr,
                    std::vector<void*>& slots, const std::vector<stream_view>& streams);

/// Frees, newest first, every allocation the trace leaves live at its end, so that the next pass
/// starts from an empty resource as the first did: without it each repetition would pile up
/// another copy of the weights and inflate the resource's peak by the number of repetitions.
void free_left_live(const alloc_trace& trace, memory_resource& mr, std::vector<void*>& slots,
                    const std::vector<stream_view>& streams);

/// Streams to use for the trace's streams, indexed by trace_op::stream (0 is the default stream;
/// others are created when a GPU is present, fake handles otherwise — host-only resources never
/// use them).
class stream_set {
 public:
  /// Most streams a trace may use (each one is a CUDA stream when replayed on a GPU).
  static constexpr std::uint32_t max_streams = 1024;
  /// @throws std::runtime_error when the trace uses more than max_streams streams
  explicit stream_set(const alloc_trace& trace, bool gpu);
  ~stream_set();
  const std::vector<stream_view>& views() const noexcept { return views_; }

 private:
  std::vector<stream_view> views_;
  struct owned;
  std::unique_ptr<owned> owned_;
};

}  // namespace unimem::replay
