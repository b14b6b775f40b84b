// The pieces of pool_resource, each on its own through its private header: the growth policy,
// the region map, stream ordering (stream_slots with a manual event source), the region's
// adoption rule, and the per-board virtual-memory decision with the host virtual range.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/device_profile.hpp>
#include <unimem/error.hpp>
#include <unimem/resources/virtual_memory.hpp>

#include "pools/general_allocator.hpp"
#include "pools/growth_policy.hpp"
#include "pools/region_map.hpp"
#include "pools/stream_slots.hpp"
#include "pools/upstream_account.hpp"
#include "support/manual_event_source.hpp"
#include "support/test_upstreams.hpp"

namespace unimem::test {
namespace {

using detail::general_allocator;
using detail::growth_policy;
using detail::pool_block;
using detail::pool_chunk;
using detail::pool_granule;
using detail::region_map;
using detail::stream_slots;
using detail::tlsf_index;
using detail::upstream_account;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr std::size_t unlimited = ~std::size_t{0};

TEST(growth_policy, frugal_growth_takes_exactly_the_request_and_small_ones_share_a_chunk) {
  growth_policy g(0, unlimited, true);
  EXPECT_EQ(g.chunk_bytes(3 * MiB, 100 * MiB), 3 * MiB);
  EXPECT_EQ(g.chunk_bytes(4 * KiB, 100 * MiB), growth_policy::frugal_min_chunk);
}

TEST(growth_policy, adaptive_steps_are_a_32nd_of_what_is_held_within_bounds) {
  growth_policy g(0, unlimited, false);
  EXPECT_EQ(g.chunk_bytes(4 * KiB, 0), growth_policy::adaptive_min_step);
  EXPECT_EQ(g.chunk_bytes(4 * KiB, 320 * MiB), 10 * MiB);
  EXPECT_EQ(g.chunk_bytes(4 * KiB, std::size_t{1} << 40), growth_policy::adaptive_max_step);
  EXPECT_EQ(g.chunk_bytes(100 * MiB, 320 * MiB), 100 * MiB) << "a larger request gets what it needs";
}

TEST(growth_policy, a_fixed_step_and_the_maximum_are_kept) {
  growth_policy g(8 * MiB, 20 * MiB, false);
  EXPECT_EQ(g.chunk_bytes(MiB, 0), 8 * MiB);
  EXPECT_EQ(g.chunk_bytes(MiB, 16 * MiB), MiB) << "a full step would pass maximum_size";
}

TEST(growth_policy, frugal_growth_does_not_cut_a_much_larger_free_chunk) {
  growth_policy g(0, unlimited, true);
  pool_chunk c;
  c.used = 0;
  pool_block b;
  b.chunk = &c;
  b.size = 4 * MiB;
  EXPECT_TRUE(g.too_loose(b, MiB));
  EXPECT_FALSE(g.too_loose(b, 4 * MiB - 256 * KiB)) << "within an eighth";
  c.used = 1;
  EXPECT_FALSE(g.too_loose(b, MiB)) << "a chunk in use may be cut";
  g.set_frugal(false);
  c.used = 0;
  EXPECT_FALSE(g.too_loose(b, MiB));
}

TEST(growth_policy, free_chunks_go_back_before_a_new_high_water_mark_beyond_the_allowance) {
  EXPECT_TRUE(growth_policy::return_free_chunks_first(90, 20, 100, 50)) << "60 free above 50 live";
  EXPECT_FALSE(growth_policy::return_free_chunks_first(70, 20, 100, 50)) << "under the high-water mark";
  // 1600 live: up to 100 free bytes are kept rather than returned and taken again.
  EXPECT_FALSE(growth_policy::return_free_chunks_first(1680, 20, 1690, 1600));
  EXPECT_TRUE(growth_policy::return_free_chunks_first(1690, 20, 1700, 1600));
}

TEST(region_map, finds_the_block_containing_an_address_across_every_level) {
  // 4 GiB of address space: 2^24 granules, so a search may climb all three bitmap levels.
  const std::uintptr_t base = std::uintptr_t{1} << 40;
  const std::size_t size = std::size_t{4} << 30;
  region_map map;
  map.reset(base, size);
  std::vector<pool_block> blocks(4);
  const std::size_t starts[] = {0, 256, std::size_t{3} << 30, size - 256};
  for (std::size_t i = 0; i < 4; ++i) {
    blocks[i].addr = base + starts[i];
    map.mark_start(blocks[i].addr);
  }
  map.add_free(&blocks[0]);
  map.add_free(&blocks[2]);
  EXPECT_EQ(map.free_block_at(base), &blocks[0]);
  EXPECT_EQ(map.free_block_at(base + 255), &blocks[0]);
  EXPECT_EQ(map.free_block_at(base + 256), nullptr) << "block 1 is used";
  EXPECT_EQ(map.free_block_at(base + (std::size_t{2} << 30)), nullptr) << "still inside block 1";
  EXPECT_EQ(map.free_block_at(base + (std::size_t{3} << 30) + 12345), &blocks[2]);
  map.clear_start(blocks[1].addr);  // block 0 absorbed block 1
  EXPECT_EQ(map.free_block_at(base + (std::size_t{2} << 30)), &blocks[0]);
  EXPECT_FALSE(map.is_start(blocks[1].addr));
  map.remove_free(&blocks[0]);
  EXPECT_EQ(map.free_count(), 1u);
}

TEST(stream_slots, a_wait_covers_every_free_so_far_and_is_not_repeated) {
  manual_event_source events;
  stream_slots slots(&events);
  const std::uint32_t a = slots.slot_of(fake_stream(1));
  const std::uint32_t b = slots.slot_of(fake_stream(2));
  const std::uint64_t first = slots.note_free(a);  // records an event on A at free time
  const std::uint64_t second = slots.note_free(a);  // not covered by that event
  EXPECT_EQ(events.records(), 1);
  slots.order_after(b, a, first);
  EXPECT_EQ(events.waits(), 1);
  EXPECT_EQ(events.records(), 2) << "a fresh event covers the second free too";
  slots.order_after(b, a, second);
  EXPECT_EQ(events.waits(), 1) << "already covered";
  slots.order_after(a, a, second);
  EXPECT_EQ(events.waits(), 1) << "a stream never waits for itself";
  events.complete(fake_stream(1));
  EXPECT_EQ(slots.poll(a), second);
  const std::uint64_t third = slots.note_free(a);
  slots.order_after(b, a, third);
  EXPECT_EQ(events.waits(), 2);
  EXPECT_EQ(slots.waits(), 2u);
}

/// A general allocator over `up`, to call set_region directly.
struct allocator_fixture : ::testing::Test {
  canary_upstream up;
  upstream_account account{up};
  growth_policy growth{0, unlimited, true};
  general_allocator<tlsf_index> general{account, growth, unlimited, nullptr};
};

TEST_F(allocator_fixture, a_region_above_the_peak_reached_is_not_adopted) {
  pool_block* b = general.allocate(8 * MiB, 256, stream_view{}, 0, detail::region_use::allowed, 0);
  general.free(b, 0);
  ASSERT_EQ(account.peak(), 8 * MiB);
  EXPECT_FALSE(general.set_region(9 * MiB, 256, 0, false, 0)) << "more than the general allocator ever needed";
  EXPECT_EQ(general.region_size(), 0u);
  EXPECT_TRUE(general.set_region(8 * MiB + 512 * KiB, 256, 0, true, 0)) << "a steady iteration may exceed it by 1/8";
  EXPECT_EQ(general.region_size(), 8 * MiB + 512 * KiB);
  EXPECT_EQ(account.reserved(), general.region_size()) << "the free chunk went back first";
  general.verify();
}

TEST_F(allocator_fixture, a_planned_place_is_taken_only_when_free) {
  pool_block* b = general.allocate(4 * MiB, 256, stream_view{}, 0, detail::region_use::allowed, 0);
  general.free(b, 0);
  ASSERT_TRUE(general.set_region(4 * MiB, 256, 0, false, 0));
  pool_block* x = general.place_at(MiB, MiB, 256, 0);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(general.place_at(MiB + 512 * KiB, 256, 256, 0), nullptr) << "inside a used block";
  EXPECT_EQ(general.place_at(3 * MiB + 512 * KiB, MiB, 256, 0), nullptr) << "past the region's end";
  pool_block* y = general.place_at(0, MiB, 256, 0);
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->addr + MiB, x->addr);
  general.verify();
  general.free(x, 0);
  general.free(y, 0);
  general.verify();
}

TEST(virtual_memory_policy, jetsons_grow_by_chunks_and_discrete_gpus_by_a_range) {
  for (const device_profile& p : device_profile::simulated_profiles()) {
    const virtual_memory_decision d = decide_virtual_memory(p);
    EXPECT_FALSE(d.reason.empty()) << p.name;
    if (p.integrated) {
      EXPECT_FALSE(d.use) << p.name << ": " << d.reason;
      EXPECT_NE(d.reason.find("Jetson"), std::string::npos) << d.reason;
    } else {
      EXPECT_TRUE(d.use) << p.name << ": " << d.reason;
      EXPECT_EQ(d.reservation_bytes, p.total_memory_bytes) << "capped at the device's memory";
    }
  }
}

TEST(virtual_memory_policy, a_gpu_older_than_pascal_grows_by_chunks) {
  device_profile p = device_profile::discrete_h100();
  p.cc_major = 5;
  p.cc_minor = 2;
  EXPECT_FALSE(decide_virtual_memory(p).use);
}

TEST(host_virtual_range, maps_and_unmaps_at_the_top) {
  auto r = make_host_virtual_range(64 * MiB, 64 * KiB);
  EXPECT_EQ(r->capacity(), 64 * MiB);
  EXPECT_EQ(r->granularity(), 64 * KiB);
  EXPECT_EQ(r->mapped(), 0u);
  r->resize(256 * KiB);
  auto* p = reinterpret_cast<unsigned char*>(r->base());
  p[0] = 1;
  p[256 * KiB - 1] = 2;  // writable up to the top
  EXPECT_EQ(p[256 * KiB - 1], 2);
  r->resize(64 * KiB);
  EXPECT_EQ(r->mapped(), 64 * KiB);
  EXPECT_THROW(r->resize(1000), std::invalid_argument);
  EXPECT_THROW(r->resize(128 * MiB), out_of_memory);
  EXPECT_EQ(r->mapped(), 64 * KiB) << "a refused resize changes nothing";
  EXPECT_TRUE(r->traits().host_accessible);
}

TEST(host_virtual_range, a_granularity_off_the_page_size_is_refused) {
  EXPECT_THROW(make_host_virtual_range(MiB, 1000), std::invalid_argument);
}

}  // namespace
}  // namespace unimem::test
