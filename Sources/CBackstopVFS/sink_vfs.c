/*
 * "backstop-sink": a VFS whose main database file is a set of callbacks. See include/backstop_vfs.h.
 * Used as the destination of the backup API, so that snapshots stream into compression.
 */
#include <sqlite3.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "include/backstop_vfs.h"

typedef struct sink_entry {
    char *name;
    bk_sink sink;
    struct sink_entry *next;
} sink_entry;

static pthread_mutex_t sinks_lock = PTHREAD_MUTEX_INITIALIZER;
static sink_entry *sinks = NULL;

int bk_sink_register(const char *name, const bk_sink *sink) {
    sink_entry *entry = calloc(1, sizeof *entry);
    if (!entry) return SQLITE_NOMEM;
    entry->name = strdup(name);
    if (!entry->name) { free(entry); return SQLITE_NOMEM; }
    entry->sink = *sink;
    pthread_mutex_lock(&sinks_lock);
    entry->next = sinks;
    sinks = entry;
    pthread_mutex_unlock(&sinks_lock);
    return SQLITE_OK;
}

static int take_sink(const char *name, bk_sink *out) {
    pthread_mutex_lock(&sinks_lock);
    sink_entry **link = &sinks;
    while (*link && strcmp((*link)->name, name) != 0) link = &(*link)->next;
    sink_entry *found = *link;
    if (found) *link = found->next;
    pthread_mutex_unlock(&sinks_lock);
    if (!found) return 0;
    *out = found->sink;
    free(found->name);
    free(found);
    return 1;
}

void bk_sink_unregister(const char *name) {
    bk_sink ignored;
    take_sink(name, &ignored);
}

typedef struct {
    sqlite3_file base;
    bk_sink sink;
} sink_file;

static int sink_close(sqlite3_file *f) { (void)f; return SQLITE_OK; }

static int sink_read(sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset) {
    sink_file *f = (sink_file *)file;
    int64_t got = f->sink.read(f->sink.ctx, buffer, amount, offset);
    if (got < 0) return SQLITE_IOERR_READ;
    if (got < amount) {
        memset((char *)buffer + got, 0, (size_t)(amount - got));
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int sink_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    sink_file *f = (sink_file *)file;
    return f->sink.write(f->sink.ctx, data, amount, offset) == 0 ? SQLITE_OK : SQLITE_IOERR_WRITE;
}

static int sink_truncate(sqlite3_file *file, sqlite3_int64 size) {
    sink_file *f = (sink_file *)file;
    return f->sink.truncate(f->sink.ctx, size) == 0 ? SQLITE_OK : SQLITE_IOERR_TRUNCATE;
}

static int sink_sync(sqlite3_file *f, int flags) { (void)f; (void)flags; return SQLITE_OK; }
static int sink_file_size(sqlite3_file *file, sqlite3_int64 *size) {
    sink_file *f = (sink_file *)file;
    *size = f->sink.size(f->sink.ctx);
    return SQLITE_OK;
}
static int sink_lock(sqlite3_file *f, int l) { (void)f; (void)l; return SQLITE_OK; }
static int sink_unlock(sqlite3_file *f, int l) { (void)f; (void)l; return SQLITE_OK; }
static int sink_check_reserved(sqlite3_file *f, int *out) { (void)f; *out = 0; return SQLITE_OK; }
static int sink_file_control(sqlite3_file *f, int op, void *arg) { (void)f; (void)op; (void)arg; return SQLITE_NOTFOUND; }
static int sink_sector_size(sqlite3_file *f) { (void)f; return 4096; }
static int sink_device(sqlite3_file *f) { (void)f; return SQLITE_IOCAP_SEQUENTIAL; }

static const sqlite3_io_methods sink_methods = {
    1, sink_close, sink_read, sink_write, sink_truncate, sink_sync, sink_file_size, sink_lock, sink_unlock,
    sink_check_reserved, sink_file_control, sink_sector_size, sink_device,
    NULL, NULL, NULL, NULL, NULL, NULL,
};

static sqlite3_vfs *sink_root(sqlite3_vfs *vfs) { return (sqlite3_vfs *)vfs->pAppData; }

static int sink_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags) {
    sink_file *f = (sink_file *)file;
    memset(f, 0, sizeof *f);
    if (!(flags & SQLITE_OPEN_MAIN_DB)) {
        /* Only temporary files may exist beside a sink (a journal would mean a journal_mode was not OFF). */
        if (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL | SQLITE_OPEN_SUPER_JOURNAL)) return SQLITE_CANTOPEN;
        return sink_root(vfs)->xOpen(sink_root(vfs), name, file, flags, out_flags);
    }
    if (!name || !take_sink(name, &f->sink)) return SQLITE_CANTOPEN;
    f->base.pMethods = &sink_methods;
    if (out_flags) *out_flags = flags;
    return SQLITE_OK;
}

static int sink_delete(sqlite3_vfs *v, const char *n, int s) { return sink_root(v)->xDelete(sink_root(v), n, s); }
static int sink_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
    if (strncmp(name, "bk-sink-", 8) == 0) { *out = 0; return SQLITE_OK; }
    return sink_root(v)->xAccess(sink_root(v), name, flags, out);
}
static int sink_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
    if (strncmp(name, "bk-sink-", 8) == 0) {
        if ((int)strlen(name) >= n) return SQLITE_CANTOPEN;
        strcpy(out, name);
        return SQLITE_OK;
    }
    return sink_root(v)->xFullPathname(sink_root(v), name, n, out);
}
static void *sink_dlopen(sqlite3_vfs *v, const char *p) { return sink_root(v)->xDlOpen(sink_root(v), p); }
static void sink_dlerror(sqlite3_vfs *v, int n, char *e) { sink_root(v)->xDlError(sink_root(v), n, e); }
static void (*sink_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { return sink_root(v)->xDlSym(sink_root(v), h, s); }
static void sink_dlclose(sqlite3_vfs *v, void *h) { sink_root(v)->xDlClose(sink_root(v), h); }
static int sink_randomness(sqlite3_vfs *v, int n, char *o) { return sink_root(v)->xRandomness(sink_root(v), n, o); }
static int sink_sleep(sqlite3_vfs *v, int us) { return sink_root(v)->xSleep(sink_root(v), us); }
static int sink_current_time(sqlite3_vfs *v, double *t) { return sink_root(v)->xCurrentTime(sink_root(v), t); }
static int sink_last_error(sqlite3_vfs *v, int n, char *e) { return sink_root(v)->xGetLastError(sink_root(v), n, e); }
static int sink_current_time64(sqlite3_vfs *v, sqlite3_int64 *t) { return sink_root(v)->xCurrentTimeInt64(sink_root(v), t); }

static sqlite3_vfs sink_vfs = {
    2, 0, 1024, NULL, BK_SINK_VFS_NAME, NULL,
    sink_open, sink_delete, sink_access, sink_full_pathname, sink_dlopen, sink_dlerror, sink_dlsym, sink_dlclose,
    sink_randomness, sink_sleep, sink_current_time, sink_last_error, sink_current_time64, NULL, NULL, NULL,
};

static pthread_mutex_t sink_register_lock = PTHREAD_MUTEX_INITIALIZER;

int bk_sink_vfs_register(void) {
    pthread_mutex_lock(&sink_register_lock);
    int rc = SQLITE_OK;
    if (!sink_vfs.pAppData) {
        sqlite3_vfs *root = sqlite3_vfs_find(NULL);
        if (!root) rc = SQLITE_ERROR;
        else {
            sink_vfs.pAppData = root;
            sink_vfs.mxPathname = root->mxPathname;
            sink_vfs.szOsFile = (int)sizeof(sink_file) > root->szOsFile ? (int)sizeof(sink_file) : root->szOsFile;
            rc = sqlite3_vfs_register(&sink_vfs, 0);
            if (rc != SQLITE_OK) sink_vfs.pAppData = NULL;
        }
    }
    pthread_mutex_unlock(&sink_register_lock);
    return rc;
}
