// Order statistics of measurements, one definition for every tool, benchmark and test.
#pragma once

#include <vector>

namespace unimem::support {

/// The `q`-quantile of `samples` (0 <= q <= 1) by linear interpolation between the two closest
/// ranks (Hyndman & Fan type 7, numpy's default): q = 0.5 of an even count is the mean of the two
/// middle values. Reorders `samples`. NaN when `samples` is empty.
/// @throws std::invalid_argument when q is outside [0, 1]
double percentile(std::vector<double>& samples, double q);

/// percentile(samples, 0.5) on a copy.
double median(std::vector<double> samples);

}  // namespace unimem::support
