/*
 * Out-of-tree consumer of an installed libgreen_patch: while one green
 * thread sleeps in libc's usleep(), the next one runs, which happens only
 * when the hook parks just the sleeper.  Prints one line that
 * tests/consumer/run_consumer_test.cmake compares with the expected text.
 */
#include <green/patch.h>
#include <green/thread.h>

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static int runner_ran;

static void *sleeper(void *unused)
{
    (void)unused;
    usleep(50000);
    return (void *)(intptr_t)runner_ran;
}

static void *runner(void *unused)
{
    (void)unused;
    runner_ran = 1;
    return NULL;
}

int main(void)
{
    green_thread_t *first, *second;
    void *ran_meanwhile = NULL;

    if (!green_patch_enabled() || green_spawn(&first, sleeper, NULL) != 0 ||
        green_spawn(&second, runner, NULL) != 0)
        return 1;
    green_thread_wait(first, &ran_meanwhile);
    green_thread_wait(second, NULL);
    green_thread_release(first);
    green_thread_release(second);
    printf("consumer_patch: usleep %s\n",
           ran_meanwhile ? "parked only its green thread" : "blocked");
    return ran_meanwhile ? 0 : 1;
}
