// The thread pool: every part of every job runs exactly once, per-thread ids never collide while
// parts run, jobs of all sizes (0, 1, fewer and many more parts than threads), thousands of short
// jobs back to back (the decode pattern), more threads than cores, and jobs whose workers are
// asleep or slow (the caller must finish the job without waiting for threads that claimed nothing).
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/pool.h"
#include "harness.h"

enum { MAX_PARTS = 5000, MAX_THREADS = 8 };

typedef struct {
    atomic_int runs[MAX_PARTS];
    atomic_int busy[MAX_THREADS]; // tid in use by a running part
    atomic_int tid_clash, bad_nparts;
    int64_t want_parts;
    int sleep_us_tid; // > 0: parts on threads other than the caller sleep this long
} job;

static void sleep_us(int us) {
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static void part_fn(void *arg, int64_t part, int64_t n_parts, int tid) {
    job *j = arg;
    if (n_parts != j->want_parts || part < 0 || part >= n_parts || tid < 0 || tid >= MAX_THREADS) {
        atomic_fetch_add(&j->bad_nparts, 1);
        return;
    }
    if (atomic_fetch_add(&j->busy[tid], 1) != 0)
        atomic_fetch_add(&j->tid_clash, 1);
    atomic_fetch_add(&j->runs[part], 1);
    if (j->sleep_us_tid > 0 && tid != 0)
        sleep_us(j->sleep_us_tid);
    atomic_fetch_sub(&j->busy[tid], 1);
}

static void ith_fn(void *arg, int ith, int nth) { part_fn(arg, ith, nth, ith % MAX_THREADS); }

// Runs n_jobs jobs of n_parts parts and checks each part ran once per job.
static void check_jobs(sqz_pool *p, int64_t n_parts, int n_jobs, bool use_run, int sleep_us_workers) {
    job *j = calloc(1, sizeof *j);
    j->want_parts = use_run ? sqz_pool_size(p) : n_parts;
    j->sleep_us_tid = sleep_us_workers;
    int wrong = 0;
    for (int k = 0; k < n_jobs; k++) {
        if (use_run)
            sqz_pool_run(p, ith_fn, j);
        else
            sqz_pool_run_parts(p, part_fn, j, n_parts);
        for (int64_t i = 0; i < j->want_parts; i++)
            wrong += atomic_exchange(&j->runs[i], 0) != 1;
    }
    CHECK_MSG(wrong == 0, "%d parts did not run exactly once (%lld parts x %d jobs, %d threads)", wrong,
              (long long)j->want_parts, n_jobs, sqz_pool_size(p));
    CHECK_MSG(j->tid_clash == 0, "%d parts ran concurrently with the same tid", (int)j->tid_clash);
    CHECK_MSG(j->bad_nparts == 0, "%d calls with a bad part/n_parts/tid", (int)j->bad_nparts);
    free(j);
}

// A caller whose workers are all asleep (after the spin phase) must still get the job done.
static void test_sleeping_workers(void) {
    sqz_pool *p = NULL;
    CHECK_OK(sqz_pool_new(&p, 3));
    sleep_us(300000); // long past the workers' spin phase: they sleep on the condition variable
    check_jobs(p, 7, 3, false, 0);
    sqz_pool_free(p);
}

int main(void) {
    CHECK_ERR(sqz_pool_new(&(sqz_pool *){NULL}, 0), SQZ_ERR_ARG, "thread count");
    for (int nt = 1; nt <= 6; nt++) { // 6 threads on this 2-core machine: oversubscribed
        sqz_pool *p = NULL;
        CHECK_OK(sqz_pool_new(&p, nt));
        CHECK(sqz_pool_size(p) == nt);
        check_jobs(p, 0, 3, false, 0);
        check_jobs(p, 1, 10, false, 0);
        check_jobs(p, 3, 200, false, 0);
        check_jobs(p, 64, 200, false, 0);
        check_jobs(p, MAX_PARTS, 5, false, 0);
        check_jobs(p, 0, 3000, true, 0); // decode pattern: thousands of tiny fork-joins
        check_jobs(p, 16, 20, false, 200); // slow workers: the caller takes the remaining parts
        sqz_pool_free(p);
    }
    sqz_pool_free(NULL);
    check_jobs(NULL, 9, 2, false, 0); // a NULL pool runs everything on the caller
    test_sleeping_workers();
    return test_summary();
}
