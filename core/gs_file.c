#include "core/gs_core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int gs_check_out_path(const char *final_path)
{
    if (!final_path || !*final_path)
        return gs_error(GS_ERR_ARG, "empty output file name");
    struct stat st;
    if (stat(final_path, &st) == 0 && S_ISDIR(st.st_mode))
        return gs_error(GS_ERR_ARG, "%s is a directory; the output needs a file name",
                        final_path);
    /* its directory: "" for a bare name (the current one), "/" for "/x" */
    char dir[4096];
    const char *slash = strrchr(final_path, '/');
    size_t dn = slash ? (size_t)(slash - final_path) : 0;
    if (dn >= sizeof dir)
        return gs_error(GS_ERR_ARG, "%s: path too long", final_path);
    memcpy(dir, slash ? final_path : ".", slash ? dn : 1);
    dir[slash ? dn : 1] = '\0';
    if (slash && dn == 0)
        strcpy(dir, "/");
    if (stat(dir, &st) != 0)
        return gs_error(GS_ERR_IO, "%s: cannot create: directory %s: %s", final_path, dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return gs_error(GS_ERR_IO, "%s: cannot create: %s is not a directory", final_path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return gs_error(GS_ERR_IO, "%s: cannot create: directory %s: %s", final_path, dir,
                        strerror(errno));
    return GS_OK;
}

int gs_tmp_path(char *buf, size_t bufsize, const char *final_path)
{
    int n = snprintf(buf, bufsize, "%s.tmp.%ld", final_path, (long)getpid());
    if (n < 0 || (size_t)n >= bufsize)
        return gs_error(GS_ERR_ARG, "%s: path too long", final_path);
    return gs_check_out_path(final_path);
}

int gs_commit(const char *tmp_path, const char *final_path)
{
    const char *in = gs_protected_match(final_path);
    if (in) {
        unlink(tmp_path);
        return gs_error(GS_ERR_ARG, "%s is the same file as the input %s; refusing to write "
                        "over an input", final_path, in);
    }
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

/* ---- inputs a run must not replace ------------------------------------- */

#define GS_MAX_PROTECTED 32
static struct {
    dev_t dev;
    ino_t ino;
    char name[256];
} g_protected[GS_MAX_PROTECTED];
static int g_nprotected;

int gs_protect_input(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return GS_OK; /* nothing there to overwrite (reading it will fail anyway) */
    if (g_nprotected == GS_MAX_PROTECTED)
        return gs_error(GS_ERR_ARG, "%s: too many input files", path);
    g_protected[g_nprotected].dev = st.st_dev;
    g_protected[g_nprotected].ino = st.st_ino;
    snprintf(g_protected[g_nprotected].name, sizeof g_protected[0].name, "%s", path);
    g_nprotected++;
    return GS_OK;
}

void gs_protect_clear(void) { g_nprotected = 0; }

const char *gs_protected_match(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return NULL;
    for (int i = 0; i < g_nprotected; i++)
        if (g_protected[i].dev == st.st_dev && g_protected[i].ino == st.st_ino)
            return g_protected[i].name;
    return NULL;
}

/* ---- run-directory lock -------------------------------------------------- */

#define GS_LOCK_NAME ".gansim-lock"

/* The holder's line from the lock file, for the message. */
static void lock_holder(const char *path, char *buf, size_t n)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    buf[r > 0 ? r : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

int gs_dir_lock(const char *dir, const char *who, gs_dir_lock_t *lk)
{
    lk->fd = -1;
    int n = snprintf(lk->path, sizeof lk->path, "%s/" GS_LOCK_NAME, dir);
    if (n < 0 || (size_t)n >= sizeof lk->path)
        return gs_error(GS_ERR_ARG, "%s: path too long", dir);
    /* The holder unlinks the file before it lets go; a process that locked
     * a file already unlinked (or replaced) retries on the current one. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return gs_error(GS_ERR_IO, "%s: cannot create lock file: %s", lk->path,
                            strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e != EWOULDBLOCK)
                return gs_error(GS_ERR_IO, "%s: cannot lock: %s", lk->path, strerror(e));
            char holder[256];
            lock_holder(lk->path, holder, sizeof holder);
            return gs_error(GS_ERR_STATE, "%s: in use by another process (%s); wait for it to "
                            "finish or stop it first", dir,
                            holder[0] ? holder : "it is just starting");
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lk->path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char line[512];
            int l = snprintf(line, sizeof line, "pid %ld, %s\n", (long)getpid(),
                             who ? who : "gansim");
            if (ftruncate(fd, 0) != 0 || write(fd, line, (size_t)l) != l) {
                /* the lock holds without its label; other processes then
                 * just cannot name us */
            }
            lk->fd = fd;
            return GS_OK;
        }
        close(fd); /* locked a file its holder had just removed: try the new one */
    }
    return gs_error(GS_ERR_IO, "%s: cannot lock (the lock file keeps changing)", lk->path);
}

void gs_dir_unlock(gs_dir_lock_t *lk)
{
    if (!lk || lk->fd < 0)
        return;
    unlink(lk->path); /* while still holding it: see gs_dir_lock */
    close(lk->fd);
    lk->fd = -1;
}
