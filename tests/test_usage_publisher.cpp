// Usage publication in shared memory: round trip, liveness, and no torn reads under concurrent
// updates.
#include <unimem/planning/usage_publisher.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

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
  EXPECT_THROW(unimem::usage_publisher("x", 4, std::string("/unimem.a\0b", 11)), std::invalid_argument);
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

// ---------------------------------------------------------------------------------------------
// Hostile tables (issue 12 rows 3-6): a reader trusts no byte another process can write.

/// A private folder for table files, removed at the end.
struct temp_folder {
  std::filesystem::path path;
  temp_folder() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("unimem_usage_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::create_directories(path);
  }
  ~temp_folder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good());
}

/// A published table with `tags` tags "t0", "t1", ..., copied into a regular file.
std::vector<char> published_table(std::size_t tags) {
  const std::string seg = unique_segment("copy");
  unimem::usage_publisher pub("copied", tags, seg);
  for (std::size_t i = 0; i < tags; ++i) pub.set(pub.tag("t" + std::to_string(i)), 1000 + i);
  return file_bytes("/dev/shm" + seg);
}

template <class T>
void poke(std::vector<char>& bytes, std::size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// Row 3: the reader mapped the file; a peer truncating it meanwhile raised SIGBUS in the reader.
TEST(usage_publisher, a_table_truncated_while_it_is_read_never_crashes_the_reader) {
  temp_folder dir;
  const std::string path = (dir.path / "unimem.trunc").string();
  const std::vector<char> table = published_table(200);
  write_file(path, table);
  std::atomic<bool> stop{false};
  std::thread truncator([&] {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    while (!stop.load(std::memory_order_relaxed)) {
      ASSERT_EQ(::ftruncate(fd, 128 + 80), 0);
      ASSERT_EQ(::pwrite(fd, table.data(), table.size(), 0), static_cast<ssize_t>(table.size()));
    }
    ::close(fd);
  });
  std::size_t reads = 0, complete = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) {
    if (const auto u = unimem::read_usage_segment(path)) {
      ASSERT_LE(u->tags.size(), 200u);
      complete += u->tags.size() == 200;
    }
    ++reads;
  }
  stop = true;
  truncator.join();
  EXPECT_GT(reads, 10u);
  const auto whole = unimem::read_usage_segment(path);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->tags.size(), 200u);
  EXPECT_EQ(whole->tags[199].current_bytes, 1199u);
}

// Row 4: a FIFO named like a table blocked open() forever; a symlink would be followed.
TEST(usage_publisher, fifos_and_symlinks_named_like_tables_are_skipped_at_once) {
  temp_folder dir;
  const std::string real = (dir.path / "unimem.real").string();
  write_file(real, published_table(2));
  const std::string fifo = (dir.path / "unimem.fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::filesystem::create_symlink(real, dir.path / "unimem.link");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(unimem::read_usage_segment(fifo).has_value());
  EXPECT_FALSE(unimem::read_usage_segment((dir.path / "unimem.link").string()).has_value());
  const auto all = unimem::read_published_usage(dir.path.string(), true);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].path, real);
  EXPECT_FALSE(unimem::read_usage_segment(real + std::string(1, '\0') + "x").has_value()) << "embedded NUL";
}

// Row 5: 3000 slots whose sequence stays odd cost 11 s per read (10000 tries each).
TEST(usage_publisher, slots_whose_writer_never_finishes_are_given_up_on_quickly) {
  temp_folder dir;
  const std::string path = (dir.path / "unimem.stuck").string();
  std::vector<char> table = published_table(3000);
  for (std::size_t i = 0; i < 3000; ++i) poke<std::uint64_t>(table, 128 + i * 80, 1);  // odd: inside an update
  poke<std::uint64_t>(table, 128 + 5 * 80, 2);                                       // except slot 5
  write_file(path, table);
  const auto start = std::chrono::steady_clock::now();
  const auto u = unimem::read_usage_segment(path);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_TRUE(u.has_value());
  ASSERT_EQ(u->tags.size(), 3000u);
  std::size_t busy = 0;
  for (const auto& t : u->tags) busy += !t.consistent;
  EXPECT_EQ(busy, 2999u);
  EXPECT_TRUE(u->tags[5].consistent);
  EXPECT_EQ(u->tags[5].current_bytes, 1005u);
  EXPECT_EQ(u->tags[7].name, "t7") << "a busy slot keeps its name";
  EXPECT_EQ(u->tags[7].current_bytes, 0u) << "and gives no numbers";
}

TEST(usage_publisher, header_fields_are_checked_before_they_size_anything) {
  temp_folder dir;
  const std::string path = (dir.path / "unimem.bad").string();
  const std::vector<char> good = published_table(4);
  auto refused = [&](std::size_t offset, auto value) {
    std::vector<char> t = good;
    poke(t, offset, value);
    write_file(path, t);
    return !unimem::read_usage_segment(path).has_value();
  };
  EXPECT_TRUE(refused(8, std::uint32_t{2})) << "another version";
  EXPECT_TRUE(refused(12, std::uint32_t{0})) << "header_size below the header";
  EXPECT_TRUE(refused(12, std::uint32_t{0xffffffff})) << "header_size beyond the file";
  EXPECT_TRUE(refused(16, std::uint32_t{0})) << "slot_size 0";
  EXPECT_TRUE(refused(16, std::uint32_t{0x80000000})) << "slot_size huge";
  EXPECT_TRUE(refused(20, std::uint32_t{0xffffffff})) << "slot_count beyond the file";
  EXPECT_TRUE(refused(20, std::uint32_t{5})) << "one slot more than the file holds";
  // used_slots beyond slot_count reads slot_count slots; a label without NUL is cut at 64 bytes.
  std::vector<char> t = good;
  poke(t, 32, ~std::uint64_t{0});
  std::memset(t.data() + 40, 'x', 64);
  write_file(path, t);
  const auto u = unimem::read_usage_segment(path);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->tags.size(), 4u);
  EXPECT_EQ(u->label, std::string(64, 'x'));
  // A table cut short of its slots is not a table; an empty file neither.
  write_file(path, std::vector<char>(good.begin(), good.end() - 1));
  EXPECT_FALSE(unimem::read_usage_segment(path).has_value());
  write_file(path, {});
  EXPECT_FALSE(unimem::read_usage_segment(path).has_value());
}

TEST(usage_publisher, other_users_tables_are_read_only_when_asked) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  temp_folder dir;
  const std::string path = (dir.path / "unimem.other").string();
  write_file(path, published_table(1));
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  EXPECT_FALSE(unimem::read_usage_segment(path).has_value());
  EXPECT_TRUE(unimem::read_usage_segment(path, true).has_value());
  EXPECT_TRUE(unimem::read_published_usage(dir.path.string(), true, false).empty());
  EXPECT_EQ(unimem::read_published_usage(dir.path.string(), true, true).size(), 1u);
}

}  // namespace
