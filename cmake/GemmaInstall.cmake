# Installation (`cmake --install BUILD [--prefix DIR]`): the `gemma` program,
# the library as one static archive (libgemma.a), the public headers
# (include/gemma/), a CMake package (find_package(gemma) -> gemma::gemma), a
# pkg-config file (gemma.pc) and the bundled tiny model (share/gemma/).
#
# One archive rather than the per-layer libraries the build uses: a user links
# one library whatever our layering is (the layers are an internal rule,
# enforced by the build; they can be split or merged without changing anyone's
# link line, CMake or pkg-config), and within one archive the linker resolves
# the layers' references among themselves in any order. It is made from the
# layers' object files, so nothing is compiled twice.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

#
# The server is in it too: include/gemma/serve.h is a public header (gemma serve
# as a library call, ApiServer), so the archive must define what it declares,
# and that takes the server (src/server/) with its protocol layer and
# constrained decoding. A program that never calls ApiServer links none of it
# (the linker takes from an archive only the objects something refers to).
set(gemma_archive_objects "")
foreach(library IN LISTS GEMMA_LAYER_TARGETS ITEMS gemma_server gemma_protocol gemma_constrain)
  list(APPEND gemma_archive_objects $<TARGET_OBJECTS:${library}>)
endforeach()
add_library(gemma_archive STATIC ${gemma_archive_objects})
set_target_properties(gemma_archive PROPERTIES OUTPUT_NAME gemma EXPORT_NAME gemma
                                               LINKER_LANGUAGE CXX)
target_include_directories(gemma_archive INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
# What the archive's objects need at link time (nlohmann-json is header-only
# and used inside the library only; cpp-httplib, the server's HTTP library, is
# a shared library that gemmaConfig.cmake finds again as gemma::cpp_httplib),
# and the language level of the headers.
target_link_libraries(gemma_archive INTERFACE hwy::hwy Threads::Threads
  $<BUILD_INTERFACE:PkgConfig::CPP_HTTPLIB> $<INSTALL_INTERFACE:gemma::cpp_httplib>)
target_compile_features(gemma_archive INTERFACE cxx_std_20)

install(TARGETS gemma RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS gemma_archive EXPORT gemmaTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/gemma DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING
        PATTERN "*.h")
install(FILES models/tiny-gemma3.gguf DESTINATION ${CMAKE_INSTALL_DATADIR}/gemma)

set(gemma_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/gemma)
install(EXPORT gemmaTargets NAMESPACE gemma:: DESTINATION ${gemma_cmake_dir})
configure_package_config_file(cmake/gemmaConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/gemmaConfig.cmake INSTALL_DESTINATION ${gemma_cmake_dir})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/gemmaConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gemmaConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/gemmaConfigVersion.cmake
        DESTINATION ${gemma_cmake_dir})

# gemma.pc finds the prefix from its own location, so the installed tree can
# be moved (or installed with --prefix other than the configured one).
file(RELATIVE_PATH gemma_pc_prefix "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
string(REGEX REPLACE "/$" "" gemma_pc_prefix "${gemma_pc_prefix}")
configure_file(cmake/gemma.pc.in ${CMAKE_CURRENT_BINARY_DIR}/gemma.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gemma.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
