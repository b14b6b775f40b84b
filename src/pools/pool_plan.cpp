#include "pools/pool_plan.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <numeric>

#include "detail/size_math.hpp"

namespace unimem::detail {
namespace {

/// For every interval, the intervals live at the same time (both directions), in compressed
/// rows. O(n log n + pairs): a sweep over the allocate and free times.
struct overlaps {
  std::vector<std::uint32_t> begin;
  std::vector<std::uint32_t> list;
  std::size_t peak_bytes = 0;  // most bytes live at once: no layout can be smaller
  bool too_many = false;       // more pairs than planning is worth
};

// 2 M pairs: 16 MiB of lists and a fraction of a second of planning at most.
constexpr std::size_t max_overlap_pairs = std::size_t{2} << 20;

overlaps time_overlaps(const std::vector<planned_interval>& iv) {
  const auto n = static_cast<std::uint32_t>(iv.size());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> events;  // (time, 2 * i + is_end)
  events.reserve(2 * iv.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    events.emplace_back(iv[i].start, 2 * i);
    events.emplace_back(iv[i].end, 2 * i + 1);
  }
  std::sort(events.begin(), events.end());
  overlaps out;
  std::vector<std::uint32_t> degree(n, 0);
  std::vector<std::uint32_t> live, where(n, 0);
  auto sweep = [&](auto&& pair) {
    live.clear();
    std::size_t bytes = 0;
    for (const auto& [time, code] : events) {
      const std::uint32_t i = code / 2;
      if (code % 2 == 0) {
        for (std::uint32_t j : live) pair(i, j);
        where[i] = static_cast<std::uint32_t>(live.size());
        live.push_back(i);
        bytes += iv[i].bytes;
        out.peak_bytes = std::max(out.peak_bytes, bytes);
      } else {
        bytes -= iv[i].bytes;
        const std::uint32_t k = where[i];
        live[k] = live.back();
        where[live[k]] = k;
        live.pop_back();
      }
    }
  };
  std::size_t pairs = 0;
  sweep([&](std::uint32_t i, std::uint32_t j) {
    ++degree[i];
    ++degree[j];
    ++pairs;
  });
  if (pairs > max_overlap_pairs) {
    out.too_many = true;
    return out;
  }
  out.begin.assign(n + 1, 0);
  for (std::uint32_t i = 0; i < n; ++i) out.begin[i + 1] = out.begin[i] + degree[i];
  out.list.resize(out.begin[n]);
  std::vector<std::uint32_t> fill(out.begin.begin(), out.begin.end() - 1);
  sweep([&](std::uint32_t i, std::uint32_t j) {
    out.list[fill[i]++] = j;
    out.list[fill[j]++] = i;
  });
  return out;
}

layout place_in_order(const std::vector<planned_interval>& iv, const overlaps& ov,
                      const std::vector<std::uint32_t>& order) {
  layout out;
  out.offsets.assign(iv.size(), 0);
  std::vector<std::uint8_t> placed(iv.size(), 0);
  std::vector<std::pair<std::size_t, std::size_t>> taken;  // (offset, end) of placed neighbours in time
  for (std::uint32_t i : order) {
    const planned_interval& a = iv[i];
    taken.clear();
    for (std::uint32_t k = ov.begin[i]; k < ov.begin[i + 1]; ++k) {
      const std::uint32_t j = ov.list[k];
      if (placed[j]) taken.emplace_back(out.offsets[j], out.offsets[j] + iv[j].bytes);
    }
    std::sort(taken.begin(), taken.end());
    std::size_t candidate = 0;
    for (const auto& [lo, hi] : taken) {
      if (candidate + a.bytes <= lo) break;  // fits in the gap below
      candidate = std::max(candidate, align_up(hi, a.alignment));
    }
    out.offsets[i] = candidate;
    out.size = std::max(out.size, candidate + a.bytes);
    placed[i] = 1;
  }
  return out;
}

}  // namespace

layout plan_layout(const std::vector<planned_interval>& iv) {
  std::vector<std::uint32_t> order(iv.size());
  std::iota(order.begin(), order.end(), 0u);
  // Largest first: big blocks get the low offsets and small ones fill the holes around them.
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t x, std::uint32_t y) { return iv[x].bytes > iv[y].bytes; });
  const overlaps ov = time_overlaps(iv);
  if (ov.too_many) return layout{};
  layout best = place_in_order(iv, ov, order);
  if (best.size <= ov.peak_bytes) return best;  // already the lower bound
  // Largest area (bytes x lifetime) first: long-lived blocks stop pinning the middle of the range.
  // Greedy-by-size alone ends 21 % above the lower bound on some graphs; this order fixes those.
  auto area = [&](std::uint32_t k) { return static_cast<double>(iv[k].bytes) * (iv[k].end - iv[k].start); };
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t x, std::uint32_t y) { return area(x) > area(y); });
  layout second = place_in_order(iv, ov, order);
  if (second.size < best.size) best = std::move(second);
  return best;
}

}  // namespace unimem::detail

namespace unimem::detail {

predecessor_lists plan_predecessors(const std::vector<std::size_t>& offsets, const std::vector<planned_interval>& iv) {
  constexpr std::uint32_t nobody = ~std::uint32_t{0};
  // Painter's sweep over the region: segment start -> allocation that last covered it.
  std::map<std::size_t, std::uint32_t> owner{{0, nobody}};
  auto split_at = [&](std::size_t at) {
    auto it = owner.upper_bound(at);
    --it;
    if (it->first != at) owner.emplace_hint(std::next(it), at, it->second);
  };
  predecessor_lists out;
  out.begin.reserve(offsets.size() + 1);
  out.begin.push_back(0);
  for (std::uint32_t j = 0; j < offsets.size(); ++j) {
    const std::size_t lo = offsets[j], hi = offsets[j] + iv[j].bytes;
    split_at(lo);
    split_at(hi);
    auto first = owner.find(lo);
    auto last = owner.find(hi);
    const std::size_t mark = out.list.size();
    for (auto it = first; it != last; ++it) {
      if (it->second != nobody &&
          std::find(out.list.begin() + static_cast<std::ptrdiff_t>(mark), out.list.end(), it->second) == out.list.end()) {
        out.list.push_back(it->second);
      }
    }
    owner.erase(std::next(first), last);
    first->second = j;
    out.begin.push_back(static_cast<std::uint32_t>(out.list.size()));
  }
  return out;
}

}  // namespace unimem::detail
