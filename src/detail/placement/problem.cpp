// The placer's problem: sections, lower bound, overlapping pairs, conflict graph.
#include "detail/placement/problem.hpp"

#include <algorithm>
#include <numeric>

namespace unimem::detail::placement {

problem make_problem(const std::vector<lifetime>& tensors) {
  problem p;
  std::vector<index_t> ids;
  ids.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    p.max_alignment = std::max(p.max_alignment, tensors[i].alignment);
    if (tensors[i].bytes != 0) ids.push_back(static_cast<index_t>(i));
  }
  radix_sort(ids, [&](index_t i) { return tensors[i].first; });
  p.n = ids.size();
  p.original.assign(ids.begin(), ids.end());
  p.size.resize(p.n);
  p.align.resize(p.n);
  p.s.resize(p.n);
  p.e.resize(p.n);
  p.first.resize(p.n);
  p.last.resize(p.n);
  std::vector<std::size_t> starts;
  for (std::size_t k = 0; k < p.n; ++k) {
    const auto& t = tensors[ids[k]];
    p.size[k] = t.bytes;
    p.align[k] = t.alignment;
    p.first[k] = t.first;
    p.last[k] = t.last;
    if (starts.empty() || starts.back() != t.first) {
      starts.push_back(t.first);
      p.section_begin.push_back(static_cast<index_t>(k));
    }
    p.s[k] = static_cast<index_t>(starts.size() - 1);
  }
  p.sections = static_cast<index_t>(starts.size());
  p.section_begin.push_back(static_cast<index_t>(p.n));
  // Last section of each tensor: the last start <= last_op, found by a sweep in order of last_op.
  std::vector<index_t> by_last(p.n);
  std::iota(by_last.begin(), by_last.end(), index_t{0});
  radix_sort(by_last, [&](index_t k) { return tensors[p.original[k]].last; });
  std::size_t sec = 0;
  for (index_t k : by_last) {
    const std::size_t last = tensors[p.original[k]].last;
    while (sec + 1 < starts.size() && starts[sec + 1] <= last) ++sec;
    p.e[k] = static_cast<index_t>(sec);
  }
  // Live bytes and live counts per section with difference arrays.
  std::vector<std::size_t> bytes_diff(p.sections + 1, 0);
  std::vector<std::uint64_t> ending_before(p.sections + 1, 0);
  for (std::size_t k = 0; k < p.n; ++k) {
    bytes_diff[p.s[k]] += p.size[k];
    bytes_diff[p.e[k] + 1] -= p.size[k];  // modular arithmetic: the running sum is exact
    ++ending_before[p.e[k] + 1];
  }
  std::size_t live = 0;
  std::uint64_t started_before = 0, ended_before = 0;
  for (index_t t = 0; t < p.sections; ++t) {
    live += bytes_diff[t];
    p.lower_bound = std::max(p.lower_bound, live);
    ended_before += ending_before[t];
    // Pairs first meeting at section t: a starter with every older live tensor, and starters among
    // themselves.
    const std::uint64_t starting = p.section_begin[t + 1] - p.section_begin[t];
    const std::uint64_t older_live = started_before - ended_before;
    p.overlap_pairs += starting * older_live + starting * (starting - 1) / 2;
    started_before += starting;
    p.max_live_count = std::max<std::uint64_t>(p.max_live_count, started_before - ended_before);
  }
  return p;
}

problem make_subproblem(const problem& p, const std::vector<index_t>& members) {
  std::vector<lifetime> items(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    const index_t k = members[i];
    items[i] = {p.size[k], p.first[k], p.last[k], p.align[k]};
  }
  problem q = make_problem(items);
  q.max_alignment = std::max<std::size_t>(q.max_alignment, 1);
  return q;
}


void build_conflicts(problem& p) {
  p.adj_begin.assign(p.n + 1, 0);
  std::vector<std::uint64_t> fill;
  std::vector<index_t> active;
  for (int pass = 0; pass < 2; ++pass) {
    active.clear();
    for (index_t t = 0; t < p.sections; ++t) {
      active.erase(std::remove_if(active.begin(), active.end(), [&](index_t a) { return p.e[a] < t; }),
                   active.end());
      const index_t first = p.section_begin[t], last = p.section_begin[t + 1];
      for (index_t k = first; k < last; ++k) {
        if (pass == 0) {
          p.adj_begin[k + 1] += active.size() + (last - first) - 1;
          for (index_t a : active) ++p.adj_begin[a + 1];
        } else {
          for (index_t a : active) {
            p.adj[fill[k]++] = a;
            p.adj[fill[a]++] = k;
          }
          for (index_t j = k + 1; j < last; ++j) {
            p.adj[fill[k]++] = j;
            p.adj[fill[j]++] = k;
          }
        }
      }
      for (index_t k = first; k < last; ++k) active.push_back(k);
    }
    if (pass == 0) {
      for (index_t k = 0; k < p.n; ++k) p.adj_begin[k + 1] += p.adj_begin[k];
      p.adj.resize(p.adj_begin[p.n]);
      fill.assign(p.adj_begin.begin(), p.adj_begin.end() - 1);
    }
  }
}


std::size_t arena_of(const problem& p, const std::vector<std::size_t>& off) {
  std::size_t a = 0;
  for (std::size_t k = 0; k < p.n; ++k) a = std::max(a, off[k] + p.size[k]);
  return a;
}


}  // namespace unimem::detail::placement
