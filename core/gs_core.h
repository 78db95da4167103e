/* gs_core — the bottom layer every module shares: status codes with a
 * thread-local message, atomic file creation, and the seeded RNG.
 *
 * Error convention (all modules): functions that can fail return a gs_status
 * (0 = GS_OK) or NULL, and leave a one-line human message, naming the file or
 * option and the problem, in gs_errmsg(). The message is per thread, so
 * independent handles may be used from several threads. Libraries never
 * print and never exit(). */
#ifndef GS_CORE_H
#define GS_CORE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GS_OK = 0,
    GS_ERR_ARG,      /* bad argument / option value / usage */
    GS_ERR_NOMEM,    /* allocation failed or size would overflow */
    GS_ERR_IO,       /* file missing, unreadable, unwritable */
    GS_ERR_FORMAT,   /* file readable but not the expected layout */
    GS_ERR_NUMERIC,  /* NaN/Inf or other numeric failure */
    GS_ERR_STATE     /* call not valid in the current state */
} gs_status;

/* Sets the calling thread's message (printf-style) and returns `code`, so
 * `return gs_error(GS_ERR_IO, "%s: cannot open", path);` reads naturally. */
int gs_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "prefix: " (for adding context on the way up). */
int gs_error_wrap(int code, const char *prefix);
const char *gs_errmsg(void);
void gs_clear_error(void);
const char *gs_status_name(int code);

/* Parses a whole string as an integer: decimal digits, or decimal /
 * scientific notation whose value is exactly an integer ("1e6", "2.5e3",
 * "100.0"); surrounding blanks allowed. Returns 0, or -1 for anything else
 * (fractions, values beyond int64, hex, nan/inf, trailing text). */
int gs_parse_i64(const char *s, int64_t *out);

/* Overflow-checked size arithmetic: return 0 on success, nonzero on overflow. */
static inline int gs_mul_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

/* ---- atomic file creation ------------------------------------------------
 * Write to gs_tmp_path(), then gs_commit() renames over the final path; on
 * any failure gs_discard() removes the temporary. A crash therefore never
 * leaves a partial file under the final name. */
int gs_tmp_path(char *buf, size_t bufsize, const char *final_path);
/* Whether a file can be created at final_path, checked before any work is
 * spent on its contents (gs_tmp_path calls it too): GS_ERR_ARG when the
 * path is a directory, GS_ERR_IO when its directory is missing or not
 * writable; the message names the path and the reason. */
int gs_check_out_path(const char *final_path);
int gs_commit(const char *tmp_path, const char *final_path);
void gs_discard(const char *tmp_path);

/* ---- never write over an input ---------------------------------------------
 * A tool registers the files it reads; gs_commit then refuses (GS_ERR_ARG,
 * naming both) to move a new file over any of them — the same file by device
 * and inode, so also through symlinks, hard links and other spellings. Tools
 * check their known outputs up front as well; this is the net under every
 * atomic write. Process-wide; register before starting threads. A path that
 * does not exist is not registered. */
int gs_protect_input(const char *path);
void gs_protect_clear(void);
/* The registered input that `path` is (by inode), or NULL. */
const char *gs_protected_match(const char *path);

/* ---- run-directory lock ------------------------------------------------------
 * An advisory lock (flock) on DIR/.gansim-lock, so that two processes never
 * train, resume or export the same run directory at once. The lock dies
 * with the process (a crash leaves no stale lock; the file may stay and is
 * reused); gs_dir_unlock removes the file. A second process gets
 * GS_ERR_STATE: "DIR: in use by another process (pid 1234, gansim-train
 * luxe); ...". `who` labels the holder in that message. */
typedef struct {
    int fd;
    char path[4096];
} gs_dir_lock_t;
int gs_dir_lock(const char *dir, const char *who, gs_dir_lock_t *lk);
void gs_dir_unlock(gs_dir_lock_t *lk);

/* ---- RNG -----------------------------------------------------------------
 * xoshiro256** (Blackman & Vigna), seeded through splitmix64. The whole state
 * is the four words, so saving them in a checkpoint resumes the stream
 * exactly. Not thread-safe: give each thread its own (gs_rng_split). */
typedef struct { uint64_t s[4]; } gs_rng;

void     gs_rng_seed(gs_rng *r, uint64_t seed);
uint64_t gs_rng_next(gs_rng *r);
/* An independent stream: the parent advances, the child is seeded from it. */
gs_rng   gs_rng_split(gs_rng *r);
double   gs_rng_uniform(gs_rng *r);            /* [0, 1), 53 bits */
double   gs_rng_uniform_pos(gs_rng *r);        /* (0, 1) */
double   gs_rng_normal(gs_rng *r);             /* N(0,1), Box–Muller, no cached spare */
double   gs_rng_exponential(gs_rng *r, double mean);
double   gs_rng_gamma(gs_rng *r, double shape); /* Marsaglia–Tsang, scale 1 */
uint64_t gs_rng_poisson(gs_rng *r, double mean);
uint64_t gs_rng_below(gs_rng *r, uint64_t n);  /* uniform in [0, n), unbiased */
void     gs_rng_fill_normal(gs_rng *r, float *out, int64_t n, float mean, float std);
void     gs_rng_fill_uniform(gs_rng *r, float *out, int64_t n, float lo, float hi);
void     gs_rng_shuffle_i64(gs_rng *r, int64_t *idx, int64_t n);

#endif
