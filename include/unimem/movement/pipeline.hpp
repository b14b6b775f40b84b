/// @file pipeline.hpp
/// @brief Frames in flight: N buffers on K streams, so that the upload of frame i+1 overlaps the
/// compute on frame i (and the CPU fills frame i+2 meanwhile).
///
/// Each frame goes through four stages: the CPU produces it (a camera callback writes the pixels),
/// it is uploaded, kernels compute on it, the results are downloaded and the CPU consumes them.
/// frame_pipeline owns the buffers, streams and events; the caller provides the three stages that
/// are its own (produce, compute, consume). Uploads and downloads go through unimem::copy, so on
/// an integrated GPU they disappear: the kernel reads the frame where the CPU wrote it.
///
/// Frame i uses slot i % N and stream i % K, so consecutive frames always run on different streams
/// when K >= 2. Before slot s is reused, the CPU waits on the
/// event recorded after the slot's last frame, so at most N frames are in flight; frames are
/// consumed in order, each as soon as it is done (push() polls) or when its slot is needed.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <unimem/movement/copy.hpp>
#include <unimem/movement/cuda_calls.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/stream.hpp>

namespace unimem {

/// @brief Sizes of a frame pipeline.
struct pipeline_options {
  std::size_t buffers = 3;       ///< N: frames in flight, >= 1 (1 means no overlap at all)
  std::size_t streams = 2;       ///< K: CUDA streams, 1 <= K <= N
  std::size_t input_bytes = 0;   ///< one frame as the CPU produces it, > 0
  std::size_t output_bytes = 0;  ///< one frame's results; 0 for none
};

/// @brief The memory of the four buffers of each slot. Pass the same resource object for both
/// sides of a pair (host_input and device_input, or device_output and host_output) to use one
/// buffer and never copy; where the resources differ, unimem::copy decides whether the transfer
/// is needed (on an integrated GPU it usually is not, and the second buffer is not allocated).
struct pipeline_memory {
  std::shared_ptr<memory_resource> host_input;     ///< the CPU writes frames here
  std::shared_ptr<memory_resource> device_input;   ///< kernels read frames here
  std::shared_ptr<memory_resource> device_output;  ///< kernels write results here
  std::shared_ptr<memory_resource> host_output;    ///< the CPU reads results here

  /// @brief What unimem::recommend says for camera frames (cpu_writes_gpu_reads) and results
  /// (gpu_writes_cpu_reads) on `profile`: mapped zero-copy frames on a Jetson, pinned staging and
  /// device memory on a discrete GPU.
  /// @throws unsupported_error when the device cannot provide a recommended kind
  static pipeline_memory recommended(const device_profile& profile);
};

/// @brief One frame's view of its slot, handed to the stages.
struct frame_slot {
  std::size_t frame = 0;             ///< sequence number, from 0
  std::size_t index = 0;             ///< slot number, frame % buffers
  stream_view stream{};              ///< the stream the slot's GPU work goes on
  void* host_input = nullptr;        ///< produce writes the frame here
  const void* device_input = nullptr;  ///< compute reads the frame here (== host_input when elided)
  void* device_output = nullptr;     ///< compute writes results here
  const void* host_output = nullptr; ///< consume reads results here (== device_output when elided)
};

/// @brief N buffers in flight on K streams. Not thread-safe: one thread pushes.
class frame_pipeline {
 public:
  /// A stage. produce and consume run on the CPU; compute only queues work on `slot.stream`.
  /// Any stage may be empty (skipped).
  using stage = std::function<void(const frame_slot&)>;

  /// @param memory empty members are filled from pipeline_memory::recommended(profile)
  /// @throws std::invalid_argument buffers == 0, streams == 0 or > buffers, input_bytes == 0, or more
  ///         buffers or streams than a vector can hold
  /// @throws out_of_memory, cuda_error, unsupported_error from the resources and streams
  frame_pipeline(pipeline_options options, stage produce, stage compute, stage consume, pipeline_memory memory = {},
                 const device_profile& profile = device_profile::current(), cuda_calls& calls = cuda_calls::runtime());

  /// @brief Waits for the frames still in flight (without consuming them) and frees everything.
  ~frame_pipeline();

  frame_pipeline(const frame_pipeline&) = delete;
  frame_pipeline& operator=(const frame_pipeline&) = delete;

  /// @brief Processes one more frame: consumes the frames that are done, waits for the slot if it
  /// is still busy (consuming its frame), then produce, upload, compute, download, and records the
  /// slot's event. Returns once the GPU work is queued.
  /// @throws whatever a stage throws; the frame is then dropped (never consumed) and the pipeline
  ///         stays usable
  void push();

  /// @brief Waits for every frame in flight and consumes them in order.
  void drain();

  std::size_t frames_pushed() const noexcept { return next_; }
  std::size_t frames_consumed() const noexcept { return consumed_; }
  std::size_t in_flight() const noexcept { return next_ - oldest_; }
  const pipeline_options& options() const noexcept { return options_; }
  /// @brief How frames reach the kernels: none on an integrated GPU with mapped frames.
  copy_method upload_method() const noexcept { return upload_; }
  /// @brief How results reach the CPU (none when output_bytes is 0 or the copy is elided).
  copy_method download_method() const noexcept { return download_; }
  /// @brief The memory actually used (recommended kinds filled in).
  const pipeline_memory& memory() const noexcept { return memory_; }

 private:
  struct slot {
    void* host_input = nullptr;
    void* device_input = nullptr;   // null when aliased to host_input
    void* device_output = nullptr;
    void* host_output = nullptr;    // null when aliased to device_output
    CUevent_st* done = nullptr;
    std::size_t frame = 0;
    bool busy = false;
    bool failed = false;  // a stage threw: wait for its GPU work, but never consume it
  };

  frame_slot view_of(const slot& s, std::size_t frame) const;
  stream_view stream_of(std::size_t frame) const;
  void retire_oldest(bool wait);
  void attach_managed(const slot& s, stream_view stream, attach_mode mode);
  void release() noexcept;

  pipeline_options options_;
  stage produce_, compute_, consume_;
  pipeline_memory memory_;
  device_profile profile_;
  cuda_calls* calls_;
  copy_method upload_ = copy_method::none;
  copy_method download_ = copy_method::none;
  bool attach_managed_ = false;  // concurrentManagedAccess = 0 and some buffer is managed
  std::vector<CUstream_st*> streams_;
  std::vector<slot> slots_;
  std::size_t next_ = 0;      // frames pushed
  std::size_t oldest_ = 0;    // oldest frame still in flight
  std::size_t consumed_ = 0;
};

}  // namespace unimem
