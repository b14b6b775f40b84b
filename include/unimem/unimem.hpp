/// @file unimem.hpp
/// @brief Everything public in unimem.
#pragma once

#include <unimem/version.hpp>
#include <unimem/error.hpp>
#include <unimem/stream.hpp>
#include <unimem/device_profile.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/host_resource.hpp>
#include <unimem/device_resource.hpp>
#include <unimem/managed_resource.hpp>
#include <unimem/pinned_resource.hpp>
#include <unimem/mapped_resource.hpp>
#include <unimem/registered_resource.hpp>
#include <unimem/dtype.hpp>
#include <unimem/span.hpp>
#include <unimem/tensor_view.hpp>
#include <unimem/buffer.hpp>
#include <unimem/tensor.hpp>
#include <unimem/tensor_bytes.hpp>
#include <unimem/policy.hpp>
#include <unimem/system_memory.hpp>
#include <unimem/cuda_calls.hpp>
#include <unimem/prefetch.hpp>
#include <unimem/host_access.hpp>
#include <unimem/copy.hpp>
#include <unimem/pipeline.hpp>
#include <unimem/nvtx.hpp>
#include <unimem/pcie.hpp>
#include <unimem/dmabuf.hpp>
#include <unimem/frame_ring.hpp>
#include <unimem/planner.hpp>
#include <unimem/planned_arena.hpp>
#include <unimem/estimator.hpp>
#include <unimem/usage_publisher.hpp>
