/// @file dlpack.hpp
/// @brief DLPack export (to_dlpack) and import (from_dlpack) of tensors: hand a unimem tensor to
/// PyTorch, CuPy, JAX or TVM without a copy, or view theirs.
///
/// Optional and header-only: it needs <dlpack/dlpack.h> (Debian/Ubuntu: libdlpack-dev, version
/// 0.6; or any copy of the header, 0.6 through 1.x) and nothing else, so the library itself does
/// not depend on DLPack. What the header version offers is used when present:
/// DLManagedTensorVersioned and the read-only flag (1.0), kDLBool (0.8), fp8 codes (1.1).
///
/// Device types (dlpack_devices): by default every memory a kernel can reach is exported as
/// kDLCUDA through its device pointer — device, managed, pinned, mapped and registered memory —
/// and host-only memory as kDLCPU, which is what PyTorch, JAX and TensorFlow import;
/// dlpack_devices::exact keeps the kinds (kDLCUDAHost, kDLCUDAManaged) for consumers that take
/// them (CuPy); dlpack_devices::host gives the CPU's view (kDLCPU) of host-accessible memory.
///
/// Streams: DLPack's C structs carry no stream; the Python protocol's handshake
/// (`__dlpack__(stream=...)`) is dlpack_export_options::consumer_stream: the consumer's stream
/// waits for the tensor's, and the memory is freed on the consumer's stream when the consumer
/// calls the deleter. Without it, order the streams yourself before the consumer uses the tensor.
#pragma once

#if defined(__has_include)
#if !__has_include(<dlpack/dlpack.h>)
#error "unimem/dlpack.hpp needs <dlpack/dlpack.h>: install libdlpack-dev, or configure unimem with -DUNIMEM_DLPACK_INCLUDE_DIR=<folder that holds dlpack/dlpack.h> (or add that folder to your include path)"
#endif
#endif

#include <dlpack/dlpack.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <unimem/typed/dtype.hpp>
#include <unimem/error.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/stream.hpp>
#include <unimem/typed/tensor.hpp>
#include <unimem/typed/tensor_bytes.hpp>
#include <unimem/typed/tensor_view.hpp>

// What this dlpack.h offers. Preprocessor tests because the enumerators themselves are missing
// from older headers; use the constexpr flags below in code.
#if defined(DLPACK_MAJOR_VERSION)
#define UNIMEM_DETAIL_DLPACK_VERSIONED 1
#define UNIMEM_DETAIL_DLPACK_BOOL 1
#if DLPACK_MAJOR_VERSION > 1 || (DLPACK_MAJOR_VERSION == 1 && DLPACK_MINOR_VERSION >= 1)
#define UNIMEM_DETAIL_DLPACK_FP8 1
#endif
#elif defined(DLPACK_VERSION) && DLPACK_VERSION >= 80
#define UNIMEM_DETAIL_DLPACK_BOOL 1
#endif

namespace unimem {

#if defined(UNIMEM_DETAIL_DLPACK_VERSIONED)
/// @brief This dlpack.h has DLManagedTensorVersioned (DLPack 1.0 and later).
inline constexpr bool dlpack_has_versioned = true;
#else
inline constexpr bool dlpack_has_versioned = false;
#endif
#if defined(UNIMEM_DETAIL_DLPACK_BOOL)
/// @brief This dlpack.h has kDLBool (DLPack 0.8 and later).
inline constexpr bool dlpack_has_bool = true;
#else
inline constexpr bool dlpack_has_bool = false;
#endif
#if defined(UNIMEM_DETAIL_DLPACK_FP8)
/// @brief This dlpack.h has the fp8 type codes (DLPack 1.1 and later).
inline constexpr bool dlpack_has_fp8 = true;
#else
inline constexpr bool dlpack_has_fp8 = false;
#endif

namespace detail {

inline std::string dlpack_type_text(DLDataType t) {
  return "{code " + std::to_string(t.code) + ", bits " + std::to_string(t.bits) + ", lanes " +
         std::to_string(t.lanes) + "}";
}

inline std::string dlpack_header_version() {
#if defined(DLPACK_MAJOR_VERSION)
  return std::to_string(DLPACK_MAJOR_VERSION) + "." + std::to_string(DLPACK_MINOR_VERSION);
#elif defined(DLPACK_VERSION)
  return std::to_string(DLPACK_VERSION / 100) + "." + std::to_string(DLPACK_VERSION % 100 / 10);
#else
  return "unknown";
#endif
}

}  // namespace detail

/// @brief Most dimensions from_dlpack imports. DLPack sets no limit, but ndim says how far the
/// producer's shape and strides arrays are read, so a corrupt value must not be believed; no
/// framework makes tensors of more dimensions (NumPy and PyTorch stop at 64).
inline constexpr std::int32_t dlpack_max_rank = 64;

/// @brief The DLPack data type of a dtype.
/// @throws unsupported_error bool before DLPack 0.8 and fp8 before 1.1 (this dlpack.h cannot say
///         them; exporting bool as uint8 would silently change its type for the consumer)
inline DLDataType to_dlpack_dtype(dtype type) {
  const auto bits = static_cast<std::uint8_t>(size_of(type) * 8);
  switch (type) {
    case dtype::f16:
    case dtype::f32:
    case dtype::f64: return {static_cast<std::uint8_t>(kDLFloat), bits, 1};
    case dtype::bf16: return {static_cast<std::uint8_t>(kDLBfloat), bits, 1};
    case dtype::i8:
    case dtype::i16:
    case dtype::i32:
    case dtype::i64: return {static_cast<std::uint8_t>(kDLInt), bits, 1};
    case dtype::u8:
    case dtype::u16:
    case dtype::u32:
    case dtype::u64: return {static_cast<std::uint8_t>(kDLUInt), bits, 1};
    case dtype::boolean:
#if defined(UNIMEM_DETAIL_DLPACK_BOOL)
      return {static_cast<std::uint8_t>(kDLBool), 8, 1};
#else
      break;
#endif
    case dtype::f8_e4m3:
#if defined(UNIMEM_DETAIL_DLPACK_FP8)
      return {static_cast<std::uint8_t>(kDLFloat8_e4m3fn), 8, 1};  // CUDA's E4M3 is the "fn" variant
#else
      break;
#endif
    case dtype::f8_e5m2:
#if defined(UNIMEM_DETAIL_DLPACK_FP8)
      return {static_cast<std::uint8_t>(kDLFloat8_e5m2), 8, 1};
#else
      break;
#endif
  }
  throw unsupported_error("unimem::to_dlpack_dtype(" + std::string(to_string(type)) +
                          "): the dlpack.h in use (version " + detail::dlpack_header_version() +
                          ") has no type code for it (bool needs DLPack 0.8, fp8 needs 1.1); build against a newer "
                          "dlpack.h (UNIMEM_DLPACK_INCLUDE_DIR) or convert the tensor first");
}

/// @brief The dtype of a DLPack data type.
/// @throws unsupported_error vector types (lanes != 1), complex, sub-byte and other types unimem
///         has no dtype for
inline dtype from_dlpack_dtype(DLDataType type) {
  if (type.lanes == 1) {
    switch (type.code) {
      case kDLFloat:
        if (type.bits == 16) return dtype::f16;
        if (type.bits == 32) return dtype::f32;
        if (type.bits == 64) return dtype::f64;
        break;
      case kDLBfloat:
        if (type.bits == 16) return dtype::bf16;
        break;
      case kDLInt:
        if (type.bits == 8) return dtype::i8;
        if (type.bits == 16) return dtype::i16;
        if (type.bits == 32) return dtype::i32;
        if (type.bits == 64) return dtype::i64;
        break;
      case kDLUInt:
        if (type.bits == 8) return dtype::u8;
        if (type.bits == 16) return dtype::u16;
        if (type.bits == 32) return dtype::u32;
        if (type.bits == 64) return dtype::u64;
        break;
#if defined(UNIMEM_DETAIL_DLPACK_BOOL)
      case kDLBool:
        if (type.bits == 8) return dtype::boolean;
        break;
#endif
#if defined(UNIMEM_DETAIL_DLPACK_FP8)
      case kDLFloat8_e4m3fn:
        if (type.bits == 8) return dtype::f8_e4m3;
        break;
      case kDLFloat8_e5m2:
        if (type.bits == 8) return dtype::f8_e5m2;
        break;
#endif
      default: break;
    }
  }
  throw unsupported_error("unimem::from_dlpack: data type " + detail::dlpack_type_text(type) +
                          " is not supported; unimem imports lanes = 1 of float16/32/64, bfloat16, int8-64, "
                          "uint8-64, bool (DLPack >= 0.8) and float8 e4m3fn/e5m2 (DLPack >= 1.1); convert the "
                          "tensor in the producer first");
}

/// @brief The memory kind's own DLPack device type: device → kDLCUDA, pinned, mapped and
/// registered → kDLCUDAHost, managed → kDLCUDAManaged, host → kDLCPU (dlpack_devices::exact).
inline DLDeviceType to_dlpack_device_type(memory_kind kind) noexcept {
  switch (kind) {
    case memory_kind::host: return kDLCPU;
    case memory_kind::pinned:
    case memory_kind::mapped:
    case memory_kind::registered: return kDLCUDAHost;
    case memory_kind::device: return kDLCUDA;
    case memory_kind::managed: return kDLCUDAManaged;
  }
  return kDLCPU;
}

/// @brief How an export names the device of its memory.
enum class dlpack_devices {
  /// What PyTorch, JAX and TensorFlow import (the default): every memory a kernel can reach —
  /// device, managed (attached globally), pinned, mapped, registered — as kDLCUDA through its
  /// device pointer, and memory no GPU can reach as kDLCPU. The consumer then uses pinned, mapped
  /// or managed memory as ordinary CUDA memory, without a copy (on a Jetson the same DRAM).
  accepted,
  /// The memory kind's own type (to_dlpack_device_type): kDLCUDAHost for pinned, mapped and
  /// registered memory, kDLCUDAManaged for managed memory. For consumers that take them (CuPy);
  /// PyTorch 2.11 refuses both ("Unsupported device_type").
  exact,
  /// The CPU's view: kDLCPU with the host pointer, for memory the CPU can dereference (host,
  /// pinned, mapped, registered, managed). Refuses device memory. With `accepted` this gives two
  /// views of one zero-copy buffer: one for the CPU that fills it, one for the kernels that read it.
  host,
};

/// @brief Options of to_dlpack and to_dlpack_versioned.
struct dlpack_export_options {
  dlpack_devices devices = dlpack_devices::accepted;
  /// DLPack's stream handshake (`__dlpack__(stream=...)`): the stream the consumer will use the
  /// tensor on. It is made to wait for the tensor's stream (an event; the host does not wait) and
  /// becomes the tensor's stream, so the memory is freed in order with the consumer's work when
  /// the consumer calls the deleter. Empty: no handshake (the caller orders the streams). Not
  /// used for kDLCPU exports. Needs the tensor's device to be current.
  std::optional<stream_view> consumer_stream;
  /// The memory's device pointer where it differs from the host pointer
  /// (traits().device_pointer_is_host_pointer false: host memory mapped without unified
  /// addressing, or registered where the device cannot use host pointers), as
  /// mapped_resource::device_pointer() gives it. Only a kDLCUDA export of such memory needs it.
  void* device_data = nullptr;
  /// Mark the export read-only (DLManagedTensorVersioned only, DLPack 1.0 and later).
  bool read_only = false;
};

/// @brief The DLPack device of memory with `traits`, allocated while CUDA device `device` was
/// current (tensor::device()), named as `devices` asks. Device ids are 0 for every type but kDLCUDA.
/// @throws host_access_error `devices` is host and the CPU cannot dereference the memory
inline DLDevice to_dlpack_device(const resource_traits& traits, int device, dlpack_devices devices) {
  DLDevice out{};
  switch (devices) {
    case dlpack_devices::exact: out.device_type = to_dlpack_device_type(traits.kind); break;
    case dlpack_devices::host:
      if (!traits.host_accessible) {
        throw host_access_error("unimem::to_dlpack_device: dlpack_devices::host asks for the CPU's view of " +
                                std::string(to_string(traits.kind)) +
                                " memory, which the CPU cannot dereference; export it with "
                                "dlpack_devices::accepted (kDLCUDA) or copy it to host memory first");
      }
      out.device_type = kDLCPU;
      break;
    case dlpack_devices::accepted: out.device_type = traits.device_accessible ? kDLCUDA : kDLCPU; break;
  }
  out.device_id = out.device_type == kDLCUDA ? device : 0;
  return out;
}

namespace detail {

/// What an exported DLManagedTensor points into: the tensor (so its memory lives until the
/// consumer's deleter call; shared when one tensor is exported more than once) and the shape and
/// strides arrays DLTensor points at.
struct dlpack_export_context {
  std::shared_ptr<tensor> owner;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;
};

template <class Managed>
void delete_dlpack_export(Managed* self) noexcept {
  if (self == nullptr) return;
  delete static_cast<dlpack_export_context*>(self->manager_ctx);  // frees the memory on its stream
  delete self;
}

inline bool dlpack_hands_over_stream(const DLTensor& out, const dlpack_export_options& options) noexcept {
  return options.consumer_stream.has_value() && out.device.device_type != kDLCPU && out.data != nullptr;
}

/// Everything that can refuse an export, before anything is taken: describes `t` in `out`, makes
/// the consumer's stream wait, and returns the context without its owner.
inline std::unique_ptr<dlpack_export_context> prepare_dlpack_export(const tensor& t, const dlpack_export_options& options,
                                                                    DLTensor& out) {
  out.dtype = to_dlpack_dtype(t.element_type());
  out.device = to_dlpack_device(t.traits(), t.device(), options.devices);
  void* data = t.empty() ? nullptr : const_cast<void*>(t.data());
  const resource_traits& traits = t.traits();
  if (data != nullptr && out.device.device_type == kDLCUDA && traits.kind != memory_kind::device &&
      !traits.device_pointer_is_host_pointer) {
    if (options.device_data == nullptr) {
      throw unsupported_error("unimem::to_dlpack: this " + std::string(to_string(traits.kind)) +
                              " memory has a device pointer other than its host pointer, and a kDLCUDA export "
                              "must carry the device pointer; pass it as dlpack_export_options::device_data "
                              "(mapped_resource::device_pointer), or export with dlpack_devices::exact or ::host");
    }
    data = options.device_data;
  }
  auto ctx = std::make_unique<dlpack_export_context>();
  ctx->shape = t.shape();
  ctx->strides = t.strides();
  out.data = data;
  out.ndim = static_cast<std::int32_t>(ctx->shape.size());
  // Strides are always given (DLPack 1.x forbids null strides where ndim != 0); for rank 0 both
  // arrays are empty and null, which DLPack allows.
  out.shape = ctx->shape.empty() ? nullptr : ctx->shape.data();
  out.strides = ctx->strides.empty() ? nullptr : ctx->strides.data();
  out.byte_offset = 0;
  if (dlpack_hands_over_stream(out, options)) options.consumer_stream->wait_for(t.stream());
  return ctx;
}

/// Completes an export whose context now owns the tensor; cannot fail.
template <class Managed>
Managed* finish_dlpack_export(std::unique_ptr<Managed> managed, std::unique_ptr<dlpack_export_context> ctx,
                              const dlpack_export_options& options) noexcept {
  // The consumer's stream is ordered after the tensor's now; freeing on it orders the free after
  // the consumer's work too.
  if (dlpack_hands_over_stream(managed->dl_tensor, options)) ctx->owner->set_stream(*options.consumer_stream);
  managed->manager_ctx = ctx.release();
  managed->deleter = &delete_dlpack_export<Managed>;
  return managed.release();
}

inline tensor& dlpack_owner(const std::shared_ptr<tensor>& t, const char* what) {
  if (!t) throw std::invalid_argument(std::string(what) + ": the tensor pointer is null");
  return *t;
}

}  // namespace detail

/// @brief Exports a tensor as a DLManagedTensor (the pre-1.0 exchange struct, understood by every
/// DLPack consumer). Takes the tensor: its memory stays alive until the consumer calls the
/// deleter, which frees it on the tensor's stream (the consumer's, after a handshake). On an
/// exception `t` is left untouched.
/// @throws unsupported_error the dtype has no code in this dlpack.h (see to_dlpack_dtype), or a
///         kDLCUDA export needs options.device_data
/// @throws host_access_error dlpack_devices::host of device memory
/// @throws cuda_error        the stream handshake failed
/// @throws std::bad_alloc
inline DLManagedTensor* to_dlpack(tensor&& t, const dlpack_export_options& options = {}) {
  auto managed = std::make_unique<DLManagedTensor>();
  auto ctx = detail::prepare_dlpack_export(t, options, managed->dl_tensor);
  ctx->owner = std::make_shared<tensor>(std::move(t));
  return detail::finish_dlpack_export(std::move(managed), std::move(ctx), options);
}

/// @brief Exports a tensor that stays shared: each export holds a reference, and the memory is
/// freed (on the tensor's stream then) when the last holder lets go. Export one tensor several
/// times this way, e.g. dlpack_devices::host for the CPU that fills a mapped frame and
/// dlpack_devices::accepted for the kernels that read it. Not thread-safe for one tensor: a
/// handshake changes its stream.
/// @throws std::invalid_argument a null pointer; otherwise as to_dlpack(tensor&&)
inline DLManagedTensor* to_dlpack(std::shared_ptr<tensor> t, const dlpack_export_options& options = {}) {
  auto managed = std::make_unique<DLManagedTensor>();
  auto ctx = detail::prepare_dlpack_export(detail::dlpack_owner(t, "unimem::to_dlpack"), options, managed->dl_tensor);
  ctx->owner = std::move(t);
  return detail::finish_dlpack_export(std::move(managed), std::move(ctx), options);
}

#if defined(UNIMEM_DETAIL_DLPACK_VERSIONED)
namespace detail {
inline std::unique_ptr<DLManagedTensorVersioned> versioned_shell(const dlpack_export_options& options) {
  auto managed = std::make_unique<DLManagedTensorVersioned>();
  managed->version.major = DLPACK_MAJOR_VERSION;
  managed->version.minor = DLPACK_MINOR_VERSION;
  managed->flags = options.read_only ? DLPACK_FLAG_BITMASK_READ_ONLY : 0;
  return managed;
}
}  // namespace detail

/// @brief Exports a tensor as a DLManagedTensorVersioned (DLPack 1.0 and later), with this
/// header's version and the read-only flag when options.read_only. Ownership as to_dlpack().
/// @throws as to_dlpack(tensor&&)
inline DLManagedTensorVersioned* to_dlpack_versioned(tensor&& t, const dlpack_export_options& options) {
  auto managed = detail::versioned_shell(options);
  auto ctx = detail::prepare_dlpack_export(t, options, managed->dl_tensor);
  ctx->owner = std::make_shared<tensor>(std::move(t));
  return detail::finish_dlpack_export(std::move(managed), std::move(ctx), options);
}

/// @brief to_dlpack_versioned with the default options and the read-only flag when `read_only`.
inline DLManagedTensorVersioned* to_dlpack_versioned(tensor&& t, bool read_only = false) {
  dlpack_export_options options;
  options.read_only = read_only;
  return to_dlpack_versioned(std::move(t), options);
}

/// @brief A shared export as DLManagedTensorVersioned; see to_dlpack(std::shared_ptr<tensor>).
/// @throws as to_dlpack(std::shared_ptr<tensor>)
inline DLManagedTensorVersioned* to_dlpack_versioned(std::shared_ptr<tensor> t, const dlpack_export_options& options) {
  auto managed = detail::versioned_shell(options);
  auto ctx = detail::prepare_dlpack_export(detail::dlpack_owner(t, "unimem::to_dlpack_versioned"), options,
                                           managed->dl_tensor);
  ctx->owner = std::move(t);
  return detail::finish_dlpack_export(std::move(managed), std::move(ctx), options);
}
#endif

/// @brief A tensor imported from DLPack: owns the producer's DLManagedTensor (its deleter runs
/// when this object dies) and offers typed, validated views of it. Move-only.
class dlpack_tensor {
 public:
  dlpack_tensor() = default;
  ~dlpack_tensor() { reset(); }
  dlpack_tensor(dlpack_tensor&& other) noexcept { *this = std::move(other); }
  dlpack_tensor& operator=(dlpack_tensor&& other) noexcept {
    if (this != &other) {
      reset();
      managed_ = std::exchange(other.managed_, nullptr);
      release_ = std::exchange(other.release_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
      type_ = other.type_;
      shape_ = std::move(other.shape_);
      strides_ = std::move(other.strides_);
      size_ = std::exchange(other.size_, 0);
      device_type_ = other.device_type_;
      device_id_ = other.device_id_;
      read_only_ = other.read_only_;
    }
    return *this;
  }
  dlpack_tensor(const dlpack_tensor&) = delete;
  dlpack_tensor& operator=(const dlpack_tensor&) = delete;

  dtype element_type() const noexcept { return type_; }
  std::size_t rank() const noexcept { return shape_.size(); }
  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  /// @brief Strides in elements (row-major ones when the producer gave none).
  const std::vector<std::int64_t>& strides() const noexcept { return strides_; }
  std::uint64_t size() const noexcept { return size_; }
  /// @brief The first element (the producer's data pointer plus byte_offset).
  void* data() const noexcept { return data_; }
  DLDeviceType device_type() const noexcept { return device_type_; }
  int device_id() const noexcept { return device_id_; }
  /// @brief host for kDLCPU, device for kDLCUDA, pinned for kDLCUDAHost, managed for kDLCUDAManaged.
  memory_kind kind() const noexcept {
    switch (device_type_) {
      case kDLCUDA: return memory_kind::device;
      case kDLCUDAHost: return memory_kind::pinned;
      case kDLCUDAManaged: return memory_kind::managed;
      default: return memory_kind::host;
    }
  }
  bool host_accessible() const noexcept { return device_type_ != kDLCUDA; }
  /// @brief The producer marked it read-only (DLPack 1.x flag); only const views are given out.
  bool read_only() const noexcept { return read_only_; }
  bool is_contiguous() const noexcept {
    std::int64_t expected = 1;
    for (std::size_t d = shape_.size(); d-- > 0;) {
      if (shape_[d] == 0) return true;
      if (shape_[d] == 1) continue;
      if (strides_[d] != expected) return false;
      expected *= shape_[d];
    }
    return true;
  }

  /// @brief A typed strided view (unchecked host access, for kernels). When is_contiguous() holds,
  /// `tensor_view<T, Rank>(t.view<T, Rank>())` gives the contiguous view, which indexes faster.
  /// @throws std::invalid_argument T or Rank does not match, or T is not const for a read-only tensor
  template <class T, std::size_t Rank>
  strided_view<T, Rank> view() const {
    static_assert(has_dtype_v<T>, "unimem::dlpack_tensor::view<T, Rank>: T has no dtype (see unimem::dtype_of)");
    check_view(dtype_of_v<T>, Rank, std::is_const_v<T>, "unimem::dlpack_tensor::view");
    index_array<Rank> e;
    index_array<Rank> s;
    for (std::size_t d = 0; d < Rank; ++d) {
      e[d] = shape_[d];
      s[d] = strides_[d];
    }
    return strided_view<T, Rank>::unchecked(static_cast<T*>(data_), e, s);  // validated on import
  }
  /// @brief view() for CPU code: refuses kDLCUDA memory.
  /// @throws host_access_error device memory
  template <class T, std::size_t Rank>
  strided_view<T, Rank> host_view() const {
    if (!host_accessible() && size_ != 0) {
      throw host_access_error("unimem::dlpack_tensor::host_view: the tensor is kDLCUDA device memory (device " +
                              std::to_string(device_id_) +
                              "), which the CPU cannot dereference; copy it to the host first");
    }
    return view<T, Rank>();
  }

 private:
  friend dlpack_tensor from_dlpack(DLManagedTensor* managed);
#if defined(UNIMEM_DETAIL_DLPACK_VERSIONED)
  friend dlpack_tensor from_dlpack(DLManagedTensorVersioned* managed);
#endif

  template <class Managed>
  static void call_deleter(void* p) noexcept {
    auto* m = static_cast<Managed*>(p);
    if (m->deleter != nullptr) m->deleter(m);
  }

  void reset() noexcept {
    if (managed_ != nullptr) release_(managed_);
    managed_ = nullptr;
  }

  void check_view(dtype requested, std::size_t rank, bool const_view, const char* what) const {
    if (requested != type_) {
      throw std::invalid_argument(std::string(what) + ": the tensor holds " + std::string(to_string(type_)) +
                                  " but the view asks for " + std::string(to_string(requested)));
    }
    if (rank != shape_.size()) {
      throw std::invalid_argument(std::string(what) + ": the tensor has rank " + std::to_string(shape_.size()) +
                                  " but the view asks for rank " + std::to_string(rank));
    }
    if (read_only_ && !const_view) {
      throw std::invalid_argument(std::string(what) +
                                  ": the producer marked the tensor read-only; ask for a view of const T");
    }
  }

  /// Validates `t` and takes its description; the caller already owns the managed tensor, so a
  /// throw here runs the producer's deleter.
  void import(const DLTensor& t, bool read_only, const char* what);

  void* managed_ = nullptr;
  void (*release_)(void*) noexcept = nullptr;
  void* data_ = nullptr;
  dtype type_ = dtype::f32;
  std::vector<std::int64_t> shape_;
  std::vector<std::int64_t> strides_;
  std::uint64_t size_ = 0;
  DLDeviceType device_type_ = kDLCPU;
  int device_id_ = 0;
  bool read_only_ = false;
};

inline void dlpack_tensor::import(const DLTensor& t, bool read_only, const char* what) {
  const std::string who(what);
  // Every field comes from another framework and is checked before it counts, sizes or indexes
  // anything; ndim first, since it says how far the producer's shape and strides arrays are read.
  if (t.ndim < 0 || t.ndim > dlpack_max_rank) {
    throw std::invalid_argument(who + ": ndim is " + std::to_string(t.ndim) + "; unimem imports 0 to " +
                                std::to_string(dlpack_max_rank) + " dimensions (a corrupt tensor, or reshape it first)");
  }
  if (t.ndim > 0 && t.shape == nullptr) {
    throw std::invalid_argument(who + ": shape is null for ndim " + std::to_string(t.ndim));
  }
  const dtype type = from_dlpack_dtype(t.dtype);
  switch (t.device.device_type) {
    case kDLCPU:
    case kDLCUDA:
    case kDLCUDAHost:
    case kDLCUDAManaged: break;
    default:
      throw unsupported_error(who + ": device type " + std::to_string(static_cast<int>(t.device.device_type)) +
                              " is not supported; unimem imports kDLCPU (1), kDLCUDA (2), kDLCUDAHost (3) and "
                              "kDLCUDAManaged (13) memory — copy the tensor to one of those first");
  }
  if (t.device.device_type == kDLCUDA && t.device.device_id < 0) {
    throw std::invalid_argument(who + ": kDLCUDA device id " + std::to_string(t.device.device_id) +
                                " is negative; a CUDA device is numbered from 0");
  }
  const auto rank = static_cast<std::size_t>(t.ndim);
  std::vector<std::int64_t> shape(t.shape, t.shape + rank);
  const std::uint64_t count = element_count(shape);  // refuses negative extents
  (void)bytes_for(shape, type);                      // refuses a byte size that overflows
  // With a zero extent the count is 0 whatever the others are; the row-major strides below skip
  // zero extents, so their product must fit too.
  detail::check_row_major_span(shape.data(), rank, size_of(type), what);

  // Strides: null means row-major (DLPack < 1.0). Dimensions of extent 0 or 1 never use theirs,
  // so producers put anything there; they get the row-major value so contiguity is judged right.
  std::vector<std::int64_t> strides(rank);
  std::int64_t step = 1;
  for (std::size_t d = rank; d-- > 0;) {
    const std::int64_t row_major = step;
    step *= shape[d] > 1 ? shape[d] : 1;  // fits: bytes_for passed
    if (t.strides == nullptr || shape[d] <= 1) {
      strides[d] = row_major;
      continue;
    }
    const std::int64_t s = t.strides[d];
    if (s < 0) {
      throw unsupported_error(who + ": stride " + std::to_string(s) + " of dimension " + std::to_string(d) +
                              " is negative (a flipped tensor); unimem views need strides >= 0 — make it "
                              "contiguous in the producer first");
    }
    if (s == 0) {
      throw unsupported_error(who + ": stride 0 in dimension " + std::to_string(d) + " of extent " +
                              std::to_string(shape[d]) +
                              " (a broadcast/expanded tensor) is not supported; materialise it first");
    }
    strides[d] = s;
  }
  // Every element's byte offset must fit in std::ptrdiff_t: the rule of tensor_view's constructors.
  if (count != 0) {
    const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) / size_of(type);
    std::uint64_t last = 0;
    for (std::size_t d = 0; d < rank; ++d) {
      const auto e1 = static_cast<std::uint64_t>(shape[d] - 1);
      const auto st = static_cast<std::uint64_t>(strides[d]);
      if (e1 > (limit - last) / st) {
        throw std::overflow_error(who + ": extent " + std::to_string(shape[d]) + " with stride " +
                                  std::to_string(strides[d]) + " in dimension " + std::to_string(d) +
                                  " reaches more bytes than std::ptrdiff_t can count; the strides are corrupt");
      }
      last += e1 * st;
    }
  }
  auto* first = static_cast<unsigned char*>(t.data);
  if (count != 0 && first == nullptr) {
    throw std::invalid_argument(who + ": data is null for a tensor of " + std::to_string(count) + " elements");
  }
  if (first != nullptr) {
    // data + byte_offset, and the tensor's last byte after it, must be addresses (no wrap-around).
    std::uint64_t reach = 0;  // bytes from the first element to one past the last
    if (count != 0) {
      reach = size_of(type);
      for (std::size_t d = 0; d < rank; ++d) {
        // Fits: the offsets were checked against std::ptrdiff_t above.
        reach += static_cast<std::uint64_t>(shape[d] - 1) * static_cast<std::uint64_t>(strides[d]) * size_of(type);
      }
    }
    std::uintptr_t start = 0, end = 0;
    if (t.byte_offset > static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) ||
        __builtin_add_overflow(reinterpret_cast<std::uintptr_t>(first), t.byte_offset, &start) ||
        __builtin_add_overflow(start, reach, &end)) {
      throw std::overflow_error(who + ": data " + std::to_string(reinterpret_cast<std::uintptr_t>(first)) +
                                " + byte_offset " + std::to_string(t.byte_offset) + " + " + std::to_string(reach) +
                                " B of elements passes the end of the address space; the tensor is corrupt");
    }
    first += t.byte_offset;
  }
  const std::size_t align = size_of(type);
  if (count != 0 && reinterpret_cast<std::uintptr_t>(first) % align != 0) {
    throw unsupported_error(who + ": the first element (data + byte_offset " + std::to_string(t.byte_offset) +
                            ") is not aligned to its " + std::to_string(align) +
                            "-byte element size; typed views of it would be undefined — copy it first");
  }
  data_ = first;
  type_ = type;
  shape_ = std::move(shape);
  strides_ = std::move(strides);
  size_ = count;
  device_type_ = static_cast<DLDeviceType>(t.device.device_type);
  device_id_ = t.device.device_id;
  read_only_ = read_only;
}

/// @brief Imports a DLManagedTensor. Always takes ownership: the producer's deleter runs when the
/// returned object dies, or before the exception leaves when the tensor is refused, so nothing
/// leaks either way.
/// @throws std::invalid_argument a null pointer or a malformed tensor (ndim outside 0 to
///         dlpack_max_rank, a negative extent or CUDA device id, null shape, null data with
///         elements)
/// @throws unsupported_error     a dtype, device type or stride unimem cannot view (vector lanes,
///         complex, ROCm/Vulkan/..., negative or broadcast strides, misaligned data)
/// @throws std::overflow_error   the tensor's offsets, its extents (zero extents counted as 1) or
///         data + byte_offset + its bytes do not fit (std::ptrdiff_t, the address space)
inline dlpack_tensor from_dlpack(DLManagedTensor* managed) {
  if (managed == nullptr) throw std::invalid_argument("unimem::from_dlpack(DLManagedTensor*): null pointer");
  dlpack_tensor out;
  out.managed_ = managed;
  out.release_ = &dlpack_tensor::call_deleter<DLManagedTensor>;
  out.import(managed->dl_tensor, false, "unimem::from_dlpack(DLManagedTensor*)");
  return out;
}

#if defined(UNIMEM_DETAIL_DLPACK_VERSIONED)
/// @brief Imports a DLManagedTensorVersioned; ownership as for DLManagedTensor. A different
/// major version is refused without reading anything but the version (the layout may differ),
/// and the deleter is called, as DLPack prescribes.
/// @throws as from_dlpack(DLManagedTensor*), plus unsupported_error for a different major version
inline dlpack_tensor from_dlpack(DLManagedTensorVersioned* managed) {
  if (managed == nullptr) {
    throw std::invalid_argument("unimem::from_dlpack(DLManagedTensorVersioned*): null pointer");
  }
  dlpack_tensor out;
  out.managed_ = managed;
  out.release_ = &dlpack_tensor::call_deleter<DLManagedTensorVersioned>;
  if (managed->version.major != DLPACK_MAJOR_VERSION) {
    throw unsupported_error("unimem::from_dlpack(DLManagedTensorVersioned*): DLPack major version " +
                            std::to_string(managed->version.major) + " but this build knows " +
                            std::to_string(DLPACK_MAJOR_VERSION) +
                            "; the tensor was released — rebuild unimem's users against a matching dlpack.h");
  }
  out.import(managed->dl_tensor, (managed->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0,
             "unimem::from_dlpack(DLManagedTensorVersioned*)");
  return out;
}
#endif

}  // namespace unimem
