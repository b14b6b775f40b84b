#include <fmt/format.h>

#include <unimem/resources/policy.hpp>
#include <unimem/version.hpp>
#include <unimem_support/json.hpp>

#include "probe.hpp"

namespace unimem::probe {
namespace {

constexpr access_pattern patterns[] = {access_pattern::gpu_scratch, access_pattern::cpu_writes_gpu_reads,
                                       access_pattern::cpu_gpu_shared, access_pattern::gpu_writes_cpu_reads,
                                       access_pattern::weights};

/// 13000 -> "13.0"; 0 (unknown, or no driver) -> "".
std::string cuda_version_text(int v) { return v > 0 ? fmt::format("{}.{}", v / 1000, (v % 1000) / 10) : std::string(); }

std::string pcie_text(const pcie_link& l) {
  return fmt::format("PCIe {:g} GT/s x{}{}", l.speed_gt_per_s, l.width, l.downgraded() ? " (below the device's maximum)" : "");
}

std::string gib(std::size_t bytes) { return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1u << 30)); }

std::string kind_text(const recommendation& r) {
  std::string k(to_string(r.kind));
  if (r.staging) k += fmt::format(" + {} staging", to_string(*r.staging));
  return k;
}

struct capability {
  const char* name;
  bool device_profile::*field;
};
constexpr capability capabilities[] = {
    {"integrated", &device_profile::integrated},
    {"canMapHostMemory", &device_profile::can_map_host_memory},
    {"unifiedAddressing", &device_profile::unified_addressing},
    {"managedMemory", &device_profile::managed_memory},
    {"concurrentManagedAccess", &device_profile::concurrent_managed_access},
    {"pageableMemoryAccess", &device_profile::pageable_memory_access},
    {"pageableMemoryAccessUsesHostPageTables", &device_profile::pageable_memory_access_uses_host_page_tables},
    {"hostRegisterSupported", &device_profile::host_register_supported},
    {"hostRegisterReadOnlySupported", &device_profile::host_register_read_only_supported},
    {"memoryPoolsSupported", &device_profile::memory_pools_supported},
};

}  // namespace

std::string to_text(const report& r) {
  std::string out = fmt::format("unimem {} probe\n\nHost\n", version());
  out += fmt::format("  CPUs {}, page size {} B, memlock limit {}\n", r.host.cpus, r.host.page_size, r.host.memlock_limit);
  if (r.host.memory) {
    const meminfo& m = *r.host.memory;
    out += fmt::format("  MemTotal {}, MemAvailable {}, SwapTotal {}, SwapFree {}\n", gib(m.mem_total),
                       gib(m.mem_available), gib(m.swap_total), gib(m.swap_free));
  } else {
    out += "  /proc/meminfo not readable\n";
  }
  out += fmt::format("  CUDA runtime {}, driver {}\n", cuda_version_text(r.cuda_runtime_version),
                     r.cuda_driver_version > 0 ? cuda_version_text(r.cuda_driver_version) : "none");
  if (!r.has_gpu) {
    out += fmt::format("\nNo CUDA GPU: {}\n", r.no_gpu_reason);
    if (!r.profile) {
      out += "Resources that need a GPU will throw unimem::cuda_error; unimem::host_resource works.\n";
      out += "Run `unimem-probe --simulate orin` (nano, tx2, xavier, orin, orin-nx, orin-nano, thor, h100) to see the "
             "policy for a board.\n";
    }
  }
  if (!r.profile) return out;

  const device_profile& p = *r.profile;
  out += fmt::format("\nGPU {}{}\n", p.name, p.simulated ? "" : fmt::format(" (device {})", p.device));
  out += fmt::format("  compute capability {}.{}, {} SMs, {}, {} memory\n", p.cc_major, p.cc_minor, p.multiprocessors,
                     p.integrated ? (p.io_coherent() ? "integrated, I/O coherent" : "integrated, not I/O coherent")
                                  : "discrete",
                     gib(p.total_memory_bytes));
  out += fmt::format("  DRAM peak {:.1f} GB/s ({}-bit at {} MHz, double data rate)\n", p.peak_bandwidth_bytes_per_s() / 1e9,
                     p.memory_bus_width_bits, p.memory_clock_khz / 1000);
  if (r.pcie) out += fmt::format("  host link {}, peak {:.1f} GB/s per direction\n", pcie_text(*r.pcie), r.pcie->peak_bytes_per_s() / 1e9);
  for (const auto& c : capabilities) out += fmt::format("  {:<40} {}\n", c.name, p.*c.field ? 1 : 0);

  const virtual_memory_decision vm = decide_virtual_memory(p);
  out += fmt::format("\nPool growth\n  {:<22} {}\n", vm.use ? "virtual range" : "chunks", vm.reason);
  if (r.virtual_memory) {
    const virtual_memory_support& s = *r.virtual_memory;
    out += fmt::format("  {:<22} supported {}, granularity {} B, largest reservation granted {}, one page mapped {}{}\n",
                       "driver", s.supported ? 1 : 0, s.granularity, gib(s.reserved_bytes), s.mapped ? 1 : 0,
                       s.detail.empty() ? "" : " (" + s.detail + ")");
  }

  out += "\nRecommendations\n";
  for (auto pattern : patterns) {
    const recommendation rec = recommend(p, pattern);
    out += fmt::format("  {:<22} {:<24} {}\n", to_string(pattern), kind_text(rec), rec.reason);
  }

  if (!r.measurements.empty()) {
    out += "\nMeasurements\n";
    out += fmt::format("  {:<34} {:>12}  {:<12} {}\n", "path", "value", "of peak", "note");
    for (const auto& m : r.measurements) {
      const std::string value = m.note.rfind("skipped", 0) == 0 ? "-" : fmt::format("{:.2f} {}", m.value, m.unit);
      const std::string frac =
          m.fraction_of_peak ? fmt::format("{:.0f}% {}", *m.fraction_of_peak * 100, m.peak_name) : std::string("n/a");
      out += fmt::format("  {:<34} {:>12}  {:<12} {}\n", m.name, value, frac, m.note);
    }
  }
  return out;
}

std::string to_json(const report& r) {
  std::string out = fmt::format("{{\"unimem_version\":\"{}\",\"has_gpu\":{}", version(), r.has_gpu);
  if (!r.has_gpu) out += fmt::format(",\"no_gpu_reason\":{}", support::json_string(r.no_gpu_reason));
  out += fmt::format(",\"cuda\":{{\"runtime\":{},\"driver\":{}}}",
                     r.cuda_runtime_version > 0 ? support::json_string(cuda_version_text(r.cuda_runtime_version)) : "null",
                     r.cuda_driver_version > 0 ? support::json_string(cuda_version_text(r.cuda_driver_version)) : "null");
  out += fmt::format(",\"host\":{{\"cpus\":{},\"page_size\":{},\"memlock_limit\":{}", r.host.cpus, r.host.page_size,
                     support::json_string(r.host.memlock_limit));
  if (r.host.memory) {
    const meminfo& m = *r.host.memory;
    out += fmt::format(",\"mem_total\":{},\"mem_available\":{},\"swap_total\":{},\"swap_free\":{}", m.mem_total,
                       m.mem_available, m.swap_total, m.swap_free);
  }
  out += "}";
  if (r.profile) {
    const device_profile& p = *r.profile;
    out += fmt::format(
        ",\"device\":{{\"name\":{},\"ordinal\":{},\"simulated\":{},\"compute_capability\":\"{}.{}\","
        "\"multiprocessors\":{},\"total_memory_bytes\":{},\"memory_bus_width_bits\":{},\"memory_clock_khz\":{},"
        "\"peak_bandwidth_bytes_per_s\":{},\"io_coherent\":{}",
        support::json_string(p.name), p.device, p.simulated, p.cc_major, p.cc_minor, p.multiprocessors,
        p.total_memory_bytes, p.memory_bus_width_bits, p.memory_clock_khz,
        support::json_number(p.peak_bandwidth_bytes_per_s(), 0), p.io_coherent());
    for (const auto& c : capabilities) out += fmt::format(",\"{}\":{}", c.name, p.*c.field);
    if (r.pcie) {
      out += fmt::format(",\"pcie_link\":{},\"pcie_peak_bytes_per_s\":{}", support::json_string(pcie_text(*r.pcie)),
                         support::json_number(r.pcie->peak_bytes_per_s(), 0));
    }
    const virtual_memory_decision vm = decide_virtual_memory(p);
    out += fmt::format("}},\"virtual_memory\":{{\"use\":{},\"reservation_cap\":{},\"reason\":{}", vm.use,
                       vm.reservation_bytes, support::json_string(vm.reason));
    if (r.virtual_memory) {
      const virtual_memory_support& s = *r.virtual_memory;
      out += fmt::format(",\"supported\":{},\"granularity\":{},\"reserved_bytes\":{},\"mapped\":{},\"detail\":{}",
                         s.supported, s.granularity, s.reserved_bytes, s.mapped, support::json_string(s.detail));
    }
    out += "},\"recommendations\":[";
    bool first = true;
    for (auto pattern : patterns) {
      const recommendation rec = recommend(p, pattern);
      out += fmt::format("{}{{\"pattern\":\"{}\",\"kind\":\"{}\",\"staging\":{},\"needs_copy\":{},"
                         "\"needs_sync_before_cpu_access\":{},\"reason\":{}}}",
                         first ? "" : ",", to_string(pattern), to_string(rec.kind),
                         rec.staging ? fmt::format("\"{}\"", to_string(*rec.staging)) : "null", rec.needs_copy,
                         rec.needs_sync_before_cpu_access, support::json_string(rec.reason));
      first = false;
    }
    out += "]";
  }
  out += ",\"measurements\":[";
  bool first = true;
  for (const auto& m : r.measurements) {
    const bool skipped = m.note.rfind("skipped", 0) == 0;
    out += fmt::format("{}{{\"name\":{},\"value\":{},\"unit\":{},\"fraction_of_peak\":{},\"peak\":{},\"note\":{}}}",
                       first ? "" : ",", support::json_string(m.name),
                       skipped ? "null" : support::json_number(m.value, 4), support::json_string(m.unit),
                       m.fraction_of_peak ? support::json_number(*m.fraction_of_peak, 4) : "null",
                       m.peak_name.empty() ? "null" : support::json_string(m.peak_name), support::json_string(m.note));
    first = false;
  }
  out += "]}\n";
  return out;
}

}  // namespace unimem::probe
