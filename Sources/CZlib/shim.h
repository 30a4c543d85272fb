#ifndef BACKSTOP_CZLIB_SHIM_H
#define BACKSTOP_CZLIB_SHIM_H
#include <zlib.h>
// inflateInit2 is a macro; expose it as a function Swift can call.
static inline int backstop_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}
#endif
