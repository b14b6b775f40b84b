// DLPack export and import over host memory (and host memory claiming other kinds, to check the
// device types without a GPU). Runs wherever dlpack/dlpack.h is found; the real CUDA kinds are
// exported in test_typed_gpu.cpp.
#include <gtest/gtest.h>

#if __has_include(<dlpack/dlpack.h>)

#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <unimem/typed/dlpack.hpp>
#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/typed/tensor.hpp>

#include "support/typed_resources.hpp"

namespace unimem::test {
namespace {

/// A producer's tensor built by hand: host data, caller-chosen metadata, a deleter that counts.
struct foreign_tensor {
  std::vector<float> data;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;
  int deleted = 0;
  DLManagedTensor managed{};

  foreign_tensor(std::vector<std::int64_t> s, std::vector<std::int64_t> st = {}) : shape(std::move(s)), strides(std::move(st)) {
    // Room for what the small cases address; the huge and malformed ones are refused before
    // any element is read.
    data.resize(64);
    std::iota(data.begin(), data.end(), 0.0F);
    DLTensor& t = managed.dl_tensor;
    t.data = data.data();
    t.device = {kDLCPU, 0};
    t.ndim = static_cast<std::int32_t>(shape.size());
    t.dtype = {static_cast<std::uint8_t>(kDLFloat), 32, 1};
    t.shape = shape.data();
    t.strides = strides.empty() ? nullptr : strides.data();
    t.byte_offset = 0;
    managed.manager_ctx = this;
    managed.deleter = [](DLManagedTensor* self) { ++static_cast<foreign_tensor*>(self->manager_ctx)->deleted; };
  }
};

TEST(dlpack, dtypes_map_both_ways) {
  for (dtype t : {dtype::f16, dtype::f32, dtype::f64, dtype::bf16, dtype::i8, dtype::i16, dtype::i32, dtype::i64,
                  dtype::u8, dtype::u16, dtype::u32, dtype::u64}) {
    const DLDataType d = to_dlpack_dtype(t);
    EXPECT_EQ(d.bits, size_of(t) * 8) << to_string(t);
    EXPECT_EQ(d.lanes, 1) << to_string(t);
    EXPECT_EQ(from_dlpack_dtype(d), t) << to_string(t);
  }
  EXPECT_EQ(to_dlpack_dtype(dtype::bf16).code, kDLBfloat);
  EXPECT_EQ(to_dlpack_dtype(dtype::u16).code, kDLUInt);
  if (dlpack_has_bool) {
    EXPECT_EQ(from_dlpack_dtype(to_dlpack_dtype(dtype::boolean)), dtype::boolean);
  } else {
    EXPECT_THROW((void)to_dlpack_dtype(dtype::boolean), unsupported_error);
  }
  for (dtype t : {dtype::f8_e4m3, dtype::f8_e5m2}) {
    if (dlpack_has_fp8) {
      EXPECT_EQ(from_dlpack_dtype(to_dlpack_dtype(t)), t);
    } else {
      EXPECT_THROW((void)to_dlpack_dtype(t), unsupported_error);
    }
  }
  EXPECT_THROW((void)from_dlpack_dtype({static_cast<std::uint8_t>(kDLFloat), 32, 4}), unsupported_error);
  EXPECT_THROW((void)from_dlpack_dtype({static_cast<std::uint8_t>(kDLComplex), 64, 1}), unsupported_error);
  EXPECT_THROW((void)from_dlpack_dtype({static_cast<std::uint8_t>(kDLInt), 4, 1}), unsupported_error);
  EXPECT_THROW((void)from_dlpack_dtype({static_cast<std::uint8_t>(kDLBfloat), 32, 1}), unsupported_error);
}

TEST(dlpack, memory_kinds_map_to_device_types) {
  EXPECT_EQ(to_dlpack_device_type(memory_kind::host), kDLCPU);
  EXPECT_EQ(to_dlpack_device_type(memory_kind::device), kDLCUDA);
  EXPECT_EQ(to_dlpack_device_type(memory_kind::pinned), kDLCUDAHost);
  EXPECT_EQ(to_dlpack_device_type(memory_kind::mapped), kDLCUDAHost);
  EXPECT_EQ(to_dlpack_device_type(memory_kind::registered), kDLCUDAHost);
  EXPECT_EQ(to_dlpack_device_type(memory_kind::managed), kDLCUDAManaged);
}

/// Device-accessible memory with the same pointer on both sides (UVA), as each resource claims it.
constexpr resource_traits mapped_traits{memory_kind::mapped, true, true, true};
constexpr resource_traits registered_traits{memory_kind::registered, true, true, true};
constexpr resource_traits host_attached_managed_traits{memory_kind::managed, true, false, false};
constexpr resource_traits host_traits{memory_kind::host, true, false, false};

TEST(dlpack, accepted_devices_name_everything_a_kernel_reaches_cuda_and_the_rest_cpu) {
  struct expectation {
    resource_traits traits;
    DLDeviceType type;
  };
  for (const expectation& e : {expectation{fake_device_traits, kDLCUDA}, expectation{fake_pinned_traits, kDLCUDA},
                               expectation{mapped_traits, kDLCUDA}, expectation{registered_traits, kDLCUDA},
                               expectation{fake_managed_traits, kDLCUDA},
                               expectation{host_attached_managed_traits, kDLCPU}, expectation{host_traits, kDLCPU}}) {
    const DLDevice d = to_dlpack_device(e.traits, 3, dlpack_devices::accepted);
    EXPECT_EQ(d.device_type, e.type) << to_string(e.traits.kind);
    EXPECT_EQ(d.device_id, e.type == kDLCUDA ? 3 : 0) << to_string(e.traits.kind);
  }
}

TEST(dlpack, exact_devices_keep_the_kind_and_host_devices_give_the_cpu_view) {
  for (const resource_traits& t : {fake_device_traits, fake_pinned_traits, mapped_traits, registered_traits,
                                   fake_managed_traits, host_attached_managed_traits, host_traits}) {
    const DLDevice exact = to_dlpack_device(t, 2, dlpack_devices::exact);
    EXPECT_EQ(exact.device_type, to_dlpack_device_type(t.kind)) << to_string(t.kind);
    EXPECT_EQ(exact.device_id, exact.device_type == kDLCUDA ? 2 : 0) << to_string(t.kind);
    if (t.host_accessible) {
      const DLDevice host = to_dlpack_device(t, 2, dlpack_devices::host);
      EXPECT_EQ(host.device_type, kDLCPU) << to_string(t.kind);
      EXPECT_EQ(host.device_id, 0) << to_string(t.kind);
    } else {
      EXPECT_THROW((void)to_dlpack_device(t, 2, dlpack_devices::host), host_access_error) << to_string(t.kind);
    }
  }
}

TEST(dlpack, export_describes_the_tensor_and_the_deleter_frees_it) {
  recording_resource mr;
  tensor t({2, 3}, dtype::f32, mr, fake_stream(9));
  void* p = t.data();
  DLManagedTensor* m = to_dlpack(std::move(t));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(t.data(), nullptr);  // NOLINT(bugprone-use-after-move): the export took it
  const DLTensor& d = m->dl_tensor;
  EXPECT_EQ(d.data, p);
  EXPECT_EQ(d.device.device_type, kDLCPU);
  EXPECT_EQ(d.device.device_id, 0);
  EXPECT_EQ(d.ndim, 2);
  EXPECT_EQ(d.shape[0], 2);
  EXPECT_EQ(d.shape[1], 3);
  ASSERT_NE(d.strides, nullptr);
  EXPECT_EQ(d.strides[0], 3);
  EXPECT_EQ(d.strides[1], 1);
  EXPECT_EQ(d.dtype.code, kDLFloat);
  EXPECT_EQ(d.dtype.bits, 32);
  EXPECT_EQ(d.byte_offset, 0U);
  EXPECT_TRUE(mr.deallocations.empty());  // alive until the consumer lets go
  m->deleter(m);
  ASSERT_EQ(mr.deallocations.size(), 1U);
  EXPECT_EQ(mr.deallocations[0].p, p);
  EXPECT_EQ(mr.deallocations[0].stream, fake_stream(9));  // freed on the tensor's stream
}

TEST(dlpack, export_names_pinned_and_managed_memory_as_pytorch_takes_them_or_exactly) {
  recording_resource pinned(fake_pinned_traits);
  recording_resource managed(fake_managed_traits);
  tensor tp({4}, dtype::u8, pinned);
  tensor tm({4}, dtype::u8, managed);
  void* const p = tp.data();
  const int device = tp.device();  // -1 without a GPU: the label is whatever tensor::device() says
  DLManagedTensor* a = to_dlpack(std::move(tp));
  DLManagedTensor* b = to_dlpack(std::move(tm));
  EXPECT_EQ(a->dl_tensor.device.device_type, kDLCUDA);  // the default: what torch.from_dlpack takes
  EXPECT_EQ(a->dl_tensor.device.device_id, device);
  EXPECT_EQ(a->dl_tensor.data, p);  // the device pointer is the host pointer (UVA)
  EXPECT_EQ(b->dl_tensor.device.device_type, kDLCUDA);
  a->deleter(a);
  b->deleter(b);

  dlpack_export_options exact;
  exact.devices = dlpack_devices::exact;
  DLManagedTensor* c = to_dlpack(tensor({4}, dtype::u8, pinned), exact);
  DLManagedTensor* d = to_dlpack(tensor({4}, dtype::u8, managed), exact);
  EXPECT_EQ(c->dl_tensor.device.device_type, kDLCUDAHost);
  EXPECT_EQ(c->dl_tensor.device.device_id, 0);
  EXPECT_EQ(d->dl_tensor.device.device_type, kDLCUDAManaged);
  EXPECT_EQ(d->dl_tensor.device.device_id, 0);
  c->deleter(c);
  d->deleter(d);
  EXPECT_EQ(pinned.live(), 0U);
  EXPECT_EQ(managed.live(), 0U);
}

TEST(dlpack, a_kernel_view_of_memory_whose_device_pointer_differs_carries_the_device_pointer) {
  // Mapped memory without unified addressing: the kernel must get cudaHostGetDevicePointer's
  // answer, which the caller supplies.
  recording_resource mr(resource_traits{memory_kind::mapped, true, true, false});
  tensor t({8}, dtype::f32, mr);
  void* const host = t.data();
  try {
    (void)to_dlpack(std::move(t));
    ADD_FAILURE() << "expected unsupported_error";
  } catch (const unsupported_error& e) {
    EXPECT_NE(std::string(e.what()).find("device_data"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t.data(), host);  // NOLINT(bugprone-use-after-move): nothing was taken
  int device_side = 0;
  dlpack_export_options options;
  options.device_data = &device_side;
  DLManagedTensor* m = to_dlpack(std::move(t), options);
  EXPECT_EQ(m->dl_tensor.device.device_type, kDLCUDA);
  EXPECT_EQ(m->dl_tensor.data, &device_side);
  m->deleter(m);
  dlpack_export_options host_view;
  host_view.devices = dlpack_devices::host;
  DLManagedTensor* h = to_dlpack(tensor({8}, dtype::f32, mr), host_view);  // the CPU needs no device pointer
  EXPECT_EQ(h->dl_tensor.device.device_type, kDLCPU);
  h->deleter(h);
  EXPECT_EQ(mr.live(), 0U);
}

TEST(dlpack, the_host_view_of_device_memory_is_refused_and_leaves_the_tensor) {
  recording_resource mr(fake_device_traits);
  tensor t({4}, dtype::f32, mr);
  void* const p = t.data();
  dlpack_export_options options;
  options.devices = dlpack_devices::host;
  EXPECT_THROW((void)to_dlpack(std::move(t), options), host_access_error);
  EXPECT_EQ(t.data(), p);  // NOLINT(bugprone-use-after-move): nothing was taken
}

TEST(dlpack, a_shared_tensor_exported_twice_lives_until_both_consumers_let_go) {
  recording_resource mr(fake_pinned_traits);
  auto shared = std::make_shared<tensor>(std::vector<std::int64_t>{2, 2}, dtype::f32, mr, fake_stream(4));
  void* const p = shared->data();
  dlpack_export_options cpu;
  cpu.devices = dlpack_devices::host;
  DLManagedTensor* for_cpu = to_dlpack(shared, cpu);
  DLManagedTensor* for_gpu = to_dlpack(shared);
  EXPECT_EQ(for_cpu->dl_tensor.device.device_type, kDLCPU);
  EXPECT_EQ(for_gpu->dl_tensor.device.device_type, kDLCUDA);
  EXPECT_EQ(for_cpu->dl_tensor.data, p);
  EXPECT_EQ(for_gpu->dl_tensor.data, p);  // one buffer, two views, no copy
  shared.reset();
  for_cpu->deleter(for_cpu);
  EXPECT_EQ(mr.live(), 1U);
  for_gpu->deleter(for_gpu);
  ASSERT_EQ(mr.live(), 0U);
  EXPECT_EQ(mr.deallocations[0].stream, fake_stream(4));
  EXPECT_THROW((void)to_dlpack(std::shared_ptr<tensor>{}), std::invalid_argument);
}

TEST(dlpack, the_stream_handshake_skips_cpu_exports_and_the_same_stream) {
  // Neither case may touch CUDA (there is none here): host memory has no stream to order, and a
  // consumer on the tensor's own stream needs no event.
  recording_resource host;
  dlpack_export_options options;
  options.consumer_stream = fake_stream(7);
  DLManagedTensor* a = to_dlpack(tensor({4}, dtype::f32, host, fake_stream(5)), options);
  EXPECT_EQ(a->dl_tensor.device.device_type, kDLCPU);
  a->deleter(a);
  ASSERT_EQ(host.deallocations.size(), 1U);
  EXPECT_EQ(host.deallocations[0].stream, fake_stream(5));  // a CPU export keeps its stream

  recording_resource pinned(fake_pinned_traits);
  DLManagedTensor* b = to_dlpack(tensor({4}, dtype::f32, pinned, fake_stream(7)), options);
  EXPECT_EQ(b->dl_tensor.device.device_type, kDLCUDA);
  b->deleter(b);
  ASSERT_EQ(pinned.deallocations.size(), 1U);
  EXPECT_EQ(pinned.deallocations[0].stream, fake_stream(7));
}

TEST(dlpack, a_refused_export_leaves_the_tensor_alone) {
  if (dlpack_has_bool) GTEST_SKIP() << "this dlpack.h has kDLBool, so bool exports";
  host_resource mr;
  tensor t({4}, dtype::boolean, mr);
  void* p = t.data();
  try {
    (void)to_dlpack(std::move(t));
    FAIL() << "expected unsupported_error";
  } catch (const unsupported_error& e) {
    EXPECT_NE(std::string(e.what()).find("bool"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t.data(), p);  // NOLINT(bugprone-use-after-move): nothing was taken
}

TEST(dlpack, round_trip_through_import) {
  recording_resource mr;
  tensor t({2, 3}, dtype::i32, mr);
  auto v = t.host_view<std::int32_t, 2>();
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) v(i, j) = 10 * i + j;
  }
  {
    dlpack_tensor in = from_dlpack(to_dlpack(std::move(t)));
    EXPECT_EQ(in.element_type(), dtype::i32);
    EXPECT_EQ(in.shape(), (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(in.kind(), memory_kind::host);
    EXPECT_TRUE(in.is_contiguous());
    EXPECT_FALSE(in.read_only());
    auto w = in.host_view<const std::int32_t, 2>();
    EXPECT_EQ(w(1, 2), 12);
    EXPECT_THROW((void)(in.view<float, 2>()), std::invalid_argument);
    EXPECT_THROW((void)(in.view<std::int32_t, 1>()), std::invalid_argument);
    dlpack_tensor moved = std::move(in);
    EXPECT_EQ(mr.live(), 1U);
  }
  EXPECT_EQ(mr.live(), 0U);  // the importer's destructor ran the exporter's deleter, once
}

TEST(dlpack, import_reads_strides_and_byte_offset) {
  foreign_tensor f({3, 2}, {1, 3});  // column-major 3×2
  f.managed.dl_tensor.byte_offset = 4 * sizeof(float);
  {
    dlpack_tensor in = from_dlpack(&f.managed);
    EXPECT_FALSE(in.is_contiguous());
    auto v = in.view<float, 2>();
    EXPECT_EQ(v(0, 0), 4.0F);
    EXPECT_EQ(v(2, 1), 4.0F + 2 + 3);
    EXPECT_EQ(f.deleted, 0);
  }
  EXPECT_EQ(f.deleted, 1);
}

TEST(dlpack, import_without_strides_is_row_major_and_unit_dimensions_may_have_any_stride) {
  foreign_tensor f({2, 3});
  dlpack_tensor in = from_dlpack(&f.managed);
  EXPECT_EQ(in.strides(), (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ((in.view<float, 2>()(1, 1)), 4.0F);

  foreign_tensor g({1, 4}, {0, 1});  // PyTorch may give a size-1 dimension any stride
  dlpack_tensor in2 = from_dlpack(&g.managed);
  EXPECT_TRUE(in2.is_contiguous());
}

/// Imports `f`, expects exception E, and checks the producer's deleter ran exactly once.
template <class E>
void expect_refused(foreign_tensor& f, const char* needle) {
  try {
    (void)from_dlpack(&f.managed);
    ADD_FAILURE() << "expected a refusal mentioning '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.deleted, 1) << "a refused tensor must still be released";
}

TEST(dlpack, import_refuses_what_it_cannot_view_and_releases_it) {
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.dtype.lanes = 4;
    expect_refused<unsupported_error>(f, "lanes 4");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.device.device_type = kDLROCM;
    expect_refused<unsupported_error>(f, "device type 10");
  }
  {
    foreign_tensor f({4, 4}, {-4, 1});
    f.managed.dl_tensor.byte_offset = 12 * sizeof(float);
    expect_refused<unsupported_error>(f, "negative");
  }
  {
    foreign_tensor f({4, 4}, {0, 1});
    expect_refused<unsupported_error>(f, "broadcast");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.byte_offset = 2;
    expect_refused<unsupported_error>(f, "aligned");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.ndim = -1;
    expect_refused<std::invalid_argument>(f, "ndim");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.shape = nullptr;
    expect_refused<std::invalid_argument>(f, "shape is null");
  }
  {
    foreign_tensor f({4, -2});
    expect_refused<std::invalid_argument>(f, "negative");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.data = nullptr;
    expect_refused<std::invalid_argument>(f, "data is null");
  }
  {
    foreign_tensor f({1 << 20, 1 << 20}, {std::int64_t{1} << 60, 1});
    expect_refused<std::overflow_error>(f, "ptrdiff_t");
  }
  EXPECT_THROW((void)from_dlpack(static_cast<DLManagedTensor*>(nullptr)), std::invalid_argument);
}

// Issue 12: every field of a tensor from another framework is checked before it counts, sizes or
// indexes anything, and the producer's deleter runs on every refusal.
TEST(dlpack, import_refuses_corrupt_fields_before_reading_past_them) {
  {
    foreign_tensor f({4});  // a one-element shape array, but ndim claims far more
    f.managed.dl_tensor.ndim = std::numeric_limits<std::int32_t>::max();
    expect_refused<std::invalid_argument>(f, "ndim is 2147483647; unimem imports 0 to 64 dimensions");
  }
  {
    foreign_tensor f(std::vector<std::int64_t>(65, 1));
    expect_refused<std::invalid_argument>(f, "ndim is 65");
  }
  {
    // 0 elements, but the row-major strides of the other extents overflow.
    const std::int64_t big = std::int64_t{1} << 40;
    foreign_tensor f({0, big, big});
    expect_refused<std::overflow_error>(f, "zero extents counted as 1");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.byte_offset = ~std::uint64_t{0} - 2;
    expect_refused<std::overflow_error>(f, "passes the end of the address space");
  }
  {
    foreign_tensor f({0});  // no elements: the offset is still not added to the pointer blindly
    f.managed.dl_tensor.byte_offset = ~std::uint64_t{0};
    expect_refused<std::overflow_error>(f, "byte_offset");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.device = {kDLCUDA, -1};
    expect_refused<std::invalid_argument>(f, "device id -1");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.dtype = {static_cast<std::uint8_t>(kDLFloat), 0, 1};
    expect_refused<unsupported_error>(f, "bits 0");
  }
  {
    foreign_tensor f({4});
    f.managed.dl_tensor.dtype.lanes = 0;
    expect_refused<unsupported_error>(f, "lanes 0");
  }
  // An empty tensor without data is fine; the stride of an extent-0 dimension is never used.
  foreign_tensor f({3, 0}, {5, -7});
  f.managed.dl_tensor.data = nullptr;
  const dlpack_tensor in = from_dlpack(&f.managed);
  EXPECT_EQ(in.size(), 0u);
  EXPECT_EQ(in.data(), nullptr);
}

TEST(dlpack, host_view_refuses_cuda_device_memory) {
  foreign_tensor f({4});
  f.managed.dl_tensor.device = {kDLCUDA, 1};
  dlpack_tensor in = from_dlpack(&f.managed);
  EXPECT_EQ(in.kind(), memory_kind::device);
  EXPECT_EQ(in.device_id(), 1);
  EXPECT_FALSE(in.host_accessible());
  EXPECT_THROW((void)(in.host_view<float, 1>()), host_access_error);
  EXPECT_NO_THROW((void)(in.view<float, 1>()));  // a kernel may use it
}

#if defined(UNIMEM_DETAIL_DLPACK_VERSIONED)
TEST(dlpack, versioned_export_and_import) {
  recording_resource mr;
  tensor t({5}, dtype::f64, mr);
  DLManagedTensorVersioned* m = to_dlpack_versioned(std::move(t), /*read_only=*/true);
  EXPECT_EQ(m->version.major, static_cast<std::uint32_t>(DLPACK_MAJOR_VERSION));
  EXPECT_NE(m->flags & DLPACK_FLAG_BITMASK_READ_ONLY, 0U);
  {
    dlpack_tensor in = from_dlpack(m);
    EXPECT_TRUE(in.read_only());
    EXPECT_THROW((void)(in.view<double, 1>()), std::invalid_argument);
    EXPECT_NO_THROW((void)(in.view<const double, 1>()));
  }
  EXPECT_EQ(mr.live(), 0U);

  tensor u({5}, dtype::f64, mr);
  DLManagedTensorVersioned* w = to_dlpack_versioned(std::move(u));
  w->version.major += 1;
  EXPECT_THROW((void)from_dlpack(w), unsupported_error);
  EXPECT_EQ(mr.live(), 0U);  // released as DLPack prescribes
}
#else
TEST(dlpack, versioned_export_and_import) {
  GTEST_SKIP() << "this dlpack.h (DLPACK_VERSION " << DLPACK_VERSION
               << ") predates DLManagedTensorVersioned (DLPack 1.0)";
}
#endif

}  // namespace
}  // namespace unimem::test

#else  // no dlpack.h

TEST(dlpack, header_available) {
  GTEST_SKIP() << "dlpack/dlpack.h not found: install libdlpack-dev or configure with "
                  "-DUNIMEM_DLPACK_INCLUDE_DIR=<folder holding dlpack/dlpack.h>";
}

#endif
