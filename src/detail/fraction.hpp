// Internal: a fraction of a byte count, for budgets with headroom. Not installed.
#pragma once

#include <cmath>
#include <cstddef>

namespace unimem::detail {

/// ceil(bytes x fraction) for fraction in [0, 1], except that a product within a millionth of a
/// byte of an integer is that integer: 0.2 is not exact in binary, and 20% of 5 000 000 000 B
/// should be 1 000 000 000 B, not one more.
inline std::size_t fraction_of(std::size_t bytes, double fraction) {
  const long double exact = static_cast<long double>(bytes) * static_cast<long double>(fraction);
  const long double nearest = std::nearbyint(exact);
  const long double r = std::fabs(exact - nearest) < 1e-6L ? nearest : std::ceil(exact);
  if (r <= 0) return 0;
  if (r >= static_cast<long double>(bytes)) return bytes;
  return static_cast<std::size_t>(r);
}

}  // namespace unimem::detail
