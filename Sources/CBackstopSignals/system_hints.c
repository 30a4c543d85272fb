/* Hints to the kernel and the C library: early writeback of large files, and where large buffers come from. */
#define _GNU_SOURCE
#include <fcntl.h>
#include "backstop_signals.h"

int bk_start_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, (off64_t)offset, (off64_t)length, SYNC_FILE_RANGE_WRITE);
}

#include <malloc.h>

void bk_tune_allocator(void) {
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
}
