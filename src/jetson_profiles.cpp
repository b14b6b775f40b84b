// Simulated device profiles. Each constant cites where it comes from:
//  [DS]   the module's NVIDIA data sheet / Jetson "Technical Specifications" page (cores, memory
//         type, bus width, clock, peak bandwidth);
//  [TEGRA] "CUDA for Tegra" application note, section "Memory Management" (pinned memory is
//         uncached on the CPU below CC 7.2; I/O coherency from Xavier; cudaHostRegister not
//         supported on Nano/TX2; no concurrent managed access before Thor);
//  [DQ]   deviceQuery output published for the board (attribute values);
//  [JP]   the CUDA version its JetPack ships (JetPack 4.6 -> 10.2, 5.x -> 11.4, 6.x -> 12.2/12.6,
//         7.0 -> 13.0); memory pools need CUDA >= 11.2.
// Memory clock is the DRAM I/O clock; the data rate is twice that, so
// bandwidth = bus_width / 8 * clock * 2.
#include <unimem/device_profile.hpp>

namespace unimem {
namespace {

constexpr std::size_t GiB = std::size_t{1} << 30;

device_profile jetson_base(const char* name) {
  device_profile p;
  p.name = name;
  p.simulated = true;
  p.integrated = true;           // [TEGRA] iGPU shares DRAM with the CPU
  p.can_map_host_memory = true;  // [DQ] "Support host page-locked memory mapping: Yes"
  p.unified_addressing = true;   // [DQ] "Device supports Unified Addressing (UVA): Yes" (64-bit)
  p.managed_memory = true;       // [DQ] "Device supports Managed Memory: Yes"
  return p;
}

}  // namespace

device_profile device_profile::jetson_nano() {
  device_profile p = jetson_base("Jetson Nano 4GB (simulated)");
  p.cc_major = 5;  // [DQ] Maxwell GM20B, CC 5.3
  p.cc_minor = 3;
  p.multiprocessors = 1;                 // [DS] 128 CUDA cores = 1 SM
  p.total_memory_bytes = 4 * GiB;        // [DS] 4 GB 64-bit LPDDR4
  p.memory_bus_width_bits = 64;          // [DS]
  p.memory_clock_khz = 1'600'000;        // [DS] 1600 MHz -> 25.6 GB/s
  p.host_register_supported = false;     // [TEGRA] not supported below CC 7.2
  p.concurrent_managed_access = false;   // [TEGRA][DQ]
  p.memory_pools_supported = false;      // [JP] CUDA 10.2 predates cudaMallocAsync
  return p;
}

device_profile device_profile::jetson_tx2() {
  device_profile p = jetson_base("Jetson TX2 8GB (simulated)");
  p.cc_major = 6;  // [DQ] Pascal GP10B, CC 6.2
  p.cc_minor = 2;
  p.multiprocessors = 2;                 // [DS] 256 CUDA cores = 2 SMs
  p.total_memory_bytes = 8 * GiB;        // [DS] 8 GB 128-bit LPDDR4
  p.memory_bus_width_bits = 128;         // [DS]
  p.memory_clock_khz = 1'866'000;        // [DS] 1866 MHz -> 59.7 GB/s
  p.host_register_supported = false;     // [TEGRA]
  p.concurrent_managed_access = false;   // [TEGRA][DQ]
  p.memory_pools_supported = false;      // [JP] CUDA 10.2
  return p;
}

device_profile device_profile::jetson_agx_xavier() {
  device_profile p = jetson_base("Jetson AGX Xavier 32GB (simulated)");
  p.cc_major = 7;  // [DQ] Volta GV10B, CC 7.2
  p.cc_minor = 2;
  p.multiprocessors = 8;                 // [DS] 512 CUDA cores = 8 SMs
  p.total_memory_bytes = 32 * GiB;       // [DS] 32 GB 256-bit LPDDR4x
  p.memory_bus_width_bits = 256;         // [DS]
  p.memory_clock_khz = 2'133'000;        // [DS] 2133 MHz -> 136.5 GB/s
  p.host_register_supported = true;      // [TEGRA] I/O coherent from CC 7.2
  p.concurrent_managed_access = false;   // [TEGRA][DQ]
  p.memory_pools_supported = true;       // [JP] CUDA 11.4
  return p;
}

device_profile device_profile::jetson_agx_orin() {
  device_profile p = jetson_base("Jetson AGX Orin 64GB (simulated)");
  p.cc_major = 8;  // [DQ] Ampere GA10B, CC 8.7
  p.cc_minor = 7;
  p.multiprocessors = 16;                // [DS] 2048 CUDA cores = 16 SMs
  p.total_memory_bytes = 64 * GiB;       // [DS] 64 GB 256-bit LPDDR5
  p.memory_bus_width_bits = 256;         // [DS]
  p.memory_clock_khz = 3'200'000;        // [DS] 3200 MHz -> 204.8 GB/s
  p.host_register_supported = true;      // [TEGRA]
  p.concurrent_managed_access = false;   // [TEGRA][DQ]
  p.memory_pools_supported = true;       // [JP] CUDA 11.4 / 12.x
  return p;
}

device_profile device_profile::jetson_orin_nx() {
  device_profile p = jetson_agx_orin();
  p.name = "Jetson Orin NX 16GB (simulated)";
  p.multiprocessors = 8;                 // [DS] 1024 CUDA cores = 8 SMs
  p.total_memory_bytes = 16 * GiB;       // [DS] 16 GB 128-bit LPDDR5
  p.memory_bus_width_bits = 128;         // [DS]
  p.memory_clock_khz = 3'200'000;        // [DS] 3200 MHz -> 102.4 GB/s
  return p;
}

device_profile device_profile::jetson_orin_nano() {
  device_profile p = jetson_agx_orin();
  p.name = "Jetson Orin Nano 8GB (simulated)";
  p.multiprocessors = 8;                 // [DS] 1024 CUDA cores = 8 SMs
  p.total_memory_bytes = 8 * GiB;        // [DS] 8 GB 128-bit LPDDR5
  p.memory_bus_width_bits = 128;         // [DS]
  p.memory_clock_khz = 2'133'000;        // [DS] 2133 MHz -> 68.3 GB/s
  return p;
}

device_profile device_profile::jetson_thor() {
  device_profile p = jetson_base("Jetson AGX Thor 128GB (simulated)");
  p.cc_major = 11;  // CUDA 13 numbering for Blackwell Thor (10.1 under CUDA 12.8/12.9)
  p.cc_minor = 0;
  p.multiprocessors = 20;                // [DS] 2560 CUDA cores = 20 SMs
  p.total_memory_bytes = 128 * GiB;      // [DS] 128 GB 256-bit LPDDR5X
  p.memory_bus_width_bits = 256;         // [DS]
  p.memory_clock_khz = 4'266'000;        // [DS] 4266 MHz -> 273 GB/s
  p.host_register_supported = true;
  p.concurrent_managed_access = true;    // Thor is the first Jetson with full unified memory
  p.pageable_memory_access = true;       // kernels may read malloc'd memory through host page tables
  p.pageable_memory_access_uses_host_page_tables = true;
  p.memory_pools_supported = true;       // [JP] CUDA 13.0
  // hostRegisterReadOnlySupported is not documented for any Jetson; left false so the policy never
  // relies on it. A real board's value comes from device_profile::query().
  return p;
}

device_profile device_profile::discrete_h100() {
  device_profile p;
  p.name = "x86 server, NVIDIA H100 SXM5 80GB (simulated)";
  p.simulated = true;
  p.cc_major = 9;
  p.cc_minor = 0;
  p.multiprocessors = 132;
  p.integrated = false;
  p.can_map_host_memory = true;
  p.unified_addressing = true;
  p.managed_memory = true;
  p.concurrent_managed_access = true;
  p.pageable_memory_access = false;  // HMM off, as on a server with the proprietary driver
  p.host_register_supported = true;
  p.host_register_read_only_supported = true;
  p.memory_pools_supported = true;
  p.total_memory_bytes = 80 * GiB;
  p.memory_bus_width_bits = 5120;      // [DS] HBM3, 5 stacks
  p.memory_clock_khz = 2'619'000;      // [DQ] 2619 MHz -> 3.35 TB/s
  return p;
}

}  // namespace unimem
