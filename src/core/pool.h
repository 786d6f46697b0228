// A small fork-join thread pool: sqz_pool_run(p, fn, arg) calls fn(arg, ith, nth) on every thread
// (the caller is thread 0) and returns when all are done. Work is split by the callee with
// (ith, nth), ggml style. Idle workers spin briefly (decode issues hundreds of short jobs per
// token), then sleep on a condition variable. Not reentrant: one run at a time per pool.
#ifndef SQZ_CORE_POOL_H
#define SQZ_CORE_POOL_H

#include "sqz/common.h"

typedef struct sqz_pool sqz_pool;
typedef void (*sqz_pool_fn)(void *arg, int ith, int nth);

// n_threads >= 1 (1 = no worker threads; everything runs on the caller).
sqz_status sqz_pool_new(sqz_pool **out, int n_threads);
void sqz_pool_free(sqz_pool *p);
int sqz_pool_size(const sqz_pool *p);
void sqz_pool_run(sqz_pool *p, sqz_pool_fn fn, void *arg);

// Split [0, n) into nth nearly equal contiguous ranges; thread ith gets [*lo, *hi).
static inline void sqz_split_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = n / nth, extra = n % nth;
    *lo = ith * per + (ith < extra ? ith : extra);
    *hi = *lo + per + (ith < extra ? 1 : 0);
}

#endif
