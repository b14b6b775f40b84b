// The per-frame work of the example, as plain C++ declarations (main.cpp stays free of CUDA syntax).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace camera {

/// Launches the in-place kernel on `stream`: checks every pixel against the producer's synthetic
/// pattern (pixel (x, y) of frame `seq` is R = x + seq, G = y + seq, B = x + y, each mod 256)
/// (adding the pixels that differ to *mismatches, a device counter) and turns the frame to grey.
/// `rgb` is any pointer a kernel may use: a registered shared-memory slot or device memory.
void launch_process_frame(std::uint8_t* rgb, int width, int height, std::uint64_t seq,
                          unsigned long long* mismatches, cudaStream_t stream);

}  // namespace camera
