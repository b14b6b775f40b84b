/// @file tensor_view.hpp
/// @brief `tensor_view<T, Rank>`: a non-owning strided view of an N-dimensional array, indexable
/// on the host and inside kernels.
///
/// Extents and strides are counted in elements, as in DLPack and mdspan. Plain C++17: under nvcc
/// the indexing functions become `__host__ __device__` (see detail/config.hpp), elsewhere they are
/// ordinary inline functions, so the header needs no CUDA header.
///
/// The split between checked and unchecked is by where a call can run: constructors, slicing and
/// at() validate their arguments and throw (host only); indexing, operator[] and the accessors
/// check nothing and work in kernels, where they compile to the same address arithmetic as
/// hand-written pointer code.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include <unimem/detail/config.hpp>
#include <unimem/span.hpp>

namespace unimem {

/// @brief Rank integers (extents, strides or an index), usable in kernels. Built from integers of
/// any type, so `{rows, cols}` with size_t variables is not a narrowing error.
template <std::size_t Rank>
class index_array {
 public:
  using value_type = std::int64_t;

  constexpr index_array() noexcept = default;
  template <class... I,
            std::enable_if_t<sizeof...(I) == Rank && sizeof...(I) != 0 && (std::is_integral_v<I> && ...), int> = 0>
  UNIMEM_HOST_DEVICE constexpr index_array(I... values) noexcept  // NOLINT: implicit so {a, b} works
      : values_{static_cast<value_type>(values)...} {}
  template <class I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
  constexpr index_array(const std::array<I, Rank>& values) noexcept {  // NOLINT: implicit on purpose
    for (std::size_t d = 0; d < Rank; ++d) values_[d] = static_cast<value_type>(values[d]);
  }

  UNIMEM_HOST_DEVICE constexpr value_type& operator[](std::size_t d) noexcept { return values_[d]; }
  UNIMEM_HOST_DEVICE constexpr const value_type& operator[](std::size_t d) const noexcept { return values_[d]; }
  static constexpr std::size_t size() noexcept { return Rank; }

  UNIMEM_HOST_DEVICE friend constexpr bool operator==(const index_array& a, const index_array& b) noexcept {
    for (std::size_t d = 0; d < Rank; ++d) {
      if (a.values_[d] != b.values_[d]) return false;
    }
    return true;
  }
  UNIMEM_HOST_DEVICE friend constexpr bool operator!=(const index_array& a, const index_array& b) noexcept {
    return !(a == b);
  }

 private:
  value_type values_[Rank == 0 ? 1 : Rank] = {};  // a zero-length array is not C++
};

namespace detail {

// Out of line (src/tensor_view.cpp) so the messages can be formatted without pulling a formatter
// into this header. `what` names the call, e.g. "unimem::tensor_view::slice".
[[noreturn]] void throw_negative_extent(const char* what, std::size_t dim, std::int64_t extent);
[[noreturn]] void throw_negative_stride(const char* what, std::size_t dim, std::int64_t stride);
[[noreturn]] void throw_view_too_large(const char* what, std::size_t rank, const std::int64_t* extents,
                                       const std::int64_t* strides, std::size_t element_bytes);
[[noreturn]] void throw_bad_dimension(const char* what, std::size_t dim, std::size_t rank);
[[noreturn]] void throw_index_out_of_range(const char* what, std::size_t dim, std::int64_t index,
                                           std::int64_t extent);
[[noreturn]] void throw_bad_range(const char* what, std::size_t dim, std::int64_t begin, std::int64_t end,
                                  std::int64_t step, std::int64_t extent);
[[noreturn]] void throw_not_contiguous(const char* what, std::size_t rank, const std::int64_t* extents,
                                       const std::int64_t* strides);
[[noreturn]] void throw_reshape_mismatch(const char* what, std::uint64_t from_elements, std::uint64_t to_elements);

/// Checks that the extents are non-negative and that the product of the non-zero extents times
/// `element_bytes` fits in std::ptrdiff_t. Zero extents count as 1 so that the row-major strides
/// of a valid shape never overflow, even for an empty view.
template <std::size_t Rank>
void validate_extents(const char* what, const index_array<Rank>& extents, const std::int64_t* strides_for_message,
                      std::size_t element_bytes) {
  for (std::size_t d = 0; d < Rank; ++d) {
    if (extents[d] < 0) throw_negative_extent(what, d, extents[d]);
  }
  const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) /
                              (element_bytes == 0 ? 1 : element_bytes);
  std::uint64_t count = 1;
  for (std::size_t d = 0; d < Rank; ++d) {
    const auto e = static_cast<std::uint64_t>(extents[d] > 1 ? extents[d] : 1);
    if (count > limit / e) throw_view_too_large(what, Rank, &extents[0], strides_for_message, element_bytes);
    count *= e;
  }
}

/// validate_extents, plus non-negative strides and, for a non-empty view, every byte offset the
/// view can form fitting in std::ptrdiff_t.
template <std::size_t Rank>
void validate_layout(const char* what, const index_array<Rank>& extents, const index_array<Rank>& strides,
                     std::size_t element_bytes) {
  validate_extents(what, extents, &strides[0], element_bytes);
  bool empty = false;
  for (std::size_t d = 0; d < Rank; ++d) {
    if (strides[d] < 0) throw_negative_stride(what, d, strides[d]);
    empty = empty || extents[d] == 0;
  }
  if (empty) return;  // no element is addressable, so no offset can overflow
  const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) /
                              (element_bytes == 0 ? 1 : element_bytes);
  std::uint64_t last_offset = 0;  // offset of the last element, in elements
  for (std::size_t d = 0; d < Rank; ++d) {
    const auto e1 = static_cast<std::uint64_t>(extents[d] - 1);
    const auto st = static_cast<std::uint64_t>(strides[d]);
    if (st != 0 && e1 > (limit - last_offset) / st) {
      throw_view_too_large(what, Rank, &extents[0], &strides[0], element_bytes);
    }
    last_offset += e1 * st;
  }
}

}  // namespace detail

/// @brief A non-owning view of `T` elements laid out by extents and strides (in elements).
///
/// Row-major (C order) by default. Copy it freely and pass it to kernels by value; it is a
/// pointer plus 2 × Rank integers. Strides must be non-negative; a stride of 0 (broadcast) is
/// allowed, so two indices may name the same element.
template <class T, std::size_t Rank>
class tensor_view {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using index_type = std::int64_t;
  using size_type = std::uint64_t;
  using extents_type = index_array<Rank>;

  static constexpr std::size_t rank() noexcept { return Rank; }

  /// @brief An empty view (null data, all extents 0).
  constexpr tensor_view() noexcept = default;

  /// @brief Row-major view: `tensor_view<float, 2> v(p, rows, cols)`.
  /// @throws std::invalid_argument a negative extent
  /// @throws std::overflow_error   the view's byte size does not fit in std::ptrdiff_t
  template <class... I,
            std::enable_if_t<sizeof...(I) == Rank && sizeof...(I) != 0 && (std::is_integral_v<I> && ...), int> = 0>
  explicit tensor_view(T* data, I... extents) : tensor_view(data, extents_type(extents...)) {}

  /// @brief Row-major view over `extents`.
  /// @throws std::invalid_argument a negative extent
  /// @throws std::overflow_error   the view's byte size does not fit in std::ptrdiff_t
  tensor_view(T* data, const extents_type& extents) : data_(data), extents_(extents) {
    detail::validate_extents("unimem::tensor_view(data, extents)", extents_, nullptr, sizeof(T));
    strides_ = row_major_strides(extents_);  // cannot overflow once the extents are valid
  }

  /// @brief View with explicit strides, in elements (not bytes).
  /// @throws std::invalid_argument a negative extent or stride
  /// @throws std::overflow_error   an offset or the byte size does not fit in std::ptrdiff_t
  tensor_view(T* data, const extents_type& extents, const extents_type& strides)
      : tensor_view(data, extents, strides, "unimem::tensor_view(data, extents, strides)") {}

  /// @brief Adds const: tensor_view<float, R> → tensor_view<const float, R>.
  template <class U, std::enable_if_t<std::is_same_v<const U, T> && !std::is_const_v<U>, int> = 0>
  UNIMEM_HOST_DEVICE constexpr tensor_view(const tensor_view<U, Rank>& other) noexcept  // NOLINT: implicit
      : data_(other.data()), extents_(other.extents()), strides_(other.strides()) {}

  /// @brief A one-dimensional contiguous view of a span.
  template <class U, std::size_t R = Rank,
            std::enable_if_t<R == 1 && std::is_convertible_v<U (*)[], T (*)[]>, int> = 0>
  UNIMEM_HOST_DEVICE constexpr tensor_view(span<U> s) noexcept  // NOLINT: implicit like span → span
      : data_(s.data()), extents_(static_cast<index_type>(s.size())), strides_(index_type{1}) {}

  /// @brief Builds a view without any validation; for device code, where nothing can throw.
  /// The caller guarantees non-negative extents and strides and offsets that fit.
  UNIMEM_HOST_DEVICE static constexpr tensor_view unchecked(T* data, const extents_type& extents,
                                                            const extents_type& strides) noexcept {
    tensor_view v;
    v.data_ = data;
    v.extents_ = extents;
    v.strides_ = strides;
    return v;
  }

  /// @brief The strides of a dense row-major array with these extents (extents of 0 count as 1,
  /// so an empty view still gets positive strides). The extents must be valid (see the
  /// constructors); nothing is checked here.
  UNIMEM_HOST_DEVICE static constexpr extents_type row_major_strides(const extents_type& extents) noexcept {
    extents_type s;
    index_type step = 1;
    for (std::size_t d = Rank; d-- > 0;) {
      s[d] = step;
      step *= extents[d] > 1 ? extents[d] : 1;
    }
    return s;
  }

  UNIMEM_HOST_DEVICE constexpr T* data() const noexcept { return data_; }
  UNIMEM_HOST_DEVICE constexpr const extents_type& extents() const noexcept { return extents_; }
  UNIMEM_HOST_DEVICE constexpr const extents_type& strides() const noexcept { return strides_; }
  UNIMEM_HOST_DEVICE constexpr index_type extent(std::size_t d) const noexcept { return extents_[d]; }
  UNIMEM_HOST_DEVICE constexpr index_type stride(std::size_t d) const noexcept { return strides_[d]; }

  /// @brief Number of elements (the product of the extents; 1 for rank 0).
  UNIMEM_HOST_DEVICE constexpr size_type size() const noexcept {
    size_type n = 1;
    for (std::size_t d = 0; d < Rank; ++d) n *= static_cast<size_type>(extents_[d]);
    return n;
  }
  UNIMEM_HOST_DEVICE constexpr bool empty() const noexcept { return size() == 0; }
  /// @brief Bytes of the elements the view names: size() × sizeof(T). Cannot overflow: the
  /// constructors refuse views whose byte size does not fit.
  UNIMEM_HOST_DEVICE constexpr std::size_t size_bytes() const noexcept {
    return static_cast<std::size_t>(size()) * sizeof(T);
  }
  /// @brief Elements from data() to one past the last element the view can reach (0 when empty).
  /// Equal to size() for a contiguous view; larger for a strided one. This much memory must be
  /// valid behind data().
  UNIMEM_HOST_DEVICE constexpr size_type required_span_size() const noexcept {
    size_type last = 0;
    for (std::size_t d = 0; d < Rank; ++d) {
      if (extents_[d] == 0) return 0;
      last += static_cast<size_type>(extents_[d] - 1) * static_cast<size_type>(strides_[d]);
    }
    return last + 1;
  }

  /// @brief True when the elements are dense and in row-major order, so data()[0, size()) is
  /// exactly the view. Strides of dimensions with extent 1 do not matter.
  UNIMEM_HOST_DEVICE constexpr bool is_contiguous() const noexcept {
    index_type expected = 1;
    for (std::size_t d = Rank; d-- > 0;) {
      if (extents_[d] == 0) return true;
      if (extents_[d] == 1) continue;
      if (strides_[d] != expected) return false;
      expected *= extents_[d];
    }
    return true;
  }

  /// @brief Offset in elements of the element at `idx...` from data().
  template <class... I, std::enable_if_t<sizeof...(I) == Rank && (std::is_integral_v<I> && ...), int> = 0>
  UNIMEM_HOST_DEVICE constexpr index_type offset(I... idx) const noexcept {
    return offset_impl(std::make_index_sequence<Rank>{}, idx...);
  }

  /// @brief The element at `idx...`. Unchecked, like a raw pointer; use at() for bounds checks.
  template <class... I, std::enable_if_t<sizeof...(I) == Rank && (std::is_integral_v<I> && ...), int> = 0>
  UNIMEM_HOST_DEVICE constexpr T& operator()(I... idx) const noexcept {
    return data_[offset_impl(std::make_index_sequence<Rank>{}, idx...)];
  }

  /// @brief Rank 1: the element `i`. Rank > 1: the view of dimension 0 fixed at `i`, so
  /// `v[i][j]` == `v(i, j)`. Unchecked.
  UNIMEM_HOST_DEVICE constexpr decltype(auto) operator[](index_type i) const noexcept {
    static_assert(Rank >= 1, "a rank-0 view has no operator[]; use operator()()");
    if constexpr (Rank == 1) {
      return data_[i * strides_[0]];
    } else {
      return drop_unchecked(0, i);
    }
  }

  /// @brief The element at `idx...` after checking each index against its extent.
  /// @throws std::out_of_range an index outside [0, extent)
  template <class... I, std::enable_if_t<sizeof...(I) == Rank && (std::is_integral_v<I> && ...), int> = 0>
  T& at(I... idx) const {
    const index_type ids[] = {static_cast<index_type>(idx)..., 0};
    for (std::size_t d = 0; d < Rank; ++d) {
      if (ids[d] < 0 || ids[d] >= extents_[d]) {
        detail::throw_index_out_of_range("unimem::tensor_view::at", d, ids[d], extents_[d]);
      }
    }
    return (*this)(idx...);
  }

  /// @brief The box [offsets, offsets + extents) of this view, same rank.
  /// @throws std::out_of_range the box does not lie inside the view
  tensor_view subview(const extents_type& offsets, const extents_type& extents) const {
    index_type start = 0;
    for (std::size_t d = 0; d < Rank; ++d) {
      if (offsets[d] < 0 || extents[d] < 0 || offsets[d] > extents_[d] || extents[d] > extents_[d] - offsets[d]) {
        detail::throw_bad_range("unimem::tensor_view::subview", d, offsets[d], offsets[d] + extents[d], 1,
                                extents_[d]);
      }
      start += offsets[d] * strides_[d];
    }
    return unchecked(data_ + start, extents, strides_);
  }

  /// @brief Elements begin, begin + step, ... below end along dimension `dim`, like Python's
  /// `v[begin:end:step]`. Other dimensions are kept whole.
  /// @throws std::out_of_range     `dim` >= Rank, or not 0 <= begin <= end <= extent(dim)
  /// @throws std::invalid_argument step < 1
  tensor_view slice(std::size_t dim, index_type begin, index_type end, index_type step = 1) const {
    if (dim >= Rank) detail::throw_bad_dimension("unimem::tensor_view::slice", dim, Rank);
    if (step < 1 || begin < 0 || begin > end || end > extents_[dim]) {
      detail::throw_bad_range("unimem::tensor_view::slice", dim, begin, end, step, extents_[dim]);
    }
    extents_type e = extents_;
    extents_type s = strides_;
    const index_type n = end - begin;
    e[dim] = n / step + (n % step != 0 ? 1 : 0);
    // With one element or none the stride is never used; keeping the old one avoids overflowing
    // stride × step for a huge step.
    if (e[dim] > 1) s[dim] = strides_[dim] * step;
    return unchecked(data_ + begin * strides_[dim], e, s);
  }

  /// @brief The view with dimension `dim` fixed at `index`: one rank less (a row, a column, a
  /// channel plane).
  /// @throws std::out_of_range `dim` >= Rank or `index` outside [0, extent(dim))
  tensor_view<T, (Rank > 0 ? Rank - 1 : 0)> select(std::size_t dim, index_type index) const {
    static_assert(Rank >= 1, "a rank-0 view has no dimension to select");
    if (dim >= Rank) detail::throw_bad_dimension("unimem::tensor_view::select", dim, Rank);
    if (index < 0 || index >= extents_[dim]) {
      detail::throw_index_out_of_range("unimem::tensor_view::select", dim, index, extents_[dim]);
    }
    return drop_unchecked(dim, index);
  }

  /// @brief The same elements with dimensions `a` and `b` swapped (no data moves).
  /// @throws std::out_of_range a dimension >= Rank
  tensor_view transpose(std::size_t a, std::size_t b) const {
    if (a >= Rank) detail::throw_bad_dimension("unimem::tensor_view::transpose", a, Rank);
    if (b >= Rank) detail::throw_bad_dimension("unimem::tensor_view::transpose", b, Rank);
    extents_type e = extents_;
    extents_type s = strides_;
    std::swap(e[a], e[b]);
    std::swap(s[a], s[b]);
    return unchecked(data_, e, s);
  }

  /// @brief The same elements as a row-major view of another shape.
  /// @throws std::invalid_argument this view is not contiguous, or the element counts differ
  template <std::size_t NewRank>
  tensor_view<T, NewRank> reshape(const index_array<NewRank>& extents) const {
    if (!is_contiguous()) {
      detail::throw_not_contiguous("unimem::tensor_view::reshape", Rank, &extents_[0], &strides_[0]);
    }
    tensor_view<T, NewRank> out(data_, extents);
    if (out.size() != size()) detail::throw_reshape_mismatch("unimem::tensor_view::reshape", size(), out.size());
    return out;
  }

  /// @brief All elements as one span, for a contiguous view.
  /// @throws std::invalid_argument the view is not contiguous
  span<T> flat() const {
    if (!is_contiguous()) detail::throw_not_contiguous("unimem::tensor_view::flat", Rank, &extents_[0], &strides_[0]);
    return {data_, static_cast<std::size_t>(size())};
  }

 private:
  template <class, std::size_t>
  friend class tensor_view;

  tensor_view(T* data, const extents_type& extents, const extents_type& strides, const char* what)
      : data_(data), extents_(extents), strides_(strides) {
    detail::validate_layout(what, extents_, strides_, sizeof(T));
  }

  template <std::size_t... D, class... I>
  UNIMEM_HOST_DEVICE constexpr index_type offset_impl(std::index_sequence<D...>, I... idx) const noexcept {
    return (index_type{0} + ... + (static_cast<index_type>(idx) * strides_[D]));
  }

  UNIMEM_HOST_DEVICE constexpr tensor_view<T, (Rank > 0 ? Rank - 1 : 0)> drop_unchecked(std::size_t dim,
                                                                                       index_type i) const noexcept {
    constexpr std::size_t R = Rank > 0 ? Rank - 1 : 0;
    index_array<R> e;
    index_array<R> s;
    std::size_t k = 0;
    for (std::size_t d = 0; d < Rank; ++d) {
      if (d == dim) continue;
      e[k] = extents_[d];
      s[k] = strides_[d];
      ++k;
    }
    return tensor_view<T, R>::unchecked(data_ + i * strides_[dim], e, s);
  }

  T* data_ = nullptr;
  extents_type extents_{};
  extents_type strides_{};
};

}  // namespace unimem
