// Test support: stream-ordered kernels for the movement tests (prefetch, attach, host_access,
// copy, frame_pipeline). Plain declarations so test files stay free of CUDA syntax; each launch
// checks the launch and throws cuda_error, none synchronizes.
#pragma once

#include <cstddef>
#include <cstdint>

#include <unimem/stream.hpp>

namespace unimem::test {

/// out[i] = in[i] + add for i in [0, n), on `stream`.
void launch_add(const void* in, void* out, std::size_t n, std::uint8_t add, stream_view stream);

/// Spins for about `spin_us` microseconds, then writes `value` into [0, n) of `p`, on `stream`:
/// a kernel still running when the host looks, to prove that a guard waited for it.
void launch_slow_fill(void* p, std::size_t n, std::uint8_t value, unsigned spin_us, stream_view stream);

}  // namespace unimem::test
