#include "core/gs_core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One message per thread: the library keeps no other mutable global state. */
static _Thread_local char gs_msg[1024];

int gs_error(int code, const char *fmt, ...)
{
    /* Format into a scratch buffer first: callers may pass gs_errmsg() itself
     * as an argument (adding context to the current message), and vsnprintf
     * into the buffer it is reading from is undefined (valgrind: overlap). */
    char tmp[sizeof gs_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(gs_msg, tmp, sizeof gs_msg);
    return code;
}

int gs_error_wrap(int code, const char *prefix)
{
    char old[sizeof gs_msg];
    memcpy(old, gs_msg, sizeof old);
    const char *rest = old[0] ? old : gs_status_name(code);
    int n = snprintf(gs_msg, sizeof gs_msg, "%s: ", prefix);
    if (n > 0 && (size_t)n < sizeof gs_msg) {
        size_t room = sizeof gs_msg - (size_t)n, len = strlen(rest);
        if (len >= room)
            len = room - 1; /* messages are one line; a cut tail is acceptable */
        memcpy(gs_msg + n, rest, len);
        gs_msg[(size_t)n + len] = '\0';
    }
    return code;
}

const char *gs_errmsg(void)
{
    return gs_msg[0] ? gs_msg : "no error";
}

void gs_clear_error(void)
{
    gs_msg[0] = '\0';
}

const char *gs_status_name(int code)
{
    switch (code) {
    case GS_OK: return "ok";
    case GS_ERR_ARG: return "invalid argument";
    case GS_ERR_NOMEM: return "out of memory";
    case GS_ERR_IO: return "I/O error";
    case GS_ERR_FORMAT: return "bad file format";
    case GS_ERR_NUMERIC: return "numeric error";
    case GS_ERR_STATE: return "invalid state";
    default: return "unknown error";
    }
}
