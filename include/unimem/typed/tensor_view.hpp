/// @file tensor_view.hpp
/// @brief `tensor_view<T, Rank>` (dense row-major), `pitched_view<T, Rank>` (contiguous rows) and
/// `strided_view<T, Rank>`: non-owning views of an N-dimensional array, indexable on the host and
/// inside kernels.
///
/// Extents and strides are counted in elements, as in DLPack and mdspan. The layout is a template
/// parameter, as in mdspan: the default, layout_right, derives its strides from the extents, so a
/// kernel over a contiguous view compiles to the same instructions as one over a raw pointer
/// (bench/bench_tensor_view.cu measures it); layout_pitched stores all but the innermost stride
/// (1), for pitched images and regions of interest; layout_stride stores them all, for slices with
/// steps and transposes. Plain C++17: under nvcc the indexing functions become
/// `__host__ __device__` (see detail/config.hpp), elsewhere they are ordinary inline functions, so
/// the header needs no CUDA header.
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
#include <unimem/typed/span.hpp>

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

/// @brief Layout policy of a dense row-major (C order) view: the strides follow from the extents,
/// so the view stores none and the innermost stride is 1 at compile time. Indexing a rank-3 view
/// is `(i * e1 + j) * e2 + k`, the expression one writes by hand over a raw pointer, and compiles
/// to the same instructions.
struct layout_right {};

/// @brief Layout policy of a view whose rows are contiguous (innermost stride 1, known at compile
/// time) and whose other strides are stored: a pitched image (cudaMallocPitch, a camera buffer
/// with row padding), a box of a contiguous image (subview), a range of columns. Indexes like
/// `p[i * pitch + j]` written by hand.
struct layout_pitched {};

/// @brief Layout policy of a view with a stored, arbitrary non-negative stride per dimension:
/// slices with steps, transposes, broadcasts, imported DLPack tensors. Indexing costs a multiply
/// by the innermost stride more than layout_pitched (it is a run-time value).
struct layout_stride {};

template <class T, std::size_t Rank, class Layout = layout_right>
class tensor_view;

/// @brief A view with contiguous rows and stored outer strides: what subview() of a contiguous or
/// pitched view returns. A contiguous tensor_view converts to it implicitly.
template <class T, std::size_t Rank>
using pitched_view = tensor_view<T, Rank, layout_pitched>;

/// @brief The strided view: what slice, select and transpose return. Contiguous and pitched views
/// convert to it implicitly, so a function taking a strided_view takes any view.
template <class T, std::size_t Rank>
using strided_view = tensor_view<T, Rank, layout_stride>;

namespace detail {

template <class>
struct always_false : std::false_type {};

// Out of line (src/tensor_view.cpp), like the other messages.
[[noreturn]] void throw_inner_stride(const char* what, std::size_t rank, const std::int64_t* extents,
                                     const std::int64_t* strides);

// What a view stores besides the pointer: the extents, and the strides except for layout_right
// (a contiguous rank-2 view is 24 bytes, the others 40). layout_pitched keeps its innermost
// stride at 1 so strides() can hand the array out as is; indexing never reads it.
template <std::size_t Rank, class Layout>
struct view_layout {
  index_array<Rank> extents{};
  index_array<Rank> strides{};
};
template <std::size_t Rank>
struct view_layout<Rank, layout_right> {
  index_array<Rank> extents{};
};

// How much a layout promises, from most to least: contiguous, contiguous rows, nothing.
template <class Layout>
inline constexpr int layout_promise_v = std::is_same_v<Layout, layout_right>     ? 2
                                        : std::is_same_v<Layout, layout_pitched> ? 1
                                                                                 : 0;

template <class From, class To>
inline constexpr bool same_element_v =
    std::is_convertible_v<From (*)[], To (*)[]> && std::is_same_v<std::remove_cv_t<From>, std::remove_cv_t<To>>;

/// tensor_view<From, R, FromLayout> converts implicitly to tensor_view<To, R, ToLayout>: the same
/// or more const element type, and a layout that promises no more (contiguous → pitched →
/// strided). The other way needs a run-time check: see the explicit constructor.
template <class From, class FromLayout, class To, class ToLayout>
inline constexpr bool view_converts_v = same_element_v<From, To> &&
                                        layout_promise_v<FromLayout> >= layout_promise_v<ToLayout> &&
                                        !(std::is_same_v<From, To> && std::is_same_v<FromLayout, ToLayout>);

}  // namespace detail

/// @brief A non-owning view of `T` elements laid out by extents and a layout policy, counted in
/// elements.
///
/// `tensor_view<T, Rank>` is dense and row-major (layout_right): it stores no strides and indexes
/// exactly like hand-written pointer arithmetic, so kernels over it cost nothing over raw pointers.
/// `pitched_view<T, Rank>` (layout_pitched) has contiguous rows and stored outer strides, like a
/// pitched image; subview() returns it. `strided_view<T, Rank>` (layout_stride) stores every
/// stride; slice, select and transpose return it. Views convert implicitly towards fewer
/// promises (contiguous → pitched → strided) and explicitly, with a check, the other way. Copy
/// them freely and pass them to kernels by value. Strides must be non-negative; a stride of 0
/// (broadcast) is allowed in a strided view, so two indices may name the same element.
template <class T, std::size_t Rank, class Layout>
class tensor_view {
  static_assert(std::is_same_v<Layout, layout_right> || std::is_same_v<Layout, layout_pitched> ||
                    std::is_same_v<Layout, layout_stride>,
                "unimem::tensor_view: Layout must be unimem::layout_right, layout_pitched or layout_stride");
  static constexpr bool dense_ = std::is_same_v<Layout, layout_right>;
  static constexpr bool pitched_ = std::is_same_v<Layout, layout_pitched>;
  // What subview() returns: a box of contiguous rows still has contiguous rows.
  using box_view = tensor_view<T, Rank, std::conditional_t<dense_ || pitched_, layout_pitched, layout_stride>>;

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using index_type = std::int64_t;
  using size_type = std::uint64_t;
  using extents_type = index_array<Rank>;
  using layout_type = Layout;

  static constexpr std::size_t rank() noexcept { return Rank; }
  /// @brief True for layout_right: every view of this type is dense row-major.
  static constexpr bool is_always_contiguous() noexcept { return dense_; }
  /// @brief True for layout_right and layout_pitched: the innermost stride is 1 by type.
  static constexpr bool is_always_unit_stride() noexcept { return dense_ || pitched_; }

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
  tensor_view(T* data, const extents_type& extents) : data_(data) {
    detail::validate_extents("unimem::tensor_view(data, extents)", extents, nullptr, sizeof(T));
    layout_.extents = extents;
    if constexpr (!dense_) layout_.strides = row_major_strides(extents);  // cannot overflow now
  }

  /// @brief Pitched or strided view with explicit strides, in elements (not bytes). A pitched
  /// view's innermost stride must be 1 (it may be anything when that extent is 0 or 1).
  /// `pitched_view<uint8_t, 2>(p, {h, w}, {pitch_bytes, 1})` views a cudaMallocPitch image.
  /// @throws std::invalid_argument a negative extent or stride; a pitched innermost stride != 1
  /// @throws std::overflow_error   an offset or the byte size does not fit in std::ptrdiff_t
  template <class L = Layout, std::enable_if_t<!std::is_same_v<L, layout_right>, int> = 0>
  tensor_view(T* data, const extents_type& extents, const extents_type& strides)
      : tensor_view(data, extents, strides, "unimem::tensor_view(data, extents, strides)") {}

  // A contiguous view has no strides to give; say so at compile time instead of "no matching
  // constructor".
  template <class L = Layout, std::enable_if_t<std::is_same_v<L, layout_right>, int> = 0>
  tensor_view(T*, const extents_type&, const extents_type&) {
    static_assert(detail::always_false<L>::value,
                  "unimem::tensor_view<T, Rank> is dense row-major and takes no strides: use "
                  "unimem::pitched_view<T, Rank> (contiguous rows) or unimem::strided_view<T, Rank>");
  }

  /// @brief Adds const and/or gives up layout promises: tensor_view<float, R> →
  /// tensor_view<const float, R>, pitched_view<float, R>, strided_view<const float, R>, ...
  template <class U, class L, std::enable_if_t<detail::view_converts_v<U, L, T, Layout>, int> = 0>
  UNIMEM_HOST_DEVICE constexpr tensor_view(const tensor_view<U, Rank, L>& other) noexcept  // NOLINT: implicit
      : data_(other.data()) {
    layout_.extents = other.extents();
    if constexpr (!dense_) layout_.strides = other.strides();
  }

  /// @brief A view whose layout happens to keep a promise its type does not make, as the view
  /// type that makes it: a strided view that is_contiguous() (a DLPack import, a slice of whole
  /// rows) as a tensor_view; one with innermost stride 1 as a pitched_view. Explicit: it checks at
  /// run time.
  /// @throws std::invalid_argument the view does not keep the promise
  template <class U, class L,
            std::enable_if_t<detail::same_element_v<U, T> &&
                                 (detail::layout_promise_v<L> < detail::layout_promise_v<Layout>),
                             int> = 0>
  explicit tensor_view(const tensor_view<U, Rank, L>& other) : data_(other.data()) {
    const extents_type s = other.strides();
    if constexpr (dense_) {
      if (!other.is_contiguous()) {
        detail::throw_not_contiguous("unimem::tensor_view(view)", Rank, &other.extents()[0], &s[0]);
      }
    } else {
      if (!other.has_unit_inner_stride()) {
        detail::throw_inner_stride("unimem::pitched_view(view)", Rank, &other.extents()[0], &s[0]);
      }
      layout_.strides = s;
      if constexpr (Rank > 0) layout_.strides[Rank - 1] = 1;
    }
    layout_.extents = other.extents();
  }

  /// @brief A one-dimensional contiguous view of a span.
  template <class U, std::size_t R = Rank,
            std::enable_if_t<R == 1 && std::is_convertible_v<U (*)[], T (*)[]>, int> = 0>
  UNIMEM_HOST_DEVICE constexpr tensor_view(span<U> s) noexcept  // NOLINT: implicit like span → span
      : data_(s.data()) {
    layout_.extents[0] = static_cast<index_type>(s.size());
    if constexpr (!dense_) layout_.strides[0] = 1;
  }

  /// @brief Builds a contiguous view without any validation; for device code, where nothing can
  /// throw. The caller guarantees non-negative extents whose byte size fits in std::ptrdiff_t.
  template <class L = Layout, std::enable_if_t<std::is_same_v<L, layout_right>, int> = 0>
  UNIMEM_HOST_DEVICE static constexpr tensor_view unchecked(T* data, const extents_type& extents) noexcept {
    tensor_view v;
    v.data_ = data;
    v.layout_.extents = extents;
    return v;
  }

  /// @brief Builds a pitched or strided view without any validation; for device code, where
  /// nothing can throw. The caller guarantees non-negative extents and strides and offsets that
  /// fit; a pitched view's innermost stride is taken as 1.
  template <class L = Layout, std::enable_if_t<!std::is_same_v<L, layout_right>, int> = 0>
  UNIMEM_HOST_DEVICE static constexpr tensor_view unchecked(T* data, const extents_type& extents,
                                                            const extents_type& strides) noexcept {
    tensor_view v;
    v.data_ = data;
    v.layout_.extents = extents;
    v.layout_.strides = strides;
    if constexpr (pitched_ && Rank > 0) v.layout_.strides[Rank - 1] = 1;
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
  UNIMEM_HOST_DEVICE constexpr const extents_type& extents() const noexcept { return layout_.extents; }
  /// @brief The strides in elements: stored for layout_pitched and layout_stride,
  /// row_major_strides(extents()) for layout_right.
  UNIMEM_HOST_DEVICE constexpr extents_type strides() const noexcept {
    if constexpr (dense_) {
      return row_major_strides(layout_.extents);
    } else {
      return layout_.strides;
    }
  }
  UNIMEM_HOST_DEVICE constexpr index_type extent(std::size_t d) const noexcept { return layout_.extents[d]; }
  UNIMEM_HOST_DEVICE constexpr index_type stride(std::size_t d) const noexcept {
    if constexpr (dense_) {
      index_type step = 1;
      for (std::size_t k = d + 1; k < Rank; ++k) step *= layout_.extents[k] > 1 ? layout_.extents[k] : 1;
      return step;
    } else {
      return layout_.strides[d];
    }
  }

  /// @brief Number of elements (the product of the extents; 1 for rank 0).
  UNIMEM_HOST_DEVICE constexpr size_type size() const noexcept {
    size_type n = 1;
    for (std::size_t d = 0; d < Rank; ++d) n *= static_cast<size_type>(layout_.extents[d]);
    return n;
  }
  UNIMEM_HOST_DEVICE constexpr bool empty() const noexcept { return size() == 0; }
  /// @brief Bytes of the elements the view names: size() × sizeof(T). Cannot overflow: the
  /// constructors refuse views whose byte size does not fit.
  UNIMEM_HOST_DEVICE constexpr std::size_t size_bytes() const noexcept {
    return static_cast<std::size_t>(size()) * sizeof(T);
  }
  /// @brief Elements from data() to one past the last element the view can reach (0 when empty).
  /// Equal to size() for a contiguous view; larger for a pitched or strided one. This much memory
  /// must be valid behind data().
  UNIMEM_HOST_DEVICE constexpr size_type required_span_size() const noexcept {
    if constexpr (dense_) {
      return size();
    } else {
      size_type last = 0;
      for (std::size_t d = 0; d < Rank; ++d) {
        if (layout_.extents[d] == 0) return 0;
        last += static_cast<size_type>(layout_.extents[d] - 1) * static_cast<size_type>(layout_.strides[d]);
      }
      return last + 1;
    }
  }

  /// @brief True when the elements are dense and in row-major order, so data()[0, size()) is
  /// exactly the view. Always true for layout_right; otherwise strides of dimensions with extent 1
  /// do not matter.
  UNIMEM_HOST_DEVICE constexpr bool is_contiguous() const noexcept {
    if constexpr (dense_) {
      return true;
    } else {
      index_type expected = 1;
      for (std::size_t d = Rank; d-- > 0;) {
        if (layout_.extents[d] == 0) return true;
        if (layout_.extents[d] == 1) continue;
        if (layout_.strides[d] != expected) return false;
        expected *= layout_.extents[d];
      }
      return true;
    }
  }

  /// @brief True when consecutive elements of a row are adjacent (innermost stride 1, or at most
  /// one element per row), so the view converts to a pitched_view. Always true for layout_right
  /// and layout_pitched.
  UNIMEM_HOST_DEVICE constexpr bool has_unit_inner_stride() const noexcept {
    if constexpr (dense_ || pitched_ || Rank == 0) {
      return true;
    } else {
      return layout_.extents[Rank - 1] <= 1 || layout_.strides[Rank - 1] == 1;
    }
  }

  /// @brief Offset in elements of the element at `idx...` from data(), in std::int64_t (views of
  /// more than 2^31 elements work). layout_right computes `(i0 * e1 + i1) * e2 + ...` (Horner
  /// form, as written by hand over a dense array); layout_pitched `i0 * s0 + i1 * s1 + ... + in`
  /// (the innermost index added as is); layout_stride `i0 * s0 + ... + in * sn`.
  template <class... I, std::enable_if_t<sizeof...(I) == Rank && (std::is_integral_v<I> && ...), int> = 0>
  UNIMEM_HOST_DEVICE constexpr index_type offset(I... idx) const noexcept {
    if constexpr (Rank == 0) {
      return 0;
    } else if constexpr (dense_) {
      return horner_offset(std::make_index_sequence<Rank - 1>{}, static_cast<index_type>(idx)...);
    } else if constexpr (pitched_) {
      return pitched_offset(std::make_index_sequence<Rank - 1>{}, static_cast<index_type>(idx)...);
    } else {
      return strided_offset(std::make_index_sequence<Rank>{}, static_cast<index_type>(idx)...);
    }
  }

  /// @brief The element at `idx...`. Unchecked, like a raw pointer; use at() for bounds checks.
  template <class... I, std::enable_if_t<sizeof...(I) == Rank && (std::is_integral_v<I> && ...), int> = 0>
  UNIMEM_HOST_DEVICE constexpr T& operator()(I... idx) const noexcept {
    return data_[offset(idx...)];
  }

  /// @brief Rank 1: the element `i`. Rank > 1: the view of dimension 0 fixed at `i`, of the same
  /// layout (a row of a contiguous view is contiguous), so `v[i][j]` == `v(i, j)`. Unchecked.
  UNIMEM_HOST_DEVICE constexpr decltype(auto) operator[](index_type i) const noexcept {
    static_assert(Rank >= 1, "a rank-0 view has no operator[]; use operator()()");
    if constexpr (Rank == 1) {
      if constexpr (dense_ || pitched_) {
        return data_[i];
      } else {
        return data_[i * layout_.strides[0]];
      }
    } else {
      constexpr std::size_t R = Rank - 1;
      index_array<R> e;
      for (std::size_t d = 0; d < R; ++d) e[d] = layout_.extents[d + 1];
      if constexpr (dense_) {
        return tensor_view<T, R, layout_right>::unchecked(data_ + i * stride(0), e);
      } else {
        index_array<R> s;
        for (std::size_t d = 0; d < R; ++d) s[d] = layout_.strides[d + 1];
        return tensor_view<T, R, Layout>::unchecked(data_ + i * layout_.strides[0], e, s);
      }
    }
  }

  /// @brief The element at `idx...` after checking each index against its extent.
  /// @throws std::out_of_range an index outside [0, extent)
  template <class... I, std::enable_if_t<sizeof...(I) == Rank && (std::is_integral_v<I> && ...), int> = 0>
  T& at(I... idx) const {
    const index_type ids[] = {static_cast<index_type>(idx)..., 0};
    for (std::size_t d = 0; d < Rank; ++d) {
      if (ids[d] < 0 || ids[d] >= layout_.extents[d]) {
        detail::throw_index_out_of_range("unimem::tensor_view::at", d, ids[d], layout_.extents[d]);
      }
    }
    return (*this)(idx...);
  }

  /// @brief The box [offsets, offsets + extents) of this view, same rank and the parent's strides:
  /// a pitched_view of a contiguous or pitched view (its rows stay contiguous), a strided_view of
  /// a strided one. `frame.subview({y, x}, {h, w})` is a region of interest.
  /// @throws std::out_of_range the box does not lie inside the view
  box_view subview(const extents_type& offsets, const extents_type& extents) const {
    const extents_type s = strides();
    index_type start = 0;
    bool empty = false;
    for (std::size_t d = 0; d < Rank; ++d) {
      const index_type e = layout_.extents[d];
      if (offsets[d] < 0 || extents[d] < 0 || offsets[d] > e || extents[d] > e - offsets[d]) {
        detail::throw_bad_range("unimem::tensor_view::subview", d, offsets[d], offsets[d] + extents[d], 1, e);
      }
      empty = empty || extents[d] == 0;
    }
    // An empty box reaches no element, and an offset at an extent may lie past every element the
    // constructor checked (it could overflow): only a non-empty box moves the pointer.
    if (!empty) {
      for (std::size_t d = 0; d < Rank; ++d) start += offsets[d] * s[d];
    }
    return box_view::unchecked(data_ + start, extents, s);
  }

  /// @brief Elements begin, begin + step, ... below end along dimension `dim`, like Python's
  /// `v[begin:end:step]`. Other dimensions are kept whole. Strided (use subview for a box with
  /// contiguous rows).
  /// @throws std::out_of_range     `dim` >= Rank, or not 0 <= begin <= end <= extent(dim)
  /// @throws std::invalid_argument step < 1
  strided_view<T, Rank> slice(std::size_t dim, index_type begin, index_type end, index_type step = 1) const {
    if (dim >= Rank) detail::throw_bad_dimension("unimem::tensor_view::slice", dim, Rank);
    if (step < 1 || begin < 0 || begin > end || end > layout_.extents[dim]) {
      detail::throw_bad_range("unimem::tensor_view::slice", dim, begin, end, step, layout_.extents[dim]);
    }
    extents_type e = layout_.extents;
    const extents_type old = strides();
    extents_type s = old;
    const index_type n = end - begin;
    e[dim] = n / step + (n % step != 0 ? 1 : 0);
    // With one element or none the stride is never used; keeping the old one avoids overflowing
    // stride × step for a huge step.
    if (e[dim] > 1) s[dim] = old[dim] * step;
    // An empty slice may begin at the extent, past every offset the constructor checked.
    return strided_view<T, Rank>::unchecked(n == 0 ? data_ : data_ + begin * old[dim], e, s);
  }

  /// @brief The view with dimension `dim` fixed at `index`: one rank less (a row, a column, a
  /// channel plane). Strided; operator[] fixes dimension 0 and keeps the layout.
  /// @throws std::out_of_range `dim` >= Rank or `index` outside [0, extent(dim))
  strided_view<T, (Rank > 0 ? Rank - 1 : 0)> select(std::size_t dim, index_type index) const {
    static_assert(Rank >= 1, "a rank-0 view has no dimension to select");
    if (dim >= Rank) detail::throw_bad_dimension("unimem::tensor_view::select", dim, Rank);
    if (index < 0 || index >= layout_.extents[dim]) {
      detail::throw_index_out_of_range("unimem::tensor_view::select", dim, index, layout_.extents[dim]);
    }
    constexpr std::size_t R = Rank > 0 ? Rank - 1 : 0;
    const extents_type st = strides();
    index_array<R> e;
    index_array<R> s;
    std::size_t k = 0;
    for (std::size_t d = 0; d < Rank; ++d) {
      if (d == dim) continue;
      e[k] = layout_.extents[d];
      s[k] = st[d];
      ++k;
    }
    return strided_view<T, R>::unchecked(data_ + index * st[dim], e, s);
  }

  /// @brief The same elements with dimensions `a` and `b` swapped (no data moves). Strided.
  /// @throws std::out_of_range a dimension >= Rank
  strided_view<T, Rank> transpose(std::size_t a, std::size_t b) const {
    if (a >= Rank) detail::throw_bad_dimension("unimem::tensor_view::transpose", a, Rank);
    if (b >= Rank) detail::throw_bad_dimension("unimem::tensor_view::transpose", b, Rank);
    extents_type e = layout_.extents;
    extents_type s = strides();
    std::swap(e[a], e[b]);
    std::swap(s[a], s[b]);
    return strided_view<T, Rank>::unchecked(data_, e, s);
  }

  /// @brief The same elements as a contiguous row-major view of another shape.
  /// @throws std::invalid_argument this view is not contiguous, or the element counts differ
  template <std::size_t NewRank>
  tensor_view<T, NewRank> reshape(const index_array<NewRank>& extents) const {
    if (!is_contiguous()) {
      const extents_type s = strides();
      detail::throw_not_contiguous("unimem::tensor_view::reshape", Rank, &layout_.extents[0], &s[0]);
    }
    tensor_view<T, NewRank> out(data_, extents);
    if (out.size() != size()) detail::throw_reshape_mismatch("unimem::tensor_view::reshape", size(), out.size());
    return out;
  }

  /// @brief All elements as one span, for a contiguous view.
  /// @throws std::invalid_argument the view is not contiguous
  span<T> flat() const {
    if (!is_contiguous()) {
      const extents_type s = strides();
      detail::throw_not_contiguous("unimem::tensor_view::flat", Rank, &layout_.extents[0], &s[0]);
    }
    return {data_, static_cast<std::size_t>(size())};
  }

 private:
  template <class, std::size_t, class>
  friend class tensor_view;

  template <class L = Layout, std::enable_if_t<!std::is_same_v<L, layout_right>, int> = 0>
  tensor_view(T* data, const extents_type& extents, const extents_type& strides, const char* what) : data_(data) {
    extents_type s = strides;
    if constexpr (pitched_ && Rank > 0) {
      // Stride 1 is the promise; an innermost extent of 0 or 1 never uses the stride.
      if (extents[Rank - 1] > 1 && s[Rank - 1] != 1) detail::throw_inner_stride(what, Rank, &extents[0], &s[0]);
      s[Rank - 1] = 1;
    }
    detail::validate_layout(what, extents, s, sizeof(T));
    layout_.extents = extents;
    layout_.strides = s;
  }

  // ((i0 * e1 + i1) * e2 + i2) ...: one multiply-add per dimension after the first, no stride
  // loads, and the innermost index added as is.
  template <std::size_t... D, class... I>
  UNIMEM_HOST_DEVICE constexpr index_type horner_offset(std::index_sequence<D...>, index_type first,
                                                        I... rest) const noexcept {
    const index_type tail[] = {rest..., 0};
    (void)tail;  // unused for rank 1
    index_type o = first;
    ((o = o * layout_.extents[D + 1] + tail[D]), ...);
    return o;
  }

  // i0 * s0 + ... + i(R-2) * s(R-2) + i(R-1): the innermost stride is 1 by type.
  template <std::size_t... D, class... I>
  UNIMEM_HOST_DEVICE constexpr index_type pitched_offset(std::index_sequence<D...>, I... idx) const noexcept {
    const index_type ids[] = {idx...};
    return (ids[Rank - 1] + ... + (ids[D] * layout_.strides[D]));
  }

  template <std::size_t... D, class... I>
  UNIMEM_HOST_DEVICE constexpr index_type strided_offset(std::index_sequence<D...>, I... idx) const noexcept {
    return (index_type{0} + ... + (idx * layout_.strides[D]));
  }

  T* data_ = nullptr;
  detail::view_layout<Rank, Layout> layout_{};
};

}  // namespace unimem
