#include "pools/pool_plan.hpp"

#include <algorithm>
#include <iterator>
#include <map>

#include "detail/placement/placer.hpp"

namespace unimem::detail {

layout plan_layout(const std::vector<planned_interval>& iv) {
  // [start, end) in call indices becomes an inclusive lifetime. Each call index holds one event,
  // so an interval freed at call t and one allocated at call t cannot both exist; an allocation
  // never freed in the iteration (end == start) is live at its own call.
  std::vector<placement::lifetime> items(iv.size());
  for (std::size_t i = 0; i < iv.size(); ++i) {
    items[i] = {iv[i].bytes, iv[i].start, iv[i].end > iv[i].start ? iv[i].end - 1u : iv[i].start, iv[i].alignment};
  }
  // Planning runs inside the call that empties the pool: the greedy portfolio, no search.
  placement::options opts;
  opts.search_work = 0;
  placement::placement placed = placement::place(items, opts);
  layout out;
  out.offsets = std::move(placed.offsets);
  out.size = placed.arena;
  return out;
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
