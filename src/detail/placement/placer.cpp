// The placer's stages: greedy portfolio, search, and the paths for large inputs. See placer.hpp
// and docs/planning.md.
#include "detail/placement/placer.hpp"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "detail/placement/heuristics.hpp"
#include "detail/placement/problem.hpp"
#include "detail/placement/search.hpp"
#include "detail/placement/sweep.hpp"

namespace unimem::detail::placement {
namespace {

placement finish(const problem& p, std::size_t count, const std::vector<std::size_t>& off, std::string method) {
  placement out;
  out.offsets.assign(count, 0);
  for (std::size_t k = 0; k < p.n; ++k) out.offsets[p.original[k]] = off[k];
  out.arena = arena_of(p, off);
  out.lower_bound = p.lower_bound;
  out.max_alignment = p.max_alignment;
  out.method = std::move(method);
  return out;
}

}  // namespace

std::size_t lower_bound(const std::vector<lifetime>& tensors) { return make_problem(tensors).lower_bound; }

std::uint64_t overlapping_pairs(const std::vector<lifetime>& tensors) { return make_problem(tensors).overlap_pairs; }

placement place_greedy_by_size(const std::vector<lifetime>& tensors) {
  problem p = make_problem(tensors);
  build_conflicts(p);
  return finish(p, tensors.size(), greedy(p, order_by(p, order_key::size), fit::best), "greedy-by-size");
}

placement place(const std::vector<lifetime>& tensors, const options& options) {
  problem p = make_problem(tensors);
  if (p.n == 0) return finish(p, tensors.size(), {}, "empty");
  // A greedy run visits every tensor and both ends of every overlapping pair.
  // A greedy run or a settle pass visits every tensor and both ends of every overlapping pair.
  // Inputs of up to search_max_tensors tensors get the whole portfolio; larger ones what fits
  // max_greedy_work, and the sweep when not even one greedy run does.
  const std::uint64_t run_work = p.n + 2 * p.overlap_pairs;
  const bool small = p.n <= options.search_max_tensors;
  if (p.overlap_pairs > options.max_overlapping_pairs || (!small && run_work > options.max_greedy_work)) {
    // Too large for greedy placement of everything: the better of a time sweep (good on dense,
    // random-like inputs) and greedy placement of the largest tensors (good on traces, where a
    // sweep behaves like a caching allocator).
    std::vector<std::size_t> sweep = sweep_best_fit(p);
    const std::size_t sweep_arena = arena_of(p, sweep);
    if (static_cast<double>(sweep_arena) <= 1.02 * static_cast<double>(p.lower_bound)) {  // good enough
      return finish(p, tensors.size(), sweep, "sweep-best-fit");
    }
    std::vector<std::size_t> largest =
        greedy_on_largest(tensors, p, order_by(p, order_key::size), options.max_greedy_work);
    if (arena_of(p, largest) < sweep_arena) return finish(p, tensors.size(), largest, "greedy-on-largest");
    return finish(p, tensors.size(), sweep, "sweep-best-fit");
  }
  build_conflicts(p);

  std::vector<std::size_t> best;
  std::size_t best_arena = std::numeric_limits<std::size_t>::max();
  std::string best_method;
  std::uint64_t work = 0;
  auto affordable = [&] { return small || work + run_work <= options.max_greedy_work; };
  // `make_order` is only called when the member runs: at 100 000 tensors an unused order costs
  // as much as a cheap greedy run.
  auto consider = [&](auto&& make_order, fit rule, const char* method) {
    if (best_arena == p.lower_bound || (work > 0 && !affordable())) return;
    work += run_work;
    std::vector<std::size_t> off = greedy(p, make_order(), rule);
    std::size_t a = arena_of(p, off);
    if (a > p.lower_bound && affordable()) {
      work += run_work;
      settle(p, off);
      a = arena_of(p, off);
    }
    if (a < best_arena) {
      best_arena = a;
      best = std::move(off);
      best_method = method;
    }
  };
  const std::vector<index_t> by_size = order_by(p, order_key::size);
  consider([&]() -> const std::vector<index_t>& { return by_size; }, fit::best, "greedy-by-size");
  consider([&]() -> const std::vector<index_t>& { return by_size; }, fit::first, "greedy-by-size-first-fit");
  consider([&] { return order_by_breadth(p); }, fit::best, "greedy-by-breadth");
  consider([&] { return order_by(p, order_key::area); }, fit::best, "greedy-by-area");
  consider([&] { return order_by(p, order_key::lifetime); }, fit::best, "greedy-by-lifetime");

  // Depth-first search gets stuck in the subtree of its first choices, so several branching
  // orders take turns with doubling slices of the budget, each resuming where it stopped and
  // bounded by the best plan found so far by any of them.
  if (best_arena > p.lower_bound && options.search_nodes > 0 && p.n <= options.search_max_tensors) {
    std::vector<std::unique_ptr<canonical_search>> searches;
    searches.push_back(std::make_unique<canonical_search>(p, by_size));
    searches.push_back(std::make_unique<canonical_search>(p, order_by(p, order_key::area)));
    searches.push_back(std::make_unique<canonical_search>(p, order_by(p, order_key::lifetime)));
    searches.push_back(std::make_unique<canonical_search>(p, order_by_breadth(p)));
    std::size_t spent = 0;
    std::size_t slice = std::max<std::size_t>(options.search_nodes / 16, 1);
    bool complete = false;
    while (!complete && spent < options.search_nodes && best_arena > p.lower_bound) {
      for (auto& search : searches) {
        if (complete || spent >= options.search_nodes || best_arena == p.lower_bound) break;
        const std::size_t give = std::min(slice, options.search_nodes - spent);
        const std::size_t before = search->nodes();
        if (search->run(best_arena - 1, p.lower_bound, before + give)) {
          best = search->best();
          best_arena = search->best_arena();
          best_method = "search";
        }
        spent += search->nodes() - before;
        complete = search->finished();  // the whole canonical space was covered: nothing better
      }
      slice *= 2;
    }
  }
  return finish(p, tensors.size(), best, best_method);
}

}  // namespace unimem::detail::placement
