// Synthetic planning families (see include/unimem/planning/plan_families.hpp).
#include <unimem/planning/plan_families.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include <unimem/error.hpp>

namespace unimem {
namespace {

/// splitmix64: the same numbers on every platform (the standard distributions are not).
class rng64 {
 public:
  explicit rng64(std::uint64_t seed) : x_(seed) {}
  std::uint64_t operator()() {
    std::uint64_t z = (x_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + static_cast<std::size_t>((*this)() % (hi - lo + 1)); }
  double unit() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  /// 2^U(lo_log2, hi_log2), rounded down to a multiple of `granule`, at least one granule.
  std::size_t log_uniform(double lo_log2, double hi_log2, std::size_t granule = 1) {
    const auto v = static_cast<std::size_t>(std::exp2(lo_log2 + (hi_log2 - lo_log2) * unit()));
    return std::max(granule, v / granule * granule);
  }

 private:
  std::uint64_t x_;
};

using lifetimes = std::vector<tensor_lifetime>;

/// Scopes as a random walk: open (a tensor starts) with probability p_open, else close the
/// innermost open scope. Every event is an op.
lifetimes nested(std::size_t n, double p_open, rng64& rng) {
  lifetimes out(n);
  std::vector<std::size_t> open;
  std::size_t opened = 0, op = 0;
  while (opened < n || !open.empty()) {
    const bool must_open = open.empty();
    const bool may_open = opened < n;
    if (may_open && (must_open || rng.unit() < p_open)) {
      out[opened] = {rng.log_uniform(8, 20), op, op, 1};
      open.push_back(opened++);
    } else {
      out[open.back()].last_op = op;
      open.pop_back();
    }
    ++op;
  }
  return out;
}

/// Back-to-back tensors from op `from` on, durations in [1, max_ops], sizes from `size`.
template <class Size>
void chain(lifetimes& out, std::size_t count, std::size_t from, std::size_t max_ops, rng64& rng, Size&& size) {
  std::size_t op = from;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t d = rng.between(1, max_ops);
    out.push_back({size(), op, op + d - 1, 1});
    op += d;
  }
}

lifetimes two_sided(std::size_t n, rng64& rng) {
  lifetimes out;
  out.reserve(n);
  auto size = [&] { return rng.log_uniform(10, 22); };
  chain(out, n / 2, 0, 16, rng, size);
  chain(out, n - n / 2, rng.between(0, 8), 16, rng, size);
  return out;
}

/// Lifetimes starting uniformly over n ops, of `duration()` ops, of `size()` bytes.
template <class Duration, class Size>
lifetimes scattered(std::size_t n, rng64& rng, Duration&& duration, Size&& size) {
  lifetimes out(n);
  for (auto& t : out) {
    t.first_op = rng.between(0, n);
    t.last_op = t.first_op + duration() - 1;
    t.bytes = size();
  }
  return out;
}

/// k levels over one horizon; level i is cut at its own random times into tensors of its height.
lifetimes levels(std::size_t n, rng64& rng, std::size_t& optimum) {
  const std::size_t k = std::min<std::size_t>(n, rng.between(2, 16));
  const std::size_t horizon = 4 * n + 16;
  lifetimes out;
  out.reserve(n);
  optimum = 0;
  for (std::size_t level = 0; level < k; ++level) {
    const std::size_t height = rng.between(1, 256) * 4096;
    optimum += height;
    const std::size_t count = n / k + (level < n % k ? 1 : 0);
    std::vector<std::size_t> cuts;
    while (cuts.size() + 1 < count) {
      cuts.push_back(rng.between(1, horizon - 1));
      if (cuts.size() + 1 == count) {  // keep them distinct
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
      }
    }
    std::size_t from = 0;
    cuts.push_back(horizon);
    for (std::size_t c : cuts) {
      out.push_back({height, from, c - 1, 1});
      from = c;
    }
  }
  return out;
}

/// A horizon x height rectangle cut in time or in bytes, one random piece at a time.
lifetimes guillotine(std::size_t n, rng64& rng, std::size_t& optimum) {
  struct piece {
    std::size_t t0, t1, b0, b1;  // [t0, t1) ops, [b0, b1) units of 256 B
  };
  constexpr std::size_t unit = 256;
  const std::size_t horizon = 8 * n + 16, height = std::size_t{1} << 22;
  std::vector<piece> pieces{{0, horizon, 0, height}};
  pieces.reserve(n);
  for (std::size_t tries = 0; pieces.size() < n && tries < 64 * n; ++tries) {
    const std::size_t i = rng.between(0, pieces.size() - 1);
    const piece p = pieces[i];
    const std::size_t w = p.t1 - p.t0, h = p.b1 - p.b0;
    const bool in_time = rng.unit() < 0.5 ? w >= 2 : h < 2;
    if (in_time && w >= 2) {
      const std::size_t c = p.t0 + rng.between(1, w - 1);
      pieces[i].t1 = c;
      pieces.push_back({c, p.t1, p.b0, p.b1});
    } else if (!in_time && h >= 2) {
      const std::size_t c = p.b0 + rng.between(1, h - 1);
      pieces[i].b1 = c;
      pieces.push_back({p.t0, p.t1, c, p.b1});
    }
  }
  optimum = height * unit;
  lifetimes out;
  out.reserve(pieces.size());
  for (const piece& p : pieces) out.push_back({(p.b1 - p.b0) * unit, p.t0, p.t1 - 1, 1});
  return out;
}

/// Decoding: per step and layer, the key and value caches grow by one token through
/// concatenation (new tensor, then the old one freed), between transient activations.
lifetimes growing_cache(std::size_t n, rng64& rng) {
  const std::size_t layers = rng.between(4, 24), hidden = 64 * rng.between(8, 32);
  const std::size_t batch = rng.between(1, 8), token_bytes = batch * hidden * 2;  // fp16
  lifetimes out;
  out.reserve(n);
  std::size_t op = 0;
  auto alloc = [&](std::size_t bytes) {
    out.push_back({bytes, op, op, 1});
    ++op;
    return out.size() - 1;
  };
  auto release = [&](std::size_t i) { out[i].last_op = op++; };
  std::vector<std::size_t> weights;
  for (std::size_t l = 0; l < layers && out.size() < n; ++l) weights.push_back(alloc(12 * hidden * hidden * 2));
  std::vector<std::size_t> cache_k(layers, SIZE_MAX), cache_v(layers, SIZE_MAX);
  const std::size_t prompt = rng.between(8, 64);
  for (std::size_t step = 1; out.size() + 16 <= n; ++step) {
    std::size_t x = alloc(token_bytes);  // hidden state of the new token
    for (std::size_t l = 0; l < layers && out.size() + 16 <= n; ++l) {
      const std::size_t len = prompt + step;
      const std::size_t q = alloc(token_bytes), k = alloc(token_bytes), v = alloc(token_bytes);
      const std::size_t nk = alloc(len * token_bytes);
      if (cache_k[l] != SIZE_MAX) release(cache_k[l]);
      release(k);
      const std::size_t nv = alloc(len * token_bytes);
      if (cache_v[l] != SIZE_MAX) release(cache_v[l]);
      release(v);
      cache_k[l] = nk;
      cache_v[l] = nv;
      const std::size_t scores = alloc(batch * 12 * len * 2);
      release(q);
      const std::size_t ctx = alloc(token_bytes);
      release(scores);
      const std::size_t mlp = alloc(4 * token_bytes);
      release(ctx);
      const std::size_t y = alloc(token_bytes);
      release(mlp);
      release(x);
      x = y;
    }
    release(x);
  }
  // The last caches and the weights are freed at the end; pad with transients to exactly n.
  while (out.size() < n) release(alloc(token_bytes));
  for (std::size_t l = 0; l < layers; ++l) {
    if (cache_k[l] != SIZE_MAX) release(cache_k[l]);
    if (cache_v[l] != SIZE_MAX) release(cache_v[l]);
  }
  for (std::size_t w : weights) release(w);
  for (auto& t : out) t.last_op = std::max(t.last_op, t.first_op);
  return out;
}

}  // namespace

std::vector<std::string> plan_family_names() {
  return {"nested", "deep_nesting", "two_sided", "equal_sizes", "levels",
          "guillotine", "growing_cache", "few_sizes", "random"};
}

plan_family_instance make_plan_family(const std::string& family, std::size_t tensors, std::uint64_t seed) {
  const std::vector<std::string> names = plan_family_names();
  if (std::find(names.begin(), names.end(), family) == names.end()) {
    std::string known;
    for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
    throw std::invalid_argument(
        fmt::format("unimem::make_plan_family: unknown family '{}'; use one of {}", printable(family, 80), known));
  }
  if (tensors == 0 || tensors > max_plan_family_tensors) {
    throw std::invalid_argument(fmt::format("unimem::make_plan_family({}, {}): ask for 1 to {} tensors", family,
                                            tensors, max_plan_family_tensors));
  }
  std::uint64_t name_hash = 1469598103934665603ull;  // FNV-1a: the same on every platform
  for (char c : family) name_hash = (name_hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  rng64 rng(seed * 0x2545F4914F6CDD1Dull ^ name_hash);
  plan_family_instance out;
  out.family = family;
  if (family == "nested") out.tensors = nested(tensors, 0.5, rng);
  else if (family == "deep_nesting") out.tensors = nested(tensors, 0.95, rng);
  else if (family == "two_sided") out.tensors = two_sided(tensors, rng);
  else if (family == "equal_sizes") {
    out.tensors = scattered(tensors, rng, [&] { return rng.between(1, 64); }, [] { return std::size_t{65536}; });
  }
  else if (family == "levels") out.tensors = levels(tensors, rng, out.optimum);
  else if (family == "guillotine") out.tensors = guillotine(tensors, rng, out.optimum);
  else if (family == "growing_cache") out.tensors = growing_cache(tensors, rng);
  else if (family == "few_sizes") {
    static constexpr std::size_t units[] = {1, 2, 3, 4, 6, 8};
    out.tensors = scattered(tensors, rng, [&] { return rng.log_uniform(0, 10); },
                            [&] { return units[rng.between(0, 5)] * 65536; });
  } else if (family == "random") {
    out.tensors = scattered(tensors, rng, [&] { return rng.between(1, 24); }, [&] { return rng.log_uniform(8, 24); });
  }
  const bool exact = family == "nested" || family == "deep_nesting" || family == "two_sided" || family == "equal_sizes";
  if (exact) out.optimum = lower_bound_bytes(out.tensors);
  return out;
}

}  // namespace unimem
