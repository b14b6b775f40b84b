#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <unimem/pcie.hpp>

namespace unimem {
namespace {

namespace fs = std::filesystem;

/// A fake sysfs device folder holding the given link files; removed at scope exit.
class fake_pci_device {
 public:
  fake_pci_device() {
    dir_ = fs::temp_directory_path() / ("unimem_pcie_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(dir_);
  }
  ~fake_pci_device() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fake_pci_device(const fake_pci_device&) = delete;
  fake_pci_device& operator=(const fake_pci_device&) = delete;

  void write(const std::string& file, const std::string& text) const { std::ofstream(dir_ / file) << text; }
  std::string path() const { return dir_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

TEST(pcie, peak_follows_the_encoding_of_each_generation) {
  // Gen1/2: 8b/10b, so Gen2 x16 = 5 GT/s * 16 * 0.8 / 8 = 8 GB/s.
  EXPECT_DOUBLE_EQ(pcie_peak_bytes_per_s(5.0, 16), 8e9);
  EXPECT_DOUBLE_EQ(pcie_peak_bytes_per_s(2.5, 1), 250e6);
  // Gen3 and later: 128b/130b. Gen5 x16 (H100/H200) = 63.0 GB/s; Gen4 x16 = 31.5 GB/s.
  EXPECT_NEAR(pcie_peak_bytes_per_s(32.0, 16), 63.015e9, 1e6);
  EXPECT_NEAR(pcie_peak_bytes_per_s(16.0, 16), 31.508e9, 1e6);
  EXPECT_NEAR(pcie_peak_bytes_per_s(8.0, 4), 3.938e9, 1e6);
}

TEST(pcie, peak_of_a_missing_link_is_zero) {
  EXPECT_EQ(pcie_peak_bytes_per_s(0.0, 16), 0.0);
  EXPECT_EQ(pcie_peak_bytes_per_s(32.0, 0), 0.0);
  EXPECT_EQ(pcie_peak_bytes_per_s(-1.0, 16), 0.0);
}

TEST(pcie, reads_a_current_kernel_sysfs_folder) {
  fake_pci_device dev;
  dev.write("current_link_speed", "32.0 GT/s PCIe\n");
  dev.write("current_link_width", "16\n");
  dev.write("max_link_speed", "32.0 GT/s PCIe\n");
  dev.write("max_link_width", "16\n");
  const auto link = read_pcie_link(dev.path());
  ASSERT_TRUE(link.has_value());
  EXPECT_DOUBLE_EQ(link->speed_gt_per_s, 32.0);
  EXPECT_EQ(link->width, 16);
  EXPECT_FALSE(link->downgraded());
  EXPECT_NEAR(link->peak_bytes_per_s(), 63.015e9, 1e6);
}

TEST(pcie, reads_an_old_kernel_format_and_sees_an_idle_downgrade) {
  fake_pci_device dev;
  dev.write("current_link_speed", "2.5 GT/s\n");  // an idle GPU drops its link speed
  dev.write("current_link_width", "16\n");
  dev.write("max_link_speed", "16 GT/s\n");
  dev.write("max_link_width", "16\n");
  const auto link = read_pcie_link(dev.path() + "/");
  ASSERT_TRUE(link.has_value());
  EXPECT_DOUBLE_EQ(link->speed_gt_per_s, 2.5);
  EXPECT_DOUBLE_EQ(link->max_speed_gt_per_s, 16.0);
  EXPECT_TRUE(link->downgraded());
  EXPECT_DOUBLE_EQ(link->peak_bytes_per_s(), 4e9);
}

TEST(pcie, max_fields_are_optional) {
  fake_pci_device dev;
  dev.write("current_link_speed", "8.0 GT/s PCIe\n");
  dev.write("current_link_width", "8\n");
  const auto link = read_pcie_link(dev.path());
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->max_width, 0);
  EXPECT_FALSE(link->downgraded());
}

TEST(pcie, unreadable_or_unknown_links_are_nullopt) {
  EXPECT_FALSE(read_pcie_link("/nonexistent/pci/device").has_value());
  fake_pci_device dev;
  dev.write("current_link_speed", "Unknown\n");  // what sysfs prints for a link that is down
  dev.write("current_link_width", "0\n");
  EXPECT_FALSE(read_pcie_link(dev.path()).has_value());
  fake_pci_device no_width;
  no_width.write("current_link_speed", "16.0 GT/s PCIe\n");
  EXPECT_FALSE(read_pcie_link(no_width.path()).has_value());
}

TEST(pcie, a_device_that_does_not_exist_has_no_link) {
  // Never throws: without a driver, or for an ordinal past the last device, the answer is "unknown".
  EXPECT_FALSE(pcie_link_of_device(1 << 20).has_value());
  EXPECT_FALSE(pcie_peak_bytes_per_s(-1).has_value());
}

}  // namespace
}  // namespace unimem
