# ctest driver: install the current libgreen build into a temporary
# prefix, then configure, build and run tests/consumer/ against it, once
# with find_package(libgreen) and once with pkg-config (libgreen.pc and
# libgreen_patch.pc).
#
#   cmake -DGREEN_BUILD_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=...
#         [-DGENERATOR=...] [-DC_COMPILER=...] [-DTOOLCHAIN_FILE=...]
#         [-DEMULATOR=cmd|arg|...] -P run_consumer_test.cmake
foreach(var GREEN_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR)
    if(NOT ${var})
        message(FATAL_ERROR "${var} is not set")
    endif()
endforeach()

# What each program prints.
set(expected_consumer "consumer: 1 2 3 6")
set(expected_consumer_patch "consumer_patch: usleep parked only its green thread")
set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run_checked what)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                    OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
    endif()
    set(last_output "${out}" PARENT_SCOPE)
endfunction()

run_checked("install" "${CMAKE_COMMAND}" --install "${GREEN_BUILD_DIR}"
            --prefix "${prefix}")

set(configure_args "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
if(GENERATOR)
    list(APPEND configure_args -G "${GENERATOR}")
endif()
if(C_COMPILER)
    list(APPEND configure_args "-DCMAKE_C_COMPILER=${C_COMPILER}")
endif()
if(TOOLCHAIN_FILE)
    # The prefix is outside the cross sysroot; let find_* look there too.
    list(APPEND configure_args "-DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE}"
         -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=BOTH
         -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=BOTH
         -DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=BOTH)
endif()
string(REPLACE "|" ";" emulator "${EMULATOR}")

file(GLOB libdirs LIST_DIRECTORIES true "${prefix}/lib*")
set(pc_path "")
foreach(dir IN LISTS libdirs)
    file(GLOB_RECURSE pcs "${dir}/*/libgreen.pc"
                          "${dir}/*/libgreen_patch.pc")
    foreach(pc IN LISTS pcs)
        get_filename_component(pcdir "${pc}" DIRECTORY)
        list(APPEND pc_path "${pcdir}")
    endforeach()
    file(GLOB_RECURSE configs "${dir}/*/libgreenConfig.cmake")
    foreach(config IN LISTS configs)
        get_filename_component(libgreen_dir "${config}" DIRECTORY)
    endforeach()
endforeach()
list(REMOVE_DUPLICATES pc_path)
if(NOT pc_path OR NOT libgreen_dir)
    message(FATAL_ERROR "install did not produce libgreen.pc and "
                        "libgreenConfig.cmake under ${prefix}")
endif()

function(build_and_run mode)
    set(bin "${WORK_DIR}/build-${mode}")
    set(args ${configure_args} "-Dlibgreen_DIR=${libgreen_dir}")
    if(mode STREQUAL "pkgconfig")
        list(APPEND args -DCONSUMER_USE_PKGCONFIG=ON)
        set(exes consumer_pkgconfig consumer_patch_pkgconfig)
    else()
        set(exes consumer_static consumer_shared consumer_patch_shared)
    endif()
    set(ENV{PKG_CONFIG_PATH} "${pc_path}")
    run_checked("configure (${mode})" "${CMAKE_COMMAND}" -S
                "${CONSUMER_SOURCE_DIR}" -B "${bin}" ${args})
    run_checked("build (${mode})" "${CMAKE_COMMAND}" --build "${bin}")
    foreach(exe IN LISTS exes)
        run_checked("run ${exe}" ${emulator} "${bin}/${exe}")
        string(STRIP "${last_output}" got)
        string(REGEX REPLACE "_(static|shared|pkgconfig)$" "" program "${exe}")
        set(expected "${expected_${program}}")
        if(NOT got STREQUAL expected)
            message(FATAL_ERROR "${exe} printed '${got}', expected "
                                "'${expected}'")
        endif()
        message(STATUS "${exe}: ${got}")
    endforeach()
endfunction()

build_and_run(config)
build_and_run(pkgconfig)
