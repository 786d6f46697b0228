// Shared pieces of the prune module: score selection and argument checks.
#ifndef SQZ_PRUNE_INTERNAL_H
#define SQZ_PRUNE_INTERNAL_H

#include "sqz/prune.h"

// "<method>: sparsity must be in [0, 1)".
sqz_status sqz_prune_check_sparsity(const char *method, double sparsity);
// Shape sane (n = n_out·n_in without overflow) and every weight finite.
sqz_status sqz_prune_check_weight(const char *method, const float *w, int64_t n_out, int64_t n_in, size_t *n);
// Statistics present, of the right width, with rows.
sqz_status sqz_prune_check_stats(const char *method, const sqz_actstats *stats, int64_t n_in);

// Over the concatenation of scores[p][0..len[p]), mark the k smallest keep = 0 (ties: earlier
// part, then lower index first), all others keep = 1.
sqz_status sqz_prune_smallest(float *const *scores, const size_t *len, int n_parts, size_t k, uint8_t *const *keep);

// N:M over score [n_out][n_in]: in every group of M columns of a row the M − N lowest scores get
// keep = 0 (ties: lower column first).
void sqz_prune_nm_mask(const float *score, int64_t n_out, int64_t n_in, sqz_nm nm, uint8_t *keep);

// w[i] = 0 where keep[i] == 0; copy keep into mask when non-NULL.
void sqz_prune_apply(float *w, const uint8_t *keep, size_t n, uint8_t *mask);

#endif
