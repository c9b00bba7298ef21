/*
 * Random 4 KiB reads from a 1 GiB file at queue depth 32: 32 readers, each
 * with one read in flight, at random 4 KiB-aligned offsets.
 *
 *   tpool             32 green threads on an epoll hub calling green_pread
 *                     (green/file.h), which runs pread in the thread pool
 *                     (32 workers here, so the depth is 32 too)
 *   io_uring          the same on an io_uring hub, where green_pread is an
 *                     io_uring read (skipped, with a note on stderr, where
 *                     libgreen has no io_uring hub)
 *   pread-32-threads  32 OS threads in blocking pread
 *
 * Two metrics, each its own file descriptor on the same file:
 *   4KiB-qd32-cached  buffered reads; the file was just written, so they
 *                     hit the page cache (the share of the file resident
 *                     in the cache after the runs is printed on stderr):
 *                     this measures the cost of issuing a read
 *   4KiB-qd32-direct  O_DIRECT reads from the device (a virtio disk here,
 *                     which the host may cache), skipped where the file
 *                     system refuses O_DIRECT
 * Rows: files <impl> <metric> <k reads/s>, the process CPU time per read
 * (metric cpu-cached / cpu-direct, us/read, from more runs of each), and
 * time ratios against tpool (io_uring/tpool at most 0.5: at least twice
 * the thread pool's throughput, issue #15's goal).
 *
 * The file is made in a fresh directory under $TMPDIR (default /tmp) and
 * unlinked as soon as it is open; without 2 GiB free there, nothing runs.
 */
#define _GNU_SOURCE       /* O_DIRECT */
#define BENCH_RUN_NS 20e6 /* device reads: long runs, fewer of them */
#define BENCH_REPETITIONS 15
#include "bench_backend.h"

#include <green/file.h>
#include <green/thread.h>
#include <green/tpool.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define FILE_SIZE (1ull << 30)
#define BLOCK 4096
#define DEPTH 32
#define WRITE_CHUNK (1 << 20)

/* Reads BLOCK bytes at offset into buffer; 0 or an errno. */
typedef int (*files_read_fn)(int fd, void *buffer, off_t offset);

struct files_case {
    files_read_fn read;
    int fd;
    atomic_llong remaining; /* reads left in this run, shared by the readers */
    char *buffers;          /* DEPTH aligned blocks, one per reader */
    uint64_t seeds[DEPTH];
    struct bench_remote remote;
};

struct files_reader {
    struct files_case *c;
    int index;
};

/* xorshift64: a random block-aligned offset for reader index. */
static off_t files_offset(struct files_case *c, int index)
{
    uint64_t x = c->seeds[index];

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->seeds[index] = x;
    return (off_t)(x % (FILE_SIZE / BLOCK) * BLOCK);
}

static void files_read_until_done(struct files_case *c, int index)
{
    while (atomic_fetch_sub(&c->remaining, 1) > 0)
        if (c->read(c->fd, c->buffers + (size_t)index * BLOCK,
                    files_offset(c, index)) != 0)
            abort();
}

static int read_pread(int fd, void *buffer, off_t offset)
{
    return pread(fd, buffer, BLOCK, offset) == BLOCK ? 0 : EIO;
}

/* ---- green readers: one green thread each --------------------------- */

static int read_green(int fd, void *buffer, off_t offset)
{
    size_t got;
    int err = green_pread(fd, buffer, BLOCK, offset, &got);

    return err != 0 ? err : got == BLOCK ? 0 : EIO;
}

static void *green_reader(void *arg)
{
    struct files_reader *reader = arg;

    files_read_until_done(reader->c, reader->index);
    return NULL;
}

static void green_reads(void *context, uint64_t iterations)
{
    struct files_case *c = context;
    struct files_reader readers[DEPTH];
    green_thread_t *threads[DEPTH];

    atomic_store(&c->remaining, (long long)iterations);
    for (int i = 0; i < DEPTH; i++) {
        readers[i] = (struct files_reader){c, i};
        if (green_spawn(&threads[i], green_reader, &readers[i]))
            abort();
    }
    for (int i = 0; i < DEPTH; i++) {
        green_thread_wait(threads[i], NULL);
        green_thread_release(threads[i]);
    }
}

/* ---- OS threads in blocking pread ----------------------------------- */

struct os_pool {
    pthread_t threads[DEPTH];
    struct files_reader readers[DEPTH];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct files_case *c; /* the run's case, NULL between runs */
    unsigned generation;  /* counts runs, so a reader runs each once */
    int busy;             /* readers still reading in this run */
    int stopping;
};

static struct os_pool os_pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                 .changed = PTHREAD_COND_INITIALIZER};

static void *os_reader(void *arg)
{
    struct files_reader *reader = arg;
    unsigned seen = 0;

    pthread_mutex_lock(&os_pool.lock);
    for (;;) {
        while (!os_pool.stopping && os_pool.generation == seen)
            pthread_cond_wait(&os_pool.changed, &os_pool.lock);
        if (os_pool.stopping)
            break;
        seen = os_pool.generation;
        pthread_mutex_unlock(&os_pool.lock);
        files_read_until_done(os_pool.c, reader->index);
        pthread_mutex_lock(&os_pool.lock);
        if (--os_pool.busy == 0)
            pthread_cond_broadcast(&os_pool.changed);
    }
    pthread_mutex_unlock(&os_pool.lock);
    return NULL;
}

static void os_reads(void *context, uint64_t iterations)
{
    struct files_case *c = context;

    atomic_store(&c->remaining, (long long)iterations);
    pthread_mutex_lock(&os_pool.lock);
    os_pool.c = c;
    os_pool.busy = DEPTH;
    os_pool.generation++;
    pthread_cond_broadcast(&os_pool.changed);
    while (os_pool.busy > 0)
        pthread_cond_wait(&os_pool.changed, &os_pool.lock);
    pthread_mutex_unlock(&os_pool.lock);
}

static void os_pool_start(void)
{
    for (int i = 0; i < DEPTH; i++) {
        os_pool.readers[i].index = i;
        if (pthread_create(&os_pool.threads[i], NULL, os_reader,
                           &os_pool.readers[i]))
            abort();
    }
}

static void os_pool_stop(void)
{
    pthread_mutex_lock(&os_pool.lock);
    os_pool.stopping = 1;
    pthread_cond_broadcast(&os_pool.changed);
    pthread_mutex_unlock(&os_pool.lock);
    for (int i = 0; i < DEPTH; i++)
        pthread_join(os_pool.threads[i], NULL);
}

/* ---- the file ------------------------------------------------------- */

/* Make the file in a fresh directory and open it buffered (*cached) and,
 * where the file system allows, with O_DIRECT (*direct, else -1); both
 * names are gone when this returns.  1 (after saying why) where there is
 * no room for it, -1 if it cannot be made. */
static int files_make(int *cached, int *direct)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4096], path[4200];
    struct statvfs fs;
    char *chunk;
    int ok = 1;

    if (statvfs(tmp, &fs) != 0 ||
        (unsigned long long)fs.f_bavail * fs.f_frsize < 2 * FILE_SIZE) {
        fprintf(stderr, "files: less than 2 GiB free in %s: skipped\n", tmp);
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/green-files-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/data", dir);
    *cached = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    *direct = open(path, O_RDONLY | O_DIRECT);
    unlink(path);
    rmdir(dir);
    if (*direct < 0)
        fprintf(stderr, "files: no O_DIRECT in %s: direct rows skipped\n", tmp);
    chunk = malloc(WRITE_CHUNK);
    if (*cached < 0 || chunk == NULL)
        ok = 0;
    /* Data, not holes: holes would read as zeros without any I/O. */
    for (size_t i = 0; ok && i < WRITE_CHUNK; i++)
        chunk[i] = (char)(i * 131 + i / BLOCK);
    for (uint64_t done = 0; ok && done < FILE_SIZE; done += WRITE_CHUNK)
        ok = write(*cached, chunk, WRITE_CHUNK) == WRITE_CHUNK;
    free(chunk);
    if (ok && fsync(*cached) == 0)
        return 0;
    fprintf(stderr, "files: cannot write the 1 GiB file in %s\n", tmp);
    return -1;
}

/* Percent of the file's pages in the page cache. */
static double files_resident_percent(int fd)
{
    size_t pages = FILE_SIZE / (size_t)sysconf(_SC_PAGESIZE), resident = 0;
    unsigned char *vector = malloc(pages);
    void *map = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);

    if (vector != NULL && map != MAP_FAILED &&
        mincore(map, FILE_SIZE, vector) == 0)
        for (size_t i = 0; i < pages; i++)
            resident += vector[i] & 1;
    if (map != MAP_FAILED)
        munmap(map, FILE_SIZE);
    free(vector);
    return 100.0 * (double)resident / (double)pages;
}

/* ---- cases ---------------------------------------------------------- */

static double cpu_seconds(void)
{
    struct rusage usage;

    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_stime.tv_sec +
           ((double)usage.ru_utime.tv_usec + (double)usage.ru_stime.tv_usec) /
               1e6;
}

/* Process CPU time per read over CPU_RUNS more runs of c: the other
 * cases' threads are idle meanwhile. */
#define CPU_RUNS 10
static void print_cpu_row(const struct bench_case *c, const char *metric)
{
    double before = cpu_seconds();

    for (int i = 0; i < CPU_RUNS; i++)
        c->run(c->context, c->iterations);
    bench_print_row("files", c->implementation, metric,
                    (cpu_seconds() - before) * 1e6 /
                        (double)(c->iterations * CPU_RUNS),
                    "us/read");
}

static void files_case_init(struct files_case *c, files_read_fn read, int fd,
                            struct bench_backend *hub)
{
    c->read = read;
    c->fd = fd;
    if (posix_memalign((void **)&c->buffers, BLOCK, (size_t)DEPTH * BLOCK))
        abort();
    for (int i = 0; i < DEPTH; i++)
        c->seeds[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    c->remote = (struct bench_remote){hub, green_reads, c, 0};
}

/* Run one metric's cases interleaved and print their rows; cases[0] is
 * the ratios' reference. */
static void files_measure(const char *metric, const char *cpu_metric,
                          struct bench_case *cases, size_t count)
{
    bench_run_interleaved(cases, count);
    for (size_t i = 0; i < count; i++)
        bench_print_row("files", cases[i].implementation, metric,
                        1e6 / cases[i].best_ns_per_op, "kreads/s");
    for (size_t i = 0; i < count; i++)
        print_cpu_row(&cases[i], cpu_metric);
    for (size_t i = 1; i < count; i++)
        bench_print_ratio(&cases[i], &cases[0]);
}

static void check_native(void *arg)
{
    *(int *)arg = green_file_native();
}

/* Start a hub of backend name whose file calls are native (io_uring) or
 * not (epoll), as the rows' names say; 0 or an errno. */
static int files_hub_start(struct bench_backend *hub, const char *name,
                           int native)
{
    int is_native;

    if (bench_backend_start(hub, name) != 0)
        return ENOTSUP;
    bench_backend_call(hub, check_native, &is_native);
    if (is_native == native)
        return 0;
    fprintf(stderr, "files: green_pread is %snative on %s: skipped\n",
            is_native ? "" : "not ", name);
    bench_backend_stop(hub);
    return ENOTSUP;
}

/* The implementations, in row order; the first is the ratios' reference.
 * backend NULL: OS threads, no hub. */
static const struct {
    const char *name, *backend;
    int native; /* green_pread is an io_uring operation there */
} impls[] = {
    {"tpool", "epoll", 0},
    {"io_uring", "io_uring", 1},
    {"pread-32-threads", NULL, 0},
};
#define IMPLS (sizeof(impls) / sizeof(impls[0]))

/* Run every implementation that is here on fd, as metric. */
static void files_measure_fd(int fd, const char *metric, const char *cpu_metric,
                             struct bench_backend *hubs, const int *have)
{
    struct files_case files_cases[IMPLS];
    struct bench_case cases[IMPLS];
    size_t count = 0;

    for (size_t i = 0; i < IMPLS; i++) {
        struct files_case *c = &files_cases[count];

        if (!have[i])
            continue;
        if (impls[i].backend != NULL) {
            files_case_init(c, read_green, fd, &hubs[i]);
            cases[count] = (struct bench_case){"files",
                                               impls[i].name,
                                               metric,
                                               "kreads/s",
                                               bench_backend_run,
                                               &c->remote,
                                               1,
                                               0,
                                               0};
        } else {
            files_case_init(c, read_pread, fd, NULL);
            cases[count] = (struct bench_case){
                "files", impls[i].name, metric, "kreads/s", os_reads, c, 1, 0,
                0};
        }
        count++;
    }
    files_measure(metric, cpu_metric, cases, count);
    for (size_t i = 0; i < count; i++)
        free(files_cases[i].buffers);
}

int main(void)
{
    struct bench_backend hubs[IMPLS];
    int fds[2], have[IMPLS];
    int made = files_make(&fds[0], &fds[1]);

    if (made != 0)
        return made > 0 ? 0 : 1;
    if (green_tpool_set_size(DEPTH) != 0)
        return 1;
    for (size_t i = 0; i < IMPLS; i++)
        have[i] =
            impls[i].backend == NULL ||
            files_hub_start(&hubs[i], impls[i].backend, impls[i].native) == 0;
    os_pool_start();
    files_measure_fd(fds[0], "4KiB-qd32-cached", "cpu-cached", hubs, have);
    fprintf(stderr, "files: %.0f%% of the file in the page cache\n",
            files_resident_percent(fds[0]));
    if (fds[1] >= 0)
        files_measure_fd(fds[1], "4KiB-qd32-direct", "cpu-direct", hubs, have);
    os_pool_stop();
    for (size_t i = 0; i < IMPLS; i++)
        if (impls[i].backend != NULL && have[i])
            bench_backend_stop(&hubs[i]);
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return 0;
}
