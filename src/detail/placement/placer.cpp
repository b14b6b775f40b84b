// The placer's stages (see placer.hpp and docs/planning.md): exact decomposition into
// independent leaves, an exact layout for leaves whose structure allows one, a portfolio of
// heuristics within a work budget, and a bounded search on the leaves that decide the arena.
#include "detail/placement/placer.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <utility>

#include "detail/placement/decompose.hpp"
#include "detail/placement/fill.hpp"
#include "detail/placement/heuristics.hpp"
#include "detail/placement/merge.hpp"
#include "detail/placement/problem.hpp"
#include "detail/placement/search.hpp"
#include "detail/placement/structured.hpp"
#include "detail/placement/sweep.hpp"
#include "detail/size_math.hpp"

namespace unimem::detail::placement {
namespace {

struct leaf_plan {
  std::vector<std::size_t> off;
  std::size_t arena = std::numeric_limits<std::size_t>::max();
  const char* method = "";
  bool proved = false;  // no smaller arena exists for this leaf
};

/// What the whole placement may still spend.
struct budget {
  std::uint64_t greedy = 0;  // tensor + neighbour visits of greedy runs
  std::uint64_t search = 0;  // work of the search (see decision_search::run)
  std::size_t nodes = 0;     // search nodes spent
  bool recombine = true;     // the recombined problem does not recombine again
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

placement place_problem(problem& p, std::size_t count, std::size_t target, budget& b);

// The search's state and node cost grow with the part: beyond these, parts keep the heuristics'.
constexpr std::size_t max_search_tensors = 2048;
constexpr std::uint64_t max_search_pairs = 4000000;
constexpr std::uint64_t recombined_search_work = 20000000;
// Recombination and the recursive placement of its rectangles cost about as much as the rest of
// the portfolio together: leaves up to this size get it (it does not rescue larger perfect
// packings either, see docs/planning.md), and settling the sweep.
constexpr std::size_t recombine_max = 20000;
// Above this size, a sweep within 2 % of the target ends the portfolio.
constexpr std::size_t large_leaf = 50000;

class leaf_solver {
 public:
  leaf_solver(problem& q, std::size_t target, budget& b) : q_(q), target_(std::max(target, q.lower_bound)), b_(b) {}

  leaf_plan solve() {
    if (q_.n == 1) return {{0}, q_.size[0], "single", true};
    if (auto off = two_sided(q_, q_.lower_bound); !off.empty()) return finish(std::move(off), "two-sided");
    if (auto off = equal_size_slots(q_); !off.empty()) return finish(std::move(off), "equal-size-slots");
    portfolio();
    return std::move(best_);
  }

  /// The search, when the portfolio missed the target: first for a layout within the target,
  /// then, when that is proved impossible, bisecting between what is impossible and the best
  /// layout found. Sets `proved` when the two meet.
  void search() {
    if (done() || b_.search == 0 || q_.n > max_search_tensors) return;
    if (q_.adj_begin.empty()) {
      if (q_.overlap_pairs > max_search_pairs) return;
      build_conflicts(q_);
    }
    // Padding to alignments makes the search a heuristic: only unpadded inputs get proofs.
    bool exact = true;
    for (index_t k = 0; k < q_.n; ++k) exact = exact && q_.size[k] % q_.align[k] == 0;
    // MiniMalloc's three rankings and two more that solve other instances of its set.
    static constexpr const char* rankings[] = {"WAT", "TAW", "TWA", "CAT", "TCA"};
    std::vector<std::unique_ptr<decision_search>> searches;
    for (const char* r : rankings) searches.push_back(std::make_unique<decision_search>(q_, r));
    std::size_t lo = target_;  // every capacity below lo is impossible (once proved)
    bool lo_proved = false;
    while (lo < best_.arena && b_.search > 0) {
      const std::size_t capacity = !lo_proved ? lo : lo + (best_.arena - 1 - lo) / 2;
      // Rankings take turns with doubling node limits (a depth-first search stuck in the
      // subtree of its first choices is often rescued by another ranking).
      decision_search::outcome o = decision_search::outcome::aborted;
      for (std::uint64_t limit = 64 * std::uint64_t{q_.n}; o == decision_search::outcome::aborted; limit *= 2) {
        for (auto& s : searches) {
          if (b_.search == 0 || std::chrono::steady_clock::now() >= b_.deadline) break;
          o = s->run(capacity, std::min(limit, b_.search), b_.deadline);
          b_.search -= std::min(b_.search, s->work());
          b_.nodes += s->nodes();
          if (o == decision_search::outcome::found) keep(s->offsets(), "search");
          if (o != decision_search::outcome::aborted) break;
        }
        if (b_.search == 0 || std::chrono::steady_clock::now() >= b_.deadline) break;
      }
      if (o == decision_search::outcome::aborted) break;
      if (o == decision_search::outcome::infeasible) {
        if (!exact) break;
        lo = capacity + 1;
        lo_proved = true;
      }
      if (done()) break;
    }
    if (exact && lo_proved && lo >= best_.arena) best_.proved = true;
  }

  leaf_plan& result() { return best_; }

 private:
  bool done() const { return best_.arena <= target_; }

  leaf_plan finish(std::vector<std::size_t> off, const char* method) {
    const std::size_t a = arena_of(q_, off);
    return {std::move(off), a, method, a == q_.lower_bound};
  }

  void keep(std::vector<std::size_t> off, const char* method) {
    const std::size_t a = arena_of(q_, off);

    if (a < best_.arena) {
      best_ = {std::move(off), a, method, a == q_.lower_bound};
    }
  }

  /// Heuristics from cheap to dear, stopping at the target.
  void portfolio() {
    // Conflict-free and O(n log n): a time sweep through a segregated-fit allocator, settled.
    {
      std::vector<std::size_t> off = sweep_best_fit(q_);
      // Settling lowers what the sweep left floating; on large leaves the fill below does better
      // for the time.
      if (arena_of(q_, off) > target_ && q_.n <= recombine_max) settle(q_, off);
      keep(std::move(off), "sweep-best-fit");
      if (done()) return;
      // On large leaves a sweep within 2 % of the target is kept: the fill costs several sweeps.
      if (q_.n > large_leaf && static_cast<double>(best_.arena) <= 1.02 * static_cast<double>(target_)) return;
    }
    keep(bottom_left_fill(q_), "bottom-left-fill");
    if (done()) return;
    // Greedy placement walks the conflict graph, sorting each tensor's placed neighbours: only
    // where the budget affords one run.
    const std::uint64_t degree = 2 * q_.overlap_pairs / std::max<std::uint64_t>(q_.n, 1);
    const std::uint64_t run_work =
        q_.n + 2 * q_.overlap_pairs * std::max<std::uint64_t>(1, (64 - __builtin_clzll(degree + 1)) / 2);
    if (run_work <= b_.greedy) {
      const std::vector<index_t> by_size = order_by(q_, order_key::size);
      build_conflicts(q_);
      auto member = [&](auto&& make_order, fit rule, const char* method) {
        if (done() || run_work > b_.greedy) return;
        b_.greedy -= run_work;
        std::vector<std::size_t> off = greedy(q_, make_order(), rule);
        if (arena_of(q_, off) > target_) settle(q_, off);
        keep(std::move(off), method);
      };
      member([&]() -> const std::vector<index_t>& { return by_size; }, fit::best, "greedy-by-size");
      member([&]() -> const std::vector<index_t>& { return by_size; }, fit::first, "greedy-by-size-first-fit");
      member([&] { return order_by_breadth(q_); }, fit::best, "greedy-by-breadth");
      member([&] { return order_by(q_, order_key::area); }, fit::best, "greedy-by-area");
      member([&] { return order_by(q_, order_key::lifetime); }, fit::best, "greedy-by-lifetime");
    }
    if (done()) return;
    if (b_.recombine && q_.n <= recombine_max) {
      const recombination r = recombine(q_);
      if (!r.groups.empty()) {
        // The recombined problem may be infeasible within the target where the original is not:
        // its search gets a small share of what is left, the original keeps the rest.
        budget sub = b_;
        sub.recombine = false;
        sub.search = std::min<std::uint64_t>(b_.search / 4, recombined_search_work);
        const auto now = std::chrono::steady_clock::now();
        if (b_.deadline != std::chrono::steady_clock::time_point::max() && b_.deadline > now) {
          sub.deadline = now + (b_.deadline - now) / 8;
        }
        problem g = make_problem(r.groups);
        const placement placed = place_problem(g, r.groups.size(), target_, sub);
        b_.greedy = sub.greedy;
        b_.search -= std::min<std::uint64_t>(b_.search / 4, recombined_search_work) - sub.search;
        b_.nodes = sub.nodes;
        std::vector<std::size_t> off(q_.n);
        for (index_t k = 0; k < q_.n; ++k) off[k] = placed.offsets[r.group_of[k]] + r.within[k];
        keep(std::move(off), "recombined");
        if (done()) return;
      }
    }
  }

  problem& q_;
  std::size_t target_;
  budget& b_;
  leaf_plan best_;
};

placement finish(const problem& p, std::size_t count, const std::vector<std::size_t>& off, std::string method) {
  placement out;
  out.offsets.assign(count, 0);
  for (std::size_t k = 0; k < p.n; ++k) out.offsets[p.original[k]] = off[k];
  out.arena = arena_of(p, off);
  out.lower_bound = p.lower_bound;
  out.max_alignment = p.max_alignment;
  out.method = std::move(method);
  out.proved_optimal = out.arena == out.lower_bound;
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

placement place(const std::vector<lifetime>& tensors, const options& opts) {
  problem p = make_problem(tensors);
  budget b;
  // The greedy budget is per 100 000 tensors: larger inputs get proportionally more.
  b.greedy = opts.greedy_work * std::max<std::uint64_t>(1, (p.n + 99999) / 100000);
  b.search = opts.search_work;
  if (opts.time_limit_ms > 0) {
    b.deadline = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double, std::milli>(opts.time_limit_ms));
  }
  return place_problem(p, tensors.size(), std::max(opts.target, p.lower_bound), b);
}

namespace {

placement place_problem(problem& p, std::size_t count, std::size_t target, budget& b) {
  if (p.n == 0) return finish(p, count, {}, "empty");
  decomposition d = decompose(p);
  std::vector<std::size_t> off = std::move(d.offsets);
  std::size_t arena = d.stacked_top;
  const char* method = "nested-scopes";  // stacking alone decides the arena
  bool proved = true;
  struct open_leaf {
    std::unique_ptr<problem> owned;  // a part of p; empty when the leaf is all of p
    problem* q;
    std::unique_ptr<leaf_solver> solver;
    std::size_t base;
    const std::vector<index_t>* members;
  };
  std::vector<open_leaf> leaves;
  leaves.reserve(d.leaves.size());
  // Largest leaves first: they are where the budget matters.
  std::vector<std::size_t> order(d.leaves.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return d.leaves[x].members.size() > d.leaves[y].members.size(); });
  for (std::size_t i : order) {
    auto& leaf = d.leaves[i];
    leaves.push_back({nullptr, &p, nullptr, leaf.base, &leaf.members});
    open_leaf& l = leaves.back();
    if (leaf.members.size() != p.n) {  // else nothing was stacked or split off: no copy
      l.owned = std::make_unique<problem>(make_subproblem(p, leaf.members));
      l.q = l.owned.get();
    }
    l.base = align_up(l.base, l.q->max_alignment);  // the leaf's offsets are aligned from its base
    const std::size_t leaf_target = target > l.base ? target - l.base : 0;
    l.solver = std::make_unique<leaf_solver>(*l.q, leaf_target, b);
    l.solver->result() = l.solver->solve();
  }
  // The search, on the leaves that still exceed the target, worst first.
  std::vector<open_leaf*> over;
  for (auto& l : leaves) {
    if (l.base + l.solver->result().arena > target) over.push_back(&l);
  }
  std::stable_sort(over.begin(), over.end(), [](const open_leaf* x, const open_leaf* y) {
    return x->base + x->solver->result().arena > y->base + y->solver->result().arena;
  });
  for (open_leaf* l : over) l->solver->search();
  for (auto& l : leaves) {
    const leaf_plan& r = l.solver->result();
    if (l.owned) {
      for (index_t i = 0; i < l.q->n; ++i) off[(*l.members)[l.q->original[i]]] = l.base + r.off[i];
    } else {
      for (index_t i = 0; i < p.n; ++i) off[i] = l.base + r.off[i];
    }
    const std::size_t top = l.base + r.arena;
    if (top > arena || (top == arena && !r.proved)) {
      arena = top;
      method = r.method;
      proved = r.proved;
    }
  }
  placement out = finish(p, count, off, method);
  out.proved_optimal = out.arena == out.lower_bound || proved;
  out.search_nodes = b.nodes;
  return out;
}

}  // namespace
}  // namespace unimem::detail::placement
