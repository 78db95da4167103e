/* nn checkpoint I/O: parameters, optimizer state and RNG state into HDF5
 * groups, so that models/ can put several networks, its config and its
 * preprocessing in one file. Loading is strict: every parameter must be
 * present with exactly its shape, or the load fails naming it.
 *
 * Layout under a group G:
 *   G/<param name>            float32 datasets, one per parameter
 *   G/optim attrs kind, lr, beta1, beta2, alpha, eps, momentum, weight_decay, t
 *   G/optim/m/<name>, G/optim/v/<name>   moment buffers where the optimizer has them */
#ifndef NN_CKPT_H
#define NN_CKPT_H

#include "core/gs_h5.h"
#include "nn/nn.h"

int nn_params_save(hid_t group, const nn_params *ps);
int nn_params_load(hid_t group, nn_params *ps);
int nn_optim_save(hid_t group, const nn_optim *o);
/* The optimizer must be initialised over the same parameter set. */
int nn_optim_load(hid_t group, nn_optim *o);
/* One network in its own group loc/name: the parameters and, with o, the
 * optimizer's state over them (o may be NULL). */
int nn_group_save(hid_t loc, const char *name, const nn_params *ps, const nn_optim *o);
int nn_group_load(hid_t loc, const char *name, nn_params *ps, nn_optim *o);
int nn_rng_save(hid_t loc, const char *name, const gs_rng *r);
int nn_rng_load(hid_t loc, const char *name, gs_rng *r);

#endif
