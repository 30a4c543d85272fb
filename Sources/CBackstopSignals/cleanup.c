#include "include/backstop_signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 64
#define PATH_BYTES 4096

static char paths[SLOTS][PATH_BYTES];
static atomic_int used[SLOTS];               /* 0 free, 1 busy, 2 registered */
static pthread_once_t installed = PTHREAD_ONCE_INIT;

void bk_cleanup_run(void) {
    int saved = errno;
    for (int i = 0; i < SLOTS; i++) {
        int expected = 2;
        if (atomic_compare_exchange_strong(&used[i], &expected, 1)) {
            unlink(paths[i]);
            atomic_store(&used[i], 0);
        }
    }
    errno = saved;
}

static atomic_int forward_pid;
static atomic_int forwarded_signal;

static void handler(int sig) {
    int child = atomic_load(&forward_pid);
    if (child > 0) {
        kill(-child, sig);   /* the command's whole process group */
        int none = 0;
        atomic_compare_exchange_strong(&forwarded_signal, &none, sig);
        return;
    }
    bk_cleanup_run();
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, NULL);
    raise(sig);
}

static void install(void) {
    int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction current;
        /* Leave a signal alone that the process was told to ignore (nohup). */
        if (sigaction(signals[i], NULL, &current) == 0 && current.sa_handler == SIG_IGN) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = handler;
        sigemptyset(&action.sa_mask);
        sigaction(signals[i], &action, NULL);
    }
}

void bk_cleanup_install(void) { pthread_once(&installed, install); }

void bk_forward_begin(int pid) {
    bk_cleanup_install();
    atomic_store(&forwarded_signal, 0);
    atomic_store(&forward_pid, pid);
}

int bk_forward_end(void) {
    atomic_store(&forward_pid, 0);
    return atomic_exchange(&forwarded_signal, 0);
}

int bk_cleanup_add(const char *path) {
    size_t length = strlen(path);
    if (length >= PATH_BYTES) return -1;
    for (int i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&used[i], &expected, 1)) {
            memcpy(paths[i], path, length + 1);
            atomic_store(&used[i], 2);
            return i;
        }
    }
    return -1;
}

void bk_cleanup_remove(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    int expected = 2;
    /* Wait out a handler that is unlinking this very slot. */
    while (!atomic_compare_exchange_strong(&used[slot], &expected, 0)) {
        if (expected == 0) return;
        expected = 2;
    }
}
