#include <unimem/system_memory.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>

#include "detail/cuda_check.hpp"
#include "detail/fraction.hpp"

namespace unimem {

meminfo parse_meminfo(const std::string& text) {
  meminfo m;
  bool have_total = false, have_available = false;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    std::size_t* field = nullptr;
    if (key == "MemTotal") field = &m.mem_total, have_total = true;
    else if (key == "MemAvailable") field = &m.mem_available, have_available = true;
    else if (key == "SwapTotal") field = &m.swap_total;
    else if (key == "SwapFree") field = &m.swap_free;
    else if (key == "MemFree") field = &m.mem_free;
    else if (key == "NvMapMemUsed") field = &m.nvmap_used.emplace(0);
    else continue;

    std::istringstream fields(line.substr(colon + 1));
    unsigned long long value = 0;
    std::string unit;
    if (!(fields >> value)) {
      throw std::runtime_error(fmt::format("parse_meminfo: line {} '{}' has no number after '{}:'", line_no, line, key));
    }
    fields >> unit;
    if (unit == "kB") value *= 1024ULL;
    else if (!unit.empty()) {
      throw std::runtime_error(fmt::format("parse_meminfo: line {} '{}': unknown unit '{}', expected kB", line_no, line, unit));
    }
    *field = static_cast<std::size_t>(value);
  }
  if (!have_total || !have_available) {
    throw std::runtime_error(fmt::format(
        "parse_meminfo: {} missing; Linux has reported MemAvailable since 3.14, is this /proc/meminfo?",
        !have_total ? "MemTotal" : "MemAvailable"));
  }
  return m;
}

std::optional<meminfo> read_meminfo(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream text;
  text << f.rdbuf();
  return parse_meminfo(text.str());
}

nvmap_usage parse_nvmap_clients(const std::string& text) {
  nvmap_usage u;
  bool have_header = false, have_total = false;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  // Sizes are printed in KiB with a K suffix ("%10uK"); older kernels' carveout tables omit it.
  auto parse_size = [&](std::string token) -> std::size_t {
    if (!token.empty() && (token.back() == 'K' || token.back() == 'k')) token.pop_back();
    char* end = nullptr;
    const unsigned long long kib = std::strtoull(token.c_str(), &end, 10);
    if (token.empty() || *end != '\0' || token[0] == '-') {
      throw std::runtime_error(
          fmt::format("parse_nvmap_clients: line {} '{}': size '{}' is not a number of KiB", line_no, line, token));
    }
    return static_cast<std::size_t>(kib) * 1024;
  };
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream fields(line);
    std::vector<std::string> tok;
    for (std::string t; fields >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    if (!have_header) {
      if (tok.size() >= 4 && tok[0] == "CLIENT" && tok[1] == "PROCESS" && tok[2] == "PID" && tok[3] == "SIZE") {
        have_header = true;
        continue;
      }
      throw std::runtime_error(fmt::format(
          "parse_nvmap_clients: line {} '{}': expected the header 'CLIENT PROCESS PID SIZE'; is this "
          "/sys/kernel/debug/nvmap/iovmm/clients?",
          line_no, line));
    }
    if (have_total) continue;  // the explanatory note after the total
    if (tok[0] == "total") {
      u.total_bytes = parse_size(tok.back());
      have_total = true;
      continue;
    }
    // "client process pid size"; the command name may contain spaces, the other fields do not.
    if (tok.size() < 4) {
      throw std::runtime_error(fmt::format(
          "parse_nvmap_clients: line {} '{}': expected 'CLIENT PROCESS PID SIZE'", line_no, line));
    }
    nvmap_client c;
    c.client = tok[0];
    for (std::size_t i = 1; i + 2 < tok.size(); ++i) c.process += (i > 1 ? " " : "") + tok[i];
    char* end = nullptr;
    const long pid = std::strtol(tok[tok.size() - 2].c_str(), &end, 10);
    if (*end != '\0' || pid < 0) {
      throw std::runtime_error(fmt::format("parse_nvmap_clients: line {} '{}': pid '{}' is not a number", line_no,
                                           line, tok[tok.size() - 2]));
    }
    c.pid = static_cast<int>(pid);
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
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream text;
  text << f.rdbuf();
  if (f.bad()) return std::nullopt;
  return parse_nvmap_clients(text.str());
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
    const std::size_t physical = m.mem_total - std::min(m.mem_total, m.nvmap_used.value_or(0));
    available = std::min(physical, m.mem_available + m.swap_free);
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
