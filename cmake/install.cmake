# The installable library and what `cmake --install build --prefix P` puts
# where (included from the top-level CMakeLists.txt after cnnrun_lib):
#   bin/cnnrun                          the command (library linked in)
#   lib/libcnnrun.so.X.Y.Z, .so.X, .so  shared library, SONAME libcnnrun.so.X
#   lib/libcnnrun.a                     static library (same objects)
#   include/cnnrun/cnnrun.h             the one public header
#   lib/pkgconfig/cnnrun.pc             pkg-config: Cflags make <cnnrun.h> work
#   lib/cmake/cnnrun/                   find_package(cnnrun): cnnrun::cnnrun (shared),
#                                       COMPONENTS static: cnnrun::cnnrun_static
#   share/cnnrun/models/*.yaml          the example models
#   share/doc/cnnrun/                   README.md and docs/
# (lib is CMAKE_INSTALL_LIBDIR: lib/x86_64-linux-gnu under a /usr prefix.)
# Man pages and bash completion are installed by cmd/cli_docs.cmake.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CNNRUN_INCLUDE_SUBDIR ${CMAKE_INSTALL_INCLUDEDIR}/cnnrun)
set(CNNRUN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cnnrun)

# Both libraries from cnnrun_lib's objects: compiled once.
add_library(cnnrun_shared SHARED $<TARGET_OBJECTS:cnnrun_lib>)
add_library(cnnrun_static STATIC $<TARGET_OBJECTS:cnnrun_lib>)
add_library(cnnrun::cnnrun ALIAS cnnrun_shared)
add_library(cnnrun::cnnrun_static ALIAS cnnrun_static)
set_target_properties(cnnrun_shared PROPERTIES OUTPUT_NAME cnnrun EXPORT_NAME cnnrun
                                               VERSION ${PROJECT_VERSION}
                                               SOVERSION ${PROJECT_VERSION_MAJOR})
set_target_properties(cnnrun_static PROPERTIES OUTPUT_NAME cnnrun EXPORT_NAME cnnrun_static)
foreach(library cnnrun_shared cnnrun_static)
  target_include_directories(${library} INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/lib>
                                                  $<INSTALL_INTERFACE:${CNNRUN_INCLUDE_SUBDIR}>)
endforeach()
# The shared library carries its dependencies (DT_NEEDED); a static one
# hands them to whoever links it, for the link only (cnnrun.h needs none of
# their headers).
target_link_libraries(cnnrun_shared PRIVATE ${CNNRUN_LIB_DEPENDENCIES})
target_link_libraries(cnnrun_static PRIVATE ${CNNRUN_LIB_DEPENDENCIES})
if(NOT CNNRUN_SANITIZE AND NOT CNNRUN_FUZZ)
  # Every symbol resolved at link time, so a missing dependency shows here
  # and not in a user's program (the sanitizer runtimes are the program's).
  target_link_options(cnnrun_shared PRIVATE LINKER:--no-undefined)
endif()

install(TARGETS cnnrun RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS cnnrun_shared EXPORT cnnrun-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS cnnrun_static EXPORT cnnrun-static-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES lib/cnnrun.h DESTINATION ${CNNRUN_INCLUDE_SUBDIR})

# pkg-config: relocatable (prefix found from the .pc file's own folder), so
# `cmake --install --prefix P` and DESTDIR staging both give working paths.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(CNNRUN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH CNNRUN_PC_UP "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
  string(REGEX REPLACE "/$" "" CNNRUN_PC_UP "${CNNRUN_PC_UP}")
  set(CNNRUN_PC_PREFIX "\${pcfiledir}/${CNNRUN_PC_UP}")
endif()
# What a static link needs besides the modules in Requires.private.
set(CNNRUN_PC_LIBS_PRIVATE "-lcsv -lm ${OpenMP_C_FLAGS}")
if(MPI_C_FOUND)
  foreach(library ${MPI_C_LIBRARIES})
    string(APPEND CNNRUN_PC_LIBS_PRIVATE " ${library}")
  endforeach()
endif()
configure_file(cmake/cnnrun.pc.in cnnrun.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cnnrun.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake package.
install(EXPORT cnnrun-targets NAMESPACE cnnrun:: DESTINATION ${CNNRUN_CMAKE_DIR})
install(EXPORT cnnrun-static-targets NAMESPACE cnnrun:: DESTINATION ${CNNRUN_CMAKE_DIR})
set(CNNRUN_WITH_MPI_LIBRARY OFF)
if(MPI_C_FOUND)
  set(CNNRUN_WITH_MPI_LIBRARY ON)
endif()
configure_package_config_file(cmake/cnnrun-config.cmake.in cnnrun-config.cmake
                              INSTALL_DESTINATION ${CNNRUN_CMAKE_DIR})
# The shared library's SONAME changes with the major version; so does what
# find_package(cnnrun X.Y) accepts.
write_basic_package_version_file(cnnrun-config-version.cmake COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cnnrun-config.cmake
              ${PROJECT_BINARY_DIR}/cnnrun-config-version.cmake
        DESTINATION ${CNNRUN_CMAKE_DIR})

install(DIRECTORY models/ DESTINATION ${CMAKE_INSTALL_DATADIR}/cnnrun/models
        FILES_MATCHING PATTERN "*.yaml")
# README's links (docs/training.md, docs/lenet5-curves.png) stay valid.
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
