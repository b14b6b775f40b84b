#include <unimem_support/stats.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace unimem::support {

double percentile(std::vector<double>& samples, double q) {
  if (!(q >= 0.0 && q <= 1.0)) {
    throw std::invalid_argument(fmt::format("unimem::support::percentile(q = {}): q must be from 0 to 1", q));
  }
  if (samples.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double rank = q * static_cast<double>(samples.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto lo_it = samples.begin() + static_cast<std::ptrdiff_t>(lo);
  std::nth_element(samples.begin(), lo_it, samples.end());
  const double low = *lo_it;
  const double fraction = rank - static_cast<double>(lo);
  if (fraction == 0.0 || lo + 1 == samples.size()) return low;
  const double high = *std::min_element(lo_it + 1, samples.end());  // the next order statistic
  return low + fraction * (high - low);
}

double median(std::vector<double> samples) { return percentile(samples, 0.5); }

}  // namespace unimem::support
