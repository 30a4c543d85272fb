/*
 * Backstop's read-only snapshot VFS: SQLite opens a compressed snapshot in place.
 * See include/backstop_vfs.h. Built into Backstop by SwiftPM, and (with -DBACKSTOP_VFS_EXTENSION)
 * into a loadable extension for the sqlite3 shell and any SQLite client.
 *
 * Related SQLite documentation: https://www.sqlite.org/vfs.html
 */
#ifdef BACKSTOP_VFS_EXTENSION
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#else
#include <sqlite3.h>
#endif
#include <libdeflate.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "include/backstop_vfs.h"

#define BK_DEFAULT_CACHE_BYTES (8 << 20)
#define BK_MAX_BLOCK (64 << 20)
#define BK_TRAILER_SIZE 46
#define BK_INDEX_MAGIC "backstop-index/1 "

/* ---------------------------------------------------------------- member headers */

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

int bk_parse_member_header(const uint8_t *h, int64_t available, int64_t *member_size, int64_t *block_size,
                           int64_t *data_offset, int *is_trailer, int64_t *index_offset) {
    if (available < BK_MEMBER_HEADER) return 0;
    if (h[0] != 0x1f || h[1] != 0x8b || h[2] != 0x08) return 0;
    uint8_t flags = h[3];
    if (!(flags & 0x04) || (flags & ~0x14)) return 0;              /* FEXTRA, maybe FCOMMENT, nothing else */
    unsigned xlen = (unsigned)h[10] | (unsigned)h[11] << 8;
    if (xlen < 12 || h[12] != 'B' || h[13] != 'K' || h[14] != 8 || h[15] != 0) return 0;
    *member_size = le32(h + 16);
    *block_size = le32(h + 20);
    *data_offset = 12 + (int64_t)xlen;
    *is_trailer = 0;
    *index_offset = -1;
    if (xlen == 24 && available >= 36 && h[24] == 'B' && h[25] == 'T' && h[26] == 8 && h[27] == 0 && *block_size == 0) {
        *is_trailer = 1;
        *index_offset = (int64_t)le64(h + 28);
    }
    if (*member_size < *data_offset + BK_MEMBER_TRAILER) return 0;
    if (*block_size > BK_MAX_BLOCK) return 0;
    if ((flags & 0x10) && *block_size != 0) return 0;                /* only the index member has a comment */
    return 1;
}

/* ---------------------------------------------------------------- sources */

typedef struct registered {
    char *name;
    bk_source source;
    int64_t image_bytes;
    int64_t cache_bytes;
    struct registered *next;
} registered;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static registered *registry = NULL;

int bk_source_register(const char *name, const bk_source *source, int64_t image_bytes, int64_t cache_bytes) {
    registered *entry = calloc(1, sizeof *entry);
    if (!entry) return SQLITE_NOMEM;
    entry->name = strdup(name);
    if (!entry->name) { free(entry); return SQLITE_NOMEM; }
    entry->source = *source;
    entry->image_bytes = image_bytes;
    entry->cache_bytes = cache_bytes;
    pthread_mutex_lock(&registry_lock);
    entry->next = registry;
    registry = entry;
    pthread_mutex_unlock(&registry_lock);
    return SQLITE_OK;
}

static registered *take_registered(const char *name) {
    pthread_mutex_lock(&registry_lock);
    registered **link = &registry;
    while (*link && strcmp((*link)->name, name) != 0) link = &(*link)->next;
    registered *found = *link;
    if (found) *link = found->next;
    pthread_mutex_unlock(&registry_lock);
    return found;
}

void bk_source_unregister(const char *name) {
    registered *entry = take_registered(name);
    if (!entry) return;
    if (entry->source.close) entry->source.close(entry->source.ctx);
    free(entry->name);
    free(entry);
}

/* A source over a file descriptor of our own (a snapshot file, never a live database). */
typedef struct {
    int fd;
    char message[256];
} file_ctx;

static int file_read(void *ctx, void *buf, int64_t n, int64_t off) {
    file_ctx *f = ctx;
    int64_t done = 0;
    while (done < n) {
        ssize_t got = pread(f->fd, (char *)buf + done, (size_t)(n - done), (off_t)(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        done += got;
    }
    return 0;
}

static void file_close(void *ctx) {
    file_ctx *f = ctx;
    close(f->fd);
    free(f);
}

/* ---------------------------------------------------------------- the file object */

typedef struct {
    int64_t compressed_offset;   /* where the member starts in the compressed stream */
    int64_t member_size;
    int64_t data_offset;         /* deflate data, relative to the member */
    int64_t image_offset;
    int64_t block_size;
} member;

typedef struct {
    int64_t index;               /* member index, -1 when free */
    uint64_t used;               /* last use, for LRU */
    uint8_t *data;
} cache_slot;

typedef struct bk_file {
    sqlite3_file base;
    bk_source source;
    member *members;
    int64_t member_count;
    int64_t image_bytes;
    int64_t max_block;
    int64_t next_reported;       /* members are reported to on_member once, in order of first decompression */
    cache_slot *slots;
    int slot_count;
    uint64_t clock;
    uint8_t *compressed;         /* scratch for one member */
    int64_t compressed_capacity;
    struct libdeflate_decompressor *inflater;
} bk_file;

static void report(bk_file *f, const char *format, int64_t a, int64_t b) {
    if (!f->source.on_error) return;
    char message[256];
    snprintf(message, sizeof message, format, (long long)a, (long long)b);
    f->source.on_error(f->source.ctx, message);
}

static void release(bk_file *f) {
    if (f->slots) {
        for (int i = 0; i < f->slot_count; i++) free(f->slots[i].data);
        free(f->slots);
    }
    free(f->members);
    free(f->compressed);
    if (f->inflater) libdeflate_free_decompressor(f->inflater);
    if (f->source.close) f->source.close(f->source.ctx);
    f->slots = NULL; f->members = NULL; f->compressed = NULL; f->inflater = NULL; f->source.close = NULL;
}

static int grow_members(bk_file *f, int64_t *capacity) {
    if (f->member_count < *capacity) return 1;
    int64_t wanted = *capacity ? *capacity * 2 : 256;
    member *grown = realloc(f->members, (size_t)wanted * sizeof *grown);
    if (!grown) return 0;
    f->members = grown;
    *capacity = wanted;
    return 1;
}

/* Reads the index that the last two members describe; returns 1 when it is present and consistent. */
static int read_index(bk_file *f) {
    int64_t size = f->source.size;
    if (size < BK_TRAILER_SIZE) return 0;
    uint8_t trailer[BK_TRAILER_SIZE];
    if (f->source.read(f->source.ctx, trailer, BK_TRAILER_SIZE, size - BK_TRAILER_SIZE) != 0) return 0;
    int64_t msize, bsize, doff, ioff;
    int is_trailer;
    if (!bk_parse_member_header(trailer, BK_TRAILER_SIZE, &msize, &bsize, &doff, &is_trailer, &ioff)) return 0;
    if (!is_trailer || msize != BK_TRAILER_SIZE || ioff < 0 || ioff >= size - BK_TRAILER_SIZE) return 0;
    const int64_t index_offset = ioff;
    int64_t index_size = size - BK_TRAILER_SIZE - index_offset;
    if (index_size < BK_MEMBER_HEADER + BK_MEMBER_TRAILER || index_size > (64 << 20)) return 0;
    char *text = malloc((size_t)index_size + 1);
    if (!text) return 0;
    int ok = 0;
    int64_t capacity = 0;
    if (f->source.read(f->source.ctx, text, index_size, index_offset) != 0) goto done;
    text[index_size] = 0;
    if (!bk_parse_member_header((uint8_t *)text, index_size, &msize, &bsize, &doff, &is_trailer, &ioff)) goto done;
    if (msize != index_size || bsize != 0 || !((uint8_t)text[3] & 0x10)) goto done;
    char *comment = text + doff;
    if (strncmp(comment, BK_INDEX_MAGIC, strlen(BK_INDEX_MAGIC)) != 0) goto done;
    char *p = comment + strlen(BK_INDEX_MAGIC);
    char *end;
    long long block = strtoll(p, &end, 10);
    if (end == p || *end != ' ' || block <= 0 || block > BK_MAX_BLOCK) goto done;
    p = end + 1;
    long long last = strtoll(p, &end, 10);
    if (end == p || *end != ' ' || last < 0 || last > block) goto done;
    p = end + 1;
    int64_t offset = 0, image = 0;
    while (*p) {
        long long member_size = strtoll(p, &end, 10);
        if (end == p || member_size < BK_MEMBER_HEADER + BK_MEMBER_TRAILER) goto done;
        if (!grow_members(f, &capacity)) goto done;
        f->members[f->member_count++] = (member){ offset, member_size, BK_MEMBER_HEADER, image, block };
        offset += member_size;
        image += block;
        if (*end == ',') p = end + 1; else if (*end == 0) p = end; else goto done;
    }
    if (f->member_count > 0) {
        f->members[f->member_count - 1].block_size = last;
        image += last - block;
    }
    /* The data members must end exactly where the index begins. */
    if (offset != index_offset) goto done;
    f->image_bytes = image;
    ok = 1;
done:
    free(text);
    if (!ok) { free(f->members); f->members = NULL; f->member_count = 0; }
    return ok;
}

/* Without an index (snapshots written before it existed): walk the member headers. */
static int scan_members(bk_file *f) {
    int64_t size = f->source.size, offset = 0, image = 0, capacity = 0;
    uint8_t header[36];
    while (offset < size) {
        int64_t available = size - offset < 36 ? size - offset : 36;
        if (available < BK_MEMBER_HEADER || f->source.read(f->source.ctx, header, available, offset) != 0) {
            report(f, "the snapshot file is truncated at byte %lld (of %lld)", offset, size);
            return 0;
        }
        int64_t msize, bsize, doff, ioff;
        int is_trailer;
        if (!bk_parse_member_header(header, available, &msize, &bsize, &doff, &is_trailer, &ioff)) {
            report(f, "the snapshot file holds unexpected data at byte %lld (of %lld): it is damaged, or not a file Backstop wrote", offset, size);
            return 0;
        }
        if (offset + msize > size) {
            report(f, "the snapshot file is truncated: a member at byte %lld runs past its end (%lld bytes)", offset, size);
            return 0;
        }
        if (bsize > 0) {
            if (doff != BK_MEMBER_HEADER) {
                report(f, "the snapshot file holds an unexpected member at byte %lld (of %lld)", offset, size);
                return 0;
            }
            if (!grow_members(f, &capacity)) return 0;
            f->members[f->member_count++] = (member){ offset, msize, doff, image, bsize };
            image += bsize;
        }
        offset += msize;
    }
    f->image_bytes = image;
    return 1;
}

/* The block of member `index`, decompressed and checked, from the cache or freshly. */
/* Reads member `index`'s compressed bytes into f->compressed. */
static int read_member(bk_file *f, int64_t index) {
    member *m = &f->members[index];
    if (m->member_size > f->compressed_capacity) {
        uint8_t *grown = realloc(f->compressed, (size_t)m->member_size);
        if (!grown) return 0;
        f->compressed = grown;
        f->compressed_capacity = m->member_size;
    }
    if (f->source.read(f->source.ctx, f->compressed, m->member_size, m->compressed_offset) != 0) {
        report(f, "cannot read the member at byte %lld of the snapshot file (%lld bytes)", m->compressed_offset, m->member_size);
        return 0;
    }
    return 1;
}

static const uint8_t *block_at(bk_file *f, int64_t index) {
    f->clock++;
    cache_slot *victim = &f->slots[0];
    for (int i = 0; i < f->slot_count; i++) {
        if (f->slots[i].index == index) {
            f->slots[i].used = f->clock;
            /* A block first decompressed out of order (SQLite reads the schema before a sequential copy
               starts) is still reported when the sequential read reaches it. */
            if (index == f->next_reported && f->source.on_member) {
                if (!read_member(f, index)) return NULL;
                member *m = &f->members[index];
                f->source.on_member(f->source.ctx, index, f->compressed, m->member_size, f->slots[i].data, m->block_size);
                f->next_reported++;
            }
            return f->slots[i].data;
        }
        if (f->slots[i].used < victim->used) victim = &f->slots[i];
    }
    member *m = &f->members[index];
    if (!read_member(f, index)) return NULL;
    if (!victim->data) {
        victim->data = malloc((size_t)f->max_block);
        if (!victim->data) return NULL;
    }
    int64_t deflated = m->member_size - m->data_offset - BK_MEMBER_TRAILER;
    size_t produced = 0;
    victim->index = -1;
    enum libdeflate_result result = libdeflate_deflate_decompress(
        f->inflater, f->compressed + m->data_offset, (size_t)deflated, victim->data, (size_t)m->block_size, &produced);
    uint32_t crc = result == LIBDEFLATE_SUCCESS ? libdeflate_crc32(0, victim->data, produced) : 0;
    const uint8_t *tail = f->compressed + m->member_size - BK_MEMBER_TRAILER;
    if (result != LIBDEFLATE_SUCCESS || (int64_t)produced != m->block_size || crc != le32(tail)
        || le32(tail + 4) != (uint32_t)m->block_size) {
        report(f, "block %lld of the snapshot (image bytes from %lld) is damaged: its CRC-32 or size does not match",
               index, m->image_offset);
        return NULL;
    }
    victim->index = index;
    victim->used = f->clock;
    if (index == f->next_reported) {
        if (f->source.on_member)
            f->source.on_member(f->source.ctx, index, f->compressed, m->member_size, victim->data, m->block_size);
        f->next_reported++;
    }
    return victim->data;
}

static int64_t member_for(bk_file *f, int64_t offset) {
    int64_t lo = 0, hi = f->member_count - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (f->members[mid].image_offset <= offset) lo = mid; else hi = mid - 1;
    }
    return lo;
}

/* ---------------------------------------------------------------- I/O methods */

static int bk_close(sqlite3_file *file) {
    bk_file *f = (bk_file *)file;
    release(f);
    return SQLITE_OK;
}

static int bk_read(sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset) {
    bk_file *f = (bk_file *)file;
    uint8_t *out = buffer;
    int64_t want = amount, done = 0;
    while (done < want && offset + done < f->image_bytes) {
        int64_t position = offset + done;
        int64_t index = member_for(f, position);
        const uint8_t *block = block_at(f, index);
        if (!block) return SQLITE_IOERR_CORRUPTFS;
        member *m = &f->members[index];
        int64_t within = position - m->image_offset;
        int64_t n = m->block_size - within;
        if (n > want - done) n = want - done;
        memcpy(out + done, block + within, (size_t)n);
        done += n;
    }
    /* Present the image as a rollback-journal database (header bytes 18 and 19): it is read-only, and
       a WAL-mode header would send SQLite looking for a -wal and -shm that a snapshot does not have. */
    for (int64_t b = 18; b <= 19; b++) {
        if (offset <= b && b < offset + done && out[b - offset] == 2) out[b - offset] = 1;
    }
    if (done < want) {
        memset(out + done, 0, (size_t)(want - done));
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int bk_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) { (void)f; (void)b; (void)n; (void)o; return SQLITE_READONLY; }
static int bk_truncate(sqlite3_file *f, sqlite3_int64 s) { (void)f; (void)s; return SQLITE_READONLY; }
static int bk_sync(sqlite3_file *f, int flags) { (void)f; (void)flags; return SQLITE_OK; }
static int bk_file_size(sqlite3_file *file, sqlite3_int64 *size) { *size = ((bk_file *)file)->image_bytes; return SQLITE_OK; }
static int bk_lock(sqlite3_file *f, int l) { (void)f; (void)l; return SQLITE_OK; }
static int bk_unlock(sqlite3_file *f, int l) { (void)f; (void)l; return SQLITE_OK; }
static int bk_check_reserved(sqlite3_file *f, int *out) { (void)f; *out = 0; return SQLITE_OK; }
static int bk_file_control(sqlite3_file *f, int op, void *arg) { (void)f; (void)op; (void)arg; return SQLITE_NOTFOUND; }
static int bk_sector_size(sqlite3_file *f) { (void)f; return 4096; }
static int bk_device(sqlite3_file *f) { (void)f; return 0; }

static const sqlite3_io_methods bk_methods = {
    1, bk_close, bk_read, bk_write, bk_truncate, bk_sync, bk_file_size, bk_lock, bk_unlock,
    bk_check_reserved, bk_file_control, bk_sector_size, bk_device,
    NULL, NULL, NULL, NULL, NULL, NULL,
};

/* ---------------------------------------------------------------- the VFS */

static sqlite3_vfs *root_vfs(sqlite3_vfs *vfs) { return (sqlite3_vfs *)vfs->pAppData; }

static int open_source_by_path(const char *path, bk_source *source) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return SQLITE_CANTOPEN;
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) { close(fd); return SQLITE_CANTOPEN; }
    file_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { close(fd); return SQLITE_NOMEM; }
    ctx->fd = fd;
    memset(source, 0, sizeof *source);
    source->ctx = ctx;
    source->size = info.st_size;
    source->read = file_read;
    source->close = file_close;
    return SQLITE_OK;
}

static int bk_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags) {
    bk_file *f = (bk_file *)file;
    memset(f, 0, sizeof *f);
    if (!(flags & SQLITE_OPEN_MAIN_DB)) {
        /* Temporary files (sorting, temp tables) belong to the default VFS: it opens them in this same
           memory (our szOsFile is at least its own) and SQLite calls its methods directly. */
        sqlite3_vfs *root = root_vfs(vfs);
        return root->xOpen(root, name, file, flags, out_flags);
    }
    if (!name) return SQLITE_CANTOPEN;
    int64_t expected = -1;
    int64_t cache_bytes = 0;
    registered *entry = take_registered(name);
    int rc;
    if (entry) {
        f->source = entry->source;
        expected = entry->image_bytes;
        cache_bytes = entry->cache_bytes;
        free(entry->name);
        free(entry);
        rc = SQLITE_OK;
    } else {
        rc = open_source_by_path(name, &f->source);
        cache_bytes = sqlite3_uri_int64(name, "cache_mib", 0) << 20;
    }
    if (rc != SQLITE_OK) return rc;
    f->inflater = libdeflate_alloc_decompressor();
    if (!f->inflater) { release(f); return SQLITE_NOMEM; }
    if (!read_index(f) && !scan_members(f)) { release(f); return SQLITE_CANTOPEN; }
    if (expected >= 0 && expected != f->image_bytes) {
        report(f, "the snapshot file describes an image of %lld bytes, its manifest says %lld", f->image_bytes, expected);
        release(f);
        return SQLITE_CANTOPEN;
    }
    for (int64_t i = 0; i < f->member_count; i++) {
        if (f->members[i].block_size > f->max_block) f->max_block = f->members[i].block_size;
    }
    if (cache_bytes <= 0) cache_bytes = BK_DEFAULT_CACHE_BYTES;
    if (cache_bytes > ((int64_t)1 << 30)) cache_bytes = (int64_t)1 << 30;
    int64_t slots = f->max_block > 0 ? cache_bytes / f->max_block : 1;
    f->slot_count = (int)(slots < 4 ? 4 : slots);
    f->slots = calloc((size_t)f->slot_count, sizeof *f->slots);
    if (!f->slots) { release(f); return SQLITE_NOMEM; }
    for (int i = 0; i < f->slot_count; i++) f->slots[i].index = -1;
    f->base.pMethods = &bk_methods;
    if (out_flags) *out_flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB;
    return SQLITE_OK;
}

static int bk_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    return root_vfs(vfs)->xDelete(root_vfs(vfs), name, sync_dir);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int bk_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    /* A snapshot has no journal, WAL or shared-memory file beside it. */
    if (ends_with(name, "-journal") || ends_with(name, "-wal") || ends_with(name, "-shm")) { *out = 0; return SQLITE_OK; }
    return root_vfs(vfs)->xAccess(root_vfs(vfs), name, flags, out);
}

static int bk_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
    if (strncmp(name, "bk-source-", 10) == 0) {
        if ((int)strlen(name) >= n) return SQLITE_CANTOPEN;
        strcpy(out, name);
        return SQLITE_OK;
    }
    return root_vfs(vfs)->xFullPathname(root_vfs(vfs), name, n, out);
}

static void *bk_dlopen(sqlite3_vfs *v, const char *p) { return root_vfs(v)->xDlOpen(root_vfs(v), p); }
static void bk_dlerror(sqlite3_vfs *v, int n, char *e) { root_vfs(v)->xDlError(root_vfs(v), n, e); }
static void (*bk_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { return root_vfs(v)->xDlSym(root_vfs(v), h, s); }
static void bk_dlclose(sqlite3_vfs *v, void *h) { root_vfs(v)->xDlClose(root_vfs(v), h); }
static int bk_randomness(sqlite3_vfs *v, int n, char *out) { return root_vfs(v)->xRandomness(root_vfs(v), n, out); }
static int bk_sleep(sqlite3_vfs *v, int us) { return root_vfs(v)->xSleep(root_vfs(v), us); }
static int bk_current_time(sqlite3_vfs *v, double *t) { return root_vfs(v)->xCurrentTime(root_vfs(v), t); }
static int bk_last_error(sqlite3_vfs *v, int n, char *e) { return root_vfs(v)->xGetLastError(root_vfs(v), n, e); }
static int bk_current_time64(sqlite3_vfs *v, sqlite3_int64 *t) { return root_vfs(v)->xCurrentTimeInt64(root_vfs(v), t); }

static sqlite3_vfs bk_vfs = {
    2, 0, 1024, NULL, BK_VFS_NAME, NULL,
    bk_open, bk_delete, bk_access, bk_full_pathname, bk_dlopen, bk_dlerror, bk_dlsym, bk_dlclose,
    bk_randomness, bk_sleep, bk_current_time, bk_last_error, bk_current_time64, NULL, NULL, NULL,
};

static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;

int bk_vfs_register(void) {
    pthread_mutex_lock(&register_lock);
    int rc = SQLITE_OK;
    if (!bk_vfs.pAppData) {
        sqlite3_vfs *root = sqlite3_vfs_find(NULL);
        if (!root) rc = SQLITE_ERROR;
        else {
            bk_vfs.pAppData = root;
            bk_vfs.mxPathname = root->mxPathname;
            /* Room for our file object, or for the default VFS's own (temporary files go to it). */
            bk_vfs.szOsFile = (int)sizeof(bk_file) > root->szOsFile ? (int)sizeof(bk_file) : root->szOsFile;
            rc = sqlite3_vfs_register(&bk_vfs, 0);
            if (rc != SQLITE_OK) bk_vfs.pAppData = NULL;
        }
    }
    pthread_mutex_unlock(&register_lock);
    return rc;
}

#ifdef BACKSTOP_VFS_EXTENSION
/* The loadable extension: `.load backstop_vfs` in the sqlite3 shell, then
   `.open file:/path/to/ID.sqlite.gz?vfs=backstop` (read-only). */
#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_backstopvfs_init(sqlite3 *db, char **error, const sqlite3_api_routines *api) {
    (void)db; (void)error;
    SQLITE_EXTENSION_INIT2(api);
    int rc = bk_vfs_register();
    return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}
#endif
