// Static memory planner: the public API over the placer (detail/placement/placer.hpp), input
// checks and plan validation. See include/unimem/planning/planner.hpp and docs/planning.md.
#include <unimem/planning/planner.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "detail/placement/placer.hpp"
#include "detail/size_math.hpp"

namespace unimem {
namespace {

void check_input(const std::vector<tensor_lifetime>& tensors, const char* call) {
  std::size_t total = 0;
  if (tensors.size() >= std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument(fmt::format("unimem::{}: {} tensors; at most {} can be planned at once",
                                            call, tensors.size(), std::numeric_limits<std::uint32_t>::max() - 1));
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.last_op < t.first_op) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: tensor {} has last_op {} < first_op {}; last_op is inclusive, so a tensor used by "
          "one op has last_op == first_op",
          call, i, t.last_op, t.first_op));
    }
    if (t.alignment == 0 || (t.alignment & (t.alignment - 1)) != 0) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: tensor {} has alignment {}; use a power of two (1 for none)", call, i, t.alignment));
    }
    if (t.alignment > (std::size_t{1} << 32)) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: tensor {} has alignment {}; at most 4 GiB is supported", call, i, t.alignment));
    }
    // Every sum the planner forms (live bytes, arena, padding) is at most this total, so bounding
    // it once rules out overflow everywhere.
    constexpr std::size_t limit = std::numeric_limits<std::size_t>::max() / 4;
    if (t.bytes > limit - total || t.alignment > limit - total - t.bytes) {
      throw std::invalid_argument(fmt::format(
          "unimem::{}: the tensors up to tensor {} ({} B) need more than {} B together; no arena can hold them",
          call, i, t.bytes, limit));
    }
    total += t.bytes + t.alignment;
  }
}

std::vector<detail::placement::lifetime> to_items(const std::vector<tensor_lifetime>& tensors) {
  std::vector<detail::placement::lifetime> items(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    items[i] = {tensors[i].bytes, tensors[i].first_op, tensors[i].last_op, tensors[i].alignment};
  }
  return items;
}

memory_plan to_plan(detail::placement::placement&& placed) {
  memory_plan plan;
  plan.offsets = std::move(placed.offsets);
  plan.arena_bytes = placed.arena;
  plan.lower_bound_bytes = placed.lower_bound;
  plan.arena_alignment = placed.max_alignment;
  plan.method = std::move(placed.method);
  plan.proved_optimal = placed.proved_optimal;
  plan.search_nodes = placed.search_nodes;
  return plan;
}

}  // namespace

std::size_t lower_bound_bytes(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "lower_bound_bytes");
  return detail::placement::lower_bound(to_items(tensors));
}

std::uint64_t overlapping_pairs(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "overlapping_pairs");
  return detail::placement::overlapping_pairs(to_items(tensors));
}

std::size_t naive_bytes(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "naive_bytes");  // also bounds the sum below
  std::size_t sum = 0;
  for (const auto& t : tensors) {
    // Laid out one after another; padding keeps every offset aligned.
    if (t.bytes != 0) sum = detail::align_up(sum, t.alignment) + t.bytes;
  }
  return sum;
}

memory_plan plan_greedy_by_size(const std::vector<tensor_lifetime>& tensors) {
  check_input(tensors, "plan_greedy_by_size");
  return to_plan(detail::placement::place_greedy_by_size(to_items(tensors)));
}

memory_plan plan_memory(const std::vector<tensor_lifetime>& tensors, const plan_options& options) {
  check_input(tensors, "plan_memory");
  detail::placement::options opts;
  opts.search_work = options.search_work;
  opts.greedy_work = options.greedy_work;
  opts.target = options.target_bytes;
  opts.time_limit_ms = options.time_limit_ms;
  return to_plan(detail::placement::place(to_items(tensors), opts));
}

plan_check validate_plan(const std::vector<tensor_lifetime>& tensors, const memory_plan& plan) {
  plan_check r;
  auto fail = [&](std::size_t a, std::size_t b, std::string msg) {
    r.ok = false;
    r.first = a;
    r.second = b;
    r.message = std::move(msg);
    return r;
  };
  if (plan.offsets.size() != tensors.size()) {
    return fail(plan_check::none, plan_check::none,
                fmt::format("the plan has {} offsets for {} tensors", plan.offsets.size(), tensors.size()));
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.last_op < t.first_op) {
      return fail(i, plan_check::none, fmt::format("tensor {} has last_op {} < first_op {}", i, t.last_op, t.first_op));
    }
    if (t.alignment == 0 || (t.alignment & (t.alignment - 1)) != 0) {
      return fail(i, plan_check::none, fmt::format("tensor {} has alignment {}, not a power of two", i, t.alignment));
    }
    if (t.bytes == 0) continue;
    const std::size_t o = plan.offsets[i];
    if (o % t.alignment != 0) {
      return fail(i, plan_check::none, fmt::format("tensor {} at offset {} is not aligned to {}", i, o, t.alignment));
    }
    if (plan.arena_alignment % t.alignment != 0) {
      return fail(i, plan_check::none, fmt::format("tensor {} needs alignment {} but the arena is aligned to {}", i,
                                                   t.alignment, plan.arena_alignment));
    }
    if (o > plan.arena_bytes || t.bytes > plan.arena_bytes - o) {
      return fail(i, plan_check::none, fmt::format("tensor {} at [{}, {}) ends past the arena of {} B", i, o,
                                                   o + t.bytes, plan.arena_bytes));
    }
  }
  // Sweep in time; the live tensors never overlap, so checking each newcomer against its
  // neighbours in address order is enough.
  std::vector<std::size_t> by_start, by_end;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].bytes > 0) by_start.push_back(i);
  }
  by_end = by_start;
  std::sort(by_start.begin(), by_start.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].first_op < tensors[b].first_op; });
  std::sort(by_end.begin(), by_end.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].last_op < tensors[b].last_op; });
  std::map<std::size_t, std::size_t> live;  // offset -> tensor
  std::size_t ended = 0;
  for (std::size_t i : by_start) {
    const auto& t = tensors[i];
    while (ended < by_end.size() && tensors[by_end[ended]].last_op < t.first_op) {
      const std::size_t j = by_end[ended++];
      auto it = live.find(plan.offsets[j]);
      if (it != live.end() && it->second == j) live.erase(it);
    }
    const std::size_t o = plan.offsets[i], end = o + t.bytes;
    auto next = live.lower_bound(o);
    if (next != live.end() && next->first < end) {
      const std::size_t j = next->second;
      return fail(i, j, fmt::format("tensors {} [{}, {}) ops {}..{} and {} [{}, {}) ops {}..{} overlap", i, o, end,
                                    t.first_op, t.last_op, j, plan.offsets[j], plan.offsets[j] + tensors[j].bytes,
                                    tensors[j].first_op, tensors[j].last_op));
    }
    if (next != live.begin()) {
      const std::size_t j = std::prev(next)->second;
      if (plan.offsets[j] + tensors[j].bytes > o) {
        return fail(i, j, fmt::format("tensors {} [{}, {}) ops {}..{} and {} [{}, {}) ops {}..{} overlap", i, o, end,
                                      t.first_op, t.last_op, j, plan.offsets[j], plan.offsets[j] + tensors[j].bytes,
                                      tensors[j].first_op, tensors[j].last_op));
      }
    }
    live.emplace(o, i);
  }
  return r;
}

}  // namespace unimem
