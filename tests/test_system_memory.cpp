// /proc/meminfo and NvMap parsing from fixtures (tests/data), budgets, and cudaMemGetInfo where
// it means something.
#include <unimem/system_memory.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include <unimem/error.hpp>

#include "support/gpu_test.hpp"

namespace {

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(UNIMEM_TEST_DATA_DIR) + "/" + name);
  EXPECT_TRUE(f.good()) << name;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

constexpr std::size_t kib = 1024;

TEST(system_memory, meminfo_of_a_jetson) {
  const unimem::meminfo m = unimem::parse_meminfo(fixture("meminfo_orin_nano.txt"));
  EXPECT_EQ(m.mem_total, 7802880 * kib);
  EXPECT_EQ(m.mem_available, 4520960 * kib);
  EXPECT_EQ(m.mem_free, 412160 * kib);
  EXPECT_EQ(m.swap_total, 3901440 * kib);
  EXPECT_EQ(m.swap_free, 3778560 * kib);
  ASSERT_TRUE(m.nvmap_used.has_value());
  EXPECT_EQ(*m.nvmap_used, 1214464 * kib);
}

TEST(system_memory, meminfo_of_a_server_has_no_nvmap) {
  const auto m = unimem::read_meminfo(std::string(UNIMEM_TEST_DATA_DIR) + "/meminfo_x86_server.txt");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mem_total, 2113523844 * kib);
  EXPECT_EQ(m->swap_total, 0u);
  EXPECT_FALSE(m->nvmap_used.has_value());
  EXPECT_FALSE(unimem::read_meminfo("/nonexistent/meminfo").has_value());
}

TEST(system_memory, malformed_meminfo_names_the_line) {
  EXPECT_THROW(unimem::parse_meminfo("MemTotal: 100 kB\n"), std::runtime_error);  // no MemAvailable
  try {
    unimem::parse_meminfo("MemTotal: 100 kB\nMemAvailable: lots kB\n");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(unimem::parse_meminfo("MemTotal: 100 MB\nMemAvailable: 5 kB\n"), std::runtime_error);
}

TEST(system_memory, live_meminfo_is_consistent) {
  const auto m = unimem::read_meminfo();
  if (!m) GTEST_SKIP() << "no /proc/meminfo here";
  EXPECT_GT(m->mem_total, 0u);
  EXPECT_LE(m->mem_available, m->mem_total);
  EXPECT_LE(m->swap_free, m->swap_total);
}

TEST(system_memory, nvmap_client_table) {
  const unimem::nvmap_usage u = unimem::parse_nvmap_clients(fixture("nvmap_iovmm_clients.txt"));
  EXPECT_EQ(u.total_bytes, 1215488 * kib);
  ASSERT_EQ(u.clients.size(), 6u);
  EXPECT_EQ(u.clients[0].client, "user");
  EXPECT_EQ(u.clients[0].process, "nvargus-daemon");
  EXPECT_EQ(u.clients[0].pid, 921);
  EXPECT_EQ(u.clients[0].bytes, 61240 * kib);
  EXPECT_EQ(u.clients[2].process, "Web Content");  // command names may contain spaces
  EXPECT_EQ(u.clients[3].process, "detector");
  EXPECT_EQ(u.clients[3].bytes, 921600 * kib);
  EXPECT_EQ(u.clients[5].process, "kernel");
  EXPECT_EQ(u.clients[5].pid, 0);
  // Shared buffers count in full for every client that holds them.
  std::size_t sum = 0;
  for (const auto& c : u.clients) sum += c.bytes;
  EXPECT_GT(sum, u.total_bytes);

  const auto read = unimem::read_nvmap_usage(std::string(UNIMEM_TEST_DATA_DIR) + "/nvmap_iovmm_clients.txt");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->total_bytes, u.total_bytes);
  EXPECT_FALSE(unimem::read_nvmap_usage("/nonexistent/nvmap/iovmm/clients").has_value());
}

TEST(system_memory, malformed_nvmap_tables_are_rejected) {
  EXPECT_THROW(unimem::parse_nvmap_clients(fixture("nvmap_truncated.txt")), std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients("MemTotal: 5 kB\n"), std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients("CLIENT PROCESS PID SIZE\nuser app x 12K\ntotal 12K\n"),
               std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients("CLIENT PROCESS PID SIZE\nuser app 12 lotsK\ntotal 12K\n"),
               std::runtime_error);
}

std::string message_of(const std::string& text) {
  try {
    unimem::parse_meminfo(text);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

// Issue 12 row 15: "-5 kB" and 2^64-1 kB wrapped, MemAvailable > MemTotal made "used" wrap.
TEST(system_memory, hostile_meminfo_numbers_are_refused_not_wrapped) {
  const std::string negative = message_of("MemTotal: 100 kB\nMemAvailable: -5 kB\n");
  EXPECT_NE(negative.find("line 2 'MemAvailable: -5 kB': '-5' is not a whole number"), std::string::npos)
      << negative;
  const std::string huge = message_of("MemTotal: 18446744073709551615 kB\nMemAvailable: 5 kB\n");
  EXPECT_NE(huge.find("18446744073709551615 kB is more bytes than 64 bits hold"), std::string::npos) << huge;
  EXPECT_NE(message_of("MemTotal: 18446744073709551616 kB\nMemAvailable: 5 kB\n").find("does not fit in 64 bits"),
            std::string::npos);
  EXPECT_NE(message_of("MemTotal: +5 kB\nMemAvailable: 5 kB\n").find("not a whole number"), std::string::npos);
  EXPECT_NE(message_of("MemTotal: 5 kB junk\nMemAvailable: 5 kB\n").find("expected 'MemTotal: <number> kB'"),
            std::string::npos);
  const std::string escaped = message_of("MemTotal: \x1b[2J kB\nMemAvailable: 5 kB\n");
  EXPECT_EQ(escaped.find('\x1b'), std::string::npos) << "control characters are escaped in the message";
  EXPECT_NE(escaped.find("\\x1b"), std::string::npos) << escaped;
  // Without a unit the number is bytes; the largest fits.
  EXPECT_EQ(unimem::parse_meminfo("MemTotal: 18446744073709551615\nMemAvailable: 5\n").mem_total,
            std::numeric_limits<std::size_t>::max());
}

TEST(system_memory, a_part_larger_than_its_whole_is_lowered_to_it) {
  const unimem::meminfo m = unimem::parse_meminfo(
      "MemTotal: 1000 kB\nMemFree: 2000 kB\nMemAvailable: 3000 kB\nSwapTotal: 10 kB\nSwapFree: 20 kB\n"
      "NvMapMemUsed: 5000 kB\n");
  EXPECT_EQ(m.mem_available, 1000 * kib);
  EXPECT_EQ(m.mem_free, 1000 * kib);
  EXPECT_EQ(m.swap_free, 10 * kib);
  EXPECT_EQ(*m.nvmap_used, 1000 * kib);
  EXPECT_EQ(m.mem_total - m.mem_available, 0u) << "used never wraps";
}

TEST(system_memory, integrated_budget_with_swap_does_not_overflow) {
  unimem::meminfo m;  // filled by hand: nothing clamps it
  m.mem_total = std::size_t{16} << 30;
  m.mem_available = std::numeric_limits<std::size_t>::max() - 10;
  m.swap_free = 100;
  // Before: available + swap wrapped to 89 B.
  EXPECT_EQ(unimem::integrated_budget(m, 0.0, 0, true), m.mem_total);
}

TEST(system_memory, readers_refuse_fifos_and_devices_without_blocking) {
  const auto fifo = std::filesystem::temp_directory_path() / ("unimem_meminfo_fifo_" + std::to_string(::getpid()));
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  try {
    unimem::read_meminfo(fifo.string());
    ADD_FAILURE() << "a FIFO was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << "no writer: it must not wait";
  std::filesystem::remove(fifo);
  EXPECT_THROW(unimem::read_meminfo("/dev/zero"), std::runtime_error);
  EXPECT_THROW(unimem::read_nvmap_usage("/dev/zero"), std::runtime_error);
  EXPECT_THROW(unimem::read_meminfo(std::string("/proc/meminfo\0x", 15)), std::runtime_error) << "embedded NUL";
}

TEST(system_memory, hostile_nvmap_numbers_are_refused) {
  const std::string head = "CLIENT PROCESS PID SIZE\n";
  EXPECT_THROW(unimem::parse_nvmap_clients(head + "user app 12 18446744073709551615K\ntotal 12K\n"),
               std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients(head + "user app 12 -5K\ntotal 12K\n"), std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients(head + "user app 99999999999 5K\ntotal 12K\n"), std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients(head + "user app -1 5K\ntotal 12K\n"), std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients(head + "total 99999999999999999999K\n"), std::runtime_error);
  EXPECT_THROW(unimem::parse_nvmap_clients(head + "total  K\n"), std::runtime_error);
}

TEST(system_memory, integrated_budget_from_meminfo) {
  const unimem::meminfo m = unimem::parse_meminfo(fixture("meminfo_orin_nano.txt"));
  const std::size_t available = 4520960 * kib;
  EXPECT_EQ(unimem::integrated_budget(m, 0.0), available);
  EXPECT_EQ(unimem::integrated_budget(m), available / 5 * 4);  // 20% headroom; divisible here
  EXPECT_EQ(unimem::integrated_budget(m, 0.5, 1000 * kib), (available - 1000 * kib) / 2);
  EXPECT_EQ(unimem::integrated_budget(m, 0.2, available), 0u);
  EXPECT_EQ(unimem::integrated_budget(m, 0.2, ~std::size_t{0}), 0u);
  // With swap: MemAvailable + SwapFree, at most MemTotal - NvMapMemUsed.
  const std::size_t with_swap = (4520960 + 3778560) * kib;
  const std::size_t physical = (7802880 - 1214464) * kib;
  EXPECT_EQ(unimem::integrated_budget(m, 0.0, 0, true), std::min(with_swap, physical));
  EXPECT_THROW(unimem::integrated_budget(m, 1.0), std::invalid_argument);
  EXPECT_THROW(unimem::integrated_budget(m, -0.1), std::invalid_argument);
}

TEST(system_memory, budget_of_a_simulated_board_needs_its_numbers) {
  EXPECT_THROW(unimem::device_budget(unimem::device_profile::jetson_orin_nano()), unimem::unsupported_error);
  EXPECT_THROW(unimem::device_budget(unimem::device_profile::discrete_h100()), unimem::unsupported_error);
  EXPECT_THROW(unimem::device_budget(unimem::device_profile::discrete_h100(), 2.0), std::invalid_argument);
  // cudaMemGetInfo is no budget on an integrated GPU, and a simulated profile has no device.
  EXPECT_FALSE(unimem::query_device_memory(unimem::device_profile::jetson_agx_orin()).has_value());
  EXPECT_FALSE(unimem::query_device_memory(unimem::device_profile::discrete_h100()).has_value());
}

class system_memory_gpu : public unimem::test::gpu_test {};

TEST_F(system_memory_gpu, device_memory_and_budget_of_the_current_device) {
  const unimem::device_profile p = unimem::device_profile::current();
  const std::size_t budget = unimem::device_budget(p, 0.2);
  EXPECT_GT(budget, 0u);
  const auto d = unimem::query_device_memory(p);
  if (p.integrated) {
    EXPECT_FALSE(d.has_value());
    const auto m = unimem::read_meminfo();
    ASSERT_TRUE(m.has_value());
    EXPECT_LE(budget, m->mem_available);
  } else {
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->device, p.device);
    EXPECT_LE(d->free_bytes, d->total_bytes);
    EXPECT_GT(d->total_bytes, 0u);
    EXPECT_LE(budget, d->free_bytes);
  }
}

}  // namespace
