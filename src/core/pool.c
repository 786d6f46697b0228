// Thread pool with dynamically claimed parts. One 64-bit word announces and hands out the work:
// high 32 bits the job's generation, low 32 bits the number of parts not yet claimed. A thread
// claims the next part by a compare-and-swap that decrements the count while the generation is
// unchanged; the part's index is the count it took (parts are handed out from the last down).
//
// Why the job description (fn, arg, n_parts) can be read without a lock: the caller writes it only
// between jobs — after every part of the previous job has finished — and a thread reads it only
// after a successful claim, i.e. while the job still has an unfinished part (its own). A late
// worker that wakes after a job ended finds the count at 0 (or a new generation) and touches
// nothing else, so the caller never waits for threads that did not claim anything.
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
    // The current job; written by the caller only while no part of any job is running.
    sqz_pool_fn fn;           // sqz_pool_run: fn(arg, part, n_parts)
    sqz_pool_part_fn part_fn; // sqz_pool_run_parts
    void *arg;
    int64_t n_parts, part_base; // parts of this batch are part_base + [0, batch size)
    _Alignas(64) _Atomic uint64_t work; // gen << 32 | parts left to claim
    _Alignas(64) atomic_int_fast64_t done; // parts of the current job finished
    _Alignas(64) atomic_int n_sleeping;
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
// holds the core the other one needs.
#define YIELD_EVERY 64
static void spin_step(int i) {
    if (i % YIELD_EVERY == YIELD_EVERY - 1)
        sched_yield();
    else
        cpu_relax();
}

static inline uint32_t gen_of(uint64_t w) { return (uint32_t)(w >> 32); }

// Claim and run parts of generation `gen` until none are left. Returns the number of parts run.
static int64_t run_parts(sqz_pool *p, uint32_t gen, int tid) {
    int64_t ran = 0;
    uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
    for (;;) {
        if (gen_of(w) != gen || (uint32_t)w == 0)
            return ran;
        if (!atomic_compare_exchange_weak_explicit(&p->work, &w, w - 1, memory_order_acq_rel, memory_order_acquire))
            continue; // w now holds the current word
        int64_t part = (int64_t)(uint32_t)w - 1;
        // Our part is unfinished, so the job description is the one of `gen` (see the top).
        if (p->part_fn)
            p->part_fn(p->arg, p->part_base + part, p->n_parts, tid);
        else
            p->fn(p->arg, (int)part, (int)p->n_parts);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        ran++;
        w = atomic_load_explicit(&p->work, memory_order_acquire);
    }
}

// Wait until the generation differs from `seen` (or quit); returns the new generation.
static uint32_t wait_for_work(sqz_pool *p, uint32_t seen) {
    for (int i = 0; i < SPIN_ITERS; i++) {
        uint32_t g = gen_of(atomic_load_explicit(&p->work, memory_order_acquire));
        if (g != seen || atomic_load(&p->quit))
            return g;
        spin_step(i);
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->n_sleeping, 1);
    while (gen_of(atomic_load(&p->work)) == seen && !atomic_load(&p->quit))
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->mu);
    return gen_of(atomic_load(&p->work));
}

static void *worker_main(void *v) {
    worker_arg *wa = v;
    sqz_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_work(p, seen);
        if (atomic_load(&p->quit))
            return NULL;
        run_parts(p, seen, ith);
    }
}

sqz_status sqz_pool_new(sqz_pool **out, int n_threads) {
    *out = NULL;
    SQZ_FAIL_IF(n_threads < 1 || n_threads > 1024, SQZ_ERR_ARG, "thread count %d out of range 1..1024", n_threads);
    sqz_pool *p = aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);
    SQZ_FAIL_IF(!p, SQZ_ERR_NOMEM, "thread pool: out of memory");
    *p = (sqz_pool){.n = n_threads};
    atomic_init(&p->work, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->quit, false);
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

// Publish a job of n_parts parts, take part in it, and return when all its parts have run.
static void run_job(sqz_pool *p, int64_t n_parts) {
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t gen = gen_of(atomic_load_explicit(&p->work, memory_order_relaxed)) + 1;
    // seq_cst: publishes the job description (and done = 0) before any thread can claim a part,
    // and orders the store before the n_sleeping check below (a sleeper re-checks the word under mu).
    atomic_store(&p->work, (uint64_t)gen << 32 | (uint64_t)n_parts);
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_parts(p, gen, 0);
    for (int i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n_parts; i++)
        spin_step(i);
}

void sqz_pool_run(sqz_pool *p, sqz_pool_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn, p->part_fn = NULL, p->arg = arg, p->n_parts = p->n, p->part_base = 0;
    run_job(p, p->n);
}

void sqz_pool_run_parts(sqz_pool *p, sqz_pool_part_fn fn, void *arg, int64_t n_parts) {
    if (n_parts <= 0)
        return;
    if (!p || p->n == 1 || n_parts == 1) {
        for (int64_t i = 0; i < n_parts; i++)
            fn(arg, i, n_parts, 0);
        return;
    }
    p->fn = NULL, p->part_fn = fn, p->arg = arg, p->n_parts = n_parts;
    for (int64_t base = 0; base < n_parts; base += INT32_MAX) { // the word's low half counts a batch
        p->part_base = base;
        run_job(p, n_parts - base < INT32_MAX ? n_parts - base : INT32_MAX);
    }
}
