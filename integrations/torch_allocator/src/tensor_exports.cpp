// unimem tensors for Python's DLPack consumers: a tensor from a pool of any memory kind, exported
// (shared) as DLPack structs that the Python package wraps in capsules. Capsules are released by
// a C destructor that calls Python's capsule functions through pointers the package passes in, so
// the library links no Python.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <unimem/error.hpp>
#include <unimem/torch_allocator.h>

#include "c_api.hpp"
#include "cuda_device_ops.hpp"
#include "device_pools.hpp"

#if __has_include(<dlpack/dlpack.h>)
#include <unimem/typed/dlpack.hpp>
#define UNIMEM_TORCH_HAVE_DLPACK 1
#endif

namespace unimem::torch_allocator {
namespace {

constexpr const char* legacy_capsule = "dltensor";
constexpr const char* versioned_capsule = "dltensor_versioned";

using capsule_is_valid_fn = int (*)(void*, const char*);
using capsule_get_pointer_fn = void* (*)(void*, const char*);
std::atomic<capsule_is_valid_fn> g_capsule_is_valid{nullptr};
std::atomic<capsule_get_pointer_fn> g_capsule_get_pointer{nullptr};

#if defined(UNIMEM_TORCH_HAVE_DLPACK)

std::atomic<std::int64_t> g_live_tensors{0};

/// Memory of one kind on one device, through the kind's device_pools (so every call runs with the
/// device current and stops freeing at process exit).
class kind_resource final : public memory_resource {
 public:
  kind_resource(device_pools& pools, int device) : pools_(pools), device_(device), traits_(pools.traits(device)) {}

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment, stream_view stream) override {
    if (alignment > default_alignment) {
      throw std::invalid_argument(fmt::format("unimem_tensor_new: alignment {} is more than the pools' {}", alignment,
                                              default_alignment));
    }
    return pools_.allocate(bytes, device_, stream);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t, stream_view stream) override {
    pools_.deallocate(p, bytes, device_, stream);
  }
  resource_traits do_traits() const noexcept override { return traits_; }
  std::string_view do_name() const noexcept override { return "unimem_torch kind pool"; }

  device_pools& pools_;
  int device_;
  resource_traits traits_;
};

constexpr std::size_t kind_count = 6;

/// Pools and resources per kind and device, made on first use and never destroyed (tensors that
/// Python or PyTorch free at interpreter exit still reach them).
struct kind_pools {
  std::mutex mutex;
  std::array<device_pools*, kind_count> pools{};
  std::array<std::array<kind_resource*, device_pools::max_devices>, kind_count> resources{};
};

kind_pools& registry() {
  static auto* r = new kind_pools;
  return *r;
}

kind_resource& resource_for(memory_kind kind, int device, device_pools*& pools_out) {
  kind_pools& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  const auto k = static_cast<std::size_t>(kind);
  if (r.pools[k] == nullptr) {
    r.pools[k] = new device_pools(config{}, make_kind_device_ops(kind),
                                  fmt::format("unimem.empty(kind='{}')", to_string(kind)));
  }
  pools_out = r.pools[k];
  kind_resource*& slot = r.resources[k][static_cast<std::size_t>(device)];
  if (slot == nullptr) slot = new kind_resource(*r.pools[k], device);
  return *slot;
}

std::optional<dtype> dtype_from_name(std::string_view name) {
  for (dtype t : {dtype::f32, dtype::f16, dtype::bf16, dtype::f64, dtype::i8, dtype::u8, dtype::i16, dtype::i32,
                  dtype::i64, dtype::boolean, dtype::f8_e4m3, dtype::f8_e5m2, dtype::u16, dtype::u32, dtype::u64}) {
    if (to_string(t) == name) return t;
  }
  return std::nullopt;
}

/// The Python handle: one reference to the shared tensor.
struct tensor_handle {
  std::shared_ptr<tensor> t;
};

tensor_handle& handle_of(void* h) {
  if (h == nullptr) throw std::invalid_argument("unimem_tensor: null tensor handle");
  return *static_cast<tensor_handle*>(h);
}

dlpack_devices devices_from(std::int32_t devices) {
  switch (devices) {
    case 0: return dlpack_devices::accepted;
    case 1: return dlpack_devices::exact;
    case 2: return dlpack_devices::host;
    default:
      throw std::invalid_argument(fmt::format("unimem_tensor: devices {} is not 0 (accepted), 1 (exact) or 2 (host)",
                                              devices));
  }
}

/// The kernels' pointer of a tensor's memory, nullptr when no GPU can reach it.
void* device_pointer_of(const tensor& t) {
  const resource_traits& tr = t.traits();
  if (!tr.device_accessible || t.empty()) return nullptr;
  if (tr.kind == memory_kind::device || tr.device_pointer_is_host_pointer) return const_cast<void*>(t.data());
  void* d = nullptr;
  const cudaError_t err = cudaHostGetDevicePointer(&d, const_cast<void*>(t.data()), 0);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw cuda_error(fmt::format("cudaHostGetDevicePointer({})", t.data()), static_cast<int>(err));
  }
  return d;
}

/// Makes the tensor's device current (when it has one) for CUDA calls about it.
struct tensor_device_scope {
  std::optional<device_guard> guard;
  explicit tensor_device_scope(const tensor& t, device_ops& ops) {
    if (t.device() >= 0) guard.emplace(ops, t.device());
  }
};

device_ops& any_cuda_ops() {
  static auto* ops = make_kind_device_ops(memory_kind::device).release();
  return *ops;
}

#endif  // UNIMEM_TORCH_HAVE_DLPACK

#if !defined(UNIMEM_TORCH_HAVE_DLPACK)
[[noreturn]] void no_dlpack(const char* call) {
  throw unsupported_error(fmt::format(
      "{}: libunimem_torch was built without dlpack/dlpack.h; rebuild it with "
      "-DUNIMEM_DLPACK_INCLUDE_DIR=<folder holding dlpack/dlpack.h> (bench/torch/run.sh finds PyTorch's copy)",
      call));
}
#endif

}  // namespace
}  // namespace unimem::torch_allocator

using namespace unimem;                   // NOLINT: the C functions below are this file's API
using namespace unimem::torch_allocator;  // NOLINT

extern "C" {

UNIMEM_TORCH_API int unimem_dlpack_support(void) {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
  return dlpack_has_versioned ? 2 : 1;
#else
  return 0;
#endif
}

UNIMEM_TORCH_API int unimem_tensor_new(const char* kind, const char* dtype_name, int32_t ndim, const int64_t* shape,
                                       int32_t device, uint64_t stream, void** out_tensor) {
  return c_api::guarded([&] {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
    if (out_tensor == nullptr) throw std::invalid_argument("unimem_tensor_new: out_tensor is null");
    *out_tensor = nullptr;
    const std::optional<memory_kind> k = memory_kind_from_name(kind != nullptr ? kind : "");
    if (!k || *k == memory_kind::registered) {
      throw std::invalid_argument(fmt::format(
          "unimem_tensor_new: kind '{}' is not one of device, managed, pinned, mapped, host (registered memory "
          "wraps memory you already have; it has no pool)",
          kind != nullptr ? kind : "(null)"));
    }
    const std::optional<dtype> type = dtype_from_name(dtype_name != nullptr ? dtype_name : "");
    if (!type) {
      throw std::invalid_argument(fmt::format(
          "unimem_tensor_new: dtype '{}' is not one of float32, float16, bfloat16, float64, int8, uint8, int16, "
          "uint16, int32, uint32, int64, uint64, bool, float8_e4m3, float8_e5m2",
          dtype_name != nullptr ? dtype_name : "(null)"));
    }
    if (ndim < 0 || (ndim > 0 && shape == nullptr)) {
      throw std::invalid_argument(fmt::format("unimem_tensor_new: ndim {} with shape {}", ndim,
                                              shape == nullptr ? "null" : "given"));
    }
    if (*k == memory_kind::host) device = 0;  // host memory has no device; one pool serves it
    if (device < 0 || device >= device_pools::max_devices) {
      throw std::invalid_argument(fmt::format("unimem_tensor_new: device {} is out of range", device));
    }
    std::vector<std::int64_t> extents(shape, shape + ndim);
    device_pools* pools = nullptr;
    kind_resource& mr = resource_for(*k, device, pools);
    // tensor::device() records the device current at allocation: make it the one asked for.
    const device_guard guard(pools->ops(), device);
    auto t = std::shared_ptr<tensor>(
        new tensor(std::move(extents), *type, mr, stream_view{reinterpret_cast<CUstream_st*>(stream)}),
        [](tensor* p) {
          delete p;
          g_live_tensors.fetch_sub(1, std::memory_order_relaxed);
        });
    g_live_tensors.fetch_add(1, std::memory_order_relaxed);
    c_api::stop_at_exit(*pools);
    *out_tensor = new tensor_handle{std::move(t)};
    return 0;
#else
    (void)kind, (void)dtype_name, (void)ndim, (void)shape, (void)device, (void)stream, (void)out_tensor;
    no_dlpack("unimem_tensor_new");
#endif
  });
}

UNIMEM_TORCH_API void unimem_tensor_release(void* tensor) {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
  delete static_cast<tensor_handle*>(tensor);
#else
  (void)tensor;
#endif
}

UNIMEM_TORCH_API int unimem_tensor_info_of(void* h, unimem_tensor_info* out, size_t out_size) {
  return c_api::guarded([&] {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
    if (out == nullptr || out_size != sizeof(unimem_tensor_info)) {
      throw std::invalid_argument(fmt::format(
          "unimem_tensor_info_of: the caller's struct has {} bytes, this library's {}: reinstall the Python package "
          "and the library from one build",
          out_size, sizeof(unimem_tensor_info)));
    }
    const tensor& t = *handle_of(h).t;
    out->data = t.empty() ? nullptr : const_cast<void*>(t.data());
    out->device_data = device_pointer_of(t);
    out->nbytes = t.size_bytes();
    out->stream = reinterpret_cast<std::uint64_t>(t.stream().value());
    out->kind = static_cast<std::int32_t>(t.traits().kind);
    out->device = t.device();
    out->host_accessible = t.traits().host_accessible ? 1 : 0;
    out->device_accessible = t.traits().device_accessible ? 1 : 0;
    return 0;
#else
    (void)h, (void)out, (void)out_size;
    no_dlpack("unimem_tensor_info_of");
#endif
  });
}

UNIMEM_TORCH_API int64_t unimem_tensor_live_count(void) {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
  return g_live_tensors.load(std::memory_order_relaxed);
#else
  return 0;
#endif
}

UNIMEM_TORCH_API int unimem_tensor_dlpack_device(void* h, int32_t devices, int32_t* device_type, int32_t* device_id) {
  return c_api::guarded([&] {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
    const tensor& t = *handle_of(h).t;
    const DLDevice d = to_dlpack_device(t.traits(), t.device(), devices_from(devices));
    if (device_type != nullptr) *device_type = static_cast<std::int32_t>(d.device_type);
    if (device_id != nullptr) *device_id = static_cast<std::int32_t>(d.device_id);
    return 0;
#else
    (void)h, (void)devices, (void)device_type, (void)device_id;
    no_dlpack("unimem_tensor_dlpack_device");
#endif
  });
}

UNIMEM_TORCH_API int unimem_tensor_to_dlpack(void* h, int32_t devices, int32_t versioned, int32_t handshake,
                                             uint64_t consumer_stream, void** out_managed) {
  return c_api::guarded([&] {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
    if (out_managed == nullptr) throw std::invalid_argument("unimem_tensor_to_dlpack: out_managed is null");
    *out_managed = nullptr;
    tensor_handle& handle = handle_of(h);
    dlpack_export_options options;
    options.devices = devices_from(devices);
    if (handshake != 0) options.consumer_stream = stream_view{reinterpret_cast<CUstream_st*>(consumer_stream)};
    const tensor& t = *handle.t;
    const tensor_device_scope scope(t, any_cuda_ops());
    if (options.devices == dlpack_devices::accepted) options.device_data = device_pointer_of(t);
    if (versioned != 0) {
#if defined(UNIMEM_DETAIL_DLPACK_VERSIONED)
      *out_managed = to_dlpack_versioned(handle.t, options);
#else
      throw unsupported_error(
          "unimem_tensor_to_dlpack: this library was built with a dlpack.h older than 1.0, which has no "
          "DLManagedTensorVersioned; ask for the legacy struct (versioned = 0)");
#endif
    } else {
      *out_managed = to_dlpack(handle.t, options);
    }
    return 0;
#else
    (void)h, (void)devices, (void)versioned, (void)handshake, (void)consumer_stream, (void)out_managed;
    no_dlpack("unimem_tensor_to_dlpack");
#endif
  });
}

UNIMEM_TORCH_API void unimem_dlpack_delete(void* managed, int32_t versioned) {
#if defined(UNIMEM_TORCH_HAVE_DLPACK)
  if (managed == nullptr) return;
#if defined(UNIMEM_DETAIL_DLPACK_VERSIONED)
  if (versioned != 0) {
    auto* m = static_cast<DLManagedTensorVersioned*>(managed);
    if (m->deleter != nullptr) m->deleter(m);
    return;
  }
#endif
  (void)versioned;
  auto* m = static_cast<DLManagedTensor*>(managed);
  if (m->deleter != nullptr) m->deleter(m);
#else
  (void)managed, (void)versioned;
#endif
}

UNIMEM_TORCH_API int unimem_dlpack_bind_python(void* capsule_is_valid, void* capsule_get_pointer) {
  return c_api::guarded([&] {
    if (capsule_is_valid == nullptr || capsule_get_pointer == nullptr) {
      throw std::invalid_argument("unimem_dlpack_bind_python: pass the addresses of PyCapsule_IsValid and "
                                  "PyCapsule_GetPointer (ctypes.pythonapi)");
    }
    g_capsule_is_valid.store(reinterpret_cast<capsule_is_valid_fn>(capsule_is_valid));
    g_capsule_get_pointer.store(reinterpret_cast<capsule_get_pointer_fn>(capsule_get_pointer));
    return 0;
  });
}

UNIMEM_TORCH_API void unimem_dlpack_capsule_destructor(void* capsule) {
  // Runs while Python destroys the capsule, with the GIL held. A consumer that took the tensor
  // renamed the capsule ("used_dltensor") and owns the deleter call; otherwise it is ours.
  const capsule_is_valid_fn is_valid = g_capsule_is_valid.load();
  const capsule_get_pointer_fn get_pointer = g_capsule_get_pointer.load();
  if (capsule == nullptr || is_valid == nullptr || get_pointer == nullptr) return;
  if (is_valid(capsule, legacy_capsule) != 0) {
    unimem_dlpack_delete(get_pointer(capsule, legacy_capsule), 0);
  } else if (is_valid(capsule, versioned_capsule) != 0) {
    unimem_dlpack_delete(get_pointer(capsule, versioned_capsule), 1);
  }
}

UNIMEM_TORCH_API const char* unimem_dlpack_capsule_name(int32_t versioned) {
  return versioned != 0 ? versioned_capsule : legacy_capsule;
}

}  // extern "C"
