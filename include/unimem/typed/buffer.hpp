/// @file buffer.hpp
/// @brief `buffer<T>`: an owning, move-only, uninitialized array allocated from a memory_resource
/// on a stream.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include <unimem/detail/config.hpp>
#include <unimem/error.hpp>
#include <unimem/memory_resource.hpp>
#include <unimem/typed/span.hpp>
#include <unimem/stream.hpp>

namespace unimem {

namespace detail {

// Out of line (src/buffer.cpp): messages and the CUDA copy calls stay out of this header.
[[noreturn]] void throw_buffer_too_large(const char* what, std::size_t count, std::size_t element_bytes);
[[noreturn]] void throw_host_inaccessible(const char* what, const memory_resource* mr, const void* p,
                                          std::size_t bytes);
[[noreturn]] void throw_no_resource(const char* what);
[[noreturn]] void throw_buffer_index(const char* what, std::size_t index, std::size_t size);
[[noreturn]] void throw_copy_count(const char* what, std::size_t count, std::size_t size);
[[noreturn]] void throw_size_mismatch(const char* what, std::size_t src_size, std::size_t dst_size);

/// Copies `bytes` between two allocations whose traits are known. When neither side can be
/// touched by a GPU (pageable host memory) it is a plain memcpy, done before returning, and needs
/// no CUDA device; otherwise it is cudaMemcpyAsync(cudaMemcpyDefault) ordered on `stream`.
/// @throws cuda_error
void copy_bytes(void* dst, const resource_traits& dst_traits, const void* src, const resource_traits& src_traits,
                std::size_t bytes, stream_view stream, const char* what);

/// Copies `bytes` between an allocation with known traits and caller memory of unknown kind
/// (`known_is_dst` says which side is which). A memcpy when the known side is pageable host memory
/// and CUDA does not know the other pointer (or there is no CUDA device); cudaMemcpyAsync on
/// `stream` otherwise.
/// @throws cuda_error
void copy_bytes_unknown(void* dst, const void* src, std::size_t bytes, const resource_traits& known,
                        bool known_is_dst, stream_view stream, const char* what);

}  // namespace detail

/// @brief An owning, move-only array of `count` uninitialized `T` in memory from a
/// memory_resource, aligned to at least 256 bytes.
///
/// **Streams.** The memory is allocated on the constructor's stream and freed on stream(): the
/// stream of the last operation that changed the buffer (construction, copy_from, resize) or the
/// one given to set_stream(). Reads on another stream (copy_to, copy) do not move it, so that
/// const member functions stay safe to call from several threads: if such a read may still be
/// running when the buffer dies, call set_stream() with its stream, or synchronize, first. Passing
/// a stream other than stream() to a modifying call is the caller's promise that the new stream is
/// already ordered after the old one's work on this buffer (cuda_stream::wait on an event, or a
/// synchronize), as with any stream-ordered memory.
///
/// **Host access.** data() and span() hand out the pointer unchecked, for kernels and copies.
/// host_span() refuses memory the CPU cannot touch (device memory) with an exception instead of a
/// segfault, always; operator[] does the same, plus a bounds check, in checked builds
/// (UNIMEM_CHECKED, on unless NDEBUG). Managed memory counts as host-accessible; keeping the CPU off
/// it while kernels run on devices without concurrentManagedAccess (every Jetson before Thor) is
/// the job of the host-access guard, not of this check.
///
/// @tparam T a trivially copyable type: the elements are never constructed or destroyed, and
///           device memory could not run constructors anyway.
template <class T>
class buffer {
  static_assert(std::is_trivially_copyable_v<T>,
                "unimem::buffer<T> holds uninitialized memory that may live on the GPU: T must be trivially copyable");
  static_assert(!std::is_const_v<T> && !std::is_volatile_v<T>, "unimem::buffer<T>: T must not be cv-qualified");

 public:
  using value_type = T;
  using size_type = std::size_t;

  /// @brief Alignment of data(): the CUDA allocation alignment (256 B) or alignof(T) if larger.
  static constexpr std::size_t alignment = alignof(T) > default_alignment ? alignof(T) : default_alignment;

  /// @brief An empty buffer with no resource.
  buffer() noexcept = default;

  /// @brief Allocates `count` uninitialized elements from `mr`, ordered on `stream`. `mr` must
  /// outlive the buffer. A count of 0 allocates nothing.
  /// @throws std::length_error count × sizeof(T) does not fit in std::size_t
  /// @throws out_of_memory     the resource cannot satisfy the request
  /// @throws cuda_error        any other CUDA failure
  buffer(size_type count, memory_resource& mr, stream_view stream = {})
      : mr_(&mr), traits_(mr.traits()), stream_(stream) {
    const std::size_t bytes = bytes_for_count(count, "unimem::buffer(count, mr, stream)");
    data_ = static_cast<T*>(mr.allocate(bytes, alignment, stream));
    size_ = count;
  }

  /// @brief Frees the memory on stream(). Never throws: a failing deallocate is ignored, as
  /// nothing can be recovered from it in a destructor.
  ~buffer() { release(); }

  buffer(buffer&& other) noexcept
      : mr_(std::exchange(other.mr_, nullptr)),
        traits_(other.traits_),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        stream_(other.stream_) {}

  /// @brief Frees this buffer's memory on its stream, then takes over `other`'s.
  buffer& operator=(buffer&& other) noexcept {
    if (this != &other) {
      release();
      mr_ = std::exchange(other.mr_, nullptr);
      traits_ = other.traits_;
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      stream_ = other.stream_;
    }
    return *this;
  }

  buffer(const buffer&) = delete;             // copies are explicit: see copy()
  buffer& operator=(const buffer&) = delete;

  size_type size() const noexcept { return size_; }
  std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  bool empty() const noexcept { return size_ == 0; }

  /// @brief The memory, unchecked: for kernels, copies and APIs that take device pointers.
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  /// @brief All elements as a span, unchecked (a kernel may index it).
  unimem::span<T> span() noexcept { return {data_, size_}; }
  unimem::span<const T> span() const noexcept { return {data_, size_}; }

  /// @brief All elements as a span for CPU code.
  /// @throws host_access_error the memory is not host-accessible (e.g. device memory)
  unimem::span<T> host_span() {
    require_host("unimem::buffer::host_span");
    return {data_, size_};
  }
  unimem::span<const T> host_span() const {
    require_host("unimem::buffer::host_span");
    return {data_, size_};
  }

  /// @brief Element `i` for CPU code. In checked builds refuses memory the CPU cannot touch and
  /// indices >= size() with an exception; unchecked otherwise.
  T& operator[](size_type i) {
    check_element("unimem::buffer::operator[]", i);
    return data_[i];
  }
  const T& operator[](size_type i) const {
    check_element("unimem::buffer::operator[]", i);
    return data_[i];
  }

  /// @brief The resource the memory came from; null for an empty default-constructed buffer.
  memory_resource* resource() const noexcept { return mr_; }
  /// @brief The resource's traits, read once at construction.
  const resource_traits& traits() const noexcept { return traits_; }
  bool host_accessible() const noexcept { return traits_.host_accessible; }
  bool device_accessible() const noexcept { return traits_.device_accessible; }

  /// @brief The stream the memory will be freed on.
  stream_view stream() const noexcept { return stream_; }
  /// @brief Moves the buffer to `stream`: from now on it is freed there. Use it when the buffer was
  /// last used on another stream than the one it was allocated on.
  void set_stream(stream_view stream) noexcept { stream_ = stream; }

  /// @brief Copies `count` elements from `src` (host memory or any memory CUDA knows) into
  /// [0, count), ordered on `stream`, which becomes the buffer's stream. Synchronize `stream`
  /// before reusing `src` if it is pinned or device memory.
  /// @throws std::out_of_range count > size()
  /// @throws cuda_error
  void copy_from(const T* src, size_type count, stream_view stream) {
    if (count > size_) detail::throw_copy_count("unimem::buffer::copy_from", count, size_);
    stream_ = stream;
    if (count == 0) return;
    detail::copy_bytes_unknown(data_, src, count * sizeof(T), traits_, true, stream, "unimem::buffer::copy_from");
  }

  /// @brief Copies all of `src` (same size) into this buffer, ordered on `stream`, which becomes
  /// this buffer's stream.
  /// @throws std::invalid_argument the sizes differ
  /// @throws cuda_error
  void copy_from(const buffer& src, stream_view stream) {
    if (src.size_ != size_) detail::throw_size_mismatch("unimem::buffer::copy_from(buffer)", src.size_, size_);
    stream_ = stream;
    if (size_ == 0) return;
    detail::copy_bytes(data_, traits_, src.data_, src.traits_, size_bytes(), stream,
                       "unimem::buffer::copy_from(buffer)");
  }

  /// @brief Copies [0, count) into `dst` (host memory or any memory CUDA knows), ordered on
  /// `stream`. Synchronize `stream` before reading `dst`.
  /// @throws std::out_of_range count > size()
  /// @throws cuda_error
  void copy_to(T* dst, size_type count, stream_view stream) const {
    if (count > size_) detail::throw_copy_count("unimem::buffer::copy_to", count, size_);
    if (count == 0) return;
    detail::copy_bytes_unknown(dst, data_, count * sizeof(T), traits_, false, stream, "unimem::buffer::copy_to");
  }

  /// @brief A new buffer from `mr` with the same elements, allocated and filled on `stream`.
  /// @throws out_of_memory, cuda_error
  buffer copy(memory_resource& mr, stream_view stream) const {
    buffer out(size_, mr, stream);
    if (size_ != 0) {
      detail::copy_bytes(out.data_, out.traits_, data_, traits_, size_bytes(), stream, "unimem::buffer::copy");
    }
    return out;
  }
  /// @brief A new buffer from this buffer's resource with the same elements.
  /// @throws std::logic_error for a default-constructed buffer (it has no resource)
  buffer copy(stream_view stream) const {
    if (mr_ == nullptr) detail::throw_no_resource("unimem::buffer::copy");
    return copy(*mr_, stream);
  }

  /// @brief Reallocates to `count` elements from the same resource on `stream`, keeping the first
  /// min(count, size()) elements; new elements are uninitialized. On an exception the buffer is
  /// unchanged.
  /// @throws std::logic_error for a default-constructed buffer and count != 0
  /// @throws out_of_memory, cuda_error
  void resize(size_type count, stream_view stream) {
    if (count == size_) {
      stream_ = stream;
      return;
    }
    if (mr_ == nullptr) detail::throw_no_resource("unimem::buffer::resize");
    buffer next(count, *mr_, stream);
    const size_type keep = count < size_ ? count : size_;
    if (keep != 0) {
      detail::copy_bytes(next.data_, next.traits_, data_, traits_, keep * sizeof(T), stream,
                         "unimem::buffer::resize");
    }
    stream_ = stream;  // the old memory was last read on `stream`: free it there
    *this = std::move(next);
  }

 private:
  static std::size_t bytes_for_count(size_type count, const char* what) {
    if (count > static_cast<size_type>(-1) / sizeof(T)) detail::throw_buffer_too_large(what, count, sizeof(T));
    return count * sizeof(T);
  }

  void require_host(const char* what) const {
    if (size_ != 0 && !traits_.host_accessible) detail::throw_host_inaccessible(what, mr_, data_, size_bytes());
  }

  void check_element(const char* what, size_type i) const {
    if constexpr (detail::checked_build) {
      require_host(what);
      if (i >= size_) detail::throw_buffer_index(what, i, size_);
    } else {
      (void)what;
      (void)i;
    }
  }

  void release() noexcept {
    if (data_ != nullptr) {
      try {
        mr_->deallocate(data_, size_bytes(), alignment, stream_);
      } catch (...) {  // NOLINT(bugprone-empty-catch): see ~buffer
      }
    }
    data_ = nullptr;
    size_ = 0;
  }

  memory_resource* mr_ = nullptr;
  resource_traits traits_{};
  T* data_ = nullptr;
  size_type size_ = 0;
  stream_view stream_{};
};

}  // namespace unimem
