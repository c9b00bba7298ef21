/*
 * libgreen_patch and calls cut short (#11 item 8), with libpq against a
 * PostgreSQL server this test starts itself (initdb into a temporary
 * directory, postgres on a unix socket there and on a free loopback port;
 * as the postgres or nobody user when run as root; always stopped).
 *
 * A green_timeout scope or a kill ends PQexec("SELECT pg_sleep(4),
 * 'first'") while the query runs.  By default the connection must then be
 * broken: the next query on it fails, and never answers 'first' (the
 * previous query's row).  With GREEN_PATCH_CUT_KEEP the connection is
 * left as it was, and that stale row is exactly what comes back.
 * GREEN_TEST_BACKENDS
 */
#include "patch_helpers.h"

#include <green/timeout.h>

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#if defined(GREEN_HAVE_PQ) && __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#define HAVE_PQ 1
#endif

#define CLIENTS 10
/* pg_sleep in the query that is cut (as text too, for the query), 0.3 s
 * into it: a cut that a loaded machine delays by seconds is still a cut. */
#define QUERY_SECONDS 4
#define QUERY_SECONDS_TEXT "4"
#define CUT_AFTER 0.3

static pid_t server_pid = -1;
static char server_dir[] = "/tmp/green-pg-XXXXXX";
static char bindir[256];
static int server_port = -1;
static uid_t run_uid;
static gid_t run_gid;

/* As root, PostgreSQL refuses to run: the children drop to a plain user. */
static bool pick_user(void)
{
    struct passwd *user;

    if (geteuid() != 0)
        return true;
    user = getpwnam("postgres");
    if (user == NULL)
        user = getpwnam("nobody");
    if (user == NULL)
        return false;
    run_uid = user->pw_uid;
    run_gid = user->pw_gid;
    return chown(server_dir, run_uid, run_gid) == 0;
}

/* The newest installed server's bin directory (Debian's layout). */
static bool find_bindir(void)
{
    glob_t found;
    bool ok;

    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &found) != 0)
        return false;
    ok = strlen(found.gl_pathv[found.gl_pathc - 1]) < sizeof(bindir);
    if (ok) {
        snprintf(bindir, sizeof(bindir), "%s",
                 found.gl_pathv[found.gl_pathc - 1]);
        *strrchr(bindir, '/') = '\0';
    }
    globfree(&found);
    return ok;
}

/* Runs bindir/program with args, output to the log file, as the user
 * picked above, killed if this process dies.  Returns the pid. */
static pid_t spawn(const char *program, char *const args[])
{
    pid_t pid = fork();

    if (pid == 0) {
        char path[512], log[512];
        int out;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(log, sizeof(log), "%s/log", server_dir);
        out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (out >= 0) {
            dup2(out, STDOUT_FILENO);
            dup2(out, STDERR_FILENO);
        }
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 ||
                               setgid(run_gid) != 0 || setuid(run_uid) != 0))
            _exit(126);
        snprintf(path, sizeof(path), "%s/%s", bindir, program);
        execv(path, args);
        _exit(127);
    }
    return pid;
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGQUIT); /* immediate shutdown */
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

static bool init_cluster(void)
{
    char data[256];
    int status;
    char *args[] = {"initdb", "-D",        data, "-U",   "postgres",   "-A",
                    "trust",  "--no-sync", "-E", "UTF8", "--locale=C", NULL};
    pid_t pid;

    snprintf(data, sizeof(data), "%s/data", server_dir);
    pid = spawn("initdb", args);
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

#ifdef HAVE_PQ
static void conninfo(char *out, size_t size, bool tcp)
{
    snprintf(out, size,
             "host=%s port=%d user=postgres dbname=postgres sslmode=disable "
             "gssencmode=disable connect_timeout=10",
             tcp ? "127.0.0.1" : server_dir, server_port);
}
#endif

static bool start_server_on(int port)
{
    char data[256], port_text[16];
    char *args[] = {"postgres",
                    "-D",
                    data,
                    "-p",
                    port_text,
                    "-k",
                    server_dir,
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=50",
                    NULL};
    double deadline;

    snprintf(data, sizeof(data), "%s/data", server_dir);
    snprintf(port_text, sizeof(port_text), "%d", port);
    server_pid = spawn("postgres", args);
    if (server_pid < 0)
        return false;
    server_port = port;
    deadline = patch_seconds() + 60; /* a loaded machine starts it slowly */
    while (patch_seconds() < deadline) {
#ifdef HAVE_PQ
        char info[512];

        conninfo(info, sizeof(info), true);
        if (PQping(info) == PQPING_OK)
            return true;
#endif
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
            server_pid = -1; /* the port was taken */
            return false;
        }
        usleep(50000);
    }
    stop_server();
    return false;
}

static void remove_server_dir(void)
{
    char command[512];

    stop_server();
    snprintf(command, sizeof(command), "rm -rf '%s'", server_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", server_dir);
}

static int setup(void **state)
{
    (void)state;
    if (!find_bindir())
        return 0; /* no server installed: the tests skip */
    if (mkdtemp(server_dir) == NULL || !pick_user())
        return -1;
    atexit(remove_server_dir);
    if (!init_cluster())
        return -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = patch_free_port();

        if (port > 0 && start_server_on(port))
            return 0;
    }
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    if (server_pid > 0)
        remove_server_dir();
    return 0;
}

#ifdef HAVE_PQ

static bool server_running(void)
{
    if (server_pid <= 0)
        print_message("no PostgreSQL server under /usr/lib/postgresql\n");
    return server_pid > 0;
}

/* The one value of a query's single row, or NULL (into buf). */
static const char *single_value(PGconn *conn, const char *sql, char *buf,
                                size_t size)
{
    PGresult *result = PQexec(conn, sql);
    const char *value = NULL;

    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        snprintf(buf, size, "%s", PQgetvalue(result, 0, PQnfields(result) - 1));
        value = buf;
    }
    PQclear(result);
    return value;
}

static const char cut_query[] =
    "SELECT pg_sleep(" QUERY_SECONDS_TEXT "), 'first'";

/* What one client saw. */
struct client {
    bool tcp;
    bool connected;
    bool cut_failed; /* the cut query returned no row */
    bool status_ok_after_cut;
    char next[32]; /* the next query's answer, "" if it failed */
    char after_reset[32];
};

static PGconn *connect_client(bool tcp)
{
    char info[512];
    PGconn *conn;

    conninfo(info, sizeof(info), tcp);
    conn = PQconnectdb(info);
    if (PQstatus(conn) != CONNECTION_OK) {
        print_message("connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* After a cut: wait until the cut query's answer would have come, then
 * ask again, then reconnect and ask once more. */
static void after_cut(struct client *c, PGconn *conn)
{
    char buf[32];
    const char *value;

    c->status_ok_after_cut = PQstatus(conn) == CONNECTION_OK;
    green_sleep(QUERY_SECONDS + 0.5);
    value = single_value(conn, "SELECT 'second'", buf, sizeof(buf));
    snprintf(c->next, sizeof(c->next), "%s", value ? value : "");
    if (PQstatus(conn) != CONNECTION_OK)
        PQreset(conn);
    value = single_value(conn, "SELECT 'third'", buf, sizeof(buf));
    snprintf(c->after_reset, sizeof(c->after_reset), "%s", value ? value : "");
}

static void *timed_out_client(void *arg)
{
    struct client *c = arg;
    green_timeout_t scope;
    char buf[32];
    PGconn *conn = connect_client(c->tcp);

    if (conn == NULL)
        return NULL;
    c->connected = true;
    green_timeout_start(&scope, CUT_AFTER);
    c->cut_failed = single_value(conn, cut_query, buf, sizeof(buf)) == NULL;
    green_timeout_cancel(&scope);
    after_cut(c, conn);
    PQfinish(conn);
    return NULL;
}

static void run_timed_out_clients(struct client *clients, size_t count)
{
    green_thread_t *threads[CLIENTS];

    for (size_t i = 0; i < count; i++)
        threads[i] = patch_spawn(timed_out_client, &clients[i]);
    for (size_t i = 0; i < count; i++)
        patch_join(threads[i]);
}

static void assert_broken_then_fresh(const struct client *c)
{
    assert_true(c->connected);
    assert_true(c->cut_failed);
    assert_false(c->status_ok_after_cut && strcmp(c->next, "first") == 0);
    assert_string_equal(c->next, ""); /* an error, never a stale row */
    assert_string_equal(c->after_reset, "third");
}

static void test_timeout_cut_breaks_the_connection(void **state)
{
    struct client clients[CLIENTS];
    double start;

    (void)state;
    if (!server_running())
        skip();
    assert_int_equal(green_patch_cut(), GREEN_PATCH_CUT_SHUTDOWN);
    for (size_t i = 0; i < CLIENTS; i++)
        clients[i] = (struct client){.tcp = i % 2 == 0};
    start = patch_seconds();
    run_timed_out_clients(clients, CLIENTS);
    print_message("%d clients, unix socket and TCP: %.2f s\n", CLIENTS,
                  patch_seconds() - start);
    for (size_t i = 0; i < CLIENTS; i++)
        assert_broken_then_fresh(&clients[i]);
}

/* The victim is killed during the query; another green thread then uses
 * its connection. */
static PGconn *victim_conn;
static bool victim_cut_failed;

static void *victim(void *arg)
{
    char buf[32];

    (void)arg;
    victim_cut_failed =
        single_value(victim_conn, cut_query, buf, sizeof(buf)) == NULL;
    return NULL;
}

static void *successor(void *arg)
{
    struct client *c = arg;

    after_cut(c, victim_conn);
    return NULL;
}

static void test_kill_cut_breaks_the_connection(void **state)
{
    struct client c = {.connected = true, .cut_failed = true};
    green_thread_t *killed;

    (void)state;
    if (!server_running())
        skip();
    for (int tcp = 0; tcp < 2; tcp++) {
        victim_conn = connect_client(tcp);
        assert_non_null(victim_conn);
        killed = patch_spawn(victim, NULL);
        green_sleep(CUT_AFTER);
        assert_int_equal(green_thread_kill(killed), 0);
        assert_int_equal(green_thread_wait(killed, NULL), ECANCELED);
        green_thread_release(killed);
        assert_true(victim_cut_failed);
        patch_join(patch_spawn(successor, &c));
        assert_broken_then_fresh(&c);
        PQfinish(victim_conn);
    }
}

/* KEEP leaves the connection alone: libpq still thinks it is fine, and
 * the next query gets the cut query's row (the hazard the default
 * removes). */
static void test_keep_leaves_the_connection(void **state)
{
    struct client c = {.tcp = true};

    (void)state;
    if (!server_running())
        skip();
    assert_int_equal(green_patch_set_cut((green_patch_cut_t)7), EINVAL);
    assert_int_equal(green_patch_set_cut(GREEN_PATCH_CUT_KEEP), 0);
    assert_int_equal(green_patch_cut(), GREEN_PATCH_CUT_KEEP);
    run_timed_out_clients(&c, 1);
    assert_int_equal(green_patch_set_cut(GREEN_PATCH_CUT_SHUTDOWN), 0);
    assert_true(c.connected);
    assert_true(c.cut_failed);
    assert_true(c.status_ok_after_cut);
    assert_string_equal(c.next, "first");
}

#else

static void test_timeout_cut_breaks_the_connection(void **state)
{
    (void)state;
    skip(); /* built without libpq */
}

static void test_kill_cut_breaks_the_connection(void **state)
{
    (void)state;
    skip();
}

static void test_keep_leaves_the_connection(void **state)
{
    (void)state;
    skip();
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_cut_breaks_the_connection),
        cmocka_unit_test(test_kill_cut_breaks_the_connection),
        cmocka_unit_test(test_keep_leaves_the_connection),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
