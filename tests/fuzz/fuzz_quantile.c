/* libFuzzer harness: the quantile-transform loader on an in-memory HDF5
 * image, then one transform and one inverse through what it loaded (a
 * loader that accepts bad tables would fail there). */
#include <stddef.h>
#include <stdint.h>

#include "core/gs_h5.h"
#include "preprocess/pp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hid_t f, g;
    if (gs_h5_open_image(data, size, "fuzz.h5", &f))
        return 0;
    if (gs_h5_group_open(f, "quantile_transform", &g) == GS_OK) {
        pp_quantile qt;
        if (pp_quantile_load(&qt, g) == GS_OK) {
            for (int64_t j = 0; j < qt.f && j < 4; j++) {
                (void)pp_quantile_transform1(&qt, j, 0.5);
                (void)pp_quantile_inverse1(&qt, j, 0.1);
            }
            pp_quantile_free(&qt);
        }
        H5Gclose(g);
    }
    gs_h5_close(f);
    return 0;
}
