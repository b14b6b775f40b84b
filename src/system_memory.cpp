#include <unimem/system_memory.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/decimal.hpp"
#include "detail/fraction.hpp"
#include "detail/size_math.hpp"
#include "detail/small_file.hpp"

namespace unimem {
namespace {

// /proc/meminfo is about 1.5 kB and the NvMap table a line per client: anything much larger is
// not what the readers expect, and is refused rather than read whole.
constexpr std::size_t max_table_bytes = std::size_t{4} << 20;

/// The lines of `text`, without their "\n" (and "\r").
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

/// The blank-separated words of `line`.
std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (true) {
    i = line.find_first_not_of(" \t", i);
    if (i == std::string_view::npos) return out;
    const std::size_t j = line.find_first_of(" \t", i);
    out.push_back(line.substr(i, j == std::string_view::npos ? j : j - i));
    if (j == std::string_view::npos) return out;
    i = j;
  }
}

/// `kib` KiB in bytes, or nothing when that does not fit in 64 bits.
std::optional<std::size_t> kib_to_bytes(std::uint64_t kib) {
  std::size_t bytes = 0;
  if (!detail::checked_mul(static_cast<std::size_t>(kib), 1024, bytes)) return std::nullopt;
  return bytes;
}

}  // namespace

meminfo parse_meminfo(const std::string& text) {
  meminfo m;
  bool have_total = false, have_available = false;
  std::size_t line_no = 0;
  for (const std::string_view line : lines_of(text)) {
    ++line_no;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    std::size_t* field = nullptr;
    if (key == "MemTotal") field = &m.mem_total, have_total = true;
    else if (key == "MemAvailable") field = &m.mem_available, have_available = true;
    else if (key == "SwapTotal") field = &m.swap_total;
    else if (key == "SwapFree") field = &m.swap_free;
    else if (key == "MemFree") field = &m.mem_free;
    else if (key == "NvMapMemUsed") field = &m.nvmap_used.emplace(0);
    else continue;

    auto fail = [&](const std::string& why) {
      throw std::runtime_error(
          fmt::format("parse_meminfo: line {} '{}': {}; is this /proc/meminfo?", line_no, printable(line, 80), why));
    };
    const auto w = words_of(line.substr(colon + 1));
    if (w.empty()) fail(fmt::format("no number after '{}:'", printable(key)));
    if (w.size() > 2 || (w.size() == 2 && w[1] != "kB")) {
      fail(fmt::format("expected '{}: <number> kB'", printable(key)));
    }
    std::uint64_t value = 0;
    const std::errc ec = detail::parse_decimal(w[0], value);
    if (ec == std::errc::result_out_of_range) fail(fmt::format("'{}' does not fit in 64 bits", printable(w[0], 40)));
    if (ec != std::errc{}) fail(fmt::format("'{}' is not a whole number from 0 up", printable(w[0], 40)));
    if (w.size() == 2) {
      const auto bytes = kib_to_bytes(value);
      if (!bytes) fail(fmt::format("{} kB is more bytes than 64 bits hold", value));
      value = *bytes;
    }
    *field = static_cast<std::size_t>(value);
  }
  if (!have_total || !have_available) {
    throw std::runtime_error(fmt::format(
        "parse_meminfo: {} missing; Linux has reported MemAvailable since 3.14, is this /proc/meminfo?",
        !have_total ? "MemTotal" : "MemAvailable"));
  }
  // What a file says is not trusted to be consistent: no part exceeds its whole, so "used" (total
  // minus available or free) never wraps.
  m.mem_available = std::min(m.mem_available, m.mem_total);
  m.mem_free = std::min(m.mem_free, m.mem_total);
  m.swap_free = std::min(m.swap_free, m.swap_total);
  if (m.nvmap_used) m.nvmap_used = std::min(*m.nvmap_used, m.mem_total);
  return m;
}

std::optional<meminfo> read_meminfo(const std::string& path) {
  const auto text = detail::read_small_file(path, max_table_bytes, "unimem::read_meminfo");
  if (!text) return std::nullopt;
  return parse_meminfo(*text);
}

nvmap_usage parse_nvmap_clients(const std::string& text) {
  nvmap_usage u;
  bool have_header = false, have_total = false;
  std::size_t line_no = 0;
  std::string_view line;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error(fmt::format("parse_nvmap_clients: line {} '{}': {}", line_no, printable(line, 80), why));
  };
  // Sizes are printed in KiB with a K suffix ("%10uK"); older kernels' carveout tables omit it.
  auto parse_size = [&](std::string_view token) -> std::size_t {
    const std::string_view digits =
        !token.empty() && (token.back() == 'K' || token.back() == 'k') ? token.substr(0, token.size() - 1) : token;
    std::uint64_t kib = 0;
    if (!detail::read_decimal(digits, kib)) fail(fmt::format("size '{}' is not a number of KiB", printable(token, 40)));
    const auto bytes = kib_to_bytes(kib);
    if (!bytes) fail(fmt::format("size {} KiB is more bytes than 64 bits hold", kib));
    return *bytes;
  };
  for (const std::string_view l : lines_of(text)) {
    line = l;
    ++line_no;
    const auto tok = words_of(line);
    if (tok.empty()) continue;
    if (!have_header) {
      if (tok.size() >= 4 && tok[0] == "CLIENT" && tok[1] == "PROCESS" && tok[2] == "PID" && tok[3] == "SIZE") {
        have_header = true;
        continue;
      }
      fail("expected the header 'CLIENT PROCESS PID SIZE'; is this /sys/kernel/debug/nvmap/iovmm/clients?");
    }
    if (have_total) continue;  // the explanatory note after the total
    if (tok[0] == "total") {
      u.total_bytes = parse_size(tok.back());
      have_total = true;
      continue;
    }
    // "client process pid size"; the command name may contain spaces, the other fields do not.
    if (tok.size() < 4) fail("expected 'CLIENT PROCESS PID SIZE'");
    nvmap_client c;
    c.client = std::string(tok[0]);
    for (std::size_t i = 1; i + 2 < tok.size(); ++i) {
      if (i > 1) c.process += ' ';
      c.process += tok[i];
    }
    if (!detail::read_decimal(tok[tok.size() - 2], c.pid) || c.pid < 0) {
      fail(fmt::format("pid '{}' is not a number from 0 to {}", printable(tok[tok.size() - 2], 40),
                       std::numeric_limits<int>::max()));
    }
    c.bytes = parse_size(tok.back());
    u.clients.push_back(std::move(c));
  }
  if (!have_header || !have_total) {
    throw std::runtime_error(fmt::format("parse_nvmap_clients: no {} line; the table is truncated",
                                         !have_header ? "'CLIENT PROCESS PID SIZE'" : "'total'"));
  }
  return u;
}

std::optional<nvmap_usage> read_nvmap_usage(const std::string& path) {
  const auto text = detail::read_small_file(path, max_table_bytes, "unimem::read_nvmap_usage");
  if (!text) return std::nullopt;
  return parse_nvmap_clients(*text);
}

std::optional<device_memory> query_device_memory(const device_profile& profile) {
  if (profile.integrated || profile.simulated) return std::nullopt;
  int previous = 0;
  detail::check(cudaGetDevice(&previous), "cudaGetDevice");
  if (previous != profile.device) {
    detail::check(cudaSetDevice(profile.device), fmt::format("cudaSetDevice({})", profile.device).c_str());
  }
  device_memory m;
  m.device = profile.device;
  const cudaError_t err = cudaMemGetInfo(&m.free_bytes, &m.total_bytes);
  if (previous != profile.device) cudaSetDevice(previous);
  if (err != cudaSuccess) detail::throw_cuda_error(err, fmt::format("cudaMemGetInfo(device {})", profile.device));
  return m;
}

namespace {

void check_headroom(double headroom, const char* call) {
  if (!(headroom >= 0.0 && headroom < 1.0)) {
    throw std::invalid_argument(fmt::format(
        "unimem::{}: headroom {} is not in [0, 1); it is the fraction kept free, e.g. 0.2", call, headroom));
  }
}

// What is left after the headroom; the headroom is rounded up so the budget errs low.
std::size_t keep(std::size_t bytes, double headroom) { return bytes - detail::fraction_of(bytes, headroom); }

}  // namespace

std::size_t integrated_budget(const meminfo& m, double headroom, std::size_t reserve_bytes, bool count_swap) {
  check_headroom(headroom, "integrated_budget");
  std::size_t available = m.mem_available;
  if (count_swap) {
    // Saturating: the struct may come from anywhere, and available + swap must not wrap.
    const std::size_t physical = m.mem_total - std::min(m.mem_total, m.nvmap_used.value_or(0));
    std::size_t with_swap = 0;
    if (!detail::checked_add(m.mem_available, m.swap_free, with_swap)) with_swap = std::numeric_limits<std::size_t>::max();
    available = std::min(physical, with_swap);
  }
  if (available <= reserve_bytes) return 0;
  return keep(available - reserve_bytes, headroom);
}

std::size_t device_budget(const device_profile& profile, double headroom) {
  check_headroom(headroom, "device_budget");
  if (profile.simulated) {
    throw unsupported_error(fmt::format(
        "unimem::device_budget: '{}' is a simulated profile, there is no memory to read; call "
        "unimem::integrated_budget() with the board's /proc/meminfo instead",
        profile.name));
  }
  if (profile.integrated) {
    const auto m = read_meminfo();
    if (!m) {
      throw unsupported_error(
          "unimem::device_budget: /proc/meminfo cannot be read, and on an integrated GPU cudaMemGetInfo is no "
          "budget (it ignores reclaimable page cache); pass the numbers to unimem::integrated_budget()");
    }
    return integrated_budget(*m, headroom);
  }
  return keep(query_device_memory(profile)->free_bytes, headroom);
}

}  // namespace unimem
