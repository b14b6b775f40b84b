include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS unimem EXPORT unimemTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/unimem DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT unimemTargets NAMESPACE unimem:: FILE unimemTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/unimem)

configure_package_config_file(cmake/unimemConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/unimemConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/unimem)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/unimemConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/unimemConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/unimemConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/unimem)
