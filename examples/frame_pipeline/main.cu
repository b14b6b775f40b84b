// A synthetic camera stream through unimem::frame_pipeline, with and without overlap.
//
// Each frame: the "camera" (the CPU) writes an RGBA frame into the pipeline's input buffer, the
// frame is uploaded (or, on a Jetson, read in place), a kernel turns it into an 8-bit map with a
// per-pixel arithmetic loop standing in for a model, the map comes back (or is read in place), and
// the CPU checks a few pixels. The same frames run with 1 buffer on 1 stream (every stage waits for
// the previous one) and with several buffers on several streams (the upload of frame i+1 overlaps
// the compute on frame i, and the CPU fills frame i+2 meanwhile). Printed: frames/s and the latency
// of each frame from the moment the camera starts writing it to the moment its result is checked.
//
//   frame_pipeline [--frames 300] [--width 1920] [--height 1080] [--passes 1024]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include <unimem/unimem.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  std::size_t frames = 300;
  std::size_t width = 1920;
  std::size_t height = 1080;
  int passes = 1024;  // dependent integer steps per pixel: the "model" (about 0.2 ms on an H100)
};

// The stand-in model, shared by the kernel and the CPU check of sample pixels.
__host__ __device__ inline std::uint8_t model(std::uint32_t rgba, int passes) {
  const std::uint32_t r = rgba & 0xff, g = (rgba >> 8) & 0xff, b = (rgba >> 16) & 0xff;
  std::uint32_t v = (r * 77 + g * 150 + b * 29) >> 8;
  for (int i = 0; i < passes; ++i) v = (v * 1103515245u + 12345u) ^ (v >> 7);
  return static_cast<std::uint8_t>(v);
}

__global__ void model_kernel(const std::uint32_t* frame, std::uint8_t* out, std::size_t pixels, int passes) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < pixels;
       i += std::size_t{gridDim.x} * blockDim.x) {
    out[i] = model(frame[i], passes);
  }
}

// The sensor: a few pre-rendered frames that the camera "DMA" copies from, so producing a frame
// costs a memcpy, as a camera driver's copy into the application's buffer does.
std::vector<std::vector<std::uint32_t>> render_sensor(std::size_t pixels) {
  std::vector<std::vector<std::uint32_t>> frames(4, std::vector<std::uint32_t>(pixels));
  for (std::size_t f = 0; f < frames.size(); ++f) {
    for (std::size_t i = 0; i < pixels; ++i) {
      frames[f][i] = static_cast<std::uint32_t>((i * 2654435761u) ^ (f * 40503u)) | 0xff000000u;
    }
  }
  return frames;
}

struct result {
  double fps = 0;
  double mean_ms = 0, p50_ms = 0, p99_ms = 0;
  std::size_t wrong = 0;
  unimem::copy_method upload = unimem::copy_method::none, download = unimem::copy_method::none;
};

result run(const settings& s, std::size_t buffers, std::size_t streams, const unimem::device_profile& profile,
           const std::vector<std::vector<std::uint32_t>>& sensor) {
  const std::size_t pixels = s.width * s.height;
  std::vector<clock_type::time_point> started(s.frames + 64);
  std::vector<double> latency_ms;
  latency_ms.reserve(s.frames);
  std::size_t wrong = 0;
  std::size_t warmup = 16;
  int grid = 0;
  cudaDeviceGetAttribute(&grid, cudaDevAttrMultiProcessorCount, profile.device);
  grid *= 4;

  unimem::frame_pipeline pipe(
      unimem::pipeline_options{buffers, streams, pixels * 4, pixels},
      [&](const unimem::frame_slot& f) {  // the camera
        started[f.frame] = clock_type::now();
        std::memcpy(f.host_input, sensor[f.frame % sensor.size()].data(), pixels * 4);
      },
      [&](const unimem::frame_slot& f) {  // the model
        model_kernel<<<grid, 256, 0, f.stream.value()>>>(static_cast<const std::uint32_t*>(f.device_input),
                                                         static_cast<std::uint8_t*>(f.device_output), pixels, s.passes);
        const cudaError_t err = cudaGetLastError();
        if (err != cudaSuccess) throw unimem::cuda_error("model_kernel launch", static_cast<int>(err));
      },
      [&](const unimem::frame_slot& f) {  // the consumer: checks a few pixels, records latency
        const auto* out = static_cast<const std::uint8_t*>(f.host_output);
        const auto& in = sensor[f.frame % sensor.size()];
        for (std::size_t i = 0; i < pixels; i += pixels / 7 + 1) wrong += out[i] != model(in[i], s.passes);
        if (f.frame >= warmup) {
          latency_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - started[f.frame]).count());
        }
      },
      {}, profile);

  for (std::size_t i = 0; i < warmup; ++i) pipe.push();
  pipe.drain();
  const auto t0 = clock_type::now();
  for (std::size_t i = 0; i < s.frames; ++i) pipe.push();
  pipe.drain();
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();

  result r;
  r.fps = static_cast<double>(s.frames) / seconds;
  std::sort(latency_ms.begin(), latency_ms.end());
  double sum = 0;
  for (double l : latency_ms) sum += l;
  r.mean_ms = sum / static_cast<double>(latency_ms.size());
  r.p50_ms = latency_ms[latency_ms.size() / 2];
  r.p99_ms = latency_ms[std::min(latency_ms.size() - 1, latency_ms.size() * 99 / 100)];
  r.wrong = wrong;
  r.upload = pipe.upload_method();
  r.download = pipe.download_method();
  return r;
}

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const unsigned long long v = std::strtoull(argv[i + 1], nullptr, 10);
    if (k == "--frames") s.frames = v;
    else if (k == "--width") s.width = v;
    else if (k == "--height") s.height = v;
    else if (k == "--passes") s.passes = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown option %s; use --frames, --width, --height, --passes\n", k.c_str());
      std::exit(2);
    }
  }
  if (s.frames < 10 || s.width == 0 || s.height == 0) {
    std::fprintf(stderr, "need --frames >= 10 and a non-empty frame\n");
    std::exit(2);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const settings s = parse(argc, argv);
  std::string why;
  if (unimem::cuda_device_count(&why) == 0) {
    std::printf("frame_pipeline needs a CUDA GPU: %s\n", why.c_str());
    return 1;
  }
  const unimem::device_profile profile = unimem::device_profile::current();
  const auto sensor = render_sensor(s.width * s.height);
  std::printf("%s (%s), %zux%zu RGBA frames (%.1f MiB in, %.1f MiB out), %d passes per pixel, %zu frames\n",
              profile.name.c_str(), profile.integrated ? "integrated" : "discrete", s.width, s.height,
              static_cast<double>(s.width * s.height * 4) / (1 << 20), static_cast<double>(s.width * s.height) / (1 << 20),
              s.passes, s.frames);

  struct config {
    const char* name;
    std::size_t buffers, streams;
  };
  const config configs[] = {{"no overlap", 1, 1}, {"overlap", 3, 2}, {"overlap", 4, 4}};
  std::printf("\n%-12s %7s %7s %10s %10s %10s %10s  %s\n", "", "buffers", "streams", "frames/s", "mean ms", "p50 ms",
              "p99 ms", "upload/download");
  double serial_fps = 0;
  int status = 0;
  for (const config& c : configs) {
    const result r = run(s, c.buffers, c.streams, profile, sensor);
    if (c.buffers == 1) serial_fps = r.fps;
    std::printf("%-12s %7zu %7zu %10.1f %10.3f %10.3f %10.3f  %s/%s", c.name, c.buffers, c.streams, r.fps, r.mean_ms,
                r.p50_ms, r.p99_ms, std::string(unimem::to_string(r.upload)).c_str(),
                std::string(unimem::to_string(r.download)).c_str());
    if (c.buffers > 1 && serial_fps > 0) std::printf("   %.2fx the frames/s of no overlap", r.fps / serial_fps);
    std::printf("\n");
    if (r.wrong != 0) {
      std::printf("  ERROR: %zu checked pixels were wrong\n", r.wrong);
      status = 1;
    }
  }
  return status;
}
