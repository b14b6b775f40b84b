// Recombination of tensors into rectangles (see merge.hpp).
#include "detail/placement/merge.hpp"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "detail/size_math.hpp"

namespace unimem::detail::placement {
namespace {

class recombiner {
 public:
  explicit recombiner(const problem& p)
      : p_(p), parent_(p.n), offset_(p.n, 0), size_(p.size), align_(p.align), s_(p.s), e_(p.e),
        first_(p.first), last_(p.last), alive_(p.n, 1) {
    for (index_t k = 0; k < p.n; ++k) parent_[k] = k;
  }

  recombination run() {
    for (index_t k = 0; k < p_.n; ++k) link(k);
    while (!queue_.empty()) {
      const index_t k = queue_.back();
      queue_.pop_back();
      if (alive_[k]) examine(k);
    }
    recombination out;
    if (merges_ == 0) return out;
    std::vector<index_t> group(p_.n, 0);
    for (index_t k = 0; k < p_.n; ++k) {
      if (parent_[k] == k) {
        group[k] = static_cast<index_t>(out.groups.size());
        out.groups.push_back({size_[k], first_[k], last_[k], align_[k]});
      }
    }
    out.group_of.resize(p_.n);
    out.within.resize(p_.n);
    for (index_t k = 0; k < p_.n; ++k) {
      const index_t r = find(k);
      out.group_of[k] = group[r];
      out.within[k] = offset_[k];
    }
    return out;
  }

 private:
  /// How many rectangles of one size (and alignment) end, or start, at one section, and the sum
  /// of their ids: the id when there is exactly one.
  struct bucket {
    std::uint32_t count = 0;
    std::uint64_t sum = 0;
  };
  struct key_hash {
    std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& k) const noexcept {
      return static_cast<std::size_t>((k.first * 0x9E3779B97F4A7C15ull) ^ (k.second + 0x632BE59BD9B4E019ull + (k.first << 6)));
    }
  };
  using bucket_map = std::unordered_map<std::pair<std::uint64_t, std::uint64_t>, bucket, key_hash>;

  std::pair<std::uint64_t, std::uint64_t> key(index_t section, index_t k) const {
    return {(std::uint64_t{section} << 8) | static_cast<std::uint64_t>(__builtin_ctzll(align_[k])), size_[k]};
  }

  /// Applies the rules to rectangle k: a rectangle with its lifetime is stacked on it (a cut in
  /// bytes undone); the only rectangle of its size ending right before it, if it is the only one
  /// of that size starting there, hands it its place, and the same forward (cuts in time).
  void examine(index_t k) {
    const std::uint64_t life = (std::uint64_t{s_[k]} << 32) | e_[k];
    if (auto [it, fresh] = by_lifetime_.emplace(life, k); !fresh && it->second != k) {
      stack(it->second, k);
      return;
    }
    if (e_[k] + 1 < p_.sections) {
      const auto ends = end_.find(key(e_[k], k));
      const auto starts = start_.find(key(e_[k] + 1, k));
      if (ends != end_.end() && ends->second.count == 1 && starts != start_.end() && starts->second.count == 1) {
        chain(k, static_cast<index_t>(starts->second.sum));
        return;
      }
    }
    if (s_[k] > 0) {
      const auto ends = end_.find(key(s_[k] - 1, k));
      const auto starts = start_.find(key(s_[k], k));
      if (ends != end_.end() && ends->second.count == 1 && starts != start_.end() && starts->second.count == 1) {
        chain(static_cast<index_t>(ends->second.sum), k);
      }
    }
  }

  void chain(index_t x, index_t y) {
    unlink(x);
    unlink(y);
    attach(y, x, 0);
    e_[x] = e_[y];
    last_[x] = last_[y];
    link(x);
  }

  void stack(index_t base, index_t k) {
    unlink(base);
    unlink(k);
    const std::size_t at = align_up(size_[base], align_[k]);
    attach(k, base, at);
    size_[base] = at + size_[k];
    align_[base] = std::max(align_[base], align_[k]);
    first_[base] = std::min(first_[base], first_[k]);
    last_[base] = std::max(last_[base], last_[k]);
    link(base);
  }

  /// Root of k, compressing the path; offset_[k] becomes k's offset inside its root.
  index_t find(index_t k) {
    index_t r = k;
    std::size_t total = 0;
    while (parent_[r] != r) {
      total += offset_[r];
      r = parent_[r];
    }
    while (parent_[k] != k) {  // second pass: every node on the path points at the root
      const index_t up = parent_[k];
      const std::size_t own = offset_[k];
      parent_[k] = r;
      offset_[k] = total;
      total -= own;
      k = up;
    }
    return r;
  }

  void attach(index_t child, index_t root, std::size_t at) {
    parent_[child] = root;
    offset_[child] = at;
    alive_[child] = 0;
    ++merges_;
  }

  void link(index_t k) {
    auto& ends = end_[key(e_[k], k)];
    ++ends.count;
    ends.sum += k;
    auto& starts = start_[key(s_[k], k)];
    ++starts.count;
    starts.sum += k;
    // k and the rectangles it may now match.
    queue_.push_back(k);
    if (starts.count == 1 && s_[k] > 0) {
      const auto before = end_.find(key(s_[k] - 1, k));
      if (before != end_.end() && before->second.count == 1) queue_.push_back(static_cast<index_t>(before->second.sum));
    }
  }

  void unlink(index_t k) {
    auto& ends = end_[key(e_[k], k)];
    --ends.count;
    ends.sum -= k;
    auto& starts = start_[key(s_[k], k)];
    --starts.count;
    starts.sum -= k;
    auto it = by_lifetime_.find((std::uint64_t{s_[k]} << 32) | e_[k]);
    if (it != by_lifetime_.end() && it->second == k) by_lifetime_.erase(it);
  }

  const problem& p_;
  std::vector<index_t> parent_;
  std::vector<std::size_t> offset_;
  std::vector<std::size_t> size_, align_;
  std::vector<index_t> s_, e_;
  std::vector<std::size_t> first_, last_;
  std::vector<char> alive_;
  bucket_map end_, start_;
  std::unordered_map<std::uint64_t, index_t> by_lifetime_;
  std::vector<index_t> queue_;
  std::size_t merges_ = 0;
};

}  // namespace

recombination recombine(const problem& p) { return recombiner(p).run(); }

}  // namespace unimem::detail::placement
