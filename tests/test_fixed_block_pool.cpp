// fixed_block_pool and arena_resource: O(1) blocks, stream ordering, bad input, reset.
#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/pools/arena_resource.hpp>
#include <unimem/error.hpp>
#include <unimem/pools/fixed_block_pool.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/tag.hpp>

#include "support/manual_event_source.hpp"
#include "support/test_upstreams.hpp"

namespace unimem::test {
namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

TEST(fixed_block_pool, hands_out_distinct_aligned_blocks_and_reuses_them) {
  canary_upstream up;
  fixed_block_pool_options o;
  o.blocks_per_chunk = 4;
  o.block_alignment = 4096;
  fixed_block_pool pool(up, 1000, o);
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) {
    void* p = pool.allocate(1000);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 4096, 0u);
    EXPECT_TRUE(seen.insert(p).second);
    blocks.push_back(p);
  }
  EXPECT_EQ(up.allocations(), 3u) << "10 blocks in chunks of 4";
  EXPECT_EQ(pool.total_blocks(), 12u);
  EXPECT_EQ(pool.live_blocks(), 10u);
  pool.deallocate(blocks[3], 1000);
  EXPECT_EQ(pool.allocate(600), blocks[3]) << "a smaller request takes a whole block too";
  for (void* p : blocks) pool.deallocate(p, 1000);
  EXPECT_EQ(pool.live_blocks(), 0u);
  EXPECT_EQ(pool.release(), 3 * 4 * 4096);
  EXPECT_EQ(up.held(), 0u);
  EXPECT_EQ(up.dirty_returns(), 0u) << "bookkeeping stays out of the blocks";
}

TEST(fixed_block_pool, refuses_what_does_not_fit_a_block) {
  canary_upstream up;
  fixed_block_pool pool(up, 4096);
  try {
    pool.allocate(4097);
    FAIL();
  } catch (const out_of_memory& e) {
    EXPECT_EQ(e.resource(), "unimem::fixed_block_pool");
    EXPECT_NE(e.hint().find("4096 B"), std::string::npos) << e.hint();
  }
  const std::string what = what_of([&] { pool.allocate(64, 1024); });
  EXPECT_NE(what.find("block_alignment"), std::string::npos) << what;
  EXPECT_THROW(fixed_block_pool(up, 0), std::invalid_argument);
  fixed_block_pool_options bad;
  bad.block_alignment = 100;
  EXPECT_THROW(fixed_block_pool(up, 64, bad), std::invalid_argument);
}

TEST(fixed_block_pool, double_free_foreign_pointer_and_wrong_size_are_refused) {
  canary_upstream up;
  fixed_block_pool_options o;
  o.checked = true;
  fixed_block_pool pool(up, 1024, o);
  void* p = pool.allocate(1000);
  int not_ours = 0;
  EXPECT_NE(what_of([&] { pool.deallocate(&not_ours, 4); }).find("not a block of this pool"), std::string::npos);
  EXPECT_NE(what_of([&] { pool.deallocate(static_cast<char*>(p) + 8, 8); }).find("not a block"), std::string::npos);
  EXPECT_NE(what_of([&] { pool.deallocate(p, 999); }).find("allocated with 1000 B"), std::string::npos);
  pool.deallocate(p, 1000);
  EXPECT_NE(what_of([&] { pool.deallocate(p, 1000); }).find("freed twice"), std::string::npos);
  EXPECT_EQ(pool.live_blocks(), 0u);
}

TEST(fixed_block_pool, max_blocks_is_out_of_memory_and_the_pool_keeps_working) {
  canary_upstream up;
  fixed_block_pool_options o;
  o.blocks_per_chunk = 2;
  o.max_blocks = 3;
  fixed_block_pool pool(up, 256, o);
  void* a = pool.allocate(256);
  void* b = pool.allocate(256);
  void* c = pool.allocate(256);
  EXPECT_EQ(pool.total_blocks(), 3u);
  EXPECT_THROW(pool.allocate(256), out_of_memory);
  pool.deallocate(b, 256);
  EXPECT_EQ(pool.allocate(256), b);
  pool.deallocate(a, 256);
  pool.deallocate(b, 256);
  pool.deallocate(c, 256);
}

TEST(fixed_block_pool, upstream_out_of_memory_leaves_it_usable) {
  canary_upstream up(2 * MiB);
  fixed_block_pool_options o;
  o.blocks_per_chunk = 1;
  fixed_block_pool pool(up, MiB, o);
  void* a = pool.allocate(MiB);
  void* b = pool.allocate(MiB);
  EXPECT_THROW(pool.allocate(MiB), out_of_memory);
  pool.deallocate(a, MiB);
  EXPECT_EQ(pool.allocate(MiB), a);
  pool.deallocate(a, MiB);
  pool.deallocate(b, MiB);
}

TEST(fixed_block_pool, stream_ordered_reuse) {
  auto events = std::make_shared<manual_event_source>();
  canary_upstream up;
  fixed_block_pool_options o;
  o.events = events;
  o.blocks_per_chunk = 1;
  fixed_block_pool pool(up, 4096, o);
  const stream_view a = fake_stream(1), b = fake_stream(2);
  void* p = pool.allocate(4096, 256, a);
  void* keep = pool.allocate(4096, 256, a);
  pool.deallocate(p, 4096, 256, a);  // records an event on A
  EXPECT_EQ(events->records(), 1);
  EXPECT_EQ(pool.allocate(4096, 256, a), p) << "same stream: at once";
  pool.deallocate(p, 4096, 256, a);  // covered by the next event, recorded when another stream asks
  void* q = pool.allocate(4096, 256, b);
  EXPECT_NE(q, p) << "other stream: not before A's work is known complete";
  events->complete(a);
  void* r = pool.allocate(4096, 256, b);  // the first event completed; a second one now covers p
  EXPECT_NE(r, p);
  events->complete(a);
  void* s = pool.allocate(4096, 256, b);
  EXPECT_EQ(s, p) << "other stream: once an event after the free completed";
  pool.deallocate(keep, 4096, 256, a);  // nothing in flight on A: recorded at free time
  events->complete(a);
  void* t = pool.allocate(4096, 256, b);
  EXPECT_EQ(t, keep);
  EXPECT_EQ(events->synchronizes(), 0);
  for (void* x : {q, r, s, t}) pool.deallocate(x, 4096, 256, b);
}

TEST(fixed_block_pool, reports_live_blocks_by_tag) {
  canary_upstream up;
  leak_report seen;
  {
    fixed_block_pool_options o;
    o.on_leak = [&](const leak_report& r) { seen = r; };
    fixed_block_pool pool(up, 4096, o);
    tag_scope scope{"camera"};
    pool.allocate(4096);
    pool.allocate(100);
  }
  EXPECT_EQ(seen.resource, "unimem::fixed_block_pool");
  EXPECT_EQ(seen.count, 2u);
  ASSERT_EQ(seen.by_tag.size(), 1u);
  EXPECT_EQ(seen.by_tag[0].name, "camera");
  EXPECT_EQ(up.held(), 0u);
}

TEST(fixed_block_pool, concurrent_threads) {
  canary_upstream up;
  fixed_block_pool_options o;
  o.blocks_per_chunk = 16;
  fixed_block_pool pool(up, 512, o);
  std::atomic<int> corrupt{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      std::vector<unsigned char*> mine;
      for (int i = 0; i < 3000; ++i) {
        if (mine.size() < 8 && (i % 3 != 2)) {
          auto* p = static_cast<unsigned char*>(pool.allocate(512));
          std::fill(p, p + 512, static_cast<unsigned char>(t + 1));
          mine.push_back(p);
        } else if (!mine.empty()) {
          unsigned char* p = mine.back();
          mine.pop_back();
          for (int k = 0; k < 512; ++k) corrupt += p[k] != t + 1 ? 1 : 0;
          pool.deallocate(p, 512);
        }
      }
      for (unsigned char* p : mine) pool.deallocate(p, 512);
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(corrupt.load(), 0);
  EXPECT_EQ(pool.live_blocks(), 0u);
}

/// An upstream that breaks the contract: null instead of out_of_memory.
class null_upstream final : public memory_resource {
  void* do_allocate(std::size_t, std::size_t, stream_view) override { return nullptr; }
  void do_deallocate(void*, std::size_t, std::size_t, stream_view) override {}
  resource_traits do_traits() const noexcept override { return {memory_kind::host, true, false, false}; }
  std::string_view do_name() const noexcept override { return "null_upstream"; }
};

// Issue 12 row 8: blocks_per_chunk x stride wrapped to 0, the upstream returned null for the
// "empty" chunk and the pool used it: SIGSEGV.
TEST(fixed_block_pool, a_chunk_no_upstream_can_give_is_refused_at_construction) {
  host_resource host;
  fixed_block_pool_options o;
  o.blocks_per_chunk = 4;
  const std::string why = what_of([&] { fixed_block_pool pool(host, std::size_t{1} << 62, o); });
  EXPECT_NE(why.find("unimem::fixed_block_pool(block_size 4611686018427387904 B, blocks_per_chunk 4)"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("lower blocks_per_chunk"), std::string::npos) << why;
  EXPECT_THROW(fixed_block_pool(host, SIZE_MAX - 10), std::invalid_argument) << "the stride wraps";
  EXPECT_THROW(fixed_block_pool(host, SIZE_MAX / 2 + 2), std::invalid_argument) << "beyond std::ptrdiff_t";
  // A huge block with the default chunk is a size the upstream refuses, and the pool survives it.
  fixed_block_pool big(host, std::size_t{1} << 60);
  EXPECT_THROW(big.allocate(1), out_of_memory);
  EXPECT_EQ(big.total_blocks(), 0u);
}

TEST(fixed_block_pool, an_upstream_returning_null_is_out_of_memory_not_a_chunk) {
  null_upstream up;
  fixed_block_pool pool(up, 1000);
  const std::string why = what_of([&] { pool.allocate(1000); });
  EXPECT_NE(why.find("returned null"), std::string::npos) << why;
  EXPECT_EQ(pool.total_blocks(), 0u);
  EXPECT_EQ(pool.live_blocks(), 0u);
}

// ------------------------------------------------------------------ arena

TEST(arena_resource, bumps_and_reset_makes_everything_reusable) {
  canary_upstream up;
  arena_options o;
  o.initial_size = 64 * KiB;
  arena_resource arena(up, o);
  void* a = arena.allocate(1000);
  void* b = arena.allocate(1000);
  EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 1024) << "256-aligned bump";
  EXPECT_EQ(arena.used_bytes(), 2024u);
  arena.deallocate(a, 1000);  // no-op until reset
  arena.reset();
  EXPECT_EQ(arena.used_bytes(), 0u);
  EXPECT_EQ(arena.allocate(1000), a);
  EXPECT_EQ(up.allocations(), 1u);
}

TEST(arena_resource, a_pass_that_spilled_is_held_in_one_block_after_reset) {
  canary_upstream up;
  arena_options o;
  o.initial_size = 64 * KiB;
  arena_resource arena(up, o);
  for (int i = 0; i < 10; ++i) arena.allocate(40 * KiB);  // spills into several blocks
  EXPECT_GT(arena.block_count(), 1u);
  arena.reset();
  EXPECT_EQ(arena.block_count(), 1u);
  const std::size_t calls = up.allocations();
  for (int pass = 0; pass < 3; ++pass) {
    for (int i = 0; i < 10; ++i) arena.allocate(40 * KiB);
    EXPECT_EQ(arena.used_bytes(), 10 * 40 * KiB) << "one block: no unused tails";
    arena.reset();
  }
  EXPECT_EQ(up.allocations(), calls) << "a repeated pass needs no upstream call";
}

TEST(arena_resource, checked_mode_refuses_double_free_and_wrong_size) {
  canary_upstream up;
  arena_options o;
  o.checked = true;
  arena_resource arena(up, o);
  void* p = arena.allocate(100);
  EXPECT_NE(what_of([&] { arena.deallocate(p, 99); }).find("size differs"), std::string::npos);
  arena.deallocate(p, 100);
  EXPECT_NE(what_of([&] { arena.deallocate(p, 100); }).find("freed twice"), std::string::npos);
  int not_ours = 0;
  EXPECT_THROW(arena.deallocate(&not_ours, 4), std::invalid_argument);
}

TEST(arena_resource, foreign_pointers_are_refused_even_unchecked) {
  canary_upstream up;
  arena_resource arena(up);
  arena.allocate(100);
  int not_ours = 0;
  EXPECT_NE(what_of([&] { arena.deallocate(&not_ours, 4); }).find("not inside the arena"), std::string::npos);
}

TEST(arena_resource, maximum_size_is_out_of_memory_and_reset_recovers) {
  canary_upstream up;
  arena_options o;
  o.initial_size = MiB;
  o.maximum_size = MiB;
  arena_resource arena(up, o);
  arena.allocate(600 * KiB);
  try {
    arena.allocate(600 * KiB);
    FAIL();
  } catch (const out_of_memory& e) {
    EXPECT_EQ(e.requested_bytes(), 600 * KiB);
    EXPECT_EQ(e.resource(), "unimem::arena_resource");
  }
  arena.reset();
  EXPECT_NE(arena.allocate(600 * KiB), nullptr);
}

TEST(arena_resource, an_initial_size_no_upstream_can_give_is_refused) {
  canary_upstream up;
  arena_options o;
  o.initial_size = SIZE_MAX;
  const std::string why = what_of([&] { arena_resource arena(up, o); });
  EXPECT_NE(why.find("unimem::arena_resource(initial_size 18446744073709551615 B)"), std::string::npos) << why;
  o.initial_size = 2 * MiB;
  o.maximum_size = MiB;
  EXPECT_NE(what_of([&] { arena_resource arena(up, o); }).find("raise maximum_size or lower initial_size"),
            std::string::npos);
  EXPECT_EQ(up.allocations(), 0u);
}

TEST(arena_resource, reset_never_fails_and_huge_alignments_do_not_wrap) {
  canary_upstream up;
  arena_options o;
  o.initial_size = 64 * KiB;
  arena_resource arena(up, o);
  for (int i = 0; i < 4; ++i) arena.allocate(40 * KiB);  // spills: reset wants one 160 KiB block
  up.set_limit(100 * KiB);                               // ... which it cannot have now
  EXPECT_NO_THROW(arena.reset());
  EXPECT_EQ(arena.block_count(), 0u) << "the arena starts empty and grows again";
  up.set_limit(SIZE_MAX);
  EXPECT_NE(arena.allocate(1000), nullptr);
  // An alignment near the top of the range is out of memory, not a wrapped bump pointer.
  EXPECT_THROW(arena.allocate(16, std::size_t{1} << 63), std::bad_alloc);
  EXPECT_NE(arena.allocate(1000), nullptr) << "still usable";
}

}  // namespace
}  // namespace unimem::test
