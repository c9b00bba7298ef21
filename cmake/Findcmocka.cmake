# Find cmocka, the unit test framework the tests use (nothing else needs
# it).  Defines cmocka_FOUND and the target cmocka::cmocka.
# find_package(cmocka) finds this module first (CMAKE_MODULE_PATH), so
# -DCMAKE_DISABLE_FIND_PACKAGE_cmocka=ON hides cmocka from the build.
include(FindPackageHandleStandardArgs)

if(CMAKE_CROSSCOMPILING AND CMAKE_LIBRARY_ARCHITECTURE)
    # Debian multiarch (libcmocka-dev:<arch>): the library is under
    # /usr/lib/<triplet>, the header is the shared /usr/include/cmocka.h.
    # /usr/include also holds the host's libc headers and cannot go on a
    # cross include path, so copy just the cmocka header.
    find_library(GREEN_CMOCKA_LIBRARY NAMES cmocka
        PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}
        NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
    find_file(GREEN_CMOCKA_HEADER cmocka.h PATHS /usr/include
        NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
    if(GREEN_CMOCKA_HEADER)
        set(GREEN_CMOCKA_INCLUDE_DIR "${PROJECT_BINARY_DIR}/cmocka-include")
        configure_file("${GREEN_CMOCKA_HEADER}"
                       "${GREEN_CMOCKA_INCLUDE_DIR}/cmocka.h" COPYONLY)
    endif()
else()
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
        pkg_check_modules(PC_CMOCKA QUIET cmocka)
    endif()
    find_path(GREEN_CMOCKA_INCLUDE_DIR cmocka.h HINTS ${PC_CMOCKA_INCLUDE_DIRS})
    find_library(GREEN_CMOCKA_LIBRARY NAMES cmocka
                 HINTS ${PC_CMOCKA_LIBRARY_DIRS})
endif()

find_package_handle_standard_args(cmocka
    REQUIRED_VARS GREEN_CMOCKA_LIBRARY GREEN_CMOCKA_INCLUDE_DIR)
if(cmocka_FOUND AND NOT TARGET cmocka::cmocka)
    add_library(cmocka::cmocka INTERFACE IMPORTED)
    target_include_directories(cmocka::cmocka SYSTEM INTERFACE
                               "${GREEN_CMOCKA_INCLUDE_DIR}")
    target_link_libraries(cmocka::cmocka INTERFACE "${GREEN_CMOCKA_LIBRARY}")
endif()
