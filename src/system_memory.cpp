#include <unimem/system_memory.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

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

}  // namespace unimem
