// Internal: grouping live allocations by tag and reporting them when a pool is destroyed.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <unimem/tag.hpp>

namespace unimem::detail {

/// Accumulates (tag, bytes) pairs into tag_usage rows.
class tag_tally {
 public:
  void add(tag_id tag, std::size_t bytes) {
    tag_usage& u = rows_[tag];
    u.tag = tag;
    u.bytes += bytes;
    ++u.count;
  }
  /// Rows with names, largest first.
  std::vector<tag_usage> rows() const;

 private:
  std::map<tag_id, tag_usage> rows_;
};

/// Hands the report to `handler`, or prints it to stderr when there is none. Never throws.
void report_leaks(const leak_report& report, const std::function<void(const leak_report&)>& handler) noexcept;

}  // namespace unimem::detail
