// The contract every memory_resource keeps, written once and run over every resource and adaptor
// (support/resource_factories.hpp lists them).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>

#include "support/device_kernels.hpp"
#include "support/gpu_test.hpp"
#include "support/resource_factories.hpp"

namespace unimem::test {
namespace {

template <class Factory>
class resource_contract : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (Factory::needs_gpu) {
      std::string why;
      if (!gpu_available(&why)) {
        if (gpu_required()) FAIL() << "UNIMEM_REQUIRE_GPU=1 but " << why;
        GTEST_SKIP() << "needs a CUDA GPU: " << why;
      }
    }
    mr_ = Factory::make();
  }
  std::unique_ptr<memory_resource> mr_;
};

TYPED_TEST_SUITE(resource_contract, all_resource_factories, factory_name);

/// Factory::checks_frees, false when the factory does not say.
template <class Factory, class = void>
struct checks_frees : std::false_type {};
template <class Factory>
struct checks_frees<Factory, std::void_t<decltype(Factory::checks_frees)>> : std::bool_constant<Factory::checks_frees> {};

/// Fills `n` bytes through whichever side the traits say can write, reads them back through
/// whichever side can read, and returns the number of mismatches.
std::size_t write_and_read_back(memory_resource& mr, void* p, std::size_t n, std::uint8_t v) {
  const resource_traits t = mr.traits();
  if (t.host_accessible) {
    std::memset(p, v, n);
    if (t.device_accessible && t.device_pointer_is_host_pointer) return device_count_mismatches(p, n, v);
    const auto* b = static_cast<const std::uint8_t*>(p);
    return static_cast<std::size_t>(std::count_if(b, b + n, [v](std::uint8_t x) { return x != v; }));
  }
  device_fill(p, n, v);
  std::vector<std::uint8_t> back(n);
  copy_to_host(back.data(), p, n);
  return static_cast<std::size_t>(std::count_if(back.begin(), back.end(), [v](std::uint8_t x) { return x != v; }));
}

TYPED_TEST(resource_contract, name_is_set_and_resource_equals_itself) {
  EXPECT_FALSE(this->mr_->name().empty());
  EXPECT_TRUE(this->mr_->is_equal(*this->mr_));
}

TYPED_TEST(resource_contract, traits_claim_at_least_one_side) {
  const resource_traits t = this->mr_->traits();
  EXPECT_TRUE(t.host_accessible || t.device_accessible);
  if (t.device_pointer_is_host_pointer) {
    EXPECT_TRUE(t.host_accessible && t.device_accessible);
  }
}

TYPED_TEST(resource_contract, honours_every_power_of_two_alignment) {
  for (std::size_t alignment : {1, 2, 8, 16, 64, 256, 512, 4096, 65536, 1 << 21}) {
    for (std::size_t bytes : {1, 100, 4096, 100000}) {
      void* p = this->mr_->allocate(bytes, alignment);
      ASSERT_NE(p, nullptr) << bytes << " B, alignment " << alignment;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << bytes << " B, alignment " << alignment;
      this->mr_->deallocate(p, bytes, alignment);
    }
  }
}

TYPED_TEST(resource_contract, allocations_are_distinct_and_do_not_overlap) {
  std::vector<std::pair<std::uintptr_t, std::size_t>> blocks;
  std::vector<std::pair<void*, std::size_t>> live;
  for (std::size_t i = 0; i < 48; ++i) {
    const std::size_t bytes = 1 + (i * 7919) % 70000;
    const std::size_t alignment = std::size_t{1} << (i % 13);
    void* p = this->mr_->allocate(bytes, alignment);
    live.emplace_back(p, bytes | (alignment << 40));  // remember alignment beside the size
    blocks.emplace_back(reinterpret_cast<std::uintptr_t>(p), bytes);
  }
  std::sort(blocks.begin(), blocks.end());
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    EXPECT_LE(blocks[i - 1].first + blocks[i - 1].second, blocks[i].first) << "blocks " << i - 1 << " and " << i;
  }
  for (auto [p, packed] : live) {
    this->mr_->deallocate(p, packed & ((std::size_t{1} << 40) - 1), packed >> 40);
  }
}

TYPED_TEST(resource_contract, data_written_reads_back_through_each_claimed_side) {
  for (std::size_t bytes : {1, 4097, 1 << 20}) {
    void* p = this->mr_->allocate(bytes);
    EXPECT_EQ(write_and_read_back(*this->mr_, p, bytes, 0x5a), 0u) << bytes << " B";
    EXPECT_EQ(write_and_read_back(*this->mr_, p, bytes, 0xa5), 0u) << bytes << " B";
    this->mr_->deallocate(p, bytes);
  }
}

TYPED_TEST(resource_contract, device_accessible_claim_holds_in_a_kernel) {
  if (!this->mr_->traits().device_accessible) GTEST_SKIP() << "resource does not claim device access";
  UNIMEM_NEEDS_GPU();
  const std::size_t bytes = 3 << 20;
  void* p = this->mr_->allocate(bytes);
  device_fill(p, bytes, 0x3c);  // throws cuda_error (illegal address) if the claim is false
  EXPECT_EQ(device_count_mismatches(p, bytes, 0x3c), 0u);
  if (this->mr_->traits().host_accessible) {
    EXPECT_EQ(static_cast<std::uint8_t*>(p)[bytes - 1], 0x3c);
  }
  this->mr_->deallocate(p, bytes);
}

TYPED_TEST(resource_contract, zero_bytes_gives_null_and_null_deallocates) {
  EXPECT_EQ(this->mr_->allocate(0), nullptr);
  EXPECT_EQ(this->mr_->allocate(0, 4096), nullptr);
  EXPECT_NO_THROW(this->mr_->deallocate(nullptr, 0));
  EXPECT_NO_THROW(this->mr_->deallocate(nullptr, 128));
}

TYPED_TEST(resource_contract, rejects_alignment_that_is_not_a_power_of_two) {
  for (std::size_t alignment : {0, 3, 24, 100, 257}) {
    try {
      void* p = this->mr_->allocate(64, alignment);
      this->mr_->deallocate(p, 64);
      ADD_FAILURE() << "alignment " << alignment << " accepted";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("alignment " + std::to_string(alignment)), std::string::npos) << what;
      EXPECT_NE(what.find("power of two"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string(this->mr_->name())), std::string::npos) << what;
    }
  }
}

TYPED_TEST(resource_contract, impossible_request_is_out_of_memory_and_resource_still_works) {
  const std::size_t huge = std::size_t{1} << 60;  // 1 EiB: no machine has it
  try {
    void* p = this->mr_->allocate(huge);
    this->mr_->deallocate(p, huge);
    FAIL() << "1 EiB allocation succeeded";
  } catch (const out_of_memory& e) {
    EXPECT_EQ(e.requested_bytes(), huge);
    EXPECT_EQ(e.resource(), this->mr_->name());
    EXPECT_FALSE(e.hint().empty());
  }
  // Also an overflowing over-aligned request.
  EXPECT_THROW(this->mr_->allocate(std::numeric_limits<std::size_t>::max() - 10, 1 << 20), std::bad_alloc);
  void* p = this->mr_->allocate(4096);
  EXPECT_NE(p, nullptr);
  this->mr_->deallocate(p, 4096);
}

// Sizes at the top of the range, at the default alignment: rounding them up to a block, a bin or a
// page must not wrap to a small request that is then used as a large one.
TYPED_TEST(resource_contract, sizes_near_the_top_of_the_range_are_out_of_memory) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  for (const std::size_t bytes : {max, max - 1, max - 255, max - 4095, max / 2 + 1}) {
    try {
      void* p = this->mr_->allocate(bytes);
      this->mr_->deallocate(p, bytes);
      ADD_FAILURE() << bytes << " B allocated";
    } catch (const out_of_memory& e) {
      EXPECT_EQ(e.requested_bytes(), bytes);
    }
  }
  void* p = this->mr_->allocate(4096);
  EXPECT_EQ(write_and_read_back(*this->mr_, p, 4096, 0x3c), 0u);
  this->mr_->deallocate(p, 4096);
}

TYPED_TEST(resource_contract, over_aligned_deallocate_of_unknown_pointer_is_refused) {
  void* p = this->mr_->allocate(1000, 8192);
  int not_ours = 0;
  // Host memory from malloc cannot detect foreign pointers cheaply; resources that over-allocate
  // keep a table and must refuse.
  if (this->mr_->traits().kind != memory_kind::host) {
    EXPECT_THROW(this->mr_->deallocate(&not_ours, 1000, 8192), std::invalid_argument);
  }
  this->mr_->deallocate(p, 1000, 8192);
}

// Issue 12: a refusal leaves the resource usable and its accounting exact. Resources that keep a
// table of their allocations refuse a foreign pointer, a wrong size and a double free, and free
// nothing; the allocation is then freed normally.
TYPED_TEST(resource_contract, refused_frees_change_nothing_where_frees_are_checked) {
  if constexpr (!checks_frees<TypeParam>::value) {
    GTEST_SKIP() << "this resource does not keep a table of its allocations";
  } else {
    memory_resource& mr = *this->mr_;
    void* p = mr.allocate(1000);
    int not_ours = 0;
    EXPECT_THROW(mr.deallocate(&not_ours, sizeof not_ours), std::invalid_argument);
    EXPECT_THROW(mr.deallocate(p, 1001), std::invalid_argument);
    EXPECT_EQ(write_and_read_back(mr, p, 1000, 0x5a), 0u) << "the refused frees freed nothing";
    mr.deallocate(p, 1000);
    EXPECT_THROW(mr.deallocate(p, 1000), std::invalid_argument) << "freed twice";
    void* q = mr.allocate(1000);
    EXPECT_EQ(write_and_read_back(mr, q, 1000, 0xa5), 0u);
    mr.deallocate(q, 1000);
  }
}

}  // namespace
}  // namespace unimem::test
