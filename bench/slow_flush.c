/* A storage double for bench/outbox.py: storage whose flush is slow, as an SD card's is.

   Loaded with LD_PRELOAD into a benchmark process, it takes that process's fsync and
   fdatasync (SQLite's flushes, the seed's and ours alike): each does the real flush, then
   waits BENCH_FLUSH_DELAY_US microseconds more. Flushes go one at a time, as on one
   device, and are counted; bench_flushes() returns the count (bench/slow_flush.py reads it
   through ctypes). Nothing else is touched: writes and reads go to the real disk. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static struct timespec delay;
static unsigned long flushes;
static pthread_mutex_t device = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void load(void) {
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *text = getenv("BENCH_FLUSH_DELAY_US");
    long us = text == NULL ? 0 : atol(text);
    delay.tv_sec = us / 1000000;
    delay.tv_nsec = (us % 1000000) * 1000;
}

static int flush(int (*real)(int), int fd) {
    pthread_mutex_lock(&device);
    int result = real(fd);
    flushes++;
    if (delay.tv_sec > 0 || delay.tv_nsec > 0) {
        nanosleep(&delay, NULL);
    }
    pthread_mutex_unlock(&device);
    return result;
}

int fsync(int fd) { return flush(real_fsync, fd); }

int fdatasync(int fd) { return flush(real_fdatasync, fd); }

unsigned long bench_flushes(void) {
    pthread_mutex_lock(&device);
    unsigned long counted = flushes;
    pthread_mutex_unlock(&device);
    return counted;
}
