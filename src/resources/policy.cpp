#include <unimem/resources/policy.hpp>

#include <fmt/format.h>

#include <unimem/resources/device_resource.hpp>
#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/resources/mapped_resource.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/resources/registered_resource.hpp>

namespace unimem {

std::string_view to_string(access_pattern p) noexcept {
  switch (p) {
    case access_pattern::gpu_scratch: return "gpu_scratch";
    case access_pattern::cpu_writes_gpu_reads: return "cpu_writes_gpu_reads";
    case access_pattern::cpu_gpu_shared: return "cpu_gpu_shared";
    case access_pattern::gpu_writes_cpu_reads: return "gpu_writes_cpu_reads";
    case access_pattern::weights: return "weights";
  }
  return "unknown";
}

namespace {

recommendation discrete(const device_profile& p, access_pattern pattern) {
  switch (pattern) {
    case access_pattern::gpu_scratch:
      return {memory_kind::device, std::nullopt, false, false,
              "discrete GPU: device memory is the only memory at full bandwidth for kernels"};
    case access_pattern::cpu_writes_gpu_reads:
      return {memory_kind::device, memory_kind::pinned, true, false,
              "discrete GPU: kernels reading host memory cross PCIe on every access; stage in pinned "
              "memory and copy asynchronously (pageable copies are synchronous and several times slower)"};
    case access_pattern::cpu_gpu_shared:
      if (p.managed_memory && p.concurrent_managed_access) {
        return {memory_kind::managed, std::nullopt, false, false,
                "discrete GPU with concurrentManagedAccess = 1: managed memory migrates on demand; "
                "prefetch to the side that works on it next"};
      }
      return {memory_kind::device, memory_kind::pinned, true, true,
              "discrete GPU without concurrent managed access: keep the state in device memory and copy "
              "through pinned memory at synchronisation points"};
    case access_pattern::gpu_writes_cpu_reads:
      return {memory_kind::device, memory_kind::pinned, true, true,
              "discrete GPU: write results to device memory and copy them into pinned memory "
              "asynchronously; the CPU reads pinned memory at full cache speed"};
    case access_pattern::weights:
      return {memory_kind::device, memory_kind::pinned, true, false,
              "discrete GPU: kernels read weights on every run, so they live in device memory; load the "
              "file into pinned staging and copy it asynchronously"};
  }
  return {};
}

recommendation integrated(const device_profile& p, access_pattern pattern) {
  const bool cma = p.concurrent_managed_access;
  switch (pattern) {
    case access_pattern::gpu_scratch:
      return {memory_kind::device, std::nullopt, false, false,
              "integrated GPU: device memory is cached for the GPU and never needs CPU coherence"};
    case access_pattern::cpu_writes_gpu_reads:
      // Written once by the CPU and read once by the GPU: caching buys little either way, and the
      // mapped pointer lets the kernel read the frame where the CPU wrote it, with no copy.
      return {memory_kind::mapped, std::nullopt, false, false,
              fmt::format("integrated GPU (CC {}.{}): shared DRAM, so mapped zero-copy memory lets the kernel "
                          "read the frame where the CPU wrote it; no staging copy",
                          p.cc_major, p.cc_minor)};
    case access_pattern::cpu_gpu_shared:
      return {memory_kind::managed, std::nullopt, false, !cma,
              cma ? "integrated GPU with concurrentManagedAccess = 1: managed memory is cached on both sides "
                    "and the CPU may touch it while kernels run"
                  : "integrated GPU with concurrentManagedAccess = 0: managed memory is the only kind cached "
                    "on both CPU and GPU, but the CPU must not touch it while a kernel runs; synchronise "
                    "(or attach it to the host) first"};
    case access_pattern::gpu_writes_cpu_reads:
      if (!p.io_coherent()) {
        return {memory_kind::managed, std::nullopt, false, true,
                fmt::format("integrated GPU with CC {}.{} < 7.2: pinned and mapped memory are uncached on the "
                            "CPU (reads 7-12x slower); managed memory is CPU-cached, read it after the "
                            "kernel is synchronised",
                            p.cc_major, p.cc_minor)};
      }
      return {memory_kind::mapped, std::nullopt, false, true,
              fmt::format("I/O-coherent integrated GPU (CC {}.{} >= 7.2): mapped memory is cached on the CPU, "
                          "so results are read in place with no copy once the kernel is done",
                          p.cc_major, p.cc_minor)};
    case access_pattern::weights:
      // Read on every run: pinned and mapped memory would be one read from the file too, but
      // uncached for the iGPU on every inference. Managed memory is cached on both sides.
      return {memory_kind::managed, std::nullopt, false, !cma,
              cma ? "integrated GPU with concurrentManagedAccess = 1: managed memory is cached on both sides, "
                    "so the loader reads the file straight into it and kernels read it through the GPU's caches"
                  : "integrated GPU with concurrentManagedAccess = 0: managed memory is cached on both sides, so "
                    "the loader reads the file straight into it; allocate it attached to the host so a load may "
                    "run while other kernels do, then attach it globally (prefetch) before its first kernel"};
  }
  return {};
}

}  // namespace

recommendation recommend(const device_profile& profile, access_pattern pattern) {
  return profile.integrated ? integrated(profile, pattern) : discrete(profile, pattern);
}

std::unique_ptr<memory_resource> make_resource(memory_kind kind, const device_profile& profile) {
  switch (kind) {
    case memory_kind::host: return std::make_unique<host_resource>();
    case memory_kind::pinned: return std::make_unique<pinned_resource>(pinned_options{}, profile);
    case memory_kind::mapped: return std::make_unique<mapped_resource>(false, profile);
    case memory_kind::registered: return std::make_unique<registered_resource>(profile);
    case memory_kind::device: return std::make_unique<device_resource>();
    case memory_kind::managed: return std::make_unique<managed_resource>(managed_attach::global, profile);
  }
  throw unsupported_error(fmt::format("unimem::make_resource: unknown memory_kind {}", static_cast<int>(kind)));
}

}  // namespace unimem
