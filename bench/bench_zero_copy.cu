// Zero-copy input, each beside the peer it replaces, in one run:
//   frame_ring/handoff        the ring's per-frame cost (publish, acquire, release; no waiting)
//                             vs a pipe carrying the frame index, the usual cross-process handoff;
//   frame_ring/ping_pong      a round trip between two threads through two rings (futex wake-ups)
//                             vs the same through two pipes;
//   frame_1080p/zero_copy_*   a kernel processing a 1080p RGB frame in place in a registered ring
//                             slot, or in an imported memfd (import_dmabuf),
//                             vs memcpy into pinned memory + cudaMemcpyAsync + the same kernel.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <unimem/zero_copy/dmabuf.hpp>
#include <unimem/zero_copy/frame_ring.hpp>
#include <unimem/unimem.hpp>

#include "support/bench_env.hpp"
#include "support/peer_ratio.hpp"

namespace {

namespace ub = unimem::bench;
using namespace std::chrono_literals;

std::string ring_name(const char* what) {
  static int n = 0;
  return "/unimem-bench-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(n++);
}

unimem::frame_ring_options attach() {
  unimem::frame_ring_options o;
  o.open = unimem::ring_open::attach;
  return o;
}

// ---------------------------------------------------------------------------------------------
// CPU: the handoff itself

void ring_handoff(benchmark::State& state) {
  const std::string name = ring_name("handoff");
  unimem::frame_ring_producer producer(name, 64, 4);
  unimem::frame_ring_consumer consumer(name, 0, 0, attach());
  for (auto _ : state) {
    unimem::frame_ring_producer::slot s;
    producer.try_begin_frame(s);
    static_cast<std::uint64_t*>(s.data)[0] = s.sequence;
    producer.publish(8, 0);
    unimem::frame_ring_consumer::frame f;
    consumer.acquire(f, 0ns);
    benchmark::DoNotOptimize(static_cast<std::uint64_t*>(f.data)[0]);
    consumer.release(f);
  }
}

void pipe_handoff(benchmark::State& state) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (::write(p[1], &i, sizeof(i)) != sizeof(i)) break;
    std::uint64_t got = 0;
    if (::read(p[0], &got, sizeof(got)) != sizeof(got)) break;
    benchmark::DoNotOptimize(got);
    ++i;
  }
  ::close(p[0]);
  ::close(p[1]);
}

void ring_ping_pong(benchmark::State& state) {
  const std::string ping = ring_name("ping"), pong = ring_name("pong");
  unimem::frame_ring_producer ping_out(ping, 64, 2);
  unimem::frame_ring_consumer pong_in(pong, 64, 2);
  std::thread echo([&] {
    unimem::frame_ring_consumer in(ping, 0, 0, attach());
    unimem::frame_ring_producer out(pong, 0, 0, attach());
    unimem::frame_ring_consumer::frame f;
    while (in.acquire(f, 10s) == unimem::ring_status::ok) {
      unimem::frame_ring_producer::slot s;
      if (out.begin_frame(s, 10s) != unimem::ring_status::ok) break;
      out.publish(f.bytes, f.timestamp_ns);
      in.release(f);
    }
  });
  for (auto _ : state) {
    unimem::frame_ring_producer::slot s;
    ping_out.begin_frame(s, 10s);
    ping_out.publish(8);
    unimem::frame_ring_consumer::frame f;
    pong_in.acquire(f, 10s);
    pong_in.release(f);
  }
  ping_out.close();
  echo.join();
}

void pipe_ping_pong(benchmark::State& state) {
  int a[2], b[2];
  if (::pipe2(a, O_CLOEXEC) != 0 || ::pipe2(b, O_CLOEXEC) != 0) {
    state.SkipWithError("pipe2 failed");
    return;
  }
  std::thread echo([&] {
    std::uint64_t v = 0;
    while (::read(a[0], &v, sizeof(v)) == sizeof(v)) {
      if (::write(b[1], &v, sizeof(v)) != sizeof(v)) break;
    }
  });
  std::uint64_t i = 0;
  for (auto _ : state) {
    if (::write(a[1], &i, sizeof(i)) != sizeof(i)) break;
    std::uint64_t got = 0;
    if (::read(b[0], &got, sizeof(got)) != sizeof(got)) break;
    ++i;
  }
  ::close(a[1]);  // the echo thread's read returns 0
  echo.join();
  ::close(a[0]);
  ::close(b[0]);
  ::close(b[1]);
}

// ---------------------------------------------------------------------------------------------
// GPU: a 1080p RGB frame, processed in place vs copied and uploaded

constexpr int width = 1920, height = 1080;
constexpr std::size_t frame_bytes = std::size_t{width} * height * 3;

// Reads and rewrites every 32-bit word of the frame (a brightness inversion): the memory traffic of
// any in-place per-pixel operation.
__global__ void invert_frame(std::uint32_t* words, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    words[i] = ~words[i];
  }
}

void launch_invert(void* p, cudaStream_t stream) {
  const std::size_t n = frame_bytes / 4;
  invert_frame<<<1024, 256, 0, stream>>>(static_cast<std::uint32_t*>(p), n);
}

/// Times the kernel in place on the frame at `device_data`: one launch and wait per iteration, after
/// one untimed warm-up launch.
void time_invert_in_place(benchmark::State& state, void* device_data) {
  cudaStream_t stream = nullptr;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  launch_invert(device_data, stream);  // warm-up
  cudaStreamSynchronize(stream);
  for (auto _ : state) {
    launch_invert(device_data, stream);
    if (cudaStreamSynchronize(stream) != cudaSuccess) {
      state.SkipWithError("kernel failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame_bytes));
  cudaStreamDestroy(stream);
}

/// A ring of two frame slots, named after `what`, whose consumer holds one published frame (bytes
/// 0x5a) from construction to destruction.
struct one_frame_ring {
  one_frame_ring(const char* what, bool register_with_cuda)
      : consumer(ring_name(what), frame_bytes, 2), producer(consumer.name(), 0, 0, attach()) {
    unimem::frame_ring_producer::slot s;
    producer.try_begin_frame(s);
    std::memset(s.data, 0x5a, frame_bytes);
    producer.publish(frame_bytes);
    if (register_with_cuda) consumer.register_with_cuda();
    consumer.acquire(frame, 1s);
  }
  ~one_frame_ring() { consumer.release(frame); }
  one_frame_ring(const one_frame_ring&) = delete;
  one_frame_ring& operator=(const one_frame_ring&) = delete;

  unimem::frame_ring_consumer consumer;
  unimem::frame_ring_producer producer;
  unimem::frame_ring_consumer::frame frame;
};

void zero_copy_ring_slot(benchmark::State& state) {
  one_frame_ring ring("zc", true);
  time_invert_in_place(state, ring.frame.device_data);
}

void zero_copy_imported_memfd(benchmark::State& state) {
  unimem::dmabuf_allocation a = unimem::allocate_dmabuf(frame_bytes, unimem::dmabuf_source::memfd, "bench");
  unimem::dmabuf_import imp = unimem::import_dmabuf(a.fd.get(), frame_bytes);
  std::memset(imp.host_pointer(), 0x5a, frame_bytes);
  time_invert_in_place(state, imp.device_pointer());
}

void copy_to_pinned_and_upload(benchmark::State& state) {
  // The frame sits in a shared-memory slot as in the zero-copy case; the baseline copies it out.
  one_frame_ring ring("copy", false);
  const unimem::frame_ring_consumer::frame& f = ring.frame;
  void* pinned = nullptr;
  void* device = nullptr;
  cudaStream_t stream = nullptr;
  if (cudaMallocHost(&pinned, frame_bytes) != cudaSuccess || cudaMalloc(&device, frame_bytes) != cudaSuccess ||
      cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
    state.SkipWithError("CUDA allocation failed");
    return;
  }
  auto once = [&] {
    std::memcpy(pinned, f.data, frame_bytes);
    cudaMemcpyAsync(device, pinned, frame_bytes, cudaMemcpyHostToDevice, stream);
    launch_invert(device, stream);
    return cudaStreamSynchronize(stream);
  };
  once();
  for (auto _ : state) {
    if (once() != cudaSuccess) {
      state.SkipWithError("copy or kernel failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame_bytes));
  cudaStreamDestroy(stream);
  cudaFree(device);
  cudaFreeHost(pinned);
}

/// Why the 1080p frame cases cannot run here ("" when they can): a kernel works on a frame in
/// shared memory registered with CUDA (the ring slot; the memfd, which only Thor could import
/// natively, is registered too).
std::string frame_cases_unsupported() {
  using unimem::device_profile;
  if (std::string why = ub::needs_capability("registering shared memory with CUDA",
                                             &device_profile::host_register_supported, "hostRegisterSupported",
                                             ", as on Jetson Nano and TX2");
      !why.empty()) {
    return why;
  }
  return ub::needs_capability("a kernel using registered memory in place", &device_profile::can_map_host_memory,
                              "canMapHostMemory");
}

}  // namespace

int main(int argc, char** argv) {
  ub::create_cuda_context();
  ub::add("frame_ring/handoff", ring_handoff);
  ub::add("pipe/handoff", pipe_handoff);
  ub::add("frame_ring/ping_pong", ring_ping_pong)->UseRealTime();
  ub::add("pipe/ping_pong", pipe_ping_pong)->UseRealTime();
  const std::string frames_why = frame_cases_unsupported();
  const std::string copy_why = ub::gpu().ok ? std::string() : ub::no_gpu_reason();
  const std::pair<const char*, void (*)(benchmark::State&)> frame_cases[] = {
      {"frame_1080p/zero_copy_ring_slot", zero_copy_ring_slot},
      {"frame_1080p/zero_copy_imported_memfd", zero_copy_imported_memfd},
      {"frame_1080p/copy_to_pinned_and_upload", copy_to_pinned_and_upload},
  };
  for (const auto& [name, fn] : frame_cases) {
    const std::string& why = fn == copy_to_pinned_and_upload ? copy_why : frames_why;
    if (why.empty()) ub::add(name, fn)->UseRealTime();
    else ub::leave_out(name, why);
  }
  unimem::bench::compare("frame_ring/handoff", "pipe/handoff");
  unimem::bench::compare("frame_ring/ping_pong/real_time", "pipe/ping_pong/real_time");
  unimem::bench::compare("frame_1080p/zero_copy_ring_slot/real_time", "frame_1080p/copy_to_pinned_and_upload/real_time");
  unimem::bench::compare("frame_1080p/zero_copy_imported_memfd/real_time",
                         "frame_1080p/copy_to_pinned_and_upload/real_time");
  return unimem::bench::run_with_peer_table(argc, argv);
}
