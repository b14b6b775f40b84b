// dma-buf and memfd import: the path decision over every simulated board, descriptor
// classification, the CPU mapping and its failures, the import's ownership (with a fake CUDA
// backend on the CPU), and on a GPU the real registration, a CUDA-exported dma-buf and what the
// platform refuses.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <unimem/zero_copy/detail/dmabuf_backend.hpp>
#include <unimem/resources/device_resource.hpp>
#include <unimem/zero_copy/dmabuf.hpp>
#include <unimem/error.hpp>

#include "support/device_kernels.hpp"
#include "support/gpu_test.hpp"
#include "support/process_resources.hpp"

namespace unimem {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

constexpr const char* memfd_name = "unimem-dmabuf-test";

unique_fd make_memfd(std::size_t bytes, unsigned flags = MFD_CLOEXEC) {
  unique_fd fd(::memfd_create(memfd_name, flags));
  if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) throw std::runtime_error("memfd");
  return fd;
}

unique_fd reopen(int fd, int flags) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return unique_fd(::open(path.c_str(), flags | O_CLOEXEC));
}

// Everything a test holds before and after: descriptors and mappings of the test memfds.
struct resource_snapshot {
  resource_snapshot() {
    test::warm_up_cuda();  // the driver's own descriptors are not a leak
    fds = test::open_fd_count();
    maps = test::mapping_count(memfd_name);
  }
  int fds = 0;
  int maps = 0;
};

void expect_same(const resource_snapshot& before, const char* where) {
  const resource_snapshot after;
  EXPECT_EQ(after.fds, before.fds) << where << ": a descriptor leaked";
  EXPECT_EQ(after.maps, before.maps) << where << ": a mapping leaked";
}

// ---------------------------------------------------------------------------------------------
// The decision, over every simulated board

struct expected_paths {
  dmabuf_path dma_buf;
  dmabuf_path memory_file;
};

expected_paths expected_for(const device_profile& p) {
  if (p.name.find("Nano") != std::string::npos && p.cc_major < 7) {
    return {dmabuf_path::unsupported, dmabuf_path::unsupported};  // Jetson Nano
  }
  if (p.name.find("TX2") != std::string::npos) return {dmabuf_path::unsupported, dmabuf_path::unsupported};
  if (p.name.find("Thor") != std::string::npos) return {dmabuf_path::native_import, dmabuf_path::host_register};
  return {dmabuf_path::host_register, dmabuf_path::host_register};  // Xavier, Orins, H100 server
}

TEST(dmabuf_plan, every_simulated_board) {
  for (const device_profile& p : device_profile::simulated_profiles()) {
    SCOPED_TRACE(p.name);
    const expected_paths want = expected_for(p);

    const dmabuf_plan buf = plan_dmabuf_import(p, fd_kind::dma_buf);
    EXPECT_EQ(buf.path, want.dma_buf) << buf.reason;
    EXPECT_FALSE(buf.reason.empty());
    EXPECT_TRUE(contains(buf.reason, p.name)) << buf.reason;
    if (buf.path == dmabuf_path::unsupported) {
      EXPECT_TRUE(contains(buf.reason, "EGL")) << "names the alternative: " << buf.reason;
      EXPECT_TRUE(contains(buf.reason, "hostRegisterSupported = 0")) << buf.reason;
    } else {
      EXPECT_TRUE(buf.sync_ioctl) << "a mapped dma-buf is bracketed with DMA_BUF_IOCTL_SYNC";
      EXPECT_TRUE(buf.cpu_mapping);
    }
    if (buf.path == dmabuf_path::host_register) {
      EXPECT_TRUE(contains(buf.reason, "Thor")) << buf.reason;
    }

    const dmabuf_plan mem = plan_dmabuf_import(p, fd_kind::memory_file);
    EXPECT_EQ(mem.path, want.memory_file) << mem.reason;
    EXPECT_FALSE(mem.sync_ioctl) << "a memfd has no DMA_BUF_IOCTL_SYNC";
    if (mem.path == dmabuf_path::unsupported) {
      EXPECT_TRUE(contains(mem.reason, "mapped_resource")) << mem.reason;
    } else {
      EXPECT_TRUE(mem.cpu_mapping);
    }

    const dmabuf_plan file = plan_dmabuf_import(p, fd_kind::regular_file);
    EXPECT_EQ(file.path, want.memory_file) << file.reason;

    const dmabuf_plan none = plan_dmabuf_import(p, fd_kind::not_a_buffer);
    EXPECT_EQ(none.path, dmabuf_path::unsupported);
    EXPECT_TRUE(contains(none.reason, "not a buffer")) << none.reason;
  }
}

TEST(dmabuf_plan, native_import_is_documented_only_for_thor) {
  for (const device_profile& p : device_profile::simulated_profiles()) {
    EXPECT_EQ(native_dmabuf_import_supported(p), p.name.find("Thor") != std::string::npos) << p.name;
  }
  // Thor under CUDA 12.8/12.9 reports compute capability 10.1.
  device_profile thor12 = device_profile::jetson_thor();
  thor12.cc_major = 10;
  thor12.cc_minor = 1;
  EXPECT_TRUE(native_dmabuf_import_supported(thor12));
  device_profile b200 = device_profile::discrete_h100();
  b200.cc_major = 10;  // a discrete Blackwell is not a Tegra
  EXPECT_FALSE(native_dmabuf_import_supported(b200));
}

TEST(dmabuf_plan, forced_choices) {
  const device_profile orin = device_profile::jetson_agx_orin();
  const device_profile thor = device_profile::jetson_thor();

  dmabuf_import_options native;
  native.path = dmabuf_path_choice::native_import;
  const dmabuf_plan forced = plan_dmabuf_import(orin, fd_kind::dma_buf, native);
  EXPECT_EQ(forced.path, dmabuf_path::native_import);
  EXPECT_TRUE(contains(forced.reason, "forced")) << forced.reason;
  EXPECT_TRUE(contains(forced.reason, "refuse")) << forced.reason;

  const dmabuf_plan memfd_native = plan_dmabuf_import(thor, fd_kind::memory_file, native);
  EXPECT_EQ(memfd_native.path, dmabuf_path::unsupported);
  EXPECT_TRUE(contains(memfd_native.reason, "dma-buf descriptors only")) << memfd_native.reason;

  dmabuf_import_options reg;
  reg.path = dmabuf_path_choice::host_register;
  const dmabuf_plan thor_reg = plan_dmabuf_import(thor, fd_kind::dma_buf, reg);
  EXPECT_EQ(thor_reg.path, dmabuf_path::host_register);
  EXPECT_TRUE(thor_reg.sync_ioctl);

  dmabuf_import_options no_cpu;
  no_cpu.map_for_cpu = false;
  const dmabuf_plan device_only = plan_dmabuf_import(thor, fd_kind::dma_buf, no_cpu);
  EXPECT_EQ(device_only.path, dmabuf_path::native_import);
  EXPECT_FALSE(device_only.cpu_mapping);
  EXPECT_FALSE(device_only.sync_ioctl) << "no CPU mapping, no CPU access to bracket";
  // The host_register path cannot do without the mapping it registers.
  EXPECT_TRUE(plan_dmabuf_import(orin, fd_kind::dma_buf, no_cpu).cpu_mapping);
}

TEST(dmabuf_plan, read_only_needs_read_only_registration) {
  dmabuf_import_options ro;
  ro.read_only = true;
  device_profile orin = device_profile::jetson_agx_orin();
  const dmabuf_plan refused = plan_dmabuf_import(orin, fd_kind::memory_file, ro);
  EXPECT_EQ(refused.path, dmabuf_path::unsupported);
  EXPECT_TRUE(contains(refused.reason, "hostRegisterReadOnlySupported = 0")) << refused.reason;
  orin.host_register_read_only_supported = true;
  EXPECT_EQ(plan_dmabuf_import(orin, fd_kind::memory_file, ro).path, dmabuf_path::host_register);
  // The native import does not register, so it does not care.
  EXPECT_EQ(plan_dmabuf_import(device_profile::jetson_thor(), fd_kind::dma_buf, ro).path, dmabuf_path::native_import);
}

// ---------------------------------------------------------------------------------------------
// Classification

TEST(inspect_fd, memfd_and_shared_memory_are_memory_files) {
  unique_fd memfd = make_memfd(12345);
  const fd_facts f = inspect_fd(memfd.get());
  EXPECT_EQ(f.kind, fd_kind::memory_file);
  EXPECT_TRUE(f.size_known);
  EXPECT_EQ(f.object_bytes, 12345u);
  EXPECT_TRUE(f.readable);
  EXPECT_TRUE(f.writable);
  EXPECT_TRUE(contains(f.description, "memfd:")) << f.description;

  const std::string name = "/unimem-inspect-" + std::to_string(::getpid());
  unique_fd shm(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(shm);
  ::shm_unlink(name.c_str());
  ASSERT_EQ(::ftruncate(shm.get(), 8192), 0);
  const fd_facts s = inspect_fd(shm.get());
  EXPECT_EQ(s.kind, fd_kind::memory_file);
  EXPECT_EQ(s.object_bytes, 8192u);

  unique_fd ro = reopen(memfd.get(), O_RDONLY);
  ASSERT_TRUE(ro);
  const fd_facts r = inspect_fd(ro.get());
  EXPECT_TRUE(r.readable);
  EXPECT_FALSE(r.writable);
}

TEST(inspect_fd, pipes_sockets_eventfds_directories_and_o_path_are_not_buffers) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd r(p[0]), w(p[1]);
  int s[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
  unique_fd s0(s[0]), s1(s[1]);
  unique_fd ev(::eventfd(0, EFD_CLOEXEC));
  unique_fd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  unique_fd path(::open("/proc/self/exe", O_PATH | O_CLOEXEC));
  for (int fd : {r.get(), s0.get(), ev.get(), dir.get(), path.get()}) {
    ASSERT_GE(fd, 0);
    EXPECT_EQ(inspect_fd(fd).kind, fd_kind::not_a_buffer) << inspect_fd(fd).description;
  }
}

TEST(inspect_fd, bad_and_closed_descriptors_are_refused_by_number) {
  try {
    inspect_fd(-1);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "inspect_fd(-1)")) << e.what();
  }
  int closed = ::memfd_create(memfd_name, MFD_CLOEXEC);
  ASSERT_GE(closed, 0);
  ::close(closed);
  try {
    inspect_fd(closed);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "not open")) << e.what();
    EXPECT_TRUE(contains(e.what(), std::to_string(closed))) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// The CPU mapping

TEST(dmabuf_mapping, maps_a_memfd_shares_it_and_outlives_the_callers_fd) {
  const resource_snapshot before;
  {
    unique_fd memfd = make_memfd(3 * 4096 + 17);
    dmabuf_mapping m(memfd.get(), 3 * 4096 + 17);
    EXPECT_NE(m.fd(), memfd.get()) << "the mapping owns a duplicate";
    EXPECT_FALSE(m.needs_sync());
    EXPECT_EQ(m.size(), 3u * 4096 + 17);
    {
      cpu_access_scope scope = m.access(cpu_access::write);  // no-op on a memfd
      std::memset(m.data(), 0x6b, m.size());
      scope.end();
    }
    unsigned char last = 0;
    ASSERT_EQ(::pread(memfd.get(), &last, 1, static_cast<off_t>(m.size() - 1)), 1);
    EXPECT_EQ(last, 0x6b) << "the mapping is MAP_SHARED: the object sees CPU writes";

    memfd.reset();  // the caller's descriptor goes away; the mapping and its duplicate stay
    EXPECT_EQ(inspect_fd(m.fd()).object_bytes, 3u * 4096 + 17);
    EXPECT_EQ(static_cast<unsigned char*>(m.data())[100], 0x6b);

    dmabuf_mapping moved(std::move(m));
    EXPECT_EQ(m.data(), nullptr);
    EXPECT_EQ(static_cast<unsigned char*>(moved.data())[0], 0x6b);
  }
  expect_same(before, "after the mappings were destroyed");
}

TEST(dmabuf_mapping, bad_input_is_refused_and_leaves_nothing) {
  unique_fd memfd = make_memfd(8192);
  unique_fd empty = make_memfd(0);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd pr(p[0]), pw(p[1]);
  unique_fd ro = reopen(memfd.get(), O_RDONLY);
  unique_fd wo = reopen(memfd.get(), O_WRONLY);
  ASSERT_TRUE(ro && wo);
  const resource_snapshot before;

  auto refused = [](auto&& make, const std::vector<std::string>& parts) {
    try {
      make();
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
      for (const auto& part : parts) EXPECT_TRUE(contains(e.what(), part)) << e.what();
    }
  };
  refused([&] { dmabuf_mapping(memfd.get(), 0); }, {"0 B", "non-zero"});
  refused([&] { dmabuf_mapping(memfd.get(), 8193); }, {"8193 B", "holds only 8192 B"});
  refused([&] { dmabuf_mapping(empty.get(), 1); }, {"holds only 0 B", "ftruncate"});
  refused([&] { dmabuf_mapping(pr.get(), 4096); }, {"not a buffer"});
  refused([&] { dmabuf_mapping(ro.get(), 4096); }, {"read-only", "read_only = true"});
  refused([&] { dmabuf_mapping(wo.get(), 4096, true); }, {"write-only"});
  refused([&] { dmabuf_mapping(-5, 4096); }, {"-5"});
  expect_same(before, "after refused mappings");

  // A read-only descriptor maps read-only.
  dmabuf_mapping readable(ro.get(), 8192, true);
  EXPECT_EQ(static_cast<const unsigned char*>(readable.data())[0], 0);
}

TEST(dmabuf_mapping, an_unmappable_descriptor_is_a_system_error_that_leaves_nothing) {
  // A memfd sealed against writes passes every check but cannot be mapped shared and writable:
  // the same failure a dma-buf exporter without mmap gives.
  unique_fd sealed = make_memfd(4096, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(::fcntl(sealed.get(), F_ADD_SEALS, F_SEAL_WRITE), 0);
  const resource_snapshot before;
  try {
    dmabuf_mapping m(sealed.get(), 4096);
    FAIL() << "a write-sealed memfd was mapped writable";
  } catch (const std::system_error& e) {
    EXPECT_TRUE(contains(e.what(), "mmap(PROT_READ|PROT_WRITE) failed")) << e.what();
    EXPECT_TRUE(contains(e.what(), "unimem::dmabuf_mapping(fd")) << e.what();
  }
  expect_same(before, "after the refused mmap");
  dmabuf_mapping readable(sealed.get(), 4096, true);  // read-only still works
  EXPECT_NE(readable.data(), nullptr);
}

TEST(dmabuf_sync, a_memfd_is_not_a_dma_buf) {
  unique_fd memfd = make_memfd(4096);
  try {
    dmabuf_sync(memfd.get(), cpu_access::read, true);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_TRUE(contains(e.what(), "DMA_BUF_IOCTL_SYNC")) << e.what();
    EXPECT_TRUE(contains(e.what(), "not a dma-buf")) << e.what();
  }
  // A scope that was told no sync is needed does nothing, even on a non-dma-buf.
  cpu_access_scope scope(memfd.get(), cpu_access::read_write, false);
  scope.end();
}

// ---------------------------------------------------------------------------------------------
// Sources

TEST(allocate_dmabuf, automatic_always_gives_a_mappable_buffer) {
  dmabuf_allocation a = allocate_dmabuf(100000, dmabuf_source::automatic, memfd_name);
  ASSERT_TRUE(a.fd);
  EXPECT_GE(a.bytes, 100000u);
  const fd_facts f = inspect_fd(a.fd.get());
  EXPECT_EQ(f.kind, a.source == dmabuf_source::memfd ? fd_kind::memory_file : fd_kind::dma_buf);
  EXPECT_EQ(f.object_bytes, a.bytes);
  if (a.source == dmabuf_source::memfd) {
    EXPECT_TRUE(contains(a.note, "/dev/dma_heap/system")) << a.note;
    EXPECT_TRUE(contains(a.note, "/dev/udmabuf")) << a.note;
  }
  dmabuf_mapping m(a.fd.get(), a.bytes);
  {
    auto scope = m.access(cpu_access::write);
    std::memset(m.data(), 0x42, m.size());
  }
  auto scope = m.access(cpu_access::read);
  EXPECT_EQ(static_cast<unsigned char*>(m.data())[a.bytes - 1], 0x42);
}

TEST(allocate_dmabuf, explicit_sources) {
  dmabuf_allocation memfd = allocate_dmabuf(5000, dmabuf_source::memfd, memfd_name);
  EXPECT_EQ(memfd.source, dmabuf_source::memfd);
  EXPECT_EQ(inspect_fd(memfd.fd.get()).object_bytes, 5000u);
  EXPECT_THROW(allocate_dmabuf(0), std::invalid_argument);

  for (dmabuf_source s : {dmabuf_source::dma_heap, dmabuf_source::udmabuf}) {
    const char* node = s == dmabuf_source::dma_heap ? "/dev/dma_heap/system" : "/dev/udmabuf";
    if (::access(node, F_OK) == 0) {
      // Present: it is a real dma-buf and CPU access goes through the sync ioctl.
      dmabuf_allocation a = allocate_dmabuf(5000, s, memfd_name);
      EXPECT_EQ(inspect_fd(a.fd.get()).kind, fd_kind::dma_buf) << node;
      EXPECT_EQ(a.bytes % static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), 0u);
      dmabuf_mapping m(a.fd.get(), a.bytes);
      EXPECT_TRUE(m.needs_sync());
      auto scope = m.access(cpu_access::read_write);
      static_cast<unsigned char*>(m.data())[0] = 1;
      scope.end();
    } else {
      try {
        allocate_dmabuf(5000, s);
        FAIL() << node << " is missing but the allocation succeeded";
      } catch (const unsupported_error& e) {
        EXPECT_TRUE(contains(e.what(), node)) << e.what();
        EXPECT_TRUE(contains(e.what(), "automatic")) << e.what();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The import's ownership, with the CUDA calls replaced

class fake_backend final : public detail::dmabuf_backend {
 public:
  struct attachment final : detail::device_attachment {
    attachment(int& live, void* p) : live_(live), p_(p) { ++live_; }
    ~attachment() override { --live_; }
    void* device_pointer() const noexcept override { return p_; }
    int& live_;
    void* p_;
  };

  std::unique_ptr<detail::device_attachment> register_host(void* host, std::size_t bytes, bool read_only,
                                                           const device_profile&) const override {
    ++register_calls;
    last_bytes = bytes;
    last_read_only = read_only;
    if (fail) throw cuda_error("cudaHostRegister(fake)", 801 /* cudaErrorNotSupported */, "fake refusal");
    // The registered mapping must be readable right now (it is what CUDA would page-lock).
    last_first_byte = *static_cast<const unsigned char*>(host);
    return std::make_unique<attachment>(live, host);
  }
  std::unique_ptr<detail::device_attachment> import_native(int fd, std::size_t object_bytes, std::size_t bytes,
                                                           const device_profile&) const override {
    ++import_calls;
    last_fd_kind = inspect_fd(fd).kind;
    last_object_bytes = object_bytes;
    last_bytes = bytes;
    if (fail) throw cuda_error("cuImportExternalMemory(fake)", 801, "fake refusal");
    return std::make_unique<attachment>(live, reinterpret_cast<void*>(std::uintptr_t{0x10000}));
  }

  bool fail = false;
  mutable int live = 0;
  mutable int register_calls = 0;
  mutable int import_calls = 0;
  mutable std::size_t last_bytes = 0;
  mutable std::size_t last_object_bytes = 0;
  mutable bool last_read_only = false;
  mutable unsigned char last_first_byte = 0;
  mutable fd_kind last_fd_kind = fd_kind::not_a_buffer;
};

TEST(import_dmabuf, memfd_on_orin_maps_and_registers_and_releases_in_order) {
  fake_backend backend;
  const resource_snapshot before;
  {
    unique_fd memfd = make_memfd(65536);
    ASSERT_EQ(::pwrite(memfd.get(), "\x77", 1, 0), 1);
    dmabuf_import imp(memfd.get(), 40000, {}, device_profile::jetson_agx_orin(), backend);
    EXPECT_EQ(imp.path(), dmabuf_path::host_register);
    EXPECT_FALSE(imp.plan().sync_ioctl);
    EXPECT_EQ(backend.register_calls, 1);
    EXPECT_EQ(backend.import_calls, 0);
    EXPECT_EQ(backend.last_bytes, 40000u);
    EXPECT_EQ(backend.last_first_byte, 0x77) << "the mapping handed to cudaHostRegister is the fd's memory";
    EXPECT_EQ(imp.device_pointer(), imp.host_pointer());
    EXPECT_EQ(imp.size(), 40000u);
    EXPECT_EQ(backend.live, 1);
    auto scope = imp.access(cpu_access::read);  // memfd: no ioctl, no throw
    scope.end();

    dmabuf_import moved(std::move(imp));
    EXPECT_EQ(backend.live, 1);
    EXPECT_EQ(imp.device_pointer(), nullptr);
    EXPECT_NE(moved.host_pointer(), nullptr);
  }
  EXPECT_EQ(backend.live, 0) << "the registration was released";
  expect_same(before, "after the import was destroyed");
}

TEST(import_dmabuf, refusals_leave_nothing_behind) {
  unique_fd memfd = make_memfd(65536);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd pr(p[0]), pw(p[1]);
  fake_backend backend;
  const resource_snapshot before;

  // Nano: no path for a memfd; the message names the platform and the alternative.
  try {
    dmabuf_import imp(memfd.get(), 4096, {}, device_profile::jetson_nano(), backend);
    FAIL();
  } catch (const unsupported_error& e) {
    EXPECT_TRUE(contains(e.what(), "unimem::import_dmabuf(fd")) << e.what();
    EXPECT_TRUE(contains(e.what(), "Nano")) << e.what();
    EXPECT_TRUE(contains(e.what(), "mapped_resource")) << e.what();
  }
  // A memfd cannot take the native path.
  dmabuf_import_options native;
  native.path = dmabuf_path_choice::native_import;
  EXPECT_THROW(dmabuf_import(memfd.get(), 4096, native, device_profile::jetson_thor(), backend), unsupported_error);
  // Bad input.
  EXPECT_THROW(dmabuf_import(memfd.get(), 65537, {}, device_profile::jetson_thor(), backend), std::invalid_argument);
  EXPECT_THROW(dmabuf_import(memfd.get(), 0, {}, device_profile::jetson_thor(), backend), std::invalid_argument);
  EXPECT_THROW(dmabuf_import(pr.get(), 1, {}, device_profile::jetson_thor(), backend), std::invalid_argument);
  EXPECT_THROW(dmabuf_import(-1, 1, {}, device_profile::jetson_thor(), backend), std::invalid_argument);
  EXPECT_EQ(backend.register_calls + backend.import_calls, 0) << "refused before any CUDA call";

  // CUDA refuses the registration: the mapping and the duplicate go away, the error keeps the
  // CUDA code and names the import.
  backend.fail = true;
  try {
    dmabuf_import imp(memfd.get(), 4096, {}, device_profile::jetson_agx_orin(), backend);
    FAIL();
  } catch (const cuda_error& e) {
    EXPECT_EQ(e.code(), 801);
    EXPECT_TRUE(contains(e.what(), "unimem::import_dmabuf(fd")) << e.what();
    EXPECT_TRUE(contains(e.what(), "fake refusal")) << e.what();
  }
  EXPECT_EQ(backend.register_calls, 1);
  EXPECT_EQ(backend.live, 0);
  expect_same(before, "after every refusal");
}

TEST(import_dmabuf, real_backend_without_a_gpu_fails_cleanly) {
  std::string why;
  if (test::gpu_available(&why)) GTEST_SKIP() << "a GPU is present: dmabuf_gpu.memfd_* cover the real backend";
  unique_fd memfd = make_memfd(65536);
  const resource_snapshot before;
  EXPECT_THROW(import_dmabuf(memfd.get(), 65536, {}, device_profile::jetson_agx_orin()), cuda_error);
  expect_same(before, "after the failed registration");
}

// ---------------------------------------------------------------------------------------------
// On a GPU

using dmabuf_gpu = test::gpu_test;

// The GPU tests run their body twice and compare descriptors and mappings around the second run:
// the first pays for what CUDA opens once per process (the context, the UVM device), which is
// not a leak.
template <class F>
void twice_without_leaks(F&& body, const char* where) {
  body(false);
  const resource_snapshot before;
  body(true);
  expect_same(before, where);
}

TEST_F(dmabuf_gpu, memfd_host_register_kernel_reads_cpu_writes_and_cpu_sees_kernel_writes) {
  const std::size_t bytes = 4u << 20;
  dmabuf_allocation a = allocate_dmabuf(bytes, dmabuf_source::memfd, memfd_name);
  twice_without_leaks(
      [&](bool) {
        dmabuf_import imp = import_dmabuf(a.fd.get(), bytes);
        ASSERT_EQ(imp.path(), dmabuf_path::host_register) << imp.plan().reason;
        {
          auto scope = imp.access(cpu_access::write);
          std::memset(imp.host_pointer(), 0x5a, bytes);
        }
        EXPECT_EQ(test::device_count_mismatches(imp.device_pointer(), bytes, 0x5a), 0u);
        test::device_fill(imp.device_pointer(), bytes, 0xa5);
        // A second, independent CPU mapping of the same memfd sees what the kernel wrote.
        dmabuf_mapping other(a.fd.get(), bytes);
        auto scope = other.access(cpu_access::read);
        const auto* p = static_cast<const unsigned char*>(other.data());
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < bytes; ++i) wrong += p[i] != 0xa5;
        EXPECT_EQ(wrong, 0u);
      },
      "after the import was destroyed");
}

// Records what the platform refused, as a message in the test log and the XML report, without
// failing: refusing is legitimate where CUDA does not document the path.
void record_refusal(bool report, const std::string& what, const std::string& message) {
  EXPECT_FALSE(message.empty());
  if (!report) return;
  std::cout << "[ REFUSED  ] " << what << ": " << message << std::endl;
  std::string key = "refused_";  // an XML attribute name
  for (char c : what) key += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  ::testing::Test::RecordProperty(key, message);
}

TEST_F(dmabuf_gpu, dma_buf_sources_import_or_report_the_refusal) {
  bool any = false;
  for (dmabuf_source s : {dmabuf_source::dma_heap, dmabuf_source::udmabuf}) {
    try {
      allocate_dmabuf(4096, s, memfd_name);
    } catch (const unsupported_error& e) {
      std::cout << "[ NO SOURCE] " << e.what() << std::endl;
      continue;
    }
    any = true;
    twice_without_leaks(
        [&](bool report) {
          dmabuf_allocation a = allocate_dmabuf(1u << 20, s, memfd_name);
          try {
            dmabuf_import imp = import_dmabuf(a.fd.get(), a.bytes);
            EXPECT_TRUE(imp.plan().sync_ioctl);
            {
              auto scope = imp.access(cpu_access::write);
              std::memset(imp.host_pointer(), 0x3c, a.bytes);
            }
            EXPECT_EQ(test::device_count_mismatches(imp.device_pointer(), a.bytes, 0x3c), 0u) << to_string(s);
            if (report) std::cout << "[ IMPORTED ] " << to_string(s) << " via " << to_string(imp.path()) << std::endl;
          } catch (const std::exception& e) {
            record_refusal(report, std::string("import of ") + std::string(to_string(s)), e.what());
            EXPECT_TRUE(contains(e.what(), "unimem::")) << e.what();
          }
        },
        "after the import or its refusal");
  }
  if (!any) GTEST_SKIP() << "neither /dev/dma_heap/system nor /dev/udmabuf is available on this machine";
}

TEST_F(dmabuf_gpu, cuda_exported_dma_buf_and_every_import_path) {
  const std::size_t bytes = 2u << 20;
  device_resource mr;
  void* dev = mr.allocate(bytes);
  test::device_fill(dev, bytes, 0x3c);
  twice_without_leaks(
      [&](bool report) {
        unique_fd fd;
        try {
          fd = export_device_dmabuf(dev, bytes);
        } catch (const unsupported_error& e) {
          record_refusal(report, "export_device_dmabuf", e.what());
        } catch (const cuda_error& e) {
          record_refusal(report, "export_device_dmabuf", e.what());
        }
        if (!fd) return;
        const fd_facts f = inspect_fd(fd.get());
        EXPECT_EQ(f.kind, fd_kind::dma_buf) << f.description;
        EXPECT_EQ(f.object_bytes, bytes) << "a dma-buf reports its size through lseek";
        if (report) std::cout << "[ EXPORTED ] " << f.description << ", " << f.object_bytes << " B" << std::endl;

        // The path the profile picks (host_register on x86: mmap of the exported dma-buf).
        try {
          dmabuf_import imp = import_dmabuf(fd.get(), bytes);
          EXPECT_EQ(test::device_count_mismatches(imp.device_pointer(), bytes, 0x3c), 0u);
          if (report) std::cout << "[ IMPORTED ] automatic: " << to_string(imp.path()) << std::endl;
        } catch (const std::exception& e) {
          record_refusal(report, "import_dmabuf(automatic) of a CUDA export", e.what());
          EXPECT_TRUE(contains(e.what(), "unimem::")) << e.what();
        }
        // The native import, forced (CUDA documents it only for Jetson Thor).
        dmabuf_import_options native;
        native.path = dmabuf_path_choice::native_import;
        native.map_for_cpu = false;
        try {
          dmabuf_import imp = import_dmabuf(fd.get(), bytes, native);
          EXPECT_EQ(test::device_count_mismatches(imp.device_pointer(), bytes, 0x3c), 0u);
          if (report) std::cout << "[ IMPORTED ] native import of a CUDA export" << std::endl;
        } catch (const std::exception& e) {
          record_refusal(report, "import_dmabuf(native) of a CUDA export", e.what());
          EXPECT_TRUE(contains(e.what(), "cuImportExternalMemory") || contains(e.what(), "entry point")) << e.what();
        }
        // DMA_BUF_IOCTL_SYNC on the exported buffer.
        try {
          dmabuf_sync(fd.get(), cpu_access::read, true);
          dmabuf_sync(fd.get(), cpu_access::read, false);
          if (report) std::cout << "[ SYNCED   ] DMA_BUF_IOCTL_SYNC START/END accepted" << std::endl;
        } catch (const std::system_error& e) {
          record_refusal(report, "DMA_BUF_IOCTL_SYNC on a CUDA export", e.what());
        }

        // The native path's ownership on a real dma-buf, with the CUDA calls replaced.
        fake_backend backend;
        dmabuf_import fake(fd.get(), bytes, native, device_profile::jetson_thor(), backend);
        EXPECT_EQ(backend.import_calls, 1);
        EXPECT_EQ(backend.last_fd_kind, fd_kind::dma_buf);
        EXPECT_EQ(backend.last_object_bytes, bytes);
        EXPECT_EQ(fake.host_pointer(), nullptr);
        EXPECT_THROW(fake.access(cpu_access::read), std::logic_error);
      },
      "after the export and the imports");
  mr.deallocate(dev, bytes);
}

TEST_F(dmabuf_gpu, export_refuses_unaligned_ranges) {
  device_resource mr;
  void* dev = mr.allocate(1u << 20);
  EXPECT_THROW(export_device_dmabuf(static_cast<char*>(dev) + 256, 4096), std::invalid_argument);
  EXPECT_THROW(export_device_dmabuf(dev, 1000), std::invalid_argument);
  EXPECT_THROW(export_device_dmabuf(nullptr, 4096), std::invalid_argument);
  mr.deallocate(dev, 1u << 20);
}

}  // namespace
}  // namespace unimem
