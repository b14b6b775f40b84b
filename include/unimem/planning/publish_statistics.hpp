/// @file publish_statistics.hpp
/// @brief Bridges the statistics adaptor to the shared-memory usage table that `unimem-top` reads:
/// call publish_statistics() after each inference (or from a timer) and every tag's current and
/// peak bytes appear in `unimem-top`'s line for this process.
#pragma once

#include <unimem/adaptors/statistics_resource.hpp>
#include <unimem/planning/usage_publisher.hpp>

namespace unimem {

/// @brief Copies every tag's current and peak bytes from `stats` into `publisher` under the tag's
/// name (tag_name(); allocations outside any tag_scope under tag_name(untagged)); tags are
/// created in the table on first sight. Thread-safe against concurrent allocations: each tag is
/// a consistent snapshot of its own counters.
/// @throws std::length_error when the publisher's table has no room for a new tag
void publish_statistics(const statistics_resource& stats, usage_publisher& publisher);

}  // namespace unimem
