/* libFuzzer harness: the HDF5 data readers (event table, image set) on an
 * in-memory file image, so no temporary file and no disk I/O per input.
 * Both readers run on every input: a file is either kind or neither, and
 * each must fail cleanly on the other's layout. */
#include <stddef.h>
#include <stdint.h>

#include "datasets/ds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int drop = 0; drop < 2; drop++) {
        ds_read_opts o = {.drop_nonfinite = drop};
        ds_events ev;
        if (ds_events_read_image(data, size, "fuzz.h5", &o, &ev) == GS_OK)
            ds_events_free(&ev);
        ds_images im;
        if (ds_images_read_image(data, size, "fuzz.h5", &o, &im) == GS_OK)
            ds_images_free(&im);
    }
    return 0;
}
