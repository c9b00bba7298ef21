/*
 * libgreen's own libc calls reach libc directly, whatever is preloaded
 * (#12 part 2): with libgreen_patch.so and a counting shim preloaded, a
 * program that drives sockets, a pipe, the hub's waits, the thread pool's
 * cross-thread wake-ups, DNS, the watchdog and greenlet creation through
 * libgreen makes no call that reaches the shim.
 *
 * Built twice, as test_patch_preload.c is: the child (linked to
 * libgreen.so only) does the work with the shim counting and prints
 * "<calls> <first call's name> <control calls>"; the test runs it on
 * both hub backends.
 * GREEN_TEST_BACKENDS
 */
#ifdef GREEN_PATCH_BYPASS_CHILD

#include <green/dns.h>
#include <green/hub.h>
#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>

#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int listener, port, pipe_fds[2];
static char echoed[6];

static void *serve(void *arg)
{
    char buffer[6];
    int client;

    (void)arg;
    if (green_accept(&client, listener, NULL, NULL) != 0)
        return NULL;
    if (green_recv_all(client, buffer, sizeof(buffer), NULL) == 0)
        green_send_all(client, buffer, sizeof(buffer), NULL);
    green_close(client);
    return NULL;
}

static void *client(void *arg)
{
    int fd;

    (void)arg;
    if (green_connect_tcp(&fd, "127.0.0.1", port, 5.0) != 0)
        return NULL;
    if (green_send_all(fd, "hello", sizeof(echoed), NULL) == 0)
        green_recv_all(fd, echoed, sizeof(echoed), NULL);
    green_close(fd);
    return NULL;
}

static void *pipe_writer(void *arg)
{
    (void)arg;
    green_sleep(0.05);
    green_write(pipe_fds[1], "!", 1, NULL);
    return NULL;
}

static void *pipe_reader(void *arg)
{
    char byte;

    (void)arg;
    green_read(pipe_fds[0], &byte, 1, NULL);
    return NULL;
}

static void *resolve(void *arg)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST};
    struct addrinfo *result = NULL;
    int gai_error;

    (void)arg;
    if (green_getaddrinfo("127.0.0.1", "80", &hints, &result, 5.0,
                          &gai_error) == 0)
        freeaddrinfo(result);
    return NULL;
}

int main(void)
{
    void (*set_counting)(int) = dlsym(RTLD_DEFAULT, "shim_set_counting");
    unsigned long (*calls)(const char **) = dlsym(RTLD_DEFAULT, "shim_calls");
    green_thread_fn work[] = {serve, client, pipe_reader, pipe_writer, resolve};
    const char *first;
    unsigned long libgreen_calls;
    char byte;

    if (set_counting == NULL || calls == NULL || pipe(pipe_fds) != 0)
        return 2;
    set_counting(1);
    if (green_listen(&listener, "127.0.0.1:0", 16, 0) != 0 ||
        green_local_port(listener, &port) != 0 ||
        green_watchdog_enable(1000) != 0)
        return 3;
    for (size_t i = 0; i < sizeof(work) / sizeof(work[0]); i++)
        green_spawn_n(work[i], NULL);
    green_hub_run();
    green_watchdog_enable(0);
    green_close(listener);
    green_hub_destroy();
    libgreen_calls = calls(&first);
    /* Control: the program's own calls do reach the shim. */
    if (read(-1, &byte, 1) != -1 || close(-1) != -1)
        return 4;
    set_counting(0);
    printf("%lu %s %lu %s\n", libgreen_calls, libgreen_calls ? first : "-",
           calls(&first) - libgreen_calls,
           strcmp(echoed, "hello") ? "-" : "echo");
    return 0;
}

#else

#include "patch_helpers.h"

#include <stdio.h>

static void run_child(const char *backend)
{
    char command[4096], line[256] = "", first[64] = "", echo[8] = "";
    unsigned long libgreen_calls = 99, control_calls = 0;
    FILE *out;

    snprintf(command, sizeof(command),
             "env LD_PRELOAD='%s %s' GREEN_HUB_BACKEND=%s "
             "ASAN_OPTIONS=verify_asan_link_order=0 %s",
             GREEN_COUNT_SHIM_SO, GREEN_PATCH_SO, backend,
             GREEN_PATCH_BYPASS_CHILD_EXE);
    out = popen(command, "r");
    assert_non_null(out);
    if (fgets(line, sizeof(line), out) == NULL)
        line[0] = '\0';
    assert_int_equal(pclose(out), 0);
    assert_int_equal(sscanf(line, "%lu %63s %lu %7s", &libgreen_calls, first,
                            &control_calls, echo),
                     4);
    print_message("%s: %lu calls from libgreen reached the shim (first: %s)\n",
                  backend, libgreen_calls, first);
    assert_int_equal(libgreen_calls, 0);
    assert_int_equal(control_calls, 2);
    assert_string_equal(echo, "echo");
}

static void test_epoll_hub_bypasses_preloads(void **state)
{
    (void)state;
    run_child("epoll");
}

static void test_poll_hub_bypasses_preloads(void **state)
{
    (void)state;
    run_child("poll");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoll_hub_bypasses_preloads),
        cmocka_unit_test(test_poll_hub_bypasses_preloads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
