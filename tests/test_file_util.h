/*
 * Helpers of the regular-file tests (test_file.c, test_patch_file.c).
 */
#ifndef GREEN_TEST_FILE_UTIL_H
#define GREEN_TEST_FILE_UTIL_H

#include "test_util.h"

#include <green/hub.h>

/* A fresh empty file in /tmp, open read-write; its path in path (unlink
 * it at the end). */
static inline int test_temp_file(char *path, size_t size)
{
    int fd;

    snprintf(path, size, "/tmp/green_file_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

/* The hub runs io_uring, so file calls are io_uring operations (what
 * green_file_native must say). */
static inline int test_files_native(void)
{
    return strcmp(green_hub_backend_name(), "io_uring") == 0;
}

#endif /* GREEN_TEST_FILE_UTIL_H */
