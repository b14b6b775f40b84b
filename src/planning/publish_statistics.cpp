#include <unimem/planning/publish_statistics.hpp>

namespace unimem {

void publish_statistics(const statistics_resource& stats, usage_publisher& publisher) {
  for (const tagged_usage& u : stats.by_tag()) {
    publisher.set(publisher.tag(u.name), u.usage.current_bytes, u.usage.peak_bytes);
  }
}

}  // namespace unimem
