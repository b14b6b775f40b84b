// The short names a benchmark file uses unqualified: `ub` for unimem::bench, its check() and the
// size units. Include it from a benchmark's own .cpp/.cu only: it declares names in the global
// namespace.
#pragma once

#include "support/bench_env.hpp"

namespace ub = unimem::bench;
using ub::check;
using ub::GiB;
using ub::KiB;
using ub::MiB;
