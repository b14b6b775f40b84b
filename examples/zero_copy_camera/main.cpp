// Zero-copy camera frames between two processes.
//
// A producer process (the "camera") writes synthetic 1080p RGB frames into a unimem frame ring in
// POSIX shared memory at a target rate. A consumer process (the "inference") runs a CUDA kernel on
// each frame:
//   zero-copy: the ring's slot area is registered with CUDA once; the kernel reads and rewrites
//              the frame where the producer wrote it;
//   copy:      the baseline: memcpy of each frame into pinned memory, cudaMemcpyAsync to device
//              memory, the same kernel on the device copy.
// Each mode prints frames/s, the latency from publish to kernel completion (p50, p99) and the CPU
// time both processes spent per frame.
//
//   zero_copy_camera [--frames 300] [--fps 60] [--mode both|zero-copy|copy] [--slots 4]
//                    [--width 1920] [--height 1080]
//   --fps 0: the producer waits for free slots instead of dropping frames (maximum throughput).
//   --role consumer|producer --ring /name: run the two ends yourself (start the consumer first).
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <cuda_runtime.h>
#include <unimem/unimem.hpp>
#include <unimem/zero_copy/frame_ring.hpp>

#include "frame_kernels.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

struct config {
  int width = 1920;
  int height = 1080;
  int frames = 300;
  double fps = 60;
  std::uint32_t slots = 4;
  std::string mode = "both";
  std::string role = "both";
  std::string ring;
  int report_fd = -1;
  std::size_t frame_bytes() const { return static_cast<std::size_t>(width) * height * 3; }
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "zero_copy_camera: %s\nusage: zero_copy_camera [--frames N] [--fps F] [--mode both|zero-copy|copy] "
               "[--slots S] [--width W] [--height H] [--role both|consumer|producer] [--ring /name]\n",
               why);
  std::exit(2);
}

config parse(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + key).c_str());
    const char* v = argv[++i];
    if (key == "--frames") c.frames = std::atoi(v);
    else if (key == "--fps") c.fps = std::atof(v);
    else if (key == "--slots") c.slots = static_cast<std::uint32_t>(std::atoi(v));
    else if (key == "--width") c.width = std::atoi(v);
    else if (key == "--height") c.height = std::atoi(v);
    else if (key == "--mode") c.mode = v;
    else if (key == "--role") c.role = v;
    else if (key == "--ring") c.ring = v;
    else if (key == "--report-fd") c.report_fd = std::atoi(v);
    else usage(("unknown option " + key).c_str());
  }
  if (c.frames <= 0 || c.fps < 0 || c.slots == 0 || c.width <= 0 || c.height <= 0) usage("bad value");
  if ((static_cast<long long>(c.width) * c.height) % 4 != 0) usage("width x height must be a multiple of 4");
  if (c.mode != "both" && c.mode != "zero-copy" && c.mode != "copy") usage("--mode is both, zero-copy or copy");
  return c;
}

std::uint64_t cpu_ns() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& t) { return std::uint64_t(t.tv_sec) * 1'000'000'000ULL + std::uint64_t(t.tv_usec) * 1000; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// ---------------------------------------------------------------------------------------------
// The camera

// Pixel (x, y) of frame `seq`: R = x + seq, G = y + seq, B = x + y (mod 256); the kernel checks it.
void fill_synthetic_frame(std::uint8_t* rgb, int width, int height, std::uint64_t seq) {
  const auto s = static_cast<std::uint8_t>(seq);
  for (int y = 0; y < height; ++y) {
    std::uint8_t* row = rgb + static_cast<std::size_t>(y) * width * 3;
    const auto g = static_cast<std::uint8_t>(y + s);
    for (int x = 0; x < width; ++x) {
      row[3 * x] = static_cast<std::uint8_t>(x + s);
      row[3 * x + 1] = g;
      row[3 * x + 2] = static_cast<std::uint8_t>(x + y);
    }
  }
}

int run_producer(const config& c) {
  unimem::frame_ring_options options;
  options.open = unimem::ring_open::attach;
  // The consumer creates the ring; give it a moment if both were started together.
  std::unique_ptr<unimem::frame_ring_producer> ring;
  for (int attempt = 0; !ring; ++attempt) {
    try {
      ring = std::make_unique<unimem::frame_ring_producer>(c.ring, c.frame_bytes(), c.slots, options);
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::no_such_file_or_directory || attempt == 500) throw;
      std::this_thread::sleep_for(10ms);
    }
  }
  const std::uint64_t cpu0 = cpu_ns();
  const std::uint64_t period = c.fps > 0 ? static_cast<std::uint64_t>(1e9 / c.fps) : 0;
  const std::uint64_t start = unimem::monotonic_ns();
  std::uint64_t published = 0, dropped = 0;
  for (int i = 0; i < c.frames; ++i) {
    unimem::frame_ring_producer::slot s;
    if (period != 0) {
      const std::uint64_t due = start + static_cast<std::uint64_t>(i) * period;
      timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
      // A camera does not wait for its consumer: a full ring drops the frame.
      if (!ring->try_begin_frame(s)) {
        ++dropped;
        continue;
      }
    } else {
      const unimem::ring_status st = ring->begin_frame(s, 10s);
      if (st != unimem::ring_status::ok) {
        std::fprintf(stderr, "producer: %s\n", std::string(unimem::to_string(st)).c_str());
        break;
      }
    }
    fill_synthetic_frame(static_cast<std::uint8_t*>(s.data), c.width, c.height, s.sequence);
    ring->publish(c.frame_bytes());  // timestamped now: latency runs from here
    ++published;
  }
  ring->close();
  const std::uint64_t cpu = cpu_ns() - cpu0;
  if (c.report_fd >= 0) {
    dprintf(c.report_fd, "%llu %llu %llu\n", static_cast<unsigned long long>(published),
            static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(cpu));
  } else {
    std::printf("producer: %llu frames published, %llu dropped, %.3f ms CPU per frame\n",
                static_cast<unsigned long long>(published), static_cast<unsigned long long>(dropped),
                published ? cpu / 1e6 / published : 0.0);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The inference process

struct producer_process {
  pid_t pid = -1;
  int report = -1;
};

producer_process spawn_producer(const config& c) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 3);  // dup2 clears close-on-exec on fd 3
  const std::string frames = std::to_string(c.frames), fps = std::to_string(c.fps),
                    slots = std::to_string(c.slots), w = std::to_string(c.width), h = std::to_string(c.height);
  std::vector<const char*> args = {"zero_copy_camera", "--role", "producer", "--ring", c.ring.c_str(),
                                   "--frames", frames.c_str(), "--fps", fps.c_str(), "--slots", slots.c_str(),
                                   "--width", w.c_str(), "--height", h.c_str(), "--report-fd", "3", nullptr};
  producer_process pp;
  const int rc = ::posix_spawn(&pp.pid, "/proc/self/exe", &fa, nullptr, const_cast<char* const*>(args.data()),
                               environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  if (rc != 0) {
    ::close(p[0]);
    throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  }
  pp.report = p[0];
  return pp;
}

struct result {
  std::string mode;
  std::size_t frames = 0;
  unsigned long long published = 0, dropped = 0;
  double fps = 0, p50_ms = 0, p99_ms = 0;
  double consumer_cpu_ms = 0, consumer_cpu_pct = 0, producer_cpu_ms = 0;
  double setup_ms = 0;
  unsigned long long mismatches = 0;
  std::string ended;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

result run_consumer(config c, bool zero_copy, bool spawn) {
  const std::size_t bytes = c.frame_bytes();
  if (c.ring.empty()) c.ring = "/unimem-camera-" + std::to_string(::getpid()) + (zero_copy ? "-zc" : "-copy");
  unimem::frame_ring_consumer ring(c.ring, bytes, c.slots);

  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  unsigned long long* mismatches = nullptr;
  std::uint8_t* device_frame = nullptr;
  std::uint8_t* pinned = nullptr;
  check(cudaMalloc(&mismatches, sizeof(*mismatches)), "cudaMalloc(counter)");
  check(cudaMalloc(&device_frame, bytes), "cudaMalloc(frame)");

  // Setup, outside the timed loop: the one registration of the ring (zero-copy) or the pinned
  // staging buffer (copy), and one warm-up launch so the first frame does not pay for module load.
  const auto t0 = std::chrono::steady_clock::now();
  if (zero_copy) {
    ring.register_with_cuda();
  } else {
    check(cudaMallocHost(&pinned, bytes), "cudaMallocHost");
  }
  const double setup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  camera::launch_process_frame(device_frame, c.width, c.height, 0, mismatches, stream);
  check(cudaStreamSynchronize(stream), "warm-up");
  check(cudaMemset(mismatches, 0, sizeof(*mismatches)), "cudaMemset");

  producer_process producer;
  if (spawn) producer = spawn_producer(c);

  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<std::size_t>(c.frames));
  std::uint64_t first_ns = 0, last_ns = 0, cpu0 = 0;
  result r;
  r.mode = zero_copy ? "zero-copy" : "copy";
  r.setup_ms = setup_ms;
  for (;;) {
    unimem::frame_ring_consumer::frame f;
    const unimem::ring_status st = ring.acquire(f, 10s);
    if (st != unimem::ring_status::ok) {
      r.ended = std::string(unimem::to_string(st));
      break;
    }
    if (latency_ms.empty()) {
      first_ns = f.timestamp_ns;
      cpu0 = cpu_ns();
    }
    if (zero_copy) {
      camera::launch_process_frame(static_cast<std::uint8_t*>(f.device_data), c.width, c.height, f.sequence,
                                   mismatches, stream);
      check(cudaStreamSynchronize(stream), "process_frame");
      ring.release(f);  // after the kernel: it worked in the slot
    } else {
      std::memcpy(pinned, f.data, bytes);
      ring.release(f);  // the slot is free as soon as it is copied
      check(cudaMemcpyAsync(device_frame, pinned, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
      camera::launch_process_frame(device_frame, c.width, c.height, f.sequence, mismatches, stream);
      check(cudaStreamSynchronize(stream), "process_frame");
    }
    last_ns = unimem::monotonic_ns();
    latency_ms.push_back(static_cast<double>(last_ns - f.timestamp_ns) / 1e6);
  }
  const std::uint64_t cpu = latency_ms.empty() ? 0 : cpu_ns() - cpu0;

  if (spawn) {
    FILE* in = ::fdopen(producer.report, "r");
    unsigned long long producer_cpu_ns = 0;
    if (in == nullptr || std::fscanf(in, "%llu %llu %llu", &r.published, &r.dropped, &producer_cpu_ns) != 3) {
      r.published = r.dropped = producer_cpu_ns = 0;
    }
    r.producer_cpu_ms = r.published ? static_cast<double>(producer_cpu_ns) / 1e6 / static_cast<double>(r.published) : 0;
    if (in) std::fclose(in);
    int status = 0;
    ::waitpid(producer.pid, &status, 0);
  }
  r.frames = latency_ms.size();
  const double wall_s = static_cast<double>(last_ns - first_ns) / 1e9;
  r.fps = wall_s > 0 ? static_cast<double>(r.frames) / wall_s : 0;
  r.p50_ms = percentile(latency_ms, 0.50);
  r.p99_ms = percentile(latency_ms, 0.99);
  r.consumer_cpu_ms = r.frames ? static_cast<double>(cpu) / 1e6 / static_cast<double>(r.frames) : 0;
  r.consumer_cpu_pct = wall_s > 0 ? 100.0 * static_cast<double>(cpu) / 1e9 / wall_s : 0;
  check(cudaMemcpy(&r.mismatches, mismatches, sizeof(r.mismatches), cudaMemcpyDeviceToHost), "read counter");

  if (pinned) cudaFreeHost(pinned);
  cudaFree(device_frame);
  cudaFree(mismatches);
  cudaStreamDestroy(stream);
  return r;
}

void print(const std::vector<result>& results) {
  std::printf("\n%-10s %7s %8s %8s %10s %10s %14s %8s %14s %10s %11s\n", "mode", "frames", "dropped", "fps",
              "p50 ms", "p99 ms", "consumer CPU", "CPU %", "producer CPU", "setup ms", "mismatches");
  std::printf("%-10s %7s %8s %8s %10s %10s %14s %8s %14s %10s %11s\n", "", "", "", "", "", "", "ms/frame",
              "of core", "ms/frame", "", "");
  for (const result& r : results) {
    std::printf("%-10s %7zu %8llu %8.1f %10.3f %10.3f %14.3f %8.1f %14.3f %10.2f %11llu   (%s)\n", r.mode.c_str(),
                r.frames, r.dropped, r.fps, r.p50_ms, r.p99_ms, r.consumer_cpu_ms, r.consumer_cpu_pct,
                r.producer_cpu_ms, r.setup_ms, r.mismatches, r.ended.c_str());
  }
  if (results.size() == 2 && results[0].p50_ms > 0) {
    std::printf("\nzero-copy vs copy: latency p50 %.2fx, consumer CPU per frame %.2fx (below 1: zero-copy is better)\n",
                results[0].p50_ms / results[1].p50_ms,
                results[1].consumer_cpu_ms > 0 ? results[0].consumer_cpu_ms / results[1].consumer_cpu_ms : 0.0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const config c = parse(argc, argv);
    if (c.role == "producer") {
      if (c.ring.empty()) usage("--role producer needs --ring /name");
      return run_producer(c);
    }
    if (c.role != "both" && c.role != "consumer") usage("--role is both, consumer or producer");
    if (c.role == "consumer" && c.ring.empty()) usage("--role consumer needs --ring /name (the producer's too)");

    std::string why;
    if (unimem::cuda_device_count(&why) == 0) {
      std::fprintf(stderr, "zero_copy_camera: the consumer needs a CUDA GPU: %s\n", why.c_str());
      return 1;
    }
    // Block (not spin) in cudaStreamSynchronize, so the CPU time measured is work, not polling.
    check(cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync), "cudaSetDeviceFlags");
    const unimem::device_profile profile = unimem::device_profile::current();
    std::printf("zero_copy_camera: %dx%d RGB (%zu B per frame), %d frames at %s, %u slots; %s (%s)\n", c.width,
                c.height, c.frame_bytes(), c.frames, c.fps > 0 ? (std::to_string(c.fps) + " fps").c_str() : "full speed",
                c.slots, profile.name.c_str(), profile.integrated ? "integrated: zero-copy reads DRAM in place"
                                                                  : "discrete: zero-copy reads cross PCIe");
    std::vector<result> results;
    const bool spawn = c.role == "both";
    if (c.mode != "copy") results.push_back(run_consumer(c, true, spawn));
    if (c.mode != "zero-copy") results.push_back(run_consumer(c, false, spawn));
    print(results);
    for (const result& r : results) {
      if (r.mismatches != 0 || r.frames == 0) return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zero_copy_camera: %s\n", e.what());
    return 1;
  }
}
