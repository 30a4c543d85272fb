#ifndef BACKSTOP_CSQLITE_SHIM_H
#define BACKSTOP_CSQLITE_SHIM_H
#include <sqlite3.h>

// Swift cannot call C variadic functions, and cannot see the SQLITE_TRANSIENT macro.
static inline sqlite3_destructor_type backstop_sqlite_transient(void) { return SQLITE_TRANSIENT; }

/// Turns SQLITE_DBCONFIG_DEFENSIVE on or off (sqlite3_db_config is variadic).
static inline int backstop_sqlite_db_config_defensive(sqlite3 *db, int on) {
    int out = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, &out);
}
/// Turns loading extensions through sqlite3_load_extension (not SQL's load_extension()) on or off.
static inline int backstop_sqlite_db_config_load_extension(sqlite3 *db, int on) {
    int out = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, on, &out);
}

#endif
