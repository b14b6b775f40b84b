// residency_manager: lazy loading, eviction order, leases, back-pressure, lanes, shared weights,
// loader failures, exact accounting on every path, concurrent acquires, publication, and the
// memory the policy picks (checked call by call on simulated boards; on a real GPU below).
#include <unimem/planning/residency_manager.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/adaptors/fallback_resource.hpp>
#include <unimem/adaptors/limiting_resource.hpp>
#include <unimem/error.hpp>
#include <unimem/planning/usage_publisher.hpp>
#include <unimem/resources/device_resource.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/managed_resource.hpp>

#include "support/device_kernels.hpp"
#include "support/fake_resource.hpp"
#include "support/gpu_test.hpp"
#include "support/recording_calls.hpp"
#include "support/test_upstreams.hpp"

namespace unimem {
namespace {

using namespace std::chrono_literals;
using test::canary_upstream;
using test::what_of;

std::uint8_t pattern_byte(std::size_t model, std::size_t i) {
  return static_cast<std::uint8_t>((model * 131 + i * 7 + (i >> 8)) & 0xff);
}

/// A loader that writes model `id`'s pattern and counts its calls.
struct counted_loader {
  std::size_t id = 0;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  void operator()(const weight_load& load) const {
    ++*calls;
    auto* p = static_cast<std::uint8_t*>(load.destination);
    for (std::size_t i = 0; i < load.bytes; ++i) p[i] = pattern_byte(id, i);
  }
};

bool holds_pattern(const void* weights, std::size_t bytes, std::size_t id) {
  const auto* p = static_cast<const std::uint8_t*>(weights);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (p[i] != pattern_byte(id, i)) return false;
  }
  return true;
}

model_spec spec(std::string name, std::size_t weights, std::size_t activations, int priority = 0,
                std::string lane = "main") {
  model_spec s;
  s.name = std::move(name);
  s.weight_bytes = weights;
  s.activation_bytes = activations;
  s.priority = priority;
  s.lane = std::move(lane);
  s.loader = counted_loader{std::hash<std::string>{}(s.name) % 251};
  return s;
}

/// Host memory for weights and for activations, each counting what it holds, and a budget.
struct fixture {
  explicit fixture(std::size_t limit, residency_options options = {})
      : budget(std::make_shared<memory_budget>("test budget", limit)), mgr(budget, weights, activations, options) {}
  canary_upstream weights, activations;
  std::shared_ptr<memory_budget> budget;
  residency_manager mgr;
};

/// What the manager says it holds is what the budget says and what the resources hold.
void expect_exact(const fixture& f, const char* where) {
  SCOPED_TRACE(where);
  const residency_stats st = f.mgr.stats();
  EXPECT_EQ(st.resident_bytes, f.budget->used());
  EXPECT_EQ(st.weight_bytes, f.weights.held());
  EXPECT_EQ(st.activation_bytes, f.activations.held());
  EXPECT_EQ(st.resident_bytes, st.weight_bytes + st.activation_bytes);
  std::size_t leased_or_resident_weights = 0;
  for (const model_status& m : f.mgr.models()) leased_or_resident_weights += m.resident ? m.weight_bytes : 0;
  EXPECT_GE(leased_or_resident_weights, st.weight_bytes);  // shared copies count once in the stats
}

std::vector<std::string> resident_names(const residency_manager& mgr) {
  std::vector<std::string> out;
  for (const model_status& m : mgr.models()) {
    if (m.resident) out.push_back(m.name);
  }
  return out;
}

std::filesystem::path temp_dir() {
  static std::atomic<int> n{0};
  const auto dir = std::filesystem::temp_directory_path() /
                   ("unimem-residency-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  std::filesystem::create_directories(dir);
  return dir;
}

void write_file(const std::filesystem::path& p, std::size_t bytes, std::size_t id) {
  std::vector<char> data(bytes);
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(pattern_byte(id, i));
  std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
}

// ---- lazy loading and leases -----------------------------------------------------------------

TEST(residency_manager, loads_lazily_on_the_first_acquire_and_only_then) {
  fixture f(1 << 20);
  model_spec a = spec("a", 4096, 1024);
  const auto a_calls = a.loader.target<counted_loader>()->calls;
  f.mgr.add_model(std::move(a));
  f.mgr.add_model(spec("b", 2048, 512));
  EXPECT_EQ(f.weights.allocations(), 0u);
  EXPECT_EQ(f.activations.allocations(), 0u);
  EXPECT_EQ(f.budget->used(), 0u);
  {
    auto l = f.mgr.acquire("a");
    EXPECT_TRUE(l.loaded_now());
    EXPECT_EQ(*a_calls, 1);
    EXPECT_EQ(l.name(), "a");
    EXPECT_EQ(l.weight_bytes(), 4096u);
    ASSERT_NE(l.weights(), nullptr);
    EXPECT_TRUE(holds_pattern(l.weights(), 4096, std::hash<std::string>{}("a") % 251));
    ASSERT_NE(l.activations(), nullptr);
    EXPECT_EQ(l.activation_bytes(), 1024u);
    // The lane's arena is sized for its largest model, b's 512 B fit in a's 1024 B.
    EXPECT_EQ(f.budget->used(), 4096u + 1024u);
    expect_exact(f, "a leased");
  }
  auto again = f.mgr.acquire("a");
  EXPECT_FALSE(again.loaded_now());
  EXPECT_EQ(*a_calls, 1);
  const residency_stats st = f.mgr.stats();
  EXPECT_EQ(st.acquires, 2u);
  EXPECT_EQ(st.loads, 1u);
  EXPECT_EQ(st.weight_reads, 1u);
  expect_exact(f, "a leased again");
}

TEST(residency_manager, a_lease_moves_and_releases_once) {
  fixture f(1 << 20);
  f.mgr.add_model(spec("a", 100, 0));
  auto l1 = f.mgr.acquire("a");
  residency_manager::lease l2 = std::move(l1);
  EXPECT_FALSE(l1);
  ASSERT_TRUE(l2);
  EXPECT_TRUE(f.mgr.models()[0].leased);
  l2.release();
  l2.release();
  EXPECT_FALSE(l2);
  EXPECT_FALSE(f.mgr.models()[0].leased);
  EXPECT_TRUE(f.mgr.models()[0].resident);
}

// ---- eviction --------------------------------------------------------------------------------

TEST(residency_manager, evicts_lowest_priority_first_then_least_recently_used) {
  std::vector<std::string> unloaded;  // outlives the manager, whose destructor runs the unloaders
  fixture f(3000);
  for (auto [name, prio] : {std::pair{"a", 0}, {"b", 1}, {"c", 0}, {"d", 0}}) {
    model_spec s = spec(name, 1000, 0, prio);
    s.unloader = [&unloaded](const std::string& m) { unloaded.push_back(m); };
    f.mgr.add_model(std::move(s));
  }
  for (const char* n : {"a", "b", "c"}) f.mgr.acquire(n).release();
  EXPECT_EQ(f.mgr.eviction_order(), (std::vector<std::string>{"a", "c", "b"}));

  f.mgr.acquire("d").release();  // full: the oldest of the lowest priority goes
  EXPECT_EQ(unloaded, std::vector<std::string>{"a"});
  EXPECT_EQ(resident_names(f.mgr), (std::vector<std::string>{"b", "c", "d"}));

  f.mgr.acquire("c").release();  // c is now the most recently used
  EXPECT_EQ(f.mgr.eviction_order(), (std::vector<std::string>{"d", "c", "b"}));
  f.mgr.acquire("a").release();
  EXPECT_EQ(unloaded, (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(resident_names(f.mgr), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(f.mgr.stats().evictions, 2u);
  expect_exact(f, "after two evictions");
}

TEST(residency_manager, evicts_only_as_much_as_the_load_needs) {
  fixture f(3000);
  for (const char* n : {"a", "b", "c"}) f.mgr.add_model(spec(n, 1000, 0));
  f.mgr.add_model(spec("big", 2000, 0));
  for (const char* n : {"a", "b", "c"}) f.mgr.acquire(n).release();
  f.mgr.acquire("big").release();
  EXPECT_EQ(resident_names(f.mgr), (std::vector<std::string>{"c", "big"}));
  expect_exact(f, "big loaded");
}

TEST(residency_manager, a_leased_model_is_never_evicted_and_nothing_is_evicted_in_vain) {
  fixture f(3000);
  for (const char* n : {"a", "b", "c", "big"}) f.mgr.add_model(spec(n, n[1] == 0 ? 1000 : 2500, 0, 0, n));
  auto a = f.mgr.acquire("a");  // its own lane: the others may run meanwhile
  f.mgr.acquire("b").release();
  f.mgr.acquire("c").release();
  // Room for big needs a gone too; a is leased, so evicting b and c would not be enough and
  // nothing is evicted.
  EXPECT_FALSE(f.mgr.try_acquire("big").has_value());
  EXPECT_EQ(resident_names(f.mgr), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(f.mgr.stats().evictions, 0u);
  EXPECT_TRUE(holds_pattern(a.weights(), 1000, std::hash<std::string>{}("a") % 251));
  expect_exact(f, "try_acquire refused");
}

TEST(residency_manager, explicit_evict_and_its_refusals) {
  fixture f(1 << 20);
  f.mgr.add_model(spec("a", 1000, 100));
  EXPECT_FALSE(f.mgr.evict("a"));
  auto l = f.mgr.acquire("a");
  const std::string leased = what_of([&] { f.mgr.evict("a"); });
  EXPECT_NE(leased.find("evict(\"a\")"), std::string::npos) << leased;
  EXPECT_NE(leased.find("end its lease"), std::string::npos) << leased;
  EXPECT_THROW(f.mgr.evict("a"), std::logic_error);
  l.release();
  EXPECT_TRUE(f.mgr.evict("a"));
  EXPECT_EQ(f.budget->used(), 0u);
  EXPECT_THROW(f.mgr.evict("zz"), std::invalid_argument);
  expect_exact(f, "evicted");
}

// ---- back-pressure ---------------------------------------------------------------------------

/// Models a and b (1000 B each) leased in lanes of their own, c (1000 B + `c_activations`) in a third.
std::pair<residency_manager::lease, residency_manager::lease> lease_a_and_b(fixture& f, std::size_t c_activations) {
  f.mgr.add_model(spec("a", 1000, 0, 0, "one"));
  f.mgr.add_model(spec("b", 1000, 0, 0, "two"));
  f.mgr.add_model(spec("c", 1000, c_activations, 0, "three"));
  auto a = f.mgr.acquire("a");
  return {std::move(a), f.mgr.acquire("b")};
}

/// Returns once another thread's acquire has started waiting (bounded: a minute).
void until_an_acquire_waits(const residency_manager& mgr) {
  for (int i = 0; i < 60000 && mgr.stats().waits == 0; ++i) std::this_thread::sleep_for(1ms);
}

TEST(residency_manager, acquire_waits_for_a_lease_to_end_then_evicts_it) {
  fixture f(2000);
  auto [a, b] = lease_a_and_b(f, 0);
  std::atomic<bool> a_released{false};
  std::atomic<bool> released_before_return{false};
  std::thread t([&] {
    auto c = f.mgr.acquire("c", 60s);
    released_before_return = a_released.load();
    EXPECT_TRUE(holds_pattern(c.weights(), 1000, std::hash<std::string>{}("c") % 251));
  });
  until_an_acquire_waits(f.mgr);  // release only then, so the wait is what is tested
  EXPECT_EQ(f.mgr.stats().waits, 1u);
  a_released = true;
  a.release();
  t.join();
  EXPECT_TRUE(released_before_return);
  EXPECT_EQ(resident_names(f.mgr), (std::vector<std::string>{"b", "c"}));
  expect_exact(f, "c loaded after waiting");
}

TEST(residency_manager, acquire_gives_up_after_its_wait_naming_resident_leased_and_missing) {
  fixture f(2500);
  auto [a, b] = lease_a_and_b(f, 200);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    (void)f.mgr.acquire("c", 30ms);
    FAIL() << "acquire(c) succeeded with everything leased";
  } catch (const out_of_memory& e) {
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);  // it waited at least its wait
    const std::string what = e.what();
    EXPECT_EQ(e.requested_bytes(), 1200u);
    EXPECT_EQ(e.resource(), "unimem::residency_manager");
    for (const char* part : {"acquire(\"c\")", "test budget", "leased: \"a\"", "\"b\"", "lane \"three\" arena",
                             "would be missing", "Waited", "end leases sooner"}) {
      EXPECT_NE(what.find(part), std::string::npos) << part << " not in: " << what;
    }
    // 2500 - 2000 leased leaves 500 of the 1200 needed.
    EXPECT_NE(what.find("700 B"), std::string::npos) << what;
  }
  EXPECT_EQ(f.mgr.stats().timeouts, 1u);
  EXPECT_EQ(resident_names(f.mgr), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(f.mgr.models()[2].leased);
  expect_exact(f, "after the timeout");
  a.release();
  EXPECT_TRUE(f.mgr.try_acquire("c").has_value());  // the lane and the accounting were restored
  expect_exact(f, "c after a was released");
}

TEST(residency_manager, a_model_larger_than_the_limit_fails_at_once) {
  fixture f(1000);
  f.mgr.add_model(spec("huge", 900, 200));
  const std::string what = what_of([&] { (void)f.mgr.acquire("huge", 60s); });
  EXPECT_NE(what.find("can never be resident"), std::string::npos) << what;
  EXPECT_NE(what.find("raise the limit"), std::string::npos) << what;
  EXPECT_EQ(f.mgr.stats().waits, 0u);
  EXPECT_THROW((void)f.mgr.try_acquire("huge"), out_of_memory);
  expect_exact(f, "refused");
}

// ---- lanes -----------------------------------------------------------------------------------

TEST(residency_manager, one_lane_shares_one_arena_and_lanes_get_disjoint_ranges) {
  fixture f(1 << 20);
  f.mgr.add_model(spec("det", 100, 3000));
  f.mgr.add_model(spec("cls", 100, 1000));
  f.mgr.add_model(spec("seg", 100, 2000, 0, "side"));
  void* det_acts = f.mgr.acquire("det").activations();
  auto cls = f.mgr.acquire("cls");
  EXPECT_EQ(cls.activations(), det_acts);  // one after another: the same bytes
  auto seg = f.mgr.acquire("seg");         // another lane: at the same time, elsewhere
  const auto* c0 = static_cast<const char*>(cls.activations());
  const auto* s0 = static_cast<const char*>(seg.activations());
  EXPECT_TRUE(c0 + 3000 <= s0 || s0 + 2000 <= c0);
  EXPECT_EQ(f.activations.held(), 3000u + 2000u);  // each lane sized for its largest model
  EXPECT_EQ(f.activations.allocations(), 2u);
  expect_exact(f, "two lanes");
}

TEST(residency_manager, a_busy_lane_makes_its_other_models_wait_and_time_out) {
  fixture f(1 << 20);
  f.mgr.add_model(spec("det", 100, 300));
  f.mgr.add_model(spec("cls", 100, 100));
  auto det = f.mgr.acquire("det");
  EXPECT_FALSE(f.mgr.try_acquire("cls").has_value());
  try {
    (void)f.mgr.acquire("cls", 20ms);
    FAIL() << "two models of one lane ran at once";
  } catch (const acquire_timeout& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("lane \"main\" stayed held by \"det\""), std::string::npos) << what;
    EXPECT_NE(what.find("a lane of its own"), std::string::npos) << what;
  }
  EXPECT_EQ(f.mgr.stats().timeouts, 1u);
  det.release();
  EXPECT_TRUE(f.mgr.acquire("cls", 0ms).activations() != nullptr);
  expect_exact(f, "lane free again");
}

TEST(residency_manager, a_larger_model_joining_a_lane_rebuilds_its_arena) {
  fixture f(1 << 20);
  f.mgr.add_model(spec("small", 100, 256));
  f.mgr.acquire("small").release();
  EXPECT_EQ(f.activations.held(), 256u);
  f.mgr.add_model(spec("large", 100, 4096));
  auto large = f.mgr.acquire("large");
  EXPECT_EQ(large.activation_bytes(), 4096u);
  EXPECT_EQ(f.activations.held(), 4096u);
  // small held the old arena's address, so it was evicted before the arena was rebuilt.
  EXPECT_EQ(resident_names(f.mgr), std::vector<std::string>{"large"});
  expect_exact(f, "rebuilt");
}

TEST(residency_manager, activation_tensors_are_planned_into_the_lane) {
  fixture f(1 << 20);
  model_spec s = spec("planned", 64, 0);
  s.activation_tensors = {{1000, 0, 1, 256}, {2000, 1, 2, 256}, {1000, 2, 3, 256}, {500, 3, 3, 256}};
  const memory_plan plan = plan_memory(s.activation_tensors);
  const auto tensors = s.activation_tensors;
  f.mgr.add_model(std::move(s));
  auto l = f.mgr.acquire("planned");
  EXPECT_EQ(l.activation_bytes(), plan.arena_bytes);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto* p = static_cast<const char*>(l.activation(i));
    const auto* base = static_cast<const char*>(l.activations());
    EXPECT_GE(p, base);
    EXPECT_LE(p + tensors[i].bytes, base + l.activation_bytes());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
    for (std::size_t j = 0; j < i; ++j) {
      const bool live_together = tensors[i].first_op <= tensors[j].last_op && tensors[j].first_op <= tensors[i].last_op;
      const auto* q = static_cast<const char*>(l.activation(j));
      if (live_together) {
        EXPECT_TRUE(p + tensors[i].bytes <= q || q + tensors[j].bytes <= p) << i << " " << j;
      }
    }
  }
  const std::string what = what_of([&] { (void)l.activation(4); });
  EXPECT_NE(what.find("4 activation tensors"), std::string::npos) << what;
  auto other = spec("plain", 64, 100, 0, "other");
  f.mgr.add_model(std::move(other));
  EXPECT_THROW((void)f.mgr.acquire("plain").activation(0), std::out_of_range);
}

// ---- loader failures and allocation failures -------------------------------------------------

TEST(residency_manager, a_loader_that_throws_leaves_nothing_allocated_and_the_model_unloaded) {
  fixture f(1 << 20);
  auto fail = std::make_shared<std::atomic<bool>>(true);
  model_spec s = spec("flaky", 5000, 700);
  s.loader = [fail](const weight_load& load) {
    std::memset(load.destination, 1, load.bytes / 2);  // half written, then the file is gone
    if (*fail) throw std::runtime_error("disk unplugged");
    std::memset(load.destination, 1, load.bytes);
  };
  f.mgr.add_model(std::move(s));
  f.mgr.add_model(spec("mate", 100, 100));
  EXPECT_EQ(what_of([&] { (void)f.mgr.acquire("flaky"); }), "disk unplugged");
  EXPECT_EQ(f.weights.held(), 0u);
  EXPECT_EQ(f.activations.held(), 0u);
  EXPECT_EQ(f.budget->used(), 0u);
  EXPECT_FALSE(f.mgr.models()[0].resident);
  EXPECT_FALSE(f.mgr.models()[0].leased);
  EXPECT_EQ(f.mgr.stats().failed_loads, 1u);
  expect_exact(f, "failed alone");

  // With a resident lane-mate, the arena stays (the mate holds its address); only the weights go.
  auto mate = f.mgr.acquire("mate");
  mate.release();
  EXPECT_THROW((void)f.mgr.acquire("flaky"), std::runtime_error);
  EXPECT_EQ(resident_names(f.mgr), std::vector<std::string>{"mate"});
  EXPECT_EQ(f.activations.held(), 700u);
  expect_exact(f, "failed beside a resident mate");

  *fail = false;
  auto ok = f.mgr.acquire("flaky");
  EXPECT_TRUE(ok.loaded_now());
  EXPECT_EQ(f.mgr.stats().failed_loads, 2u);
  expect_exact(f, "loaded at last");
}

TEST(residency_manager, a_resource_refusing_what_the_budget_allows_returns_the_charge) {
  fixture f(1 << 20);
  f.weights.set_limit(1000);
  f.mgr.add_model(spec("a", 5000, 100));
  const std::string what = what_of([&] { (void)f.mgr.acquire("a"); });
  EXPECT_NE(what.find("the budget had room for the weights"), std::string::npos) << what;
  EXPECT_NE(what.find("canary_upstream"), std::string::npos) << what;
  EXPECT_EQ(f.budget->used(), 0u);
  expect_exact(f, "refused by the resource");
}

TEST(residency_manager, unloader_exceptions_are_counted_and_the_model_is_unloaded_anyway) {
  fixture f(1 << 20);
  model_spec s = spec("a", 1000, 0);
  s.unloader = [](const std::string&) { throw std::runtime_error("engine already gone"); };
  f.mgr.add_model(std::move(s));
  f.mgr.acquire("a").release();
  EXPECT_TRUE(f.mgr.evict("a"));
  EXPECT_EQ(f.mgr.stats().unloader_errors, 1u);
  EXPECT_EQ(f.weights.held(), 0u);
  expect_exact(f, "unloaded");
}

// ---- shared weights --------------------------------------------------------------------------

TEST(residency_manager, models_naming_the_same_weights_file_share_one_copy) {
  const auto dir = temp_dir();
  write_file(dir / "shared.bin", 6000, 9);
  fixture f(1 << 20);
  model_spec a = spec("cam0", 6000, 100, 0, "cam0");
  a.loader = {};
  a.weights_file = (dir / "shared.bin").string();
  model_spec b = spec("cam1", 6000, 100, 0, "cam1");
  b.loader = {};
  b.weights_file = (dir / "." / "shared.bin").string();  // another spelling of the same file
  f.mgr.add_model(std::move(a));
  f.mgr.add_model(std::move(b));
  auto l0 = f.mgr.acquire("cam0");
  auto l1 = f.mgr.acquire("cam1");
  EXPECT_EQ(l0.weights(), l1.weights());
  EXPECT_TRUE(holds_pattern(l1.weights(), 6000, 9));
  EXPECT_EQ(f.weights.allocations(), 1u);
  EXPECT_EQ(f.mgr.stats().weight_reads, 1u);
  EXPECT_EQ(f.mgr.stats().loads, 2u);
  EXPECT_EQ(f.budget->used(), 6000u + 200u);
  expect_exact(f, "shared");
  l0.release();
  l1.release();
  EXPECT_TRUE(f.mgr.evict("cam0"));
  EXPECT_EQ(f.weights.held(), 6000u);  // cam1 still uses it
  EXPECT_TRUE(f.mgr.evict("cam1"));
  EXPECT_EQ(f.weights.held(), 0u);
  EXPECT_EQ(f.budget->used(), 0u);
  expect_exact(f, "both evicted");

  model_spec wrong = spec("cam2", 5000, 0);
  wrong.weights_file = (dir / "shared.bin").string();
  const std::string what = what_of([&] { f.mgr.add_model(std::move(wrong)); });
  EXPECT_NE(what.find("6000 B"), std::string::npos) << what;
  EXPECT_NE(what.find("sizes must agree"), std::string::npos) << what;
  std::filesystem::remove_all(dir);
}

TEST(residency_manager, evicting_one_user_of_shared_weights_frees_nothing_so_it_is_not_done_in_vain) {
  fixture f(2500);
  model_spec a = spec("a", 1000, 0, 0, "x");
  a.weights_file = "/nonexistent/w.bin";  // identity only: the loader fills it
  model_spec b = spec("b", 1000, 0, 0, "y");
  b.weights_file = "/nonexistent/w.bin";
  b.loader = a.loader;
  f.mgr.add_model(std::move(a));
  f.mgr.add_model(std::move(b));
  f.mgr.add_model(spec("c", 2000, 0, 0, "z"));
  f.mgr.acquire("a").release();
  auto lb = f.mgr.acquire("b");
  // c needs 2000 with 1500 free; a is the only candidate and b keeps the copy it shares.
  EXPECT_FALSE(f.mgr.try_acquire("c").has_value());
  EXPECT_EQ(resident_names(f.mgr), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.mgr.stats().evictions, 0u);
  lb.release();
  f.mgr.acquire("c").release();  // now a and b together free the copy
  EXPECT_EQ(resident_names(f.mgr), std::vector<std::string>{"c"});
  EXPECT_EQ(f.mgr.stats().evictions, 2u);
  expect_exact(f, "c after the shared copy went");
}

TEST(residency_manager, load_weights_file_reads_the_file_and_refuses_a_wrong_size) {
  const auto dir = temp_dir();
  write_file(dir / "w.bin", 3000, 4);
  std::vector<std::uint8_t> dst(3000);
  const std::string model = "m", file = (dir / "w.bin").string();
  load_weights_file(file)(weight_load{model, file, dst.data(), dst.size(), memory_kind::host, false});
  EXPECT_TRUE(holds_pattern(dst.data(), dst.size(), 4));
  const std::string what = what_of(
      [&] { load_weights_file(file)(weight_load{model, file, dst.data(), 2999, memory_kind::host, false}); });
  EXPECT_NE(what.find("3000 B"), std::string::npos) << what;
  EXPECT_NE(what.find("2999 B"), std::string::npos) << what;
  EXPECT_THROW(load_weights_file((dir / "missing.bin").string())(
                   weight_load{model, file, dst.data(), dst.size(), memory_kind::host, false}),
               std::system_error);
  std::filesystem::remove_all(dir);
}

// Issue 12: a FIFO named like the weights file blocked open() for good, and a NUL in the path
// opened the file named by its first part.
TEST(residency_manager, load_weights_file_refuses_fifos_folders_and_nul_bytes_at_once) {
  const auto dir = temp_dir();
  write_file(dir / "w.bin", 3000, 4);
  const std::string fifo = (dir / "w.fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::vector<std::uint8_t> dst(3000);
  const auto load = [&](const std::string& path) {
    return what_of([&] { load_weights_file(path)(weight_load{"m", path, dst.data(), dst.size(), memory_kind::host, false}); });
  };
  EXPECT_NE(load(fifo).find("not a regular file (a FIFO, device or folder)"), std::string::npos) << load(fifo);
  EXPECT_NE(load(dir.string()).find("not a regular file"), std::string::npos);
  const std::string cut = (dir / "w.bin").string() + std::string("\0.other", 7);
  EXPECT_NE(load(cut).find("w.bin\\x00.other\"): the path contains a NUL byte"), std::string::npos) << load(cut);
  std::filesystem::remove_all(dir);
}

// ---- registration ----------------------------------------------------------------------------

TEST(residency_manager, registration_errors_name_the_field_and_the_fix) {
  fixture f(1 << 20);
  auto msg = [&](model_spec s) { return what_of([&] { f.mgr.add_model(std::move(s)); }); };
  EXPECT_NE(msg(spec("", 1, 0)).find("name is empty"), std::string::npos);
  f.mgr.add_model(spec("a", 1, 0));
  EXPECT_NE(msg(spec("a", 1, 0)).find("already registered"), std::string::npos);
  model_spec no_loader = spec("b", 100, 0);
  no_loader.loader = {};
  EXPECT_NE(msg(std::move(no_loader)).find("neither a loader nor a weights_file"), std::string::npos);
  EXPECT_NE(msg(spec("c", 1, 0, 0, "")).find("lane is empty"), std::string::npos);
  model_spec both = spec("d", 1, 100);
  both.activation_tensors = {{10, 0, 0, 1}};
  EXPECT_NE(msg(std::move(both)).find("give one of them"), std::string::npos);
  model_spec bad_tensors = spec("e", 1, 0);
  bad_tensors.activation_tensors = {{10, 3, 1, 1}};
  EXPECT_NE(msg(std::move(bad_tensors)).find("add_model(\"e\"): activation_tensors"), std::string::npos);
  const std::string unknown = what_of([&] { (void)f.mgr.acquire("zz"); });
  EXPECT_NE(unknown.find("acquire(\"zz\")"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("(\"a\")"), std::string::npos) << unknown;
  EXPECT_EQ(f.mgr.models().size(), 1u);  // the refused ones left nothing behind
  EXPECT_THROW(residency_manager(nullptr, f.weights, f.activations), std::invalid_argument);
}

// Issue 12: sizes no budget holds made requirements() wrap to small numbers (a budget that
// "fits"), and names were quoted raw, so a name could write escape sequences into a log.
TEST(residency_manager, huge_sizes_saturate_and_names_are_quoted_escaped) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  fixture f(1 << 20);
  f.mgr.add_model(spec("big", max - 10, 100));
  f.mgr.add_model(spec("\x1b]0;x\x07\n", max / 2 + 1, 0, 0, "other"));
  const residency_requirements r = f.mgr.requirements();
  EXPECT_EQ(r.minimum_bytes, max);
  EXPECT_EQ(r.no_eviction_bytes, max);
  EXPECT_EQ(r.all_resident_bytes, max);
  const std::string never = what_of([&] { (void)f.mgr.acquire("big"); });
  EXPECT_NE(never.find("can never be resident"), std::string::npos) << never;
  const std::string unknown = what_of([&] { (void)f.mgr.acquire("\x1b[2J"); });
  EXPECT_NE(unknown.find("acquire(\"\\x1b[2J\"): no model of that name"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("\"\\x1b]0;x\\x07\\x0a\""), std::string::npos) << unknown;
  EXPECT_EQ(unknown.find('\x1b'), std::string::npos) << unknown;
  expect_exact(f, "after the refusals");
  EXPECT_EQ(f.budget->used(), 0u);
}

TEST(residency_manager, requirements_bound_the_budgets_that_work) {
  fixture f(1 << 20);
  f.mgr.add_model(spec("det", 1000, 300));
  f.mgr.add_model(spec("cls", 400, 100));
  model_spec twin = spec("det2", 1000, 300, 0, "side");
  model_spec det_shared = spec("det3", 1000, 0, 0, "side");
  twin.weights_file = det_shared.weights_file = "/identity/det.bin";
  f.mgr.add_model(std::move(twin));
  f.mgr.add_model(std::move(det_shared));
  const residency_requirements r = f.mgr.requirements();
  EXPECT_EQ(r.minimum_bytes, 1000u + 300u);
  // det, cls, one copy of the shared file, and the arenas of main (300) and side (300).
  EXPECT_EQ(r.no_eviction_bytes, 1000u + 400u + 1000u + 300u + 300u);
  EXPECT_EQ(r.all_resident_bytes, 1300u + 500u + 1300u + 1000u);

  fixture g(1 << 20);
  g.mgr.add_model(spec("det", 1000, 300));
  g.mgr.add_model(spec("cls", 400, 100));
  const residency_requirements q = g.mgr.requirements();
  auto rounds = [&] {
    for (int round = 0; round < 3; ++round) {
      g.mgr.acquire("det").release();
      g.mgr.acquire("cls").release();
    }
  };
  g.budget->set_limit(q.no_eviction_bytes);  // every model loads once, nothing is evicted
  rounds();
  EXPECT_EQ(g.mgr.stats().loads, 2u);
  EXPECT_EQ(g.mgr.stats().evictions, 0u);
  // A lower limit evicts nothing by itself; make_room(0) brings the manager under it.
  g.budget->set_limit(q.minimum_bytes);
  EXPECT_TRUE(g.mgr.make_room(0));
  EXPECT_EQ(resident_names(g.mgr), std::vector<std::string>{"cls"});
  rounds();  // one at a time: every acquire evicts the other and loads
  EXPECT_EQ(g.mgr.stats().loads, 2u + 6u);
  EXPECT_EQ(g.mgr.stats().evictions, 1u + 6u);
  g.budget->set_limit(q.minimum_bytes - 1);
  EXPECT_NE(what_of([&] { rounds(); }).find("can never be resident"), std::string::npos);
  expect_exact(g, "after the limits changed");
}

// ---- threads ---------------------------------------------------------------------------------

TEST(residency_manager, concurrent_acquires_keep_weights_intact_and_lanes_exclusive) {
  constexpr std::size_t models = 8, threads = 6, rounds = 150;
  const char* lanes[] = {"l0", "l1", "l2"};
  std::vector<std::size_t> weight_bytes(models);
  for (std::size_t i = 0; i < models; ++i) weight_bytes[i] = 2000 + 500 * i;
  // Room for the three largest models (at most one lease per lane) and every arena, not for all.
  const std::size_t limit = weight_bytes[7] + weight_bytes[6] + weight_bytes[5] + 3 * 1024;
  residency_options o;
  o.wait = std::chrono::milliseconds(60000);
  fixture f(limit, o);
  for (std::size_t i = 0; i < models; ++i) {
    model_spec s = spec("m" + std::to_string(i), weight_bytes[i], 512 + 512 * (i % 2), static_cast<int>(i % 3),
                        lanes[i % 3]);
    s.loader = counted_loader{i};
    f.mgr.add_model(std::move(s));
  }
  std::atomic<int> bad_weights{0}, clobbered{0}, errors{0};
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (std::size_t r = 0; r < rounds; ++r) {
        const std::size_t i = rng() % models;
        try {
          auto l = f.mgr.acquire("m" + std::to_string(i));
          if (!holds_pattern(l.weights(), weight_bytes[i], i)) ++bad_weights;
          // The lane is this thread's while the lease lives: nobody else writes these bytes.
          auto* acts = static_cast<std::uint8_t*>(l.activations());
          std::memset(acts, static_cast<int>(t + 1), l.activation_bytes());
          std::this_thread::yield();
          for (std::size_t k = 0; k < l.activation_bytes(); ++k) {
            if (acts[k] != t + 1) {
              ++clobbered;
              break;
            }
          }
        } catch (const std::exception& e) {
          ++errors;
          ADD_FAILURE() << e.what();
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad_weights, 0);
  EXPECT_EQ(clobbered, 0);
  EXPECT_EQ(errors, 0);
  const residency_stats st = f.mgr.stats();
  EXPECT_EQ(st.acquires, threads * rounds);
  EXPECT_GT(st.evictions, 0u);  // the budget made them churn
  EXPECT_LE(st.peak_resident_bytes, limit);
  for (const model_status& m : f.mgr.models()) EXPECT_FALSE(m.leased) << m.name;
  expect_exact(f, "after the threads");
}

// ---- other users of the budget ---------------------------------------------------------------

TEST(residency_manager, make_room_evicts_for_other_users_of_the_budget) {
  fixture f(3000);
  f.mgr.add_model(spec("a", 1000, 0));
  f.mgr.add_model(spec("b", 1500, 0, 0, "other"));
  f.mgr.acquire("a").release();
  auto b = f.mgr.acquire("b");
  host_resource host;
  limiting_resource frames(host, f.budget);  // camera frames charged to the same budget
  fallback_resource with_eviction({&frames},
                                  [&](const out_of_memory& e) { return f.mgr.make_room(e.requested_bytes()); });
  void* p = with_eviction.allocate(1200);
  EXPECT_EQ(resident_names(f.mgr), std::vector<std::string>{"b"});
  EXPECT_EQ(f.budget->used(), 1500u + 1200u);
  // b is leased: no room can be made, and nothing is evicted trying.
  EXPECT_FALSE(f.mgr.make_room(1000));
  EXPECT_EQ(resident_names(f.mgr), std::vector<std::string>{"b"});
  EXPECT_THROW(with_eviction.allocate(1000), out_of_memory);
  with_eviction.deallocate(p, 1200);
  b.release();
  EXPECT_TRUE(f.mgr.make_room(3000));
  EXPECT_TRUE(resident_names(f.mgr).empty());
  expect_exact(f, "room made");
}

TEST(residency_manager, room_freed_by_other_users_of_the_budget_ends_a_wait) {
  fixture f(2000);
  f.mgr.add_model(spec("a", 1500, 0));
  host_resource host;
  limiting_resource frames(host, f.budget);
  void* p = frames.allocate(1000);
  std::thread t([&] { EXPECT_NO_THROW(f.mgr.acquire("a", 60s)); });
  until_an_acquire_waits(f.mgr);
  frames.deallocate(p, 1000);  // no call into the manager: it notices by looking again
  t.join();
  EXPECT_EQ(resident_names(f.mgr), std::vector<std::string>{"a"});
  expect_exact(f, "loaded after the frames were freed");
}

// ---- lifetime --------------------------------------------------------------------------------

TEST(residency_manager, destruction_unloads_everything_even_after_a_lease_outlives_it) {
  canary_upstream weights, activations;
  auto budget = std::make_shared<memory_budget>("b", 1 << 20);
  std::vector<std::string> unloaded;
  auto mgr = std::make_unique<residency_manager>(budget, weights, activations);
  for (const char* n : {"a", "b"}) {
    model_spec s = spec(n, 1000, 100, 0, n);
    s.unloader = [&unloaded](const std::string& m) { unloaded.push_back(m); };
    mgr->add_model(std::move(s));
  }
  mgr->acquire("a").release();
  auto b = mgr->acquire("b");
  testing::internal::CaptureStderr();
  mgr.reset();
  const std::string report = testing::internal::GetCapturedStderr();
  EXPECT_NE(report.find("leases of \"b\" are alive"), std::string::npos) << report;
  EXPECT_EQ(unloaded, std::vector<std::string>{"a"});
  EXPECT_EQ(weights.held(), 1000u);
  b.release();
  EXPECT_EQ(unloaded, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(weights.held(), 0u);
  EXPECT_EQ(activations.held(), 0u);
  EXPECT_EQ(budget->used(), 0u);
}

// ---- publication -----------------------------------------------------------------------------

TEST(residency_manager, per_model_usage_reaches_the_published_table) {
  const std::string seg = "/unimem.test." + std::to_string(::getpid()) + ".residency";
  usage_publisher pub("residency", 16, seg);
  residency_options o;
  o.publisher = &pub;
  fixture f(1 << 20, o);
  f.mgr.add_model(spec("detector", 3000, 500));
  f.mgr.add_model(spec("classifier", 1000, 200));
  f.mgr.acquire("detector").release();
  auto tag = [&](const std::string& name) -> published_tag_usage {
    const auto u = read_usage_segment("/dev/shm" + seg);
    if (!u) return {};
    for (const auto& t : u->tags) {
      if (t.name == name) return t;
    }
    return {};
  };
  EXPECT_EQ(tag("detector").current_bytes, 3000u);
  EXPECT_EQ(tag("classifier").current_bytes, 0u);
  EXPECT_EQ(tag("lane:main").current_bytes, 500u);
  EXPECT_EQ(tag("resident").current_bytes, 3500u);
  f.mgr.evict("detector");
  EXPECT_EQ(tag("detector").current_bytes, 0u);
  EXPECT_EQ(tag("detector").peak_bytes, 3000u);
  EXPECT_EQ(tag("resident").current_bytes, 0u);
  const std::string what = what_of([&] { f.mgr.add_model(spec(std::string(48, 'x'), 1, 0)); });
  EXPECT_NE(what.find("at most 47 bytes"), std::string::npos) << what;
  EXPECT_THROW(f.mgr.add_model(spec("lane:fake", 1, 0)), std::invalid_argument);
}

// ---- memory the policy picks, and the CUDA calls of a load -----------------------------------

TEST(residency_manager, the_policy_picks_managed_memory_on_a_jetson_and_device_memory_with_staging_elsewhere) {
  auto budget = std::make_shared<memory_budget>("b", 1 << 20);
  {
    residency_manager nano(budget, device_profile::jetson_nano());
    auto* managed = dynamic_cast<managed_resource*>(&nano.weights_resource());
    ASSERT_NE(managed, nullptr);
    EXPECT_EQ(managed->attach(), managed_attach::host);  // concurrentManagedAccess = 0: load beside kernels
    EXPECT_EQ(nano.staging_resource(), nullptr);          // one read from the file, no copy
    EXPECT_EQ(nano.activation_resource().traits().kind, memory_kind::device);
  }
  {
    residency_manager thor(budget, device_profile::jetson_thor());
    auto* managed = dynamic_cast<managed_resource*>(&thor.weights_resource());
    ASSERT_NE(managed, nullptr);
    EXPECT_EQ(managed->attach(), managed_attach::global);
  }
  {
    residency_manager h100(budget, device_profile::discrete_h100());
    EXPECT_EQ(h100.weights_resource().traits().kind, memory_kind::device);
    ASSERT_NE(h100.staging_resource(), nullptr);
    EXPECT_EQ(h100.staging_resource()->traits().kind, memory_kind::pinned);
  }
  EXPECT_EQ(budget->used(), 0u);  // nothing was allocated
}

TEST(residency_manager, managed_weights_are_attached_for_every_stream_after_a_load_where_access_is_not_concurrent) {
  auto budget = std::make_shared<memory_budget>("b", 1 << 20);
  test::fake_resource weights({memory_kind::managed, true, false, false}, "fake_managed_host_attached");
  test::fake_resource acts(memory_kind::device);
  test::recording_calls calls;
  for (const device_profile& p : {device_profile::jetson_nano(), device_profile::jetson_thor()}) {
    residency_options o;
    o.profile = &p;
    o.calls = &calls;
    o.load_stream = stream_view{};
    residency_manager mgr(budget, weights, acts, o);
    mgr.add_model(spec("m", 4096, 0));
    auto l = mgr.acquire("m");
    calls.name_pointer(l.weights(), "w");
    EXPECT_TRUE(holds_pattern(l.weights(), 4096, std::hash<std::string>{}("m") % 251));
    const std::vector<std::string> made = calls.take();
    ASSERT_EQ(made.size(), 2u) << p.name;
    if (p.concurrent_managed_access) {
      EXPECT_EQ(made[0].rfind("prefetch(", 0), 0u) << made[0];
    } else {
      EXPECT_EQ(made[0].rfind("attach(s0, ", 0), 0u) << made[0];
      EXPECT_NE(made[0].find(", global)"), std::string::npos) << made[0];
    }
    EXPECT_EQ(made[1], "sync(s0)");
  }
  EXPECT_EQ(weights.live, 0);
}

TEST(residency_manager, device_weights_are_read_into_staging_and_copied_once) {
  auto budget = std::make_shared<memory_budget>("b", 1 << 20);
  test::fake_resource device(memory_kind::device);  // host memory underneath, device traits
  test::fake_resource pinned(memory_kind::pinned);
  test::fake_resource acts(memory_kind::device);
  test::recording_calls calls;
  calls.execute_copies = true;
  residency_options o;
  const device_profile h100 = device_profile::discrete_h100();
  o.profile = &h100;
  o.calls = &calls;
  o.load_stream = stream_view{};
  o.staging = &pinned;
  residency_manager mgr(budget, device, acts, o);
  bool staged = false;
  memory_kind kind = memory_kind::host;
  model_spec s = spec("m", 8192, 0);
  s.loader = [&, inner = counted_loader{3}](const weight_load& load) {
    staged = load.staged;
    kind = load.kind;
    inner(load);
  };
  mgr.add_model(std::move(s));
  auto l = mgr.acquire("m");
  EXPECT_TRUE(staged);
  EXPECT_EQ(kind, memory_kind::pinned);
  EXPECT_TRUE(holds_pattern(l.weights(), 8192, 3));  // copied to the "device"
  EXPECT_EQ(calls.count("memcpy("), 1u);
  EXPECT_EQ(calls.count("sync(s0)"), 1u);
  EXPECT_EQ(pinned.live, 0);  // staging lives only during the load
  EXPECT_EQ(budget->used(), 8192u);

  // A failed copy frees the staging and the weights.
  calls.fail_prefix = "memcpy(";
  mgr.add_model(spec("n", 100, 0, 0, "other"));
  EXPECT_THROW((void)mgr.acquire("n"), cuda_error);
  EXPECT_EQ(pinned.live, 0);
  EXPECT_EQ(device.live, 1);
  EXPECT_EQ(budget->used(), 8192u);

  test::fake_resource no_host_staging(memory_kind::device);
  residency_options bad = o;
  bad.staging = &no_host_staging;
  const std::string what = what_of([&] { residency_manager m2(budget, device, acts, bad); });
  EXPECT_NE(what.find("host-writable staging"), std::string::npos) << what;
  bad.staging = nullptr;
  EXPECT_THROW(residency_manager(budget, device, acts, bad), std::invalid_argument);
}

// ---- on a GPU --------------------------------------------------------------------------------

class residency_manager_gpu : public test::gpu_test {};

TEST_F(residency_manager_gpu, the_policys_memory_holds_a_file_a_kernel_reads) {
  const device_profile profile = device_profile::current();
  const auto dir = temp_dir();
  constexpr std::size_t bytes = 8 << 20;
  {
    std::vector<char> data(bytes, static_cast<char>(0x5a));
    std::ofstream(dir / "w.bin", std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
  }
  auto budget = std::make_shared<memory_budget>("gpu test", 64 << 20);
  residency_manager mgr(budget, profile);
  EXPECT_EQ(mgr.staging_resource() != nullptr, !profile.integrated);
  model_spec s;
  s.name = "m";
  s.weight_bytes = bytes;
  s.weights_file = (dir / "w.bin").string();
  s.activation_bytes = 1 << 20;
  mgr.add_model(s);
  for (int round = 0; round < 2; ++round) {
    {
      auto l = mgr.acquire("m");
      EXPECT_TRUE(l.loaded_now());
      EXPECT_EQ(test::device_count_mismatches(l.weights(), bytes, 0x5a), 0u);
      test::device_fill(l.activations(), l.activation_bytes(), 7);
      EXPECT_EQ(test::device_count_mismatches(l.activations(), l.activation_bytes(), 7), 0u);
    }
    EXPECT_TRUE(mgr.evict("m"));  // and load it again
  }
  EXPECT_EQ(budget->used(), 0u);
  std::filesystem::remove_all(dir);
}

TEST_F(residency_manager_gpu, managed_weights_and_shared_copies_on_this_gpu) {
  const device_profile profile = device_profile::current();
  if (!profile.managed_memory) GTEST_SKIP() << "no managed memory on " << profile.name;
  managed_resource weights(profile.concurrent_managed_access ? managed_attach::global : managed_attach::host, profile);
  device_resource acts;
  auto budget = std::make_shared<memory_budget>("gpu test", 64 << 20);
  residency_manager mgr(budget, weights, acts);
  constexpr std::size_t bytes = 4 << 20;
  auto fill = [](const weight_load& load) { std::memset(load.destination, 0x33, load.bytes); };
  for (const char* name : {"a", "b"}) {
    model_spec s;
    s.name = name;
    s.weight_bytes = bytes;
    s.weights_file = "/shared/identity.bin";
    s.loader = fill;
    s.activation_bytes = 1 << 20;
    s.lane = name;
    mgr.add_model(s);
  }
  auto a = mgr.acquire("a");
  auto b = mgr.acquire("b");
  EXPECT_EQ(a.weights(), b.weights());
  EXPECT_EQ(mgr.stats().weight_reads, 1u);
  EXPECT_EQ(test::device_count_mismatches(b.weights(), bytes, 0x33), 0u);
  test::device_fill(a.activations(), 1 << 20, 1);
  test::device_fill(b.activations(), 1 << 20, 2);
  EXPECT_EQ(test::device_count_mismatches(a.activations(), 1 << 20, 1), 0u);  // disjoint lanes
}

}  // namespace
}  // namespace unimem
