/* libFuzzer harness: the INI config parser (libinih + the field table) and
 * the checkpoint config-dump parser, both of which read file contents. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_luxe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    md_luxe_cfg c;
    md_luxe_cfg_default(&c);
    if (md_cfg_load_ini_string(md_luxe_cfg_fields, &c, text, "fuzz.ini") == 0) {
        /* whatever was accepted must dump and parse back */
        char *dump = md_cfg_dump(md_luxe_cfg_fields, &c);
        md_luxe_cfg d;
        md_luxe_cfg_default(&d);
        if (dump && md_cfg_parse_dump(md_luxe_cfg_fields, &d, dump) != 0)
            abort();
        free(dump);
    }
    md_luxe_cfg_default(&c);
    (void)md_cfg_parse_dump(md_luxe_cfg_fields, &c, text);
    (void)md_cfg_set_kv(md_luxe_cfg_fields, &c, text);
    free(text);
    return 0;
}
