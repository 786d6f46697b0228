// Fork-join pool: a generation counter announces work; workers spin on it, then sleep.
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/pool.h"

#define SPIN_ITERS 20000

struct sqz_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sqz_pool_fn fn;
    void *arg;
    atomic_uint gen;      // incremented once per run
    atomic_int done;      // workers finished with the current run
    atomic_int n_sleeping;
    atomic_bool quit;
};

typedef struct {
    sqz_pool *p;
    int ith;
} worker_arg;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

// One step of a spin-wait: mostly a pause, but every YIELD_EVERY steps the CPU is offered to other
// threads. When there are more runnable threads than cores (a shared machine), the thread being
// waited for may be descheduled; a pure spin would burn the waiter's whole time slice while it
// holds the core the other one needs (a decode step has ~200 fork-joins, so that costs 10-100x).
#define YIELD_EVERY 64
static void spin_step(int i) {
    if (i % YIELD_EVERY == YIELD_EVERY - 1)
        sched_yield();
    else
        cpu_relax();
}

// Wait until the generation differs from `seen` (or quit); returns the new generation.
static unsigned wait_for_work(sqz_pool *p, unsigned seen) {
    for (int i = 0; i < SPIN_ITERS; i++) {
        unsigned g = atomic_load(&p->gen);
        if (g != seen || atomic_load(&p->quit))
            return g;
        spin_step(i);
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->n_sleeping, 1);
    while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->mu);
    return atomic_load(&p->gen);
}

static void *worker_main(void *v) {
    worker_arg *wa = v;
    sqz_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_work(p, seen);
        if (atomic_load(&p->quit))
            return NULL;
        p->fn(p->arg, ith, p->n);
        atomic_fetch_add(&p->done, 1);
    }
}

sqz_status sqz_pool_new(sqz_pool **out, int n_threads) {
    *out = NULL;
    SQZ_FAIL_IF(n_threads < 1 || n_threads > 1024, SQZ_ERR_ARG, "thread count %d out of range 1..1024", n_threads);
    sqz_pool *p = calloc(1, sizeof *p);
    SQZ_FAIL_IF(!p, SQZ_ERR_NOMEM, "thread pool: out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        sqz_pool_free(p);
        return sqz_error(SQZ_ERR_NOMEM, "thread pool: out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || (wa->p = p, wa->ith = i, pthread_create(&p->threads[i], NULL, worker_main, wa) != 0)) {
            free(wa);
            p->n = i; // join only the threads that started
            sqz_pool_free(p);
            return sqz_error(SQZ_ERR_INTERNAL, "thread pool: cannot start thread %d of %d", i, n_threads);
        }
    }
    *out = p;
    return SQZ_OK;
}

void sqz_pool_free(sqz_pool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int sqz_pool_size(const sqz_pool *p) { return p ? p->n : 1; }

void sqz_pool_run(sqz_pool *p, sqz_pool_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->done, 0);
    atomic_fetch_add(&p->gen, 1); // seq_cst: publishes fn/arg before any worker sees the new gen
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    for (int i = 0; atomic_load(&p->done) < p->n - 1; i++)
        spin_step(i);
}
