// Test support: kernels that prove a pointer is usable on the device. Plain C++ declarations so
// test files stay free of CUDA syntax.
#pragma once

#include <cstddef>
#include <cstdint>

#include <unimem/stream.hpp>

namespace unimem::test {

/// Kernel writes `value` into bytes [0, n) of `p`; synchronises; throws cuda_error on failure
/// (an illegal address is how a false device-accessible claim shows up).
void device_fill(void* p, std::size_t n, std::uint8_t value);

/// Kernel writes `value` into bytes [0, n) of `p` on `stream`, without waiting for it.
void device_fill_async(void* p, std::size_t n, std::uint8_t value, stream_view stream);

/// Kernel counts bytes of `p` in [0, n) that differ from `value`; synchronises; throws on failure.
std::size_t device_count_mismatches(const void* p, std::size_t n, std::uint8_t value);

/// Creates the CUDA context when a GPU is present (no-op otherwise). Tests that count descriptors
/// or mappings call it first: the driver opens its device files on first use.
void warm_up_cuda();

/// Runs each kernel above once (on a scratch buffer) and synchronises, so that the kernels are
/// loaded. CUDA loads kernels lazily, at their first launch, and loading one may synchronise the
/// context: a first launch while a stream is held by a host function (a gate the test opens
/// later) would then wait for that stream forever. Call it before holding a stream.
void load_device_kernels();

/// cudaMemcpy wrappers that throw cuda_error, for checking memory the host cannot touch.
void copy_to_host(void* dst, const void* src, std::size_t n);
void copy_to_device(void* dst, const void* src, std::size_t n);

}  // namespace unimem::test
