// Usage publication in shared memory: round trip, liveness, and no torn reads under concurrent
// updates.
#include <unimem/planning/usage_publisher.hpp>

#include <atomic>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

namespace {

std::string unique_segment(const char* what) {
  static std::atomic<int> n{0};
  return "/unimem.test." + std::to_string(::getpid()) + "." + what + "." + std::to_string(n++);
}

const unimem::published_tag_usage* find(const unimem::process_usage& u, const std::string& name) {
  for (const auto& t : u.tags) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(usage_publisher, round_trip_through_shared_memory) {
  const std::string seg = unique_segment("roundtrip");
  const std::string path = "/dev/shm" + seg;
  {
    unimem::usage_publisher pub("detector", 8, seg);
    EXPECT_EQ(pub.segment(), seg);
    const std::size_t weights = pub.tag("weights");
    const std::size_t acts = pub.tag("activations");
    EXPECT_EQ(pub.tag("weights"), weights);  // the same tag again
    EXPECT_EQ(pub.tag_count(), 2u);
    pub.set(weights, 51u << 20);
    pub.add(acts, 100);
    pub.add(acts, 400);
    pub.add(acts, -300);
    pub.set(acts, 50, 1000);  // a source that tracks its own peak

    const auto u = unimem::read_usage_segment(path);
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->pid, ::getpid());
    EXPECT_EQ(u->label, "detector");
    EXPECT_TRUE(u->alive);
    ASSERT_EQ(u->tags.size(), 2u);
    const auto* w = find(*u, "weights");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->current_bytes, 51u << 20);
    EXPECT_EQ(w->peak_bytes, 51u << 20);
    const auto* a = find(*u, "activations");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->current_bytes, 50u);
    EXPECT_EQ(a->peak_bytes, 1000u);

    pub.add(acts, -1000000);  // saturates at 0
    EXPECT_EQ(find(*unimem::read_usage_segment(path), "activations")->current_bytes, 0u);

    bool listed = false;
    for (const auto& p : unimem::read_published_usage("/dev/shm")) listed |= p.path == path;
    EXPECT_TRUE(listed);
  }
  // Unlinked when the publisher goes away.
  EXPECT_FALSE(unimem::read_usage_segment(path).has_value());
}

TEST(usage_publisher, rejects_bad_tags_and_a_full_table) {
  unimem::usage_publisher pub("", 2, unique_segment("full"));
  EXPECT_THROW(pub.tag(""), std::invalid_argument);
  EXPECT_THROW(pub.tag(std::string(unimem::usage_publisher::max_tag_length + 1, 'x')), std::invalid_argument);
  EXPECT_NO_THROW(pub.tag(std::string(unimem::usage_publisher::max_tag_length, 'x')));
  pub.tag("b");
  EXPECT_THROW(pub.tag("c"), std::length_error);
  EXPECT_THROW(pub.set(5, 1), std::out_of_range);
  EXPECT_THROW(unimem::usage_publisher("x", 0, unique_segment("zero")), std::invalid_argument);
  EXPECT_THROW(unimem::usage_publisher("x", 4, "no-slash"), std::invalid_argument);
  EXPECT_THROW(unimem::usage_publisher("x", 4, "/a/b"), std::invalid_argument);
  const auto u = unimem::read_usage_segment("/dev/shm" + pub.segment());
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->tags[0].name, std::string(unimem::usage_publisher::max_tag_length, 'x'));
}

TEST(usage_publisher, readers_skip_what_is_not_a_table) {
  EXPECT_FALSE(unimem::read_usage_segment("/nonexistent/unimem.1").has_value());
  EXPECT_FALSE(unimem::read_usage_segment(std::string(UNIMEM_TEST_DATA_DIR) + "/meminfo_orin_nano.txt").has_value());
  EXPECT_TRUE(unimem::read_published_usage("/nonexistent-dir").empty());
}

// A writer keeps current == peak == a counter (and a second tag at twice that); readers must
// never see a pair from two different updates.
TEST(usage_publisher, readers_never_see_torn_values) {
  const std::string seg = unique_segment("torn");
  unimem::usage_publisher pub("torn", 4, seg);
  const std::size_t a = pub.tag("a");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (std::uint64_t i = 1; !stop.load(std::memory_order_relaxed); ++i) {
      pub.set(a, i * 3, i * 3);  // current == peak
      if (i == 2000000) i = 1;
    }
  });
  std::thread second_writer([&] {
    std::mt19937_64 rng(5);
    while (!stop.load(std::memory_order_relaxed)) {
      const std::uint64_t v = (rng() % 1000000) * 3;
      pub.set(a, v, v);
    }
  });
  std::uint64_t reads = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) {
    const auto u = unimem::read_usage_segment("/dev/shm" + seg);
    ASSERT_TRUE(u.has_value());
    ASSERT_EQ(u->tags.size(), 1u);
    ASSERT_EQ(u->tags[0].current_bytes, u->tags[0].peak_bytes);
    ASSERT_EQ(u->tags[0].current_bytes % 3, 0u);
    ++reads;
  }
  stop = true;
  writer.join();
  second_writer.join();
  EXPECT_GT(reads, 10u);
}

}  // namespace
