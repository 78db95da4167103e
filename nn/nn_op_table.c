/* The op table, generated from NN_OP_LIST (nn_internal.h): row i is op i's
 * nn_op_def, defined beside the op's kernel, constructor and rule. */
#include "nn/nn_internal.h"

static const nn_op_def nn_op_leaf = {"leaf", 0, NULL, NULL};

const nn_op_def *const nn_op_table[NN_OP_COUNT] = {
    [NN_OP_LEAF] = &nn_op_leaf,
#define NN_OP_ROW(e, name) [NN_OP_##e] = &nn_op_##name,
    NN_OP_LIST(NN_OP_ROW)
#undef NN_OP_ROW
};

int nn_op_rows_check(const nn_op_def *const *rows, int n)
{
    for (int op = NN_OP_LEAF + 1; op < n; op++) {
        const nn_op_def *d = rows[op];
        if (!d || !d->name || !d->bwd || d->n_src < 1 || d->n_src > NN_MAX_SRC ||
            (!d->fwd && op != NN_OP_RESHAPE))
            return gs_error(GS_ERR_STATE, "nn: op %d (%s) has an incomplete table row", op,
                            d && d->name ? d->name : "unnamed");
    }
    return GS_OK;
}

int nn_op_table_check(void) { return nn_op_rows_check(nn_op_table, NN_OP_COUNT); }
