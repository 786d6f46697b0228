// A pool of worker threads running sandbox jobs; worker w uses sandbox slot w (its own uid), and
// results land at the index of their job, so the output order is the input order.
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/sandbox.h"

typedef struct pool {
    const sqz_sandbox_job *jobs;
    sqz_sandbox_result *results;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t mu; // guards err/err_msg
    sqz_status err;
    char err_msg[512];
} pool;

typedef struct worker {
    pool *p;
    int slot;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    pool *p = w->p;
    while (!atomic_load(&p->failed)) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            break;
        sqz_status st = sqz_sandbox_run(&p->jobs[i], w->slot, &p->results[i]);
        if (st != SQZ_OK) {
            pthread_mutex_lock(&p->mu);
            if (p->err == SQZ_OK) {
                p->err = st;
                snprintf(p->err_msg, sizeof p->err_msg, "job %zu: %s", i, sqz_last_error());
            }
            pthread_mutex_unlock(&p->mu);
            atomic_store(&p->failed, 1);
        }
    }
    return NULL;
}

sqz_status sqz_sandbox_run_many(const sqz_sandbox_job *jobs, size_t n, int n_workers,
                                sqz_sandbox_result *results) {
    SQZ_FAIL_IF(n && (!jobs || !results), SQZ_ERR_ARG, "sandbox: NULL jobs or results");
    memset(results, 0, n * sizeof *results);
    if (n_workers <= 0)
        n_workers = sqz_n_physical_cores();
    if (n_workers > 1000)
        n_workers = 1000;
    if ((size_t)n_workers > n)
        n_workers = n ? (int)n : 1;
    pool p = {.jobs = jobs, .results = results, .n = n, .err = SQZ_OK};
    pthread_mutex_init(&p.mu, NULL);
    pthread_t *th = calloc((size_t)n_workers, sizeof *th);
    worker *ws = calloc((size_t)n_workers, sizeof *ws);
    int started = 0;
    for (; th && ws && started < n_workers; started++) {
        ws[started] = (worker){&p, started};
        if (pthread_create(&th[started], NULL, worker_main, &ws[started]) != 0)
            break;
    }
    if (started == 0) { // no thread could start: run inline on slot 0
        worker w0 = {&p, 0};
        worker_main(&w0);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    free(ws);
    pthread_mutex_destroy(&p.mu);
    if (p.err != SQZ_OK) {
        for (size_t i = 0; i < n; i++)
            sqz_sandbox_result_clear(&results[i]);
        return sqz_error(p.err, "%s", p.err_msg);
    }
    return SQZ_OK;
}
