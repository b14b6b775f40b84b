#include "pools/leak_report.hpp"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "detail/cuda_check.hpp"

namespace unimem::detail {

std::vector<tag_usage> tag_tally::rows() const {
  std::vector<tag_usage> out;
  out.reserve(rows_.size());
  for (const auto& [tag, row] : rows_) {
    out.push_back(row);
    out.back().name = tag_name(tag);
  }
  std::sort(out.begin(), out.end(), [](const tag_usage& x, const tag_usage& y) { return x.bytes > y.bytes; });
  return out;
}

void report_leaks(const leak_report& r, const std::function<void(const leak_report&)>& handler) noexcept {
  try {
    if (handler) {
      handler(r);
      return;
    }
    std::string msg = fmt::format("{}: destroyed with {} allocations ({}) still live:", r.resource, r.count,
                                  format_bytes(r.bytes));
    for (const tag_usage& u : r.by_tag) msg += fmt::format(" {} {} ({});", u.name, u.count, format_bytes(u.bytes));
    msg += " their pointers dangle now; free them before destroying the resource\n";
    std::fputs(msg.c_str(), stderr);
  } catch (...) {
    std::fprintf(stderr, "%s: destroyed with %zu allocations still live\n", r.resource.c_str(), r.count);
  }
}

}  // namespace unimem::detail
