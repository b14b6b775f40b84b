/* unimem_torch (libunimem_torch.so): unimem's pool as PyTorch's CUDA allocator, and unimem tensors
 * handed to PyTorch (or any DLPack consumer) without a copy. A C interface, loaded by
 * torch.cuda.memory.CUDAPluggableAllocator and by the Python package `unimem` through ctypes;
 * docs/pytorch.md is the guide.
 *
 * PyTorch's allocator (one unimem::pool_resource per CUDA device, made on the device's first
 * allocation, never destroyed, so PyTorch may free into it at any point of process exit):
 *
 *     torch.cuda.memory.CUDAPluggableAllocator(path, "unimem_torch_malloc", "unimem_torch_free")
 *
 * Settings. Each is read from its environment variable when the first pool is made, and
 * unimem_torch_set_option (Python: use_unimem_allocator(**options)) overrides it; an unknown
 * UNIMEM_TORCH_ variable is an error, not a silent typo. Sizes take K, M, G, T or KiB, MiB, GiB,
 * TiB. This table is the reference (the library prints it from the same table it parses with).
 *
 *   UNIMEM_TORCH_UPSTREAM           device | managed | policy (default policy): where each device's
 *                                   pool takes memory: cudaMalloc, cudaMallocManaged (attached
 *                                   globally), or unimem::recommend()'s choice for GPU scratch on
 *                                   the device's profile (device memory on every board today)
 *   UNIMEM_TORCH_BUDGET             size, 0 = none (default 0): most bytes each device's pool may
 *                                   hold from upstream (unimem::limiting_resource); beyond it an
 *                                   allocation fails with out-of-memory
 *   UNIMEM_TORCH_INITIAL_SIZE       size (default 0): taken from upstream when the pool is made
 *   UNIMEM_TORCH_GROWTH_STEP        size, 0 = adaptive (default 0): least bytes per upstream request
 *   UNIMEM_TORCH_FIT                tlsf | best_fit (default tlsf): free-block search
 *   UNIMEM_TORCH_LEARN_ITERATIONS   1 | 0 (default 1): learn repeated iterations (pool_options)
 *   UNIMEM_TORCH_MAX_LEARNED_CALLS  count (default 65536): longer iterations are not learned
 *   UNIMEM_TORCH_CHECKED            1 | 0 (default 0): verify the pool after every call (slow)
 *   UNIMEM_TORCH_VERBOSE            1 | 0 (default 0): print each pool's settings when it is made
 *   UNIMEM_TORCH_TRACE              path (default none): write each pool's calls there as a trace (.gz: gzip)
 *   UNIMEM_TORCH_LIBRARY            path: read by the Python package only, the library to load
 *
 * Functions returning int return -1 on error; unimem_torch_last_error() then says what failed and
 * how to fix it (per thread). None of them throws, except unimem_torch_malloc, which throws
 * unimem::out_of_memory (a std::bad_alloc) or unimem::cuda_error as PyTorch's own allocator
 * throws: PyTorch turns it into a Python exception with the message.
 */
#ifndef UNIMEM_TORCH_ALLOCATOR_H
#define UNIMEM_TORCH_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define UNIMEM_TORCH_API __attribute__((visibility("default")))
#else
#define UNIMEM_TORCH_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* What cudaStream_t is a typedef of; named here so this header needs no CUDA header. */
struct CUstream_st;

/* Bumped whenever a struct below or a signature changes; the Python package checks it. */
#define UNIMEM_TORCH_ABI_VERSION 1

/* Memory kinds, as unimem::memory_kind orders them; unimem_memory_kind_name() names them. */
enum {
  UNIMEM_KIND_HOST = 0,
  UNIMEM_KIND_PINNED = 1,
  UNIMEM_KIND_MAPPED = 2,
  UNIMEM_KIND_REGISTERED = 3,
  UNIMEM_KIND_DEVICE = 4,
  UNIMEM_KIND_MANAGED = 5
};

/* One device's counters (unimem::pool_statistics plus the allocator's own). */
typedef struct unimem_torch_stats {
  uint64_t reserved_bytes;         /* held from upstream now */
  uint64_t peak_reserved_bytes;    /* most ever held from upstream at once */
  uint64_t live_bytes;             /* requested bytes of live allocations (the pool's count) */
  uint64_t live_count;             /* live allocations */
  uint64_t chunk_count;            /* upstream allocations held */
  uint64_t upstream_allocations;   /* upstream allocate calls so far (cudaMalloc, ...) */
  uint64_t upstream_deallocations;
  uint64_t plans_built;            /* iteration plans learned */
  uint64_t plan_divergences;       /* iterations that left their plan */
  uint64_t plan_active;            /* 1 while a plan serves */
  uint64_t requested_bytes;        /* bytes PyTorch holds now */
  uint64_t peak_requested_bytes;   /* most PyTorch ever held at once */
  uint64_t allocations;            /* successful unimem_torch_malloc calls */
  uint64_t deallocations;          /* unimem_torch_free calls that returned memory */
  uint64_t failed_allocations;     /* malloc calls that threw */
  uint64_t failed_deallocations;   /* free calls that failed (reported on stderr) */
  uint64_t budget_limit;           /* UNIMEM_TORCH_BUDGET, 0 for none */
  uint64_t budget_used;
  uint64_t budget_peak;
  uint64_t frees_skipped_at_exit;  /* frees after the exit handler ran, or while CUDA shut down */
  int32_t upstream_kind;           /* UNIMEM_KIND_* of the pool's upstream */
  int32_t padding_;
} unimem_torch_stats;

/* ---- PyTorch's allocator (torch.cuda.memory.CUDAPluggableAllocator) ---- */

/* Allocates `size` bytes on `device` (made current for the call), ordered on `stream`. */
UNIMEM_TORCH_API void* unimem_torch_malloc(ssize_t size, int device, struct CUstream_st* stream);
/* Frees what unimem_torch_malloc returned, with the size, device and stream PyTorch recorded. */
UNIMEM_TORCH_API void unimem_torch_free(void* ptr, ssize_t size, int device, struct CUstream_st* stream);

/* ---- settings and statistics (Python, through ctypes) ---- */

UNIMEM_TORCH_API int unimem_torch_abi_version(void);
/* Number of options, and option `i`'s keyword, variable, values and meaning (static strings). */
UNIMEM_TORCH_API int unimem_torch_option_count(void);
UNIMEM_TORCH_API int unimem_torch_option(int i, const char** key, const char** variable, const char** values,
                                         const char** meaning);
/* Sets an option by keyword ("budget") or variable name; refused once the allocator has made a pool. */
UNIMEM_TORCH_API int unimem_torch_set_option(const char* key, const char* value);
/* Forgets the options set so far (the environment still applies); refused once a pool exists. */
UNIMEM_TORCH_API int unimem_torch_clear_options(void);
/* The settings in force (or that will be, from the environment and the options) as JSON; NULL
 * on a bad setting. The string lives until the calling thread's next call of this function. */
UNIMEM_TORCH_API const char* unimem_torch_config_json(void);
/* 1 once the allocator made its first pool (settings are fixed from then on), else 0. */
UNIMEM_TORCH_API int unimem_torch_started(void);
/* Devices 0 .. unimem_torch_device_limit() - 1 are served. */
UNIMEM_TORCH_API int unimem_torch_device_limit(void);
/* Fills `out` (sizeof(unimem_torch_stats) in `out_size`): 1 when `device` has a pool, 0 when it
 * has none yet (all zero), -1 on error. */
UNIMEM_TORCH_API int unimem_torch_statistics(int device, unimem_torch_stats* out, size_t out_size);
/* Returns wholly free chunks of `device`'s pool, or of all for -1, to upstream; bytes or -1. */
UNIMEM_TORCH_API int64_t unimem_torch_empty_cache(int device);
/* The calling thread's last error ("" when none). */
UNIMEM_TORCH_API const char* unimem_torch_last_error(void);
/* "host", "pinned", "mapped", "registered", "device", "managed", or NULL. */
UNIMEM_TORCH_API const char* unimem_memory_kind_name(int kind);

/* ---- unimem tensors for DLPack consumers (present when built with dlpack.h) ---- */

/* 0: built without dlpack.h (every unimem_tensor_ call fails); 1: DLManagedTensor;
 * 2: DLManagedTensorVersioned too (DLPack 1.0 or later). */
UNIMEM_TORCH_API int unimem_dlpack_support(void);

typedef struct unimem_tensor_info {
  void* data;              /* the CPU's pointer (for device memory: the device pointer) */
  void* device_data;       /* the kernels' pointer; NULL when no GPU can reach the memory */
  uint64_t nbytes;
  uint64_t stream;         /* the stream it is freed on (a cudaStream_t value) */
  int32_t kind;            /* UNIMEM_KIND_* */
  int32_t device;          /* CUDA device at allocation, -1 for host-only memory */
  int32_t host_accessible;
  int32_t device_accessible;
} unimem_tensor_info;

/* A new tensor of `ndim` extents in `shape`, dtype `dtype` ("float32", "uint8", ... as
 * unimem::to_string(dtype) names them), from a pool of `kind` ("device", "managed", "pinned",
 * "mapped", "host") on `device` (made current for the call), ordered on `stream` (a cudaStream_t
 * value; 0 is the legacy default stream). The handle is shared with every export of the tensor. */
UNIMEM_TORCH_API int unimem_tensor_new(const char* kind, const char* dtype, int32_t ndim, const int64_t* shape,
                                       int32_t device, uint64_t stream, void** out_tensor);
/* Drops the handle's reference; the memory goes when no export holds it either. */
UNIMEM_TORCH_API void unimem_tensor_release(void* tensor);
UNIMEM_TORCH_API int unimem_tensor_info_of(void* tensor, unimem_tensor_info* out, size_t out_size);
/* Tensors alive (held by a handle or an export): for tests and leak checks. */
UNIMEM_TORCH_API int64_t unimem_tensor_live_count(void);
/* The DLPack device (type, id) an export with `devices` would carry:
 * 0 = accepted (kDLCUDA for device-accessible memory), 1 = exact kinds, 2 = the CPU's view. */
UNIMEM_TORCH_API int unimem_tensor_dlpack_device(void* tensor, int32_t devices, int32_t* device_type,
                                                 int32_t* device_id);
/* Exports the tensor (shared) as DLManagedTensor* (versioned = 0) or DLManagedTensorVersioned*
 * (versioned = 1). With `handshake` nonzero, `consumer_stream` (a cudaStream_t value: 1 is the
 * legacy default stream, 2 the per-thread one) is made to wait for the tensor's stream first. */
UNIMEM_TORCH_API int unimem_tensor_to_dlpack(void* tensor, int32_t devices, int32_t versioned, int32_t handshake,
                                             uint64_t consumer_stream, void** out_managed);
/* Runs the deleter of an export that no consumer took. */
UNIMEM_TORCH_API void unimem_dlpack_delete(void* managed, int32_t versioned);
/* PyCapsule support without linking Python: the package passes the addresses of
 * PyCapsule_IsValid and PyCapsule_GetPointer once; unimem_dlpack_capsule_destructor (the
 * capsules' destructor) then releases a capsule that no consumer renamed to "used_dltensor". */
UNIMEM_TORCH_API int unimem_dlpack_bind_python(void* capsule_is_valid, void* capsule_get_pointer);
UNIMEM_TORCH_API void unimem_dlpack_capsule_destructor(void* capsule);
/* "dltensor" or "dltensor_versioned": static strings for PyCapsule_New. */
UNIMEM_TORCH_API const char* unimem_dlpack_capsule_name(int32_t versioned);

#ifdef __cplusplus
}
#endif

#endif /* UNIMEM_TORCH_ALLOCATOR_H */
