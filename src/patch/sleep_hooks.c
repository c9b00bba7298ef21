/*
 * Sleeping hooks: in a green thread a sleep parks only that thread.  A
 * signal handler ends the sleep early with EINTR whatever SA_RESTART says,
 * as in libc; a kill or a timeout scope ends it with ECANCELED/ETIMEDOUT.
 */
#include "patch_internal.h"

#include <green/thread.h>

#include <errno.h>
#include <unistd.h>

const struct patch_symbol patch_sleep_symbols[] = {
    PATCH_SYMBOL(sleep),     PATCH_SYMBOL(usleep),
    PATCH_SYMBOL(nanosleep), PATCH_SYMBOL(clock_nanosleep),
    PATCH_SYMBOLS_END,
};

/* Sleep `seconds` (0 yields to the other green threads).  Returns 0, or
 * the error that ended it early with *left the time not slept. */
static int green_sleep_for(double seconds, double *left)
{
    double until = green_now() + seconds;
    int err;

    *left = 0;
    if (seconds <= 0) {
        green_sleep(0);
        return 0;
    }
    err = patch_wait_sleep(seconds);
    if (err != 0 && until > green_now())
        *left = until - green_now();
    return err;
}

static bool timespec_valid(const struct timespec *ts)
{
    return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

static struct timespec timespec_of(double seconds)
{
    struct timespec ts = {.tv_sec = (time_t)seconds};

    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    return ts;
}

unsigned sleep(unsigned seconds)
{
    double left;
    int err;

    if (!patch_in_green_thread())
        return libc_real()->sleep(seconds);
    err = green_sleep_for(seconds, &left);
    if (err == 0)
        return 0;
    errno = err;
    /* glibc rounds the time not slept to the nearest second. */
    return (unsigned)(left + 0.5);
}

int usleep(useconds_t microseconds)
{
    double left;
    int err;

    if (!patch_in_green_thread())
        return libc_real()->usleep(microseconds);
    err = green_sleep_for(microseconds / 1e6, &left);
    if (err == 0)
        return 0;
    errno = err;
    return -1;
}

int nanosleep(const struct timespec *request, struct timespec *remaining)
{
    double left;
    int err;

    if (!patch_in_green_thread() || request == NULL || !timespec_valid(request))
        return libc_real()->nanosleep(request, remaining);
    err = green_sleep_for(request->tv_sec + request->tv_nsec / 1e9, &left);
    if (err == 0)
        return 0;
    if (remaining != NULL)
        *remaining = timespec_of(left);
    errno = err;
    return -1;
}

/* Returns the error number (errno is left alone), like libc's. */
int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remaining)
{
    struct timespec now;
    double seconds, left;
    int err;

    if (!patch_in_green_thread() || request == NULL ||
        !timespec_valid(request) ||
        (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC &&
         clock != CLOCK_BOOTTIME && clock != CLOCK_TAI) ||
        clock_gettime(clock, &now) != 0)
        return libc_real()->clock_nanosleep(clock, flags, request, remaining);
    seconds = request->tv_sec + request->tv_nsec / 1e9;
    /* An absolute deadline is read against `clock` once, then slept on
     * the monotonic clock. */
    if (flags & TIMER_ABSTIME)
        seconds -= now.tv_sec + now.tv_nsec / 1e9;
    err = green_sleep_for(seconds, &left);
    if (err != 0 && remaining != NULL && !(flags & TIMER_ABSTIME))
        *remaining = timespec_of(left);
    return err;
}
