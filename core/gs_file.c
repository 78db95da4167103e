#include "core/gs_core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int gs_tmp_path(char *buf, size_t bufsize, const char *final_path)
{
    int n = snprintf(buf, bufsize, "%s.tmp.%ld", final_path, (long)getpid());
    if (n < 0 || (size_t)n >= bufsize)
        return gs_error(GS_ERR_ARG, "%s: path too long", final_path);
    return GS_OK;
}

int gs_commit(const char *tmp_path, const char *final_path)
{
    if (rename(tmp_path, final_path) != 0) {
        int e = errno;
        unlink(tmp_path);
        return gs_error(GS_ERR_IO, "%s: cannot move into place: %s", final_path, strerror(e));
    }
    return GS_OK;
}

void gs_discard(const char *tmp_path)
{
    unlink(tmp_path);
}
