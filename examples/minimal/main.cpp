// The smallest useful unimem program: ask the policy which memory suits camera frames on this
// device, build that resource, and use it. Without a GPU it shows the answer for a Jetson AGX Orin.
#include <cstdio>
#include <cstring>

#include <unimem/unimem.hpp>

int main() {
  std::printf("unimem %s\n", unimem::version());

  std::string why;
  const bool have_gpu = unimem::cuda_device_count(&why) > 0;
  const unimem::device_profile profile =
      have_gpu ? unimem::device_profile::current() : unimem::device_profile::jetson_agx_orin();
  if (!have_gpu) std::printf("no CUDA GPU (%s); showing a simulated board\n", why.c_str());

  const auto rec = unimem::recommend(profile, unimem::access_pattern::cpu_writes_gpu_reads);
  std::printf("%s: camera frames -> %s memory\n  because %s\n", profile.name.c_str(),
              std::string(unimem::to_string(rec.kind)).c_str(), rec.reason.c_str());

  // Host memory works everywhere; the recommended kind needs the GPU it was chosen for.
  unimem::host_resource host;
  const std::size_t frame_bytes = 1920 * 1080 * 3;
  void* frame = host.allocate(frame_bytes);
  std::memset(frame, 0, frame_bytes);
  host.deallocate(frame, frame_bytes);

  if (have_gpu) {
    auto mr = unimem::make_resource(rec.staging.value_or(rec.kind), profile);
    void* p = mr->allocate(frame_bytes);
    std::printf("allocated a %zu-byte frame from %s\n", frame_bytes, std::string(mr->name()).c_str());
    mr->deallocate(p, frame_bytes);
  }
  return 0;
}
