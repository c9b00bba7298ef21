/* GREEN_TEST_BACKENDS */
/*
 * green_getaddrinfo: the system resolver in the thread pool (/etc/hosts
 * applies), its error mapping, and its timeout.
 */
#include "test_util.h"

#include <green/dns.h>
#include <green/thread.h>
#include <green/tpool.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <unistd.h>

/* True if list holds the loopback address of family. */
static int has_loopback(const struct addrinfo *list, int family)
{
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != family)
            continue;
        if (family == AF_INET &&
            ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr ==
                htonl(INADDR_LOOPBACK))
            return 1;
        if (family == AF_INET6 &&
            IN6_IS_ADDR_LOOPBACK(
                &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr))
            return 1;
    }
    return 0;
}

static void test_localhost(void **state)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int gai_error = -1;

    (void)state;
    assert_int_equal(
        green_getaddrinfo("localhost", "80", &hints, &list, 5.0, &gai_error),
        0);
    assert_int_equal(gai_error, 0);
    assert_non_null(list);
    assert_true(has_loopback(list, AF_INET));
    assert_int_equal(ntohs(((struct sockaddr_in *)list->ai_addr)->sin_port),
                     80);
    freeaddrinfo(list);
}

static void test_numeric_ipv6(void **state)
{
    struct addrinfo hints = {.ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *list = NULL;

    (void)state;
    assert_int_equal(
        green_getaddrinfo("::1", NULL, &hints, &list, GREEN_FOREVER, NULL), 0);
    assert_true(has_loopback(list, AF_INET6));
    freeaddrinfo(list);
}

static void test_failures(void **state)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST};
    struct addrinfo *list = NULL;
    int gai_error = 0;

    (void)state;
    /* Not a numeric address: the resolver's EAI_NONAME, as ENOENT. */
    assert_int_equal(green_getaddrinfo("not an address", NULL, &hints, &list,
                                       5.0, &gai_error),
                     ENOENT);
    assert_int_equal(gai_error, EAI_NONAME);
    assert_null(list);
    hints.ai_flags = AI_NUMERICSERV;
    assert_int_equal(green_getaddrinfo("127.0.0.1", "http-ish", &hints, &list,
                                       5.0, &gai_error),
                     ENOENT);
    assert_int_equal(green_getaddrinfo(NULL, NULL, NULL, &list, 5.0, NULL),
                     EINVAL);
    assert_int_equal(
        green_getaddrinfo("localhost", NULL, NULL, NULL, 5.0, NULL), EINVAL);
}

/* With the only worker busy, a lookup cannot start: its timeout fires and
 * the late lookup is freed by the pool (valgrind checks the leak). */
static atomic_int release_worker;

static void *hold_worker(void *unused)
{
    (void)unused;
    for (int i = 0; i < 5000 && !atomic_load(&release_worker); i++)
        usleep(1000);
    return NULL;
}

static void *hold_worker_main(void *unused)
{
    (void)unused;
    return TEST_INT_VALUE(green_tpool_execute(hold_worker, NULL, NULL));
}

static void test_timeout(void **state)
{
    struct addrinfo *list = NULL;
    green_thread_t *holder;
    void *result = NULL;

    (void)state;
    atomic_store(&release_worker, 0);
    assert_int_equal(green_tpool_set_size(1), 0);
    assert_int_equal(green_spawn(&holder, hold_worker_main, NULL), 0);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(
        green_getaddrinfo("localhost", "80", NULL, &list, 0.05, NULL),
        ETIMEDOUT);
    assert_null(list);
    atomic_store(&release_worker, 1);
    assert_int_equal(green_thread_wait(holder, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 0);
    green_thread_release(holder);
    /* The abandoned lookup runs now; shutdown waits for it. */
    assert_int_equal(green_tpool_shutdown(), 0);
    assert_int_equal(green_tpool_set_size(GREEN_TPOOL_DEFAULT_SIZE), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost),
        cmocka_unit_test(test_numeric_ipv6),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_timeout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
