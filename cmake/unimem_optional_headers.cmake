# The optional headers. Included after src/ so it can add include folders to the unimem target.
#
# unimem/typed/dlpack.hpp needs dlpack/dlpack.h. Give its folder with -DUNIMEM_DLPACK_INCLUDE_DIR=<dir>
# (the folder that holds dlpack/), or let find_path look in the system (libdlpack-dev). Without
# it the library builds all the same and the DLPack tests report themselves skipped.
find_path(UNIMEM_DLPACK_INCLUDE_DIR dlpack/dlpack.h
  DOC "Folder holding dlpack/dlpack.h for unimem/typed/dlpack.hpp and its tests (optional)")
if(UNIMEM_DLPACK_INCLUDE_DIR)
  if(NOT EXISTS "${UNIMEM_DLPACK_INCLUDE_DIR}/dlpack/dlpack.h")
    message(FATAL_ERROR "UNIMEM_DLPACK_INCLUDE_DIR=${UNIMEM_DLPACK_INCLUDE_DIR} holds no dlpack/dlpack.h; "
                        "point it at the folder that contains the dlpack/ directory, or unset it")
  endif()
  file(STRINGS "${UNIMEM_DLPACK_INCLUDE_DIR}/dlpack/dlpack.h" unimem_dlpack_defines
       REGEX "^#define DLPACK_(MAJOR_VERSION|MINOR_VERSION|VERSION) ")
  string(REGEX REPLACE "#define DLPACK_[A-Z_]+ " "" unimem_dlpack_version "${unimem_dlpack_defines}")
  string(REPLACE ";" "." unimem_dlpack_version "${unimem_dlpack_version}")
  # Build tree only: an installed unimem leaves finding dlpack.h to its user.
  target_include_directories(unimem INTERFACE $<BUILD_INTERFACE:${UNIMEM_DLPACK_INCLUDE_DIR}>)
  message(STATUS "unimem: dlpack.h (version ${unimem_dlpack_version}) in ${UNIMEM_DLPACK_INCLUDE_DIR}")
else()
  message(STATUS "unimem: no dlpack/dlpack.h found; unimem/typed/dlpack.hpp stays untested "
                 "(install libdlpack-dev or set UNIMEM_DLPACK_INCLUDE_DIR)")
endif()

# unimem/typed/mdspan.hpp needs CCCL's <cuda/std/mdspan>. nvcc adds CCCL by itself; CUDA 13 moved it to
# <toolkit>/include/cccl, which host compilers must be told about (older CMake does not know).
unset(unimem_cccl_dir)
foreach(dir IN LISTS CUDAToolkit_INCLUDE_DIRS)
  if(EXISTS "${dir}/cccl/cuda/std/mdspan")
    set(unimem_cccl_dir "${dir}/cccl")
    break()
  endif()
endforeach()
if(unimem_cccl_dir)
  target_include_directories(unimem PUBLIC $<BUILD_INTERFACE:${unimem_cccl_dir}>)
endif()
