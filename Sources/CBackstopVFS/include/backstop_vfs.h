#ifndef BACKSTOP_VFS_H
#define BACKSTOP_VFS_H
/*
 * A read-only SQLite VFS over Backstop's snapshot files (gzip, one member per block of the image,
 * each member's sizes in a "BK" extra field), so that SQLite opens a snapshot in place: no
 * decompressed copy on disk. Blocks are decompressed on demand (CRC-32 and size checked) into a
 * small cache.
 *
 * Snapshots are opened by path, or through a registered source: any random-access reader of the
 * compressed bytes (a decrypting reader, an object store), registered under a name that is then
 * opened as the database file.
 */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The name the VFS is registered under. */
#define BK_VFS_NAME "backstop"

/* A random-access reader of a snapshot's compressed bytes. */
typedef struct bk_source {
    void *ctx;
    /* Bytes in the compressed stream. */
    int64_t size;
    /* Reads exactly n bytes at off into buf; returns 0, or -1 on failure (the reason goes to on_error). */
    int (*read)(void *ctx, void *buf, int64_t n, int64_t off);
    /* Optional: called for every data member the first time it is decompressed, with its compressed
       bytes and its block, so the caller can hash a sequential read. */
    void (*on_member)(void *ctx, int64_t index, const void *member, int64_t member_len,
                      const void *block, int64_t block_len);
    /* Optional: told why an open or a read failed, in words. */
    void (*on_error)(void *ctx, const char *message);
    /* Optional: called once when SQLite closes the file. */
    void (*close)(void *ctx);
} bk_source;

/* Registers the VFS (not as the default). Idempotent; returns an SQLite result code. */
int bk_vfs_register(void);

/* Registers `source` under `name` (for example "bk-source-17") for the next open of that name; the
   VFS takes it over at open and calls its close when SQLite closes the file. `image_bytes` is the
   image size the caller expects (from the manifest), or -1 to accept what the file describes.
   `cache_bytes` bounds the decompressed blocks kept (0: the default, 8 MiB); opened by path, the URI
   parameter `cache_mib` sets it. */
int bk_source_register(const char *name, const bk_source *source, int64_t image_bytes, int64_t cache_bytes);

/* Drops a registered source that was never opened (its close is called). */
void bk_source_unregister(const char *name);

/* Gzip member layout shared with the Swift codec. */
#define BK_MEMBER_HEADER 24
#define BK_MEMBER_TRAILER 8
/* Parses a member header (at least 24 bytes): returns 1 with the member's size, its block's size and
   the offset of its deflate data, or 0 if it is not a Backstop member. */
int bk_parse_member_header(const uint8_t *header, int64_t available, int64_t *member_size,
                           int64_t *block_size, int64_t *data_offset, int *is_trailer, int64_t *index_offset);

#ifdef __cplusplus
}
#endif
#endif

/*
 * A write-only destination for SQLite's backup API ("backstop-sink"): the pages SQLite writes to the
 * main file of a database opened through it go to callbacks instead of a file, so a snapshot can be
 * compressed as it is copied, with no image on disk. Everything else (journals) is refused.
 */
#define BK_SINK_VFS_NAME "backstop-sink"

typedef struct bk_sink {
    void *ctx;
    /* SQLite wrote n bytes at off; returns 0, or -1 to fail the write. */
    int (*write)(void *ctx, const void *data, int64_t n, int64_t off);
    /* SQLite reads n bytes at off; returns how many it may have (the rest reads as zeros), or -1. */
    int64_t (*read)(void *ctx, void *buf, int64_t n, int64_t off);
    /* SQLite set the file's size. */
    int (*truncate)(void *ctx, int64_t size);
    /* The file's size as SQLite should see it. */
    int64_t (*size)(void *ctx);
} bk_sink;

int bk_sink_vfs_register(void);
/* Registers `sink` for the next open of `name` (for example "bk-sink-3"). */
int bk_sink_register(const char *name, const bk_sink *sink);
void bk_sink_unregister(const char *name);
