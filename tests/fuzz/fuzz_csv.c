/* libFuzzer harness: the CSV event-table importer on a memory stream. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "datasets/ds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0; /* fmemopen refuses an empty buffer; the empty file is a unit test */
    for (int drop = 0; drop < 2; drop++) {
        FILE *fp = fmemopen((void *)data, size, "r");
        if (!fp)
            return 0;
        ds_read_opts o = {.drop_nonfinite = drop};
        ds_events ev;
        if (ds_events_read_csv_stream(fp, "fuzz.csv", &o, &ev) == GS_OK)
            ds_events_free(&ev);
        fclose(fp);
    }
    return 0;
}
