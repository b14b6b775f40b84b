# Sanitizers instrument host C++ only: nvcc-compiled translation units are linked uninstrumented,
# which ASan, UBSan and TSan all tolerate.
if(UNIMEM_SANITIZE)
  string(REPLACE "," ";" _unimem_sanitizers "${UNIMEM_SANITIZE}")
  foreach(_s IN LISTS _unimem_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "UNIMEM_SANITIZE: unknown sanitizer '${_s}'; use address,undefined or thread")
    endif()
  endforeach()
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${UNIMEM_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=all>)
  add_link_options(-fsanitize=${UNIMEM_SANITIZE})
endif()
