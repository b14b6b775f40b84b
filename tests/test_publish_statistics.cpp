// The statistics adaptor's per-tag counters reach the shared-memory table unimem-top reads.
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include <unimem/resources/host_resource.hpp>
#include <unimem/planning/publish_statistics.hpp>
#include <unimem/tag.hpp>

namespace unimem {
namespace {

TEST(publish_statistics, tags_of_the_statistics_adaptor_appear_in_the_published_table) {
  const std::string seg = "/unimem.test." + std::to_string(::getpid()) + ".publish_statistics";
  host_resource host;
  statistics_resource stats(host);
  usage_publisher pub("two models", 8, seg);

  void* a = nullptr;
  void* b = nullptr;
  {
    tag_scope scope{"detector"};
    a = stats.allocate(3000);
  }
  {
    tag_scope scope{"classifier"};
    b = stats.allocate(5000);
  }
  void* c = stats.allocate(100);  // no tag_scope
  publish_statistics(stats, pub);

  stats.deallocate(b, 5000);
  publish_statistics(stats, pub);  // classifier: current 0, peak stays 5000

  const auto seen = read_usage_segment("/dev/shm" + seg);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->label, "two models");
  auto find = [&](const std::string& name) -> const published_tag_usage* {
    for (const auto& t : seen->tags) {
      if (t.name == name) return &t;
    }
    return nullptr;
  };
  const auto* det = find("detector");
  const auto* cls = find("classifier");
  const auto* none = find(std::string(tag_name(untagged)));
  ASSERT_NE(det, nullptr);
  ASSERT_NE(cls, nullptr);
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(det->current_bytes, 3000u);
  EXPECT_EQ(cls->current_bytes, 0u);
  EXPECT_EQ(cls->peak_bytes, 5000u);
  EXPECT_EQ(none->current_bytes, 100u);

  stats.deallocate(a, 3000);
  stats.deallocate(c, 100);
}

}  // namespace
}  // namespace unimem
