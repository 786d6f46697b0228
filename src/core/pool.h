// A small thread pool for data-parallel jobs (decode issues ~150 short jobs per token).
//
// A job is split into parts; the threads — the caller included — claim parts one at a time from a
// shared counter until none are left, and the call returns when every part has run. A part is
// never waited for before someone has claimed it, so a worker that is descheduled (a shared
// machine with more runnable threads than cores) or still waking up costs nothing: the caller runs
// the parts it would have run. Idle workers spin briefly, then sleep on a condition variable.
// Not reentrant: one job at a time per pool, started from one thread.
#ifndef SQZ_CORE_POOL_H
#define SQZ_CORE_POOL_H

#include "sqz/common.h"

typedef struct sqz_pool sqz_pool;
typedef void (*sqz_pool_fn)(void *arg, int ith, int nth);
// One part of a job: part in [0, n_parts); tid in [0, pool size) names the thread running it, and
// no two parts running at the same time share a tid (index per-thread scratch with it).
typedef void (*sqz_pool_part_fn)(void *arg, int64_t part, int64_t n_parts, int tid);

// n_threads >= 1 (1 = no worker threads; everything runs on the caller).
sqz_status sqz_pool_new(sqz_pool **out, int n_threads);
void sqz_pool_free(sqz_pool *p);
int sqz_pool_size(const sqz_pool *p);

// fn(arg, ith, nth) for every ith in [0, nth), nth = the pool size, ggml style: the callee splits
// its work by (ith, nth). Each ith runs exactly once, on whichever thread claims it (not
// necessarily thread ith), and no two running calls share an ith, so per-ith scratch is safe.
void sqz_pool_run(sqz_pool *p, sqz_pool_fn fn, void *arg);

// fn(arg, part, n_parts, tid) for every part in [0, n_parts) (n_parts <= 0: nothing),
// claimed dynamically: with n_parts a few times the pool size, threads that run faster (or are
// not interrupted) take more parts — chunked work stealing, as llama.cpp splits its matrix rows.
void sqz_pool_run_parts(sqz_pool *p, sqz_pool_part_fn fn, void *arg, int64_t n_parts);

// Split [0, n) into nth nearly equal contiguous ranges; thread ith gets [*lo, *hi).
static inline void sqz_split_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = n / nth, extra = n % nth;
    *lo = ith * per + (ith < extra ? ith : extra);
    *hi = *lo + per + (ith < extra ? 1 : 0);
}

#endif
