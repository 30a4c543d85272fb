#ifndef BACKSTOP_SIGNALS_H
#define BACKSTOP_SIGNALS_H
/*
 * Temporary files a run must not leave behind when it is interrupted. On SIGINT, SIGTERM, SIGHUP or
 * SIGQUIT the handler unlinks every registered path (async-signal-safe: fixed slots, unlink only),
 * then re-raises the signal with its default action, so the exit status still says what killed it.
 * kill -9 cannot be caught: a later run removes what is left (the store's stale-file rule).
 */
#ifdef __cplusplus
extern "C" {
#endif

/* Installs the handlers (idempotent). */
void bk_cleanup_install(void);
/* Registers a path to unlink on a fatal signal; returns a slot, or -1 when the table is full or the
   path too long (the file is then only cleaned up by a later run). */
int bk_cleanup_add(const char *path);
/* Forgets a slot (the file was committed or removed). */
void bk_cleanup_remove(int slot);
/* Unlinks every registered path now and forgets them (used by tests and fault points). */
void bk_cleanup_run(void);

/*
 * While a wrapped command runs (`backstop run`), a signal must not end Backstop: it has to check and,
 * if need be, restore the database once the command is gone. Between begin and end, SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT are passed on to the command's process group (pid is its leader) and recorded.
 * bk_forward_end returns the first signal recorded (0 if none) and restores the usual behaviour.
 */
void bk_forward_begin(int pid);
int bk_forward_end(void);

/*
 * Asks the kernel to start writing out a range of a file, without waiting (sync_file_range with
 * SYNC_FILE_RANGE_WRITE, which Swift does not import): a large file's writes then overlap the work
 * that produces the rest. It makes nothing durable; fsync does. Returns 0, or -1 with errno.
 */
int bk_start_writeback(int fd, long long offset, long long length);

/*
 * Buffers of 4 MiB and more (parts being uploaded, blocks being downloaded) come straight from mmap and
 * go back to the system when freed (mallopt M_MMAP_THRESHOLD, which also stops glibc from raising that
 * threshold each time such a buffer is freed and then keeping them in per-thread heaps). Called once by
 * the executable, before any work.
 */
void bk_tune_allocator(void);

#ifdef __cplusplus
}
#endif
#endif
