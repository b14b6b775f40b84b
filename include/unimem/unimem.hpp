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
#include <unimem/policy.hpp>
#include <unimem/system_memory.hpp>
#include <unimem/tag.hpp>
#include <unimem/trace.hpp>
#include <unimem/stream_events.hpp>
#include <unimem/pool_resource.hpp>
#include <unimem/fixed_block_pool.hpp>
#include <unimem/arena_resource.hpp>
#include <unimem/statistics_resource.hpp>
#include <unimem/limiting_resource.hpp>
#include <unimem/fallback_resource.hpp>
#include <unimem/logging_resource.hpp>
#include <unimem/synchronized_resource.hpp>
