// libFuzzer target: the /proc/meminfo and NvMap client-table parsers over any text. Each refuses
// with std::runtime_error or returns fields in which no part exceeds its whole and every size
// fits; the budget computed from them never wraps.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <unimem/system_memory.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const unimem::meminfo m = unimem::parse_meminfo(text);
    if (m.mem_available > m.mem_total || m.mem_free > m.mem_total || m.swap_free > m.swap_total ||
        (m.nvmap_used && *m.nvmap_used > m.mem_total)) {
      unimem::fuzz::fail("fuzz_system_memory", "a part of meminfo exceeds its whole");
    }
    const std::size_t budget = unimem::integrated_budget(m, 0.0, 0, true);
    if (budget > m.mem_total) unimem::fuzz::fail("fuzz_system_memory", "a budget above MemTotal");
    (void)unimem::integrated_budget(m, 0.2, 4096, false);
  } catch (const std::runtime_error&) {
  }
  try {
    const unimem::nvmap_usage u = unimem::parse_nvmap_clients(text);
    for (const auto& c : u.clients) {
      if (c.pid < 0 || c.bytes % 1024 != 0) unimem::fuzz::fail("fuzz_system_memory", "an NvMap client out of range");
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
