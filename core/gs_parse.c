/* Number parsing shared by the tools and the config reader. */
#include <ctype.h>
#include <string.h>

#include "core/gs_core.h"

/* Exact decimal arithmetic on the digits, no double in between: "2.5e3" is
 * 25 * 10^2, "1.5" would need 10^-1 on a nonzero digit and is refused, and
 * anything beyond int64 overflows the accumulator and is refused. */
int gs_parse_i64(const char *s, int64_t *out)
{
    if (!s)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    char dig[64];
    int nd = 0, nfrac = 0, any = 0;
    for (int frac = 0;; s++) {
        if (isdigit((unsigned char)*s)) {
            any = 1;
            if (nd == 0 && *s == '0') {
                nfrac += frac; /* a leading zero still shifts the decimal point */
                continue;
            }
            if (nd == (int)sizeof dig)
                return -1; /* more than 64 significant digits: far beyond int64 */
            dig[nd++] = *s;
            nfrac += frac;
        } else if (*s == '.' && !frac) {
            frac = 1;
        } else {
            break;
        }
    }
    if (!any)
        return -1;
    long exp = 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        int eneg = 0;
        if (*s == '+' || *s == '-')
            eneg = *s++ == '-';
        if (!isdigit((unsigned char)*s))
            return -1;
        for (; isdigit((unsigned char)*s); s++)
            if (exp < 100000)
                exp = exp * 10 + (*s - '0');
        if (eneg)
            exp = -exp;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        return -1;
    long scale = exp - nfrac;
    /* a negative scale must only drop trailing zeros */
    while (scale < 0 && nd > 0 && dig[nd - 1] == '0') {
        nd--;
        scale++;
    }
    if (scale < 0 && nd > 0)
        return -1;
    uint64_t v = 0;
    const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (int i = 0; i < nd; i++) {
        unsigned d = (unsigned)(dig[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    for (long i = 0; i < scale && v; i++) {
        if (v > lim / 10)
            return -1;
        v *= 10;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}
