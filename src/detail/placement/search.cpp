// The decision search (see search.hpp).
#include "detail/placement/search.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "detail/size_math.hpp"

namespace unimem::detail::placement {

class decision_search::state {
 public:
  state(const problem& p, const char* ranking) : p_(p) {
    const std::size_t n = p.n, S = p.sections;
    padded_.resize(n);
    for (index_t k = 0; k < n; ++k) padded_[k] = align_up(p.size[k], p.align[k]);
    // Sections' members, for the floors of the unplaced.
    sec_begin_.assign(S + 1, 0);
    for (index_t k = 0; k < n; ++k) {
      for (index_t t = p.s[k]; t <= p.e[k]; ++t) ++sec_begin_[t + 1];
    }
    for (std::size_t t = 0; t < S; ++t) sec_begin_[t + 1] += sec_begin_[t];
    sec_list_.resize(sec_begin_[S]);
    std::vector<std::size_t> fill(sec_begin_.begin(), sec_begin_.end() - 1);
    for (index_t k = 0; k < n; ++k) {
      for (index_t t = p.s[k]; t <= p.e[k]; ++t) sec_list_[fill[t]++] = k;
    }
    // The ranking's keys (T is recomputed for every part, from what is left to place).
    width_.resize(n);
    sections_.resize(n);
    area_.resize(n);
    key_total_.assign(n, 0);
    for (index_t k = 0; k < n; ++k) {
      width_[k] = p.last[k] - p.first[k] + 1;
      sections_[k] = p.e[k] - p.s[k] + 1;
      area_[k] = padded_[k] * width_[k];
    }
    for (const char* c = ranking; *c != '\0'; ++c) {
      switch (*c) {
        case 'W': keys_.push_back(&width_); break;
        case 'C': keys_.push_back(&sections_); break;
        case 'A': keys_.push_back(&area_); break;
        case 'T': keys_.push_back(&key_total_); break;
        case 'Z': keys_.push_back(&padded_); break;
        default: break;
      }
    }
    rank_.resize(n);
  }

  outcome run(std::size_t capacity, std::uint64_t work_limit, std::chrono::steady_clock::time_point deadline) {
    const std::size_t n = p_.n, S = p_.sections;
    capacity_ = capacity;
    limit_ = work_limit;
    deadline_ = deadline;
    nodes_ = 0;
    work_ = n + S;  // the resets below
    aborted_ = false;
    placed_.assign(n, 0);
    off_.assign(n, 0);
    minoff_.assign(n, 0);
    solution_.assign(n, 0);
    top_.assign(S, 0);
    total_.assign(S, 0);
    cuts_.assign(S, 0);
    seen_.assign(S, 0);
    witness_.assign(S, 0);
    for (index_t k = 0; k < n; ++k) {
      for (index_t t = p_.s[k]; t <= p_.e[k]; ++t) total_[t] += padded_[k];
      for (index_t t = p_.s[k]; t < p_.e[k]; ++t) ++cuts_[t];
    }
    for (std::size_t t = 0; t < S; ++t) {
      if (total_[t] > capacity) return outcome::infeasible;
    }
    std::vector<index_t> all(n);
    for (index_t k = 0; k < n; ++k) all[k] = k;
    const int r = solve_parts(all, 0, static_cast<index_t>(S - 1));
    return r == found ? outcome::found : r == aborted ? outcome::aborted : outcome::infeasible;
  }

  const std::vector<std::size_t>& offsets() const { return solution_; }
  std::size_t nodes() const { return nodes_; }
  std::uint64_t work() const { return work_; }

 private:
  static constexpr int found = 0, not_found = 1, aborted = 2;
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

  struct change {
    index_t index;
    std::size_t old;
  };

  /// Splits [a, b] at the boundaries no unplaced tensor crosses and solves each side.
  int solve_parts(const std::vector<index_t>& part, index_t a, index_t b) {
    index_t lo = a;
    for (index_t t = a; t <= b; ++t) {
      if (t == b || cuts_[t] == 0) {
        std::vector<index_t> sub;
        for (index_t k : part) {
          if (!placed_[k] && p_.s[k] >= lo && p_.e[k] <= t) sub.push_back(k);
        }
        work_ += part.size();
        if (!sub.empty()) {
          work_ += 4 * sub.size();  // ranking it
          // Ranks are per part (MiniMalloc re-ranks every part it solves): save the part's.
          const std::size_t mark = rank_log_.size();
          for (index_t k : sub) rank_log_.push_back(rank_[k]);
          rank(sub);
          const int r = search(sub, lo, t, 0, 0);
          for (std::size_t i = 0; i < sub.size(); ++i) rank_[sub[i]] = rank_log_[mark + i];
          rank_log_.resize(mark);
          if (r != found) return r;
        }
        lo = t + 1;
      }
    }
    return found;
  }

  /// Ranks the tensors of a part by the ranking's keys, larger first, ties in problem order.
  void rank(std::vector<index_t> part) {
    for (index_t k : part) {
      std::size_t most = 0;
      for (index_t t = p_.s[k]; t <= p_.e[k]; ++t) most = std::max(most, total_[t]);
      key_total_[k] = most;
    }
    std::sort(part.begin(), part.end(), [&](index_t x, index_t y) {
      for (const auto* key : keys_) {
        if ((*key)[x] != (*key)[y]) return (*key)[x] > (*key)[y];
      }
      return x < y;
    });
    for (index_t r = 0; r < part.size(); ++r) rank_[part[r]] = r;
  }

  int search(const std::vector<index_t>& part, index_t a, index_t b, std::size_t min_offset, index_t min_rank) {
    ++nodes_;
    work_ += 2 * part.size();
    if (work_ > limit_ || ((nodes_ & 255) == 0 && std::chrono::steady_clock::now() > deadline_)) {
      aborted_ = true;
      return aborted;
    }
    struct candidate {
      std::size_t offset;
      index_t rank, k;
      bool operator<(const candidate& o) const { return offset != o.offset ? offset < o.offset : rank < o.rank; }
    };
    std::size_t min_height = none;
    bool any = false;
    for (index_t k : part) {
      if (placed_[k]) continue;
      any = true;
      min_height = std::min(min_height, minoff_[k] + padded_[k]);
    }
    if (!any) {
      for (index_t k : part) solution_[k] = off_[k];
      return found;
    }
    // Candidates: canonical (nondecreasing offsets, equal offsets in rank order) and not
    // dominated (below the lowest end some unplaced tensor is sure to reach: a tensor at or
    // above it would leave a gap that tensor fits).
    std::vector<candidate> order;
    for (index_t k : part) {
      if (placed_[k] || minoff_[k] >= min_height) continue;
      if (minoff_[k] < min_offset || (minoff_[k] == min_offset && rank_[k] < min_rank)) continue;
      order.push_back({minoff_[k], rank_[k], k});
    }
    std::sort(order.begin(), order.end());
    work_ += 2 * order.size();
    for (const auto& [offset, rank, k] : order) {
      const std::size_t m_min = minoff_log_.size(), m_top = top_log_.size();
      work_ += 2 * (p_.degree(k) + (p_.e[k] - p_.s[k] + 1)) + (b - a + 1);
      const bool hat = place(k, offset);
      int r = not_found;
      if (feasible(a, b, k, offset)) r = descend(part, a, b, k, offset);
      unplace(k, m_min, m_top);
      if (r != not_found) return r;
      // k constrains nothing: placing it first loses no layout, so if that failed, all do.
      if (!hat) break;
    }
    return not_found;
  }

  int descend(const std::vector<index_t>& part, index_t a, index_t b, index_t k, std::size_t offset) {
    bool cut = false;
    for (index_t t = std::max(a, p_.s[k]); t < std::min(b, p_.e[k]); ++t) cut = cut || cuts_[t] == 0;
    if (!cut) return search(part, a, b, offset, rank_[k]);
    for (index_t j : part) {
      if (placed_[j]) solution_[j] = off_[j];
    }
    return solve_parts(part, a, b);
  }

  /// Returns false when no unplaced tensor overlaps k ("hatless": nothing can go on top).
  bool place(index_t k, std::size_t offset) {
    placed_[k] = 1;
    off_[k] = offset;
    const std::size_t end = offset + padded_[k];
    bool hat = false;
    raised_.clear();
    const index_t* nb = p_.neighbours(k);
    for (std::size_t x = 0, d = p_.degree(k); x < d; ++x) {
      const index_t j = nb[x];
      if (placed_[j]) continue;
      hat = true;
      const std::size_t raised = align_up(end, p_.align[j]);
      if (raised > minoff_[j]) {
        minoff_log_.push_back({j, minoff_[j]});
        minoff_[j] = raised;
        raised_.push_back(j);
      }
    }
    for (index_t t = p_.s[k]; t <= p_.e[k]; ++t) {
      top_log_.push_back({t, top_[t]});
      top_[t] = end;
      total_[t] -= padded_[k];
    }
    for (index_t t = p_.s[k]; t < p_.e[k]; ++t) --cuts_[t];
    return hat;
  }

  void unplace(index_t k, std::size_t m_min, std::size_t m_top) {
    for (index_t t = p_.s[k]; t < p_.e[k]; ++t) ++cuts_[t];
    for (index_t t = p_.s[k]; t <= p_.e[k]; ++t) total_[t] += padded_[k];
    undo(top_log_, top_, m_top);
    undo(minoff_log_, minoff_, m_min);
    placed_[k] = 0;
  }

  static void undo(std::vector<change>& log, std::vector<std::size_t>& values, std::size_t mark) {
    while (log.size() > mark) {
      values[log.back().index] = log.back().old;
      log.pop_back();
    }
  }

  /// Every section of the part can still hold what remains to place there: above the current
  /// offset, above what is placed there, and above the lowest offset any of its unplaced tensors
  /// can take. The parent node passed this check, so beyond the offset only the sections of k
  /// and of the tensors k raised can fail.
  bool feasible(index_t a, index_t b, index_t k, std::size_t offset) {
    std::size_t most = 0;
    for (index_t t = a; t <= b; ++t) most = std::max(most, total_[t]);
    if (offset + most > capacity_) return false;
    ++stamp_;
    if (!sections_hold(k, a, b)) return false;
    for (index_t j : raised_) {
      if (!sections_hold(j, a, b)) return false;
    }
    return true;
  }

  bool sections_hold(index_t j, index_t a, index_t b) {
    for (index_t t = std::max(a, p_.s[j]), last = std::min(b, p_.e[j]); t <= last; ++t) {
      if (seen_[t] == stamp_ || total_[t] == 0) continue;
      seen_[t] = stamp_;
      const std::size_t room = capacity_ - total_[t];  // the floor may be at most this
      if (top_[t] > room) return false;
      // Some unplaced tensor of the section must fit at or below room; start from the last one
      // found (usually still good).
      const std::size_t begin = sec_begin_[t], count = sec_begin_[t + 1] - begin;
      std::size_t& w = witness_[t];
      bool low_enough = false;
      for (std::size_t i = 0; i < count && !low_enough; ++i, w = w + 1 == count ? 0 : w + 1) {
        const index_t u = sec_list_[begin + w];
        ++work_;
        low_enough = !placed_[u] && minoff_[u] <= room;
        if (low_enough) break;
      }
      if (!low_enough) return false;
    }
    return true;
  }

  const problem& p_;
  std::vector<std::size_t> padded_;
  std::vector<std::size_t> sec_begin_;
  std::vector<index_t> sec_list_;
  std::vector<index_t> rank_, rank_log_;
  std::vector<std::size_t> width_, sections_, area_, key_total_;
  std::vector<const std::vector<std::size_t>*> keys_;
  std::vector<char> placed_;
  std::vector<std::size_t> off_, minoff_, solution_, top_, total_;
  std::vector<std::uint32_t> cuts_;
  std::vector<change> minoff_log_, top_log_;
  std::vector<index_t> raised_;          // tensors whose lowest offset the last placement raised
  std::vector<std::uint64_t> seen_;      // per section: stamp_ when checked in this feasible()
  std::vector<std::size_t> witness_;     // per section: where a low enough tensor was last found
  std::uint64_t stamp_ = 0;
  std::size_t capacity_ = 0, nodes_ = 0;
  std::uint64_t limit_ = 0, work_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  bool aborted_ = false;
};

decision_search::decision_search(const problem& p, const char* ranking)
    : s_(std::make_unique<state>(p, ranking)) {}
decision_search::~decision_search() = default;
decision_search::outcome decision_search::run(std::size_t capacity, std::uint64_t work_limit,
                                              std::chrono::steady_clock::time_point deadline) {
  return s_->run(capacity, work_limit, deadline);
}
const std::vector<std::size_t>& decision_search::offsets() const { return s_->offsets(); }
std::size_t decision_search::nodes() const { return s_->nodes(); }
std::uint64_t decision_search::work() const { return s_->work(); }

}  // namespace unimem::detail::placement
