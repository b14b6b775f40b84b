// Typed memory on the GPU: buffers and tensors over the CUDA resources, kernels indexing through
// contiguous tensor_views, strided_views (transposed, sliced, sub-boxes) and cuda::std::mdspan,
// DLPack device types of real CUDA memory.
// Skips without a GPU; fails instead under UNIMEM_REQUIRE_GPU=1.
#include <cstdint>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/typed/buffer.hpp>
#include <unimem/resources/device_resource.hpp>
#include <unimem/error.hpp>
#include <unimem/resources/host_resource.hpp>
#include <unimem/resources/managed_resource.hpp>
#include <unimem/resources/mapped_resource.hpp>
#include <unimem/resources/pinned_resource.hpp>
#include <unimem/stream.hpp>
#include <unimem/typed/tensor.hpp>
#include <unimem/typed/tensor_view.hpp>

#if __has_include(<dlpack/dlpack.h>)
#include <unimem/typed/dlpack.hpp>
#define UNIMEM_TEST_HAVE_DLPACK 1
#endif

#include "support/device_kernels.hpp"
#include "support/gpu_test.hpp"
#include "support/movement_kernels.hpp"
#include "support/view_kernels.hpp"

namespace unimem::test {
namespace {

class typed_gpu : public gpu_test {};

std::vector<float> iota_floats(std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0F);
  return v;
}

TEST_F(typed_gpu, device_buffers_round_trip_through_a_view_kernel_and_refuse_host_access) {
  device_resource mr;
  cuda_stream stream;
  constexpr std::int64_t rows = 37;
  constexpr std::int64_t cols = 129;  // odd sizes: partial blocks in both dimensions
  const std::vector<float> host = iota_floats(rows * cols);
  buffer<float> in(host.size(), mr, stream);
  buffer<float> out(host.size(), mr, stream);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(in.data()) % 256, 0U);
  in.copy_from(host.data(), host.size(), stream);
  dense_affine_2d(tensor_view<float, 2>(out.data(), rows, cols), tensor_view<const float, 2>(in.data(), rows, cols),
                  2.0F, 1.0F, stream);
  std::vector<float> back(host.size());
  out.copy_to(back.data(), back.size(), stream);
  stream.synchronize();
  for (std::size_t i = 0; i < host.size(); ++i) ASSERT_EQ(back[i], 2.0F * host[i] + 1.0F) << i;

  // The point of the check: real device memory, touched by the CPU, would segfault here.
  EXPECT_THROW((void)out.host_span(), host_access_error);
  if (detail::checked_build) {
    EXPECT_THROW((void)out[0], host_access_error);
  }
}

TEST_F(typed_gpu, kernels_follow_transposed_and_sliced_views) {
  device_resource mr;
  cuda_stream stream;
  tensor src({48, 64}, dtype::f32, mr, stream);
  tensor dst({64, 48}, dtype::f32, mr, stream);
  const std::vector<float> host = iota_floats(48 * 64);
  src.copy_from(host.data(), host.size() * sizeof(float), stream);
  device_fill(dst.data(), dst.size_bytes(), 0);

  // dst = transpose(src), written through a transposed view of dst.
  auto s = src.view<const float, 2>();
  view_affine_2d(dst.view<float, 2>().transpose(0, 1), s, 1.0F, 0.0F, stream);
  std::vector<float> back(host.size());
  dst.copy_to(back.data(), back.size() * sizeof(float), stream);
  stream.synchronize();
  for (int i = 0; i < 48; ++i) {
    for (int j = 0; j < 64; ++j) ASSERT_EQ(back[static_cast<std::size_t>(j * 48 + i)], host[static_cast<std::size_t>(i * 64 + j)]);
  }

  // Every third column of rows 8..40 of src, negated, into the same places of a zeroed copy.
  tensor out({48, 64}, dtype::f32, mr, stream);
  device_fill(out.data(), out.size_bytes(), 0);
  auto cols = out.view<float, 2>().slice(0, 8, 40).slice(1, 1, 64, 3);
  view_affine_2d(cols, s.slice(0, 8, 40).slice(1, 1, 64, 3), -1.0F, 0.0F, stream);
  out.copy_to(back.data(), back.size() * sizeof(float), stream);
  stream.synchronize();
  for (int i = 0; i < 48; ++i) {
    for (int j = 0; j < 64; ++j) {
      const bool inside = i >= 8 && i < 40 && j >= 1 && (j - 1) % 3 == 0;
      const float expect = inside ? -host[static_cast<std::size_t>(i * 64 + j)] : 0.0F;
      ASSERT_EQ(back[static_cast<std::size_t>(i * 64 + j)], expect) << i << ", " << j;
    }
  }
}

TEST_F(typed_gpu, subviews_chained_with_operator_brackets_in_a_kernel_touch_only_their_box) {
  device_resource mr;
  cuda_stream stream;
  tensor t({6, 7, 8}, dtype::i32, mr, stream);
  device_fill(t.data(), t.size_bytes(), 0xFF);  // every int32 = -1
  pitched_view<std::int32_t, 3> box = t.view<std::int32_t, 3>().subview({1, 2, 3}, {4, 3, 5});
  pitched_fill_coordinates_3d(box, stream);
  std::vector<std::int32_t> back(t.size());
  t.copy_to(back.data(), t.size_bytes(), stream);
  stream.synchronize();
  // The same box as a strided view writes the same elements.
  device_fill(t.data(), t.size_bytes(), 0xFF);
  view_fill_coordinates_3d(box, stream);
  std::vector<std::int32_t> strided(t.size());
  t.copy_to(strided.data(), t.size_bytes(), stream);
  stream.synchronize();
  EXPECT_EQ(strided, back);
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 7; ++j) {
      for (int k = 0; k < 8; ++k) {
        const bool inside = i >= 1 && i < 5 && j >= 2 && j < 5 && k >= 3 && k < 8;
        const std::int32_t expect = inside ? (i - 1) * 10000 + (j - 2) * 100 + (k - 3) : -1;
        ASSERT_EQ(back[static_cast<std::size_t>((i * 7 + j) * 8 + k)], expect) << i << ", " << j << ", " << k;
      }
    }
  }
}

TEST_F(typed_gpu, contiguous_views_and_their_operator_bracket_rows_index_every_element_in_a_kernel) {
  device_resource mr;
  cuda_stream stream;
  tensor t({6, 7, 9}, dtype::i32, mr, stream);
  device_fill(t.data(), t.size_bytes(), 0xFF);
  dense_fill_coordinates_3d(t.view<std::int32_t, 3>(), stream);  // layout_right: no strides in the kernel
  std::vector<std::int32_t> back(t.size());
  t.copy_to(back.data(), t.size_bytes(), stream);
  stream.synchronize();
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 7; ++j) {
      for (int k = 0; k < 9; ++k) {
        ASSERT_EQ(back[static_cast<std::size_t>((i * 7 + j) * 9 + k)], i * 10000 + j * 100 + k)
            << i << ", " << j << ", " << k;
      }
    }
  }
  // The same elements through a strided view of the whole tensor (the implicit conversion) agree.
  device_fill(t.data(), t.size_bytes(), 0xFF);
  view_fill_coordinates_3d(t.view<std::int32_t, 3>(), stream);
  std::vector<std::int32_t> strided(t.size());
  t.copy_to(strided.data(), t.size_bytes(), stream);
  stream.synchronize();
  EXPECT_EQ(strided, back);
}

TEST_F(typed_gpu, managed_tensors_are_written_by_the_host_and_read_by_a_kernel) {
  managed_resource mr;
  cuda_stream stream;
  tensor in({100, 10}, dtype::f32, mr, stream);
  tensor sums({100}, dtype::f32, mr, stream);
  auto v = in.host_view<float, 2>();
  for (int i = 0; i < 100; ++i) {
    for (int j = 0; j < 10; ++j) v(i, j) = static_cast<float>(i + j);
  }
  view_row_sums(in.view<const float, 2>(), sums.view<float, 1>(), stream);  // synchronizes
  auto s = sums.host_view<const float, 1>();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(s(i), static_cast<float>(10 * i + 45)) << i;
}

TEST_F(typed_gpu, mapped_and_pinned_buffers_are_indexed_in_place_by_kernels) {
  mapped_resource mapped;
  pinned_resource pinned;
  cuda_stream stream;
  for (memory_resource* mr : {static_cast<memory_resource*>(&mapped), static_cast<memory_resource*>(&pinned)}) {
    if (!mr->traits().device_pointer_is_host_pointer) continue;  // needs unified addressing
    buffer<float> in(64, *mr, stream);
    buffer<float> out(64, *mr, stream);
    auto h = in.host_span();
    std::iota(h.begin(), h.end(), 0.0F);
    view_affine_2d(tensor_view<float, 1>(out.span()).reshape(index_array<2>{8, 8}),
                   tensor_view<const float, 2>(in.data(), 8, 8), 3.0F, 0.0F, stream);
    for (std::size_t i = 0; i < 64; ++i) ASSERT_EQ(out[i], 3.0F * static_cast<float>(i)) << mr->name();
  }
}

TEST_F(typed_gpu, mdspans_converted_from_views_index_correctly_in_a_kernel) {
  device_resource mr;
  cuda_stream stream;
  tensor in({16, 24}, dtype::f32, mr, stream);
  tensor out({24, 16}, dtype::f32, mr, stream);
  const std::vector<float> host = iota_floats(16 * 24);
  in.copy_from(host.data(), in.size_bytes(), stream);
  mdspan_double_2d(out.view<float, 2>().transpose(0, 1), in.view<const float, 2>(), stream);
  std::vector<float> back(host.size());
  out.copy_to(back.data(), out.size_bytes(), stream);
  stream.synchronize();
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 24; ++j) ASSERT_EQ(back[static_cast<std::size_t>(j * 16 + i)], 2.0F * host[static_cast<std::size_t>(i * 24 + j)]);
  }
}

TEST_F(typed_gpu, copies_and_resizes_cross_host_and_device_memory) {
  device_resource device;
  host_resource host;
  cuda_stream stream;
  const std::vector<float> src = iota_floats(1000);
  buffer<float> d(1000, device, stream);
  d.copy_from(src.data(), src.size(), stream);
  d.resize(1500, stream);  // device-to-device copy of the prefix
  buffer<float> h = d.copy(host, stream);  // device to pageable host
  stream.synchronize();
  for (std::size_t i = 0; i < 1000; ++i) ASSERT_EQ(h[i], src[i]);
  // A host-only buffer reading a raw device pointer: the copy must go through CUDA, not memcpy.
  buffer<float> h2(1000, host, stream);
  h2.copy_from(d.data(), 1000, stream);
  stream.synchronize();
  for (std::size_t i = 0; i < 1000; ++i) ASSERT_EQ(h2[i], src[i]);
  std::vector<float> out(1000);
  buffer<float> d2 = h2.copy(device, stream);
  d2.copy_to(out.data(), out.size(), stream);
  stream.synchronize();
  EXPECT_EQ(out, src);
}

#if defined(UNIMEM_TEST_HAVE_DLPACK)
TEST_F(typed_gpu, dlpack_export_names_each_cuda_memory_kind) {
  device_resource device;
  pinned_resource pinned;
  mapped_resource mapped;
  managed_resource managed;
  struct expectation {
    memory_resource* mr;
    DLDeviceType exact;
  };
  dlpack_export_options exact;
  exact.devices = dlpack_devices::exact;
  int current = -1;
  for (const expectation& e : {expectation{&device, kDLCUDA}, expectation{&pinned, kDLCUDAHost},
                               expectation{&mapped, kDLCUDAHost}, expectation{&managed, kDLCUDAManaged}}) {
    tensor t({4, 4}, dtype::f32, *e.mr);
    current = t.device();
    void* const p = t.data();
    // The default names every kind kDLCUDA (what PyTorch imports), through the same pointer: with
    // unified addressing the device pointer of pinned, mapped and managed memory is the host one.
    DLManagedTensor* m = to_dlpack(std::move(t));
    EXPECT_EQ(m->dl_tensor.device.device_type, kDLCUDA) << e.mr->name();
    EXPECT_EQ(m->dl_tensor.device.device_id, current) << e.mr->name();
    EXPECT_EQ(m->dl_tensor.data, p) << e.mr->name();
    m->deleter(m);  // frees through the resource
    DLManagedTensor* x = to_dlpack(tensor({4, 4}, dtype::f32, *e.mr), exact);
    EXPECT_EQ(x->dl_tensor.device.device_type, e.exact) << e.mr->name();
    EXPECT_EQ(x->dl_tensor.device.device_id, e.exact == kDLCUDA ? current : 0) << e.mr->name();
    x->deleter(x);
  }
  EXPECT_GE(current, 0);
}

TEST_F(typed_gpu, dlpack_stream_handshake_orders_the_consumer_after_the_tensor) {
  device_resource mr;
  cuda_stream producer;
  cuda_stream consumer;
  constexpr std::size_t n = 1 << 20;
  tensor t({static_cast<std::int64_t>(n)}, dtype::u8, mr, producer);
  launch_slow_fill(t.data(), n, 7, 200'000, producer);  // still running when the consumer starts
  dlpack_export_options options;
  options.consumer_stream = consumer.view();
  DLManagedTensor* m = to_dlpack(std::move(t), options);
  cuda_event queued;
  queued.record(consumer);
  EXPECT_FALSE(queued.ready()) << "the consumer's stream must wait for the producer's kernel";
  buffer<std::uint8_t> out(n, mr, consumer);
  launch_add(m->dl_tensor.data, out.data(), n, 1, consumer);
  std::vector<std::uint8_t> back(n);
  out.copy_to(back.data(), n, consumer);
  consumer.synchronize();
  for (std::size_t i = 0; i < n; i += 4093) ASSERT_EQ(back[i], 8) << i;  // 7 written by the producer, + 1
  m->deleter(m);  // freed on the consumer's stream, after the add
}

TEST_F(typed_gpu, dlpack_imported_device_tensors_feed_kernels_but_not_the_cpu) {
  device_resource mr;
  cuda_stream stream;
  tensor t({8, 8}, dtype::f32, mr, stream);
  const std::vector<float> host = iota_floats(64);
  t.copy_from(host.data(), t.size_bytes(), stream);
  stream.synchronize();
  dlpack_tensor in = from_dlpack(to_dlpack(std::move(t)));
  EXPECT_EQ(in.kind(), memory_kind::device);
  EXPECT_THROW((void)(in.host_view<float, 2>()), host_access_error);
  tensor out({8, 8}, dtype::f32, mr, stream);
  view_affine_2d(out.view<float, 2>(), in.view<const float, 2>(), 1.0F, 5.0F, stream);
  std::vector<float> back(64);
  out.copy_to(back.data(), out.size_bytes(), stream);
  stream.synchronize();
  for (std::size_t i = 0; i < 64; ++i) ASSERT_EQ(back[i], host[i] + 5.0F);
  // A dense import converts explicitly (checked on the host) to the contiguous view.
  dense_affine_2d(out.view<float, 2>(), tensor_view<const float, 2>(in.view<const float, 2>()), 2.0F, 0.0F, stream);
  out.copy_to(back.data(), out.size_bytes(), stream);
  stream.synchronize();
  for (std::size_t i = 0; i < 64; ++i) ASSERT_EQ(back[i], 2.0F * host[i]);
}
#endif

}  // namespace
}  // namespace unimem::test
