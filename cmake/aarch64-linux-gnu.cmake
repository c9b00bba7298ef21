# Cross-build for 64-bit Arm Linux with Debian's gcc-aarch64-linux-gnu; run
# the results under qemu-user.  Tests need libcmocka-dev:arm64 (multiarch,
# see docs/building.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# Only aarch64 files, unless the caller asks otherwise with -D (the
# consumer test does, to find a libgreen installed outside the sysroot).
foreach(kind LIBRARY INCLUDE PACKAGE)
    if(NOT CMAKE_FIND_ROOT_PATH_MODE_${kind})
        set(CMAKE_FIND_ROOT_PATH_MODE_${kind} ONLY)
    endif()
endforeach()

# The dynamic loader and libc that run the programs must come from one
# glibc build.  With Debian multiarch arm64 packages installed (cmocka for
# the tests pulls in libc6:arm64), /lib/ld-linux-aarch64.so.1 exists and the
# loader finds its libc, and libcmocka, through the host's ld.so.cache; a
# "-L /usr/aarch64-linux-gnu" prefix would then pair the cross loader with
# the multiarch libc, and mismatched glibc builds hang in pthread_create.
# Without multiarch, -L makes qemu use the cross toolchain's loader and libc.
if(EXISTS /lib/ld-linux-aarch64.so.1)
    set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
else()
    set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
endif()

# pkg-config must describe aarch64 libraries, not the host's.
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
