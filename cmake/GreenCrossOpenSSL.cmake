# OpenSSL 3 for a cross build from Debian's multiarch libssl-dev:<arch>
# (what find_package(OpenSSL) cannot see through CMAKE_FIND_ROOT_PATH).
# The libraries are under /usr/lib/<triplet>; the headers are the shared
# /usr/include/openssl plus /usr/include/<triplet>/openssl.  /usr/include
# also holds the host's libc headers and cannot go on a cross include path
# (cmake/Findcmocka.cmake), so just OpenSSL's headers are copied.  Sets
# OPENSSL_FOUND and the targets OpenSSL::SSL and OpenSSL::Crypto.
set(OPENSSL_FOUND OFF)
set(triplet ${CMAKE_LIBRARY_ARCHITECTURE})
find_library(GREEN_SSL_LIBRARY ssl PATHS /usr/lib/${triplet}
             NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
find_library(GREEN_CRYPTO_LIBRARY crypto PATHS /usr/lib/${triplet}
             NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
file(GLOB headers /usr/include/openssl/*.h /usr/include/${triplet}/openssl/*.h)
if(GREEN_SSL_LIBRARY AND GREEN_CRYPTO_LIBRARY AND
   EXISTS /usr/include/${triplet}/openssl/configuration.h)
    set(include "${PROJECT_BINARY_DIR}/openssl-include")
    file(COPY ${headers} DESTINATION "${include}/openssl")
    file(STRINGS "${include}/openssl/opensslv.h" major
         REGEX "^# *define +OPENSSL_VERSION_MAJOR +[0-9]+")
    if(major MATCHES "([0-9]+)$" AND CMAKE_MATCH_1 GREATER_EQUAL 3)
        set(OPENSSL_FOUND ON)
        add_library(OpenSSL::Crypto UNKNOWN IMPORTED)
        set_target_properties(OpenSSL::Crypto PROPERTIES
            IMPORTED_LOCATION "${GREEN_CRYPTO_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${include}")
        add_library(OpenSSL::SSL UNKNOWN IMPORTED)
        set_target_properties(OpenSSL::SSL PROPERTIES
            IMPORTED_LOCATION "${GREEN_SSL_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${include}"
            INTERFACE_LINK_LIBRARIES OpenSSL::Crypto)
    endif()
endif()
