// Planned arena: one allocation, the planned pointers inside it, and data that survives while
// tensors sharing bytes at different times are written in order.
#include <unimem/planning/planned_arena.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/resources/device_resource.hpp>
#include <unimem/resources/host_resource.hpp>

#include "support/gpu_test.hpp"

namespace {

using lifetimes = std::vector<unimem::tensor_lifetime>;

/// Counts what goes through it, to check one allocation per arena.
class counting_resource final : public unimem::memory_resource {
 public:
  int allocations = 0, deallocations = 0;
  std::size_t last_bytes = 0, last_alignment = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, unimem::stream_view s) override {
    ++allocations;
    last_bytes = bytes;
    last_alignment = alignment;
    return upstream_.allocate(bytes, alignment, s);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment, unimem::stream_view s) override {
    ++deallocations;
    upstream_.deallocate(p, bytes, alignment, s);
  }
  unimem::resource_traits do_traits() const noexcept override { return upstream_.traits(); }
  std::string_view do_name() const noexcept override { return "counting_resource"; }
  unimem::host_resource upstream_;
};

lifetimes layer_graph(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  lifetimes t(n);
  for (std::size_t i = 0; i < n; ++i) {
    t[i].first_op = i;
    t[i].last_op = i + 1 + rng() % 4;
    t[i].bytes = 64 + rng() % 4096;
    t[i].alignment = 256;
  }
  return t;
}

TEST(planned_arena, one_allocation_and_aligned_pointers_inside_it) {
  const lifetimes t = layer_graph(200, 1);
  counting_resource mr;
  {
    unimem::planned_arena arena(t, mr);
    EXPECT_EQ(mr.allocations, 1);
    EXPECT_EQ(mr.last_bytes, arena.arena_bytes());
    EXPECT_EQ(mr.last_alignment, 256u);
    EXPECT_EQ(arena.size(), t.size());
    EXPECT_LE(arena.arena_bytes(), unimem::naive_bytes(t));
    auto* base = static_cast<unsigned char*>(arena.base());
    for (std::size_t i = 0; i < t.size(); ++i) {
      auto* p = static_cast<unsigned char*>(arena.data(i));
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
      EXPECT_GE(p, base);
      EXPECT_LE(p + t[i].bytes, base + arena.arena_bytes());
      EXPECT_EQ(arena.bytes(i), t[i].bytes);
    }
    EXPECT_THROW(arena.data(t.size()), std::out_of_range);
    EXPECT_THROW(arena.bytes(t.size()), std::out_of_range);
  }
  EXPECT_EQ(mr.deallocations, 1);
}

// Replays the program: at each op, the tensors that start write their pattern; every live tensor
// must still hold its own pattern. Overlap between live tensors would corrupt one of them.
TEST(planned_arena, live_tensors_never_clobber_each_other) {
  const lifetimes t = layer_graph(300, 2);
  unimem::host_resource mr;
  unimem::planned_arena arena(t, mr);
  std::size_t last = 0;
  for (const auto& x : t) last = std::max(last, x.last_op);
  for (std::size_t op = 0; op <= last; ++op) {
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t[i].first_op == op) std::memset(arena.data(i), static_cast<int>(i % 251), t[i].bytes);
    }
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (t[i].first_op > op || t[i].last_op < op) continue;
      const auto* p = arena.data_as<unsigned char>(i);
      for (std::size_t b = 0; b < t[i].bytes; b += 97) {
        ASSERT_EQ(p[b], i % 251) << "tensor " << i << " byte " << b << " at op " << op;
      }
    }
  }
}

TEST(planned_arena, rejects_a_plan_that_does_not_fit) {
  const lifetimes t = {{100, 0, 2, 1}, {50, 1, 3, 1}};
  unimem::memory_plan bad = unimem::plan_memory(t);
  bad.offsets[1] = bad.offsets[0];  // both live at ops 1..2
  counting_resource mr;
  EXPECT_THROW(unimem::planned_arena(t, bad, mr), std::invalid_argument);
  EXPECT_EQ(mr.allocations, 0);
  EXPECT_THROW(unimem::planned_arena(t, unimem::plan_memory(t), mr, {}, 3), std::invalid_argument);
}

TEST(planned_arena, moves_own_the_block_once_and_empty_plans_allocate_nothing) {
  const lifetimes t = layer_graph(20, 3);
  counting_resource mr;
  {
    unimem::planned_arena a(t, mr);
    void* base = a.base();
    unimem::planned_arena b(std::move(a));
    EXPECT_EQ(b.base(), base);
    EXPECT_EQ(a.base(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_EQ(a.resource(), nullptr);
    unimem::planned_arena c(t, mr);
    c = std::move(b);
    EXPECT_EQ(c.base(), base);
    EXPECT_EQ(mr.deallocations, 1);  // c's own block went back when b's was moved in
  }
  EXPECT_EQ(mr.allocations, 2);
  EXPECT_EQ(mr.deallocations, 2);

  unimem::planned_arena empty(lifetimes{{0, 0, 1, 1}}, mr);
  EXPECT_EQ(empty.base(), nullptr);
  EXPECT_EQ(empty.data(0), nullptr);
  EXPECT_EQ(mr.allocations, 2);  // zero bytes: memory_resource::allocate returns nullptr untouched
}

class planned_arena_gpu : public unimem::test::gpu_test {};

TEST_F(planned_arena_gpu, device_memory_arena) {
  const lifetimes t = layer_graph(500, 4);
  unimem::device_resource mr;
  unimem::planned_arena arena(t, mr);
  ASSERT_NE(arena.base(), nullptr);
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(arena.data(i)) % 256, 0u);
  }
}

}  // namespace
