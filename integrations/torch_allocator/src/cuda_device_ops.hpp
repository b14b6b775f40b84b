// device_ops over the CUDA runtime: the real devices, and an upstream per memory kind.
#pragma once

#include <memory>
#include <optional>

#include <unimem/memory_resource.hpp>

#include "config.hpp"
#include "device_pools.hpp"

namespace unimem::torch_allocator {

/// The allocator's upstream as UNIMEM_TORCH_UPSTREAM chooses it.
std::unique_ptr<device_ops> make_cuda_device_ops(upstream_choice choice);

/// Pools of one memory kind (unimem.empty(kind=...)); host memory touches no CUDA call at all.
std::unique_ptr<device_ops> make_kind_device_ops(memory_kind kind);

/// The memory kind named `name` ("device", "managed", "pinned", "mapped", "host", ...).
std::optional<memory_kind> memory_kind_from_name(std::string_view name) noexcept;

}  // namespace unimem::torch_allocator
