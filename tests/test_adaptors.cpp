// Adaptors (statistics, limiting, fallback, logging, synchronized) and tags.
#include <atomic>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/error.hpp>
#include <unimem/adaptors/fallback_resource.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/adaptors/limiting_resource.hpp>
#include <unimem/adaptors/logging_resource.hpp>
#include <unimem/pools/pool_resource.hpp>
#include <unimem/adaptors/statistics_resource.hpp>
#include <unimem/adaptors/synchronized_resource.hpp>
#include <unimem/pools/arena_resource.hpp>
#include <unimem/tag.hpp>
#include <unimem/trace.hpp>

#include "support/manual_event_source.hpp"
#include "support/test_upstreams.hpp"

namespace unimem::test {
namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;

TEST(tags, scopes_nest_and_names_round_trip) {
  EXPECT_EQ(current_tag(), untagged);
  {
    tag_scope outer{"model-a"};
    EXPECT_EQ(tag_name(current_tag()), "model-a");
    {
      tag_scope inner{"model-b"};
      EXPECT_EQ(tag_name(current_tag()), "model-b");
    }
    EXPECT_EQ(tag_name(current_tag()), "model-a");
  }
  EXPECT_EQ(current_tag(), untagged);
  EXPECT_EQ(intern_tag("model-a"), intern_tag("model-a"));
  EXPECT_THROW(intern_tag(""), std::invalid_argument);
  EXPECT_THROW(tag_name(60000), std::out_of_range);
}

TEST(statistics_resource, counts_overall_and_per_tag) {
  host_resource host;
  statistics_resource stats(host);
  void* a;
  void* b;
  {
    tag_scope scope{"detector"};
    a = stats.allocate(3 * MiB);
    b = stats.allocate(MiB);
  }
  void* c = stats.allocate(100);
  EXPECT_EQ(stats.totals().current_bytes, 4 * MiB + 100);
  EXPECT_EQ(stats.totals().peak_count, 3u);
  const usage_counters det = stats.for_tag(intern_tag("detector"));
  EXPECT_EQ(det.current_bytes, 4 * MiB);
  EXPECT_EQ(det.current_count, 2u);
  {
    tag_scope other{"classifier"};
    stats.deallocate(a, 3 * MiB);  // charged back to "detector", where it was allocated
  }
  EXPECT_EQ(stats.for_tag(intern_tag("detector")).current_bytes, MiB);
  EXPECT_EQ(stats.for_tag(intern_tag("detector")).peak_bytes, 4 * MiB);
  EXPECT_EQ(stats.for_tag(intern_tag("classifier")).current_bytes, 0u);
  stats.reset_peaks();
  EXPECT_EQ(stats.totals().peak_bytes, MiB + 100);
  const auto rows = stats.by_tag();
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "detector");
  stats.deallocate(b, MiB);
  stats.deallocate(c, 100);
  EXPECT_EQ(stats.totals().current_bytes, 0u);
  EXPECT_EQ(stats.totals().total_count, 3u);
}

// Issue 12 row 10: a foreign pointer was forwarded to the upstream first (free() of a stack
// address through host_resource). Every adaptor that keeps accounting now refuses foreign, double
// and wrong-size frees itself, forwards nothing, and stays usable with exact counters.
TEST(statistics_resource, refuses_foreign_double_and_wrong_size_frees_before_forwarding) {
  host_resource host;
  statistics_resource stats(host);
  int on_the_stack = 0;
  const std::string foreign = what_of([&] { stats.deallocate(&on_the_stack, 4); });
  EXPECT_NE(foreign.find("unimem::statistics_resource::deallocate("), std::string::npos) << foreign;
  EXPECT_NE(foreign.find("no live allocation of this adaptor starts here"), std::string::npos) << foreign;
  EXPECT_NE(foreign.find("nothing was freed"), std::string::npos) << foreign;

  void* p = stats.allocate(100);
  const std::string wrong = what_of([&] { stats.deallocate(p, 900); });
  EXPECT_NE(wrong.find("900 B, alignment 256): this allocation was made with 100 B, alignment 256"),
            std::string::npos)
      << wrong;
  EXPECT_THROW(stats.deallocate(p, 100, 512), std::invalid_argument) << "a different alignment";
  EXPECT_EQ(stats.totals().current_bytes, 100u);
  EXPECT_EQ(stats.totals().current_count, 1u);
  stats.deallocate(p, 100);
  EXPECT_THROW(stats.deallocate(p, 100), std::invalid_argument) << "freed twice";
  // Still usable, and the counters are exact.
  void* q = stats.allocate(300);
  EXPECT_EQ(stats.totals().current_bytes, 300u);
  EXPECT_EQ(stats.totals().total_count, 2u);
  stats.deallocate(q, 300);
  EXPECT_EQ(stats.totals().current_bytes, 0u);
  EXPECT_EQ(stats.totals().current_count, 0u);
}

TEST(statistics_resource, a_refused_free_is_not_forwarded) {
  canary_upstream up;
  statistics_resource stats(up);
  void* p = stats.allocate(4096);
  EXPECT_THROW(stats.deallocate(p, 4095), std::invalid_argument);
  EXPECT_EQ(up.deallocations(), 0u);
  EXPECT_EQ(up.held(), 4096u);
  EXPECT_EQ(stats.totals().current_bytes, 4096u);  // the counters are left as they were
  stats.deallocate(p, 4096);
  EXPECT_EQ(up.deallocations(), 1u);
}

TEST(limiting_resource, two_resources_share_one_budget) {
  host_resource host;
  pool_resource pool(host);
  auto budget = std::make_shared<memory_budget>("two models on a 4 GB board", 8 * MiB);
  limiting_resource model_a(host, budget);
  limiting_resource model_b(pool, budget);
  void* a = model_a.allocate(5 * MiB);
  void* b = model_b.allocate(2 * MiB);
  EXPECT_EQ(budget->used(), 7 * MiB);
  try {
    model_b.allocate(2 * MiB);
    FAIL() << "over the shared budget";
  } catch (const out_of_memory& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.resource(), "unimem::limiting_resource");
    EXPECT_NE(what.find("two models on a 4 GB board"), std::string::npos) << what;
    EXPECT_NE(what.find("7340032 B"), std::string::npos) << "names the current use: " << what;
  }
  model_a.deallocate(a, 5 * MiB);
  void* c = model_b.allocate(2 * MiB);
  EXPECT_EQ(budget->used(), 4 * MiB);
  EXPECT_EQ(budget->peak(), 7 * MiB);
  model_b.deallocate(b, 2 * MiB);
  model_b.deallocate(c, 2 * MiB);
  EXPECT_EQ(budget->used(), 0u);
}

// Issue 12 row 9: deallocate(p, 900) of a 100-byte allocation made `used` wrap below zero, and
// every later allocate was refused.
TEST(limiting_resource, a_wrong_size_free_is_refused_and_the_budget_stays_exact) {
  host_resource host;
  auto budget = std::make_shared<memory_budget>("b", 1000);
  limiting_resource lim(host, budget);
  void* p = lim.allocate(100);
  const std::string wrong = what_of([&] { lim.deallocate(p, 900); });
  EXPECT_NE(wrong.find("unimem::limiting_resource::deallocate("), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("this allocation was made with 100 B"), std::string::npos) << wrong;
  EXPECT_EQ(budget->used(), 100u);
  int on_the_stack = 0;
  EXPECT_THROW(lim.deallocate(&on_the_stack, 4), std::invalid_argument);
  lim.deallocate(p, 100);
  EXPECT_THROW(lim.deallocate(p, 100), std::invalid_argument) << "freed twice";
  EXPECT_EQ(budget->used(), 0u);
  void* all = lim.allocate(1000);  // the whole budget is there again
  EXPECT_EQ(budget->used(), 1000u);
  EXPECT_THROW(lim.allocate(1), out_of_memory);
  lim.deallocate(all, 1000);
  EXPECT_EQ(budget->used(), 0u);
  EXPECT_EQ(budget->peak(), 1000u);
}

TEST(limiting_resource, a_refund_of_more_than_is_charged_stops_at_zero) {
  memory_budget budget("b", 1000);
  ASSERT_TRUE(budget.try_charge(100));
  budget.refund(900);
  EXPECT_EQ(budget.used(), 0u);
  EXPECT_TRUE(budget.try_charge(1000));
}

TEST(limiting_resource, upstream_failure_refunds_the_charge) {
  canary_upstream up(MiB);
  auto budget = std::make_shared<memory_budget>("b", 100 * MiB);
  limiting_resource lim(up, budget);
  EXPECT_THROW(lim.allocate(2 * MiB), out_of_memory);
  EXPECT_EQ(budget->used(), 0u);
  EXPECT_THROW(limiting_resource(up, nullptr), std::invalid_argument);
}

TEST(limiting_resource, concurrent_charges_never_exceed_the_limit) {
  host_resource host;
  auto budget = std::make_shared<memory_budget>("shared", 64 * 1024);
  limiting_resource a(host, budget), b(host, budget);
  std::atomic<bool> over{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      limiting_resource& r = t % 2 ? a : b;
      std::vector<void*> mine;
      for (int i = 0; i < 2000; ++i) {
        try {
          mine.push_back(r.allocate(4096));
        } catch (const out_of_memory&) {
        }
        if (budget->used() > budget->limit()) over = true;
        if (mine.size() > 5 || (i % 4 == 0 && !mine.empty())) {
          r.deallocate(mine.back(), 4096);
          mine.pop_back();
        }
      }
      for (void* p : mine) r.deallocate(p, 4096);
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(budget->used(), 0u);
  EXPECT_LE(budget->peak(), budget->limit());
}

TEST(fallback_resource, tries_the_next_resource_and_frees_to_the_right_one) {
  canary_upstream small(MiB), big;
  fallback_resource fb({&small, &big});
  void* a = fb.allocate(512 * 1024);
  void* b = fb.allocate(2 * MiB);  // small refuses
  EXPECT_EQ(small.held(), 512u * 1024);
  EXPECT_EQ(big.held(), 2 * MiB);
  fb.deallocate(b, 2 * MiB);
  fb.deallocate(a, 512 * 1024);
  EXPECT_EQ(small.held() + big.held(), 0u);
  int not_ours = 0;
  EXPECT_THROW(fb.deallocate(&not_ours, 4), std::invalid_argument);
}

TEST(fallback_resource, a_wrong_size_free_is_refused_before_reaching_the_chain) {
  canary_upstream first, second;
  fallback_resource fb({&first, &second});
  void* p = fb.allocate(100);
  const std::string wrong = what_of([&] { fb.deallocate(p, 50); });
  EXPECT_NE(wrong.find("unimem::fallback_resource::deallocate("), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("made with 100 B"), std::string::npos) << wrong;
  EXPECT_EQ(first.deallocations(), 0u);
  fb.deallocate(p, 100);
  EXPECT_EQ(first.held(), 0u);
  EXPECT_THROW(fb.deallocate(p, 100), std::invalid_argument);
}

TEST(fallback_resource, calls_back_when_everything_is_exhausted) {
  canary_upstream only(2 * MiB);
  void* hog = only.allocate(2 * MiB);
  int calls = 0;
  fallback_resource fb({&only}, [&](const out_of_memory& e) {
    ++calls;
    EXPECT_EQ(e.requested_bytes(), MiB);
    only.deallocate(hog, 2 * MiB);  // "switch to the smaller model": free what the big one held
    hog = nullptr;
    return true;
  });
  void* p = fb.allocate(MiB);
  EXPECT_EQ(calls, 1);
  fb.deallocate(p, MiB);

  fallback_resource give_up({&only}, [](const out_of_memory&) { return false; });
  try {
    give_up.allocate(4 * MiB);
    FAIL();
  } catch (const out_of_memory& e) {
    EXPECT_EQ(e.resource(), "unimem::fallback_resource");
    EXPECT_NE(std::string(e.what()).find("canary_upstream"), std::string::npos) << e.what();
  }
}

TEST(fallback_resource, traits_are_what_every_resource_guarantees) {
  canary_upstream host_only;
  canary_upstream both(std::numeric_limits<std::size_t>::max(), {memory_kind::pinned, true, true, true});
  fallback_resource fb({&both, &host_only});
  EXPECT_TRUE(fb.traits().host_accessible);
  EXPECT_FALSE(fb.traits().device_accessible);
  EXPECT_EQ(fb.traits().kind, memory_kind::pinned);
  EXPECT_THROW(fallback_resource({}), std::invalid_argument);
  EXPECT_THROW(fallback_resource({nullptr}), std::invalid_argument);
}

TEST(logging_resource, writes_a_trace_that_parses_back_to_the_same_calls) {
  host_resource host;
  std::ostringstream out;
  {
    logging_resource log(host, out);
    void* a = log.allocate(100);
    void* b = log.allocate(200, 256, fake_stream(5));
    log.deallocate(a, 100);
    void* c = log.allocate(300);
    log.deallocate(b, 200, 256, fake_stream(5));
    log.deallocate(c, 300);
    int not_ours = 0;
    EXPECT_THROW(log.deallocate(&not_ours, 4), std::invalid_argument);
  }
  EXPECT_EQ(out.str(), "op,id,bytes,stream\na,0,100,0\na,1,200,1\nf,0,100,0\na,2,300,0\nf,1,200,1\nf,2,300,0\n");
  const alloc_trace t = parse_trace(out.str(), "logged");
  EXPECT_EQ(t.ops.size(), 6u);
  EXPECT_EQ(t.peak_live_bytes(), 500u);
}

TEST(logging_resource, a_wrong_size_free_is_refused_and_not_traced) {
  canary_upstream up;
  std::ostringstream out;
  logging_resource log(up, out);
  void* p = log.allocate(100);
  EXPECT_THROW(log.deallocate(p, 99), std::invalid_argument);
  EXPECT_EQ(up.deallocations(), 0u);
  log.deallocate(p, 100);
  log.flush();
  EXPECT_EQ(out.str(), "op,id,bytes,stream\na,0,100,0\nf,0,100,0\n");
}

// Issue 12 row 14: writing to /dev/full lost every line silently.
TEST(logging_resource, write_errors_are_reported_not_lost) {
  canary_upstream up;
  logging_resource log(up, "/dev/full");
  void* a = log.allocate(100);
  ASSERT_NE(a, nullptr);
  const std::string flushed = what_of([&] { log.flush(); });
  EXPECT_NE(flushed.find("writing the trace to /dev/full failed"), std::string::npos) << flushed;
  const std::size_t before = up.allocations();
  const std::string refused = what_of([&] { log.allocate(200); });
  EXPECT_NE(refused.find("unimem::logging_resource::allocate(200 B)"), std::string::npos) << refused;
  EXPECT_NE(refused.find("nothing was allocated"), std::string::npos) << refused;
  EXPECT_EQ(up.allocations(), before + 1) << "the allocation was made and undone";
  EXPECT_EQ(up.held(), 100u);
  log.deallocate(a, 100);  // a free still frees
  EXPECT_EQ(up.held(), 0u);
  EXPECT_THROW(log.close(), std::runtime_error);
}

TEST(logging_resource, writes_gzip_when_the_path_ends_in_gz) {
  const std::string path = (std::filesystem::temp_directory_path() / "unimem_logging_test.csv.gz").string();
  host_resource host;
  {
    logging_resource log(host, path);
    log.deallocate(log.allocate(64), 64);
    log.close();
    EXPECT_THROW(log.allocate(1), std::logic_error) << "closed";
  }
  const alloc_trace t = load_trace(path);
  ASSERT_EQ(t.ops.size(), 2u);
  EXPECT_EQ(t.ops[0].bytes, 64u);
  std::filesystem::remove(path);
}

TEST(logging_resource, an_unwritable_path_is_a_clear_error) {
  host_resource host;
  // A NUL would make open() create "/tmp/unimem_trace" instead of the file named.
  EXPECT_NE(what_of([&] { logging_resource log(host, std::string("/tmp/unimem_trace\0.csv", 23)); })
                .find("the path contains a NUL byte"),
            std::string::npos);
  try {
    logging_resource log(host, "/nonexistent-folder/trace.csv");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-folder/trace.csv"), std::string::npos);
  }
}

TEST(synchronized_resource, makes_an_arena_shareable) {
  host_resource host;
  arena_resource arena(host);
  synchronized_resource shared(arena);
  std::vector<std::thread> workers;
  std::atomic<int> null{0};
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) null += shared.allocate(64) == nullptr ? 1 : 0;
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(null.load(), 0);
  EXPECT_EQ(arena.used_bytes(), 4u * 500 * 256 - (256 - 64)) << "2000 bumps of 256, the last one 64";
}

}  // namespace
}  // namespace unimem::test
