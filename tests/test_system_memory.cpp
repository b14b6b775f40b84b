#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include <unimem/system_memory.hpp>

namespace unimem {
namespace {

TEST(meminfo, parses_a_tegra_fixture) {
  const auto m = read_meminfo(std::string(UNIMEM_TEST_DATA_DIR) + "/meminfo_orin.txt");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mem_total, 30536112ull * 1024);
  EXPECT_EQ(m->mem_available, 27284504ull * 1024);
  EXPECT_EQ(m->swap_total, 15268032ull * 1024);
  EXPECT_EQ(m->swap_free, 15268032ull * 1024);
}

TEST(meminfo, reads_this_machine) {
  const auto m = read_meminfo();
  ASSERT_TRUE(m.has_value());
  EXPECT_GT(m->mem_total, 0u);
  EXPECT_LE(m->mem_available, m->mem_total);
}

TEST(meminfo, missing_file_is_nullopt) { EXPECT_FALSE(read_meminfo("/nonexistent/meminfo").has_value()); }

TEST(meminfo, malformed_text_names_the_problem) {
  try {
    (void)parse_meminfo("MemTotal: 100 kB\n");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("MemAvailable"), std::string::npos) << e.what();
  }
  try {
    (void)parse_meminfo("MemTotal: lots\nMemAvailable: 1 kB\n");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)parse_meminfo("MemTotal: 1 MB\nMemAvailable: 1 kB\n"), std::runtime_error);
}

}  // namespace
}  // namespace unimem
