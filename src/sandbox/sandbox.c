// The process sandbox for generated code (docs/sandbox.md has the full rationale and how each
// mechanism was verified on this machine).
//
//   parent thread ──clone(NEWPID|NEWNET|NEWNS|NEWIPC|NEWUTS)──▶ init (pid 1 of a new PID namespace)
//     init: mount tree made private and recursively read-only + nosuid; fresh /proc for the new
//           PID namespace; fresh tmpfs /tmp (size-limited, owned by the sandbox uid) holding the
//           job's files: the working directory, HOME and TMPDIR; new network namespace = no
//           interfaces up, so no network even without the filter.
//     init ──fork──▶ program: rlimits (CPU, AS, NPROC, FSIZE, NOFILE, CORE=0), setgroups/
//           setresgid/setresuid to an unprivileged uid (61000 + worker slot), PR_SET_NO_NEW_PRIVS,
//           the seccomp filter (filter.c), clean environment, execve(absolute argv[0]).
//     init reaps orphans and, when the program exits, reports its wait status on a pipe and exits;
//     the kernel then SIGKILLs every process left in the PID namespace (background processes die
//     with the sample). The parent's wall-clock timeout SIGKILLs init, which has the same effect.
//   stdout (head) and stderr (tail) are captured through pipes, bounded.
//
// The child side runs between clone() and execve() of a multithreaded parent, so it only makes
// raw system calls (no malloc, stdio, strerror; forks with the raw clone syscall so glibc's
// atfork handlers and malloc locks are never touched). Everything it needs is prepared before.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/seccomp.h>
#include <unistd.h>

#include "core/error.h"
#include "sandbox/internal.h"

#define SBX_UID_BASE 61000
#define SBX_STACK (256 * 1024)
#define SBX_WORKDIR "/tmp"

void sqz_sandbox_limits_default(sqz_sandbox_limits *l) {
    if (l->timeout_s <= 0)
        l->timeout_s = 10.0;
    if (l->cpu_s <= 0)
        l->cpu_s = (int)ceil(l->timeout_s) + 1;
    if (!l->mem_bytes)
        l->mem_bytes = (size_t)2 << 30;
    if (l->max_procs <= 0)
        l->max_procs = 64;
    if (!l->max_file_bytes)
        l->max_file_bytes = (size_t)16 << 20;
    if (l->max_open_files <= 0)
        l->max_open_files = 64;
    if (!l->tmpfs_bytes)
        l->tmpfs_bytes = (size_t)64 << 20;
    if (!l->stdout_cap)
        l->stdout_cap = 64 << 10;
    if (!l->stderr_cap)
        l->stderr_cap = 4 << 10;
}

const char *sqz_outcome_str(sqz_outcome o) {
    switch (o) {
    case SQZ_OUTCOME_PASSED: return "passed";
    case SQZ_OUTCOME_FAILED: return "failed";
    case SQZ_OUTCOME_TIMEOUT: return "timeout";
    case SQZ_OUTCOME_CRASHED: return "crashed";
    case SQZ_OUTCOME_VIOLATION: return "sandbox-violation";
    }
    return "?";
}

void sqz_sandbox_result_clear(sqz_sandbox_result *res) {
    if (!res)
        return;
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}

// ---- child side (async-signal-safe only) --------------------------------------------------------

typedef struct child_args {
    const sqz_sandbox_job *job;
    sqz_sandbox_limits lim;
    char *const *envp;
    const struct sock_fprog *filter;
    int out_w, err_w, st_w; // parent's pipe write ends; moved to 1, 2, 3 in init
    unsigned uid;
    char tmpfs_opts[128];
} child_args;

enum { FD_STATUS = 3 };

// Code that runs in the cloned child, on its own stack, is not instrumented by AddressSanitizer:
// ASan cannot follow the stack switch and would print "ignoring requested __asan_handle_no_return"
// warnings into the captured stderr (and misreport) before the exec.
#if defined(__SANITIZE_ADDRESS__)
#define SBX_CHILD __attribute__((no_sanitize_address))
#else
#define SBX_CHILD
#endif

SBX_CHILD static size_t c_strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

SBX_CHILD static void c_write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

// Report "E<what>: errno N" on the status pipe and exit.
SBX_CHILD static __attribute__((noreturn)) void c_die(int fd, const char *what, int err) {
    char buf[256];
    size_t n = 0, wl = c_strlen(what);
    buf[n++] = 'E';
    for (size_t i = 0; i < wl && n < 200; i++)
        buf[n++] = what[i];
    const char *mid = ": errno ";
    for (size_t i = 0; mid[i]; i++)
        buf[n++] = mid[i];
    char num[16];
    int k = 0;
    unsigned v = (unsigned)err;
    do {
        num[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k < 15);
    while (k)
        buf[n++] = num[--k];
    c_write_all(fd, buf, n);
    _exit(127);
}

// Write job files under /tmp, creating parent folders, owned by the sandbox uid.
SBX_CHILD static int c_write_files(const child_args *a) {
    char path[4096];
    for (size_t i = 0; i < a->job->n_files; i++) {
        const sqz_sandbox_file *f = &a->job->files[i];
        size_t base = sizeof(SBX_WORKDIR), nl = c_strlen(f->name);
        if (base + nl + 1 > sizeof path)
            return ENAMETOOLONG;
        memcpy(path, SBX_WORKDIR "/", base);
        memcpy(path + base, f->name, nl + 1);
        for (size_t j = base; path[j]; j++) { // mkdir -p of the parents
            if (path[j] != '/')
                continue;
            path[j] = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return errno;
            if (chown(path, a->uid, a->uid) != 0)
                return errno;
            path[j] = '/';
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return errno;
        size_t off = 0;
        while (off < f->len) {
            ssize_t w = write(fd, f->data + off, f->len - off);
            if (w <= 0) {
                close(fd);
                return w < 0 ? errno : EIO;
            }
            off += (size_t)w;
        }
        if (fchown(fd, a->uid, a->uid) != 0) {
            close(fd);
            return errno;
        }
        close(fd);
    }
    return 0;
}

SBX_CHILD static void c_setup_fs(const child_args *a) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        c_die(FD_STATUS, "making / private", errno);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof attr) != 0)
        c_die(FD_STATUS, "remounting / read-only", errno);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        c_die(FD_STATUS, "mounting /proc", errno);
    if (mount("tmpfs", SBX_WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV, a->tmpfs_opts) != 0)
        c_die(FD_STATUS, "mounting tmpfs on /tmp", errno);
    int err = c_write_files(a);
    if (err)
        c_die(FD_STATUS, "writing the job files", err);
}

SBX_CHILD static void c_limit(int res, rlim_t soft, rlim_t hard) {
    struct rlimit rl = {soft, hard};
    if (setrlimit(res, &rl) != 0)
        c_die(FD_STATUS, "setrlimit", errno);
}

// The program: limits, drop privileges, filter, exec. Errors go to `errfd` (close-on-exec).
SBX_CHILD static __attribute__((noreturn)) void c_exec(const child_args *a, const char *const *argv, int errfd) {
    const sqz_sandbox_limits *l = &a->lim;
    close(FD_STATUS);
    if (dup2(errfd, FD_STATUS) < 0) // c_die writes to FD_STATUS: point it at the exec-error pipe
        _exit(127);
    fcntl(FD_STATUS, F_SETFD, FD_CLOEXEC);
    c_limit(RLIMIT_CPU, (rlim_t)l->cpu_s, (rlim_t)l->cpu_s + 1);
    c_limit(RLIMIT_AS, l->mem_bytes, l->mem_bytes);
    c_limit(RLIMIT_NPROC, (rlim_t)l->max_procs, (rlim_t)l->max_procs);
    c_limit(RLIMIT_FSIZE, l->max_file_bytes, l->max_file_bytes);
    c_limit(RLIMIT_NOFILE, (rlim_t)l->max_open_files, (rlim_t)l->max_open_files);
    c_limit(RLIMIT_CORE, 0, 0);
    if (chdir(SBX_WORKDIR) != 0)
        c_die(FD_STATUS, "chdir /tmp", errno);
    // Raw syscalls: glibc's set*id wrappers broadcast the change to every thread of the parent
    // (which do not exist in this copy) and would wait for them forever.
    if (syscall(SYS_setgroups, 0, NULL) != 0 || syscall(SYS_setresgid, a->uid, a->uid, a->uid) != 0 ||
        syscall(SYS_setresuid, a->uid, a->uid, a->uid) != 0)
        c_die(FD_STATUS, "dropping privileges", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        c_die(FD_STATUS, "PR_SET_NO_NEW_PRIVS", errno);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, a->filter) != 0)
        c_die(FD_STATUS, "installing the seccomp filter", errno);
    char *const *av; // execve's prototype predates const: drop it without a qualifier cast
    memcpy(&av, &argv, sizeof av);
    execve(argv[0], av, a->envp);
    c_die(FD_STATUS, argv[0], errno);
}

// Fork+exec one step; returns its wait status, or reports an exec failure and exits. Orphans
// reparented to init are reaped while waiting.
SBX_CHILD static int c_run_step(const child_args *a, const char *const *argv) {
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        c_die(FD_STATUS, "pipe", errno);
    long pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0); // raw fork: no atfork handlers
    if (pid < 0)
        c_die(FD_STATUS, "fork", errno);
    if (pid == 0) {
        close(ep[0]);
        c_exec(a, argv, ep[1]);
    }
    close(ep[1]);
    char msg[256];
    ssize_t n;
    while ((n = read(ep[0], msg, sizeof msg)) < 0 && errno == EINTR) {
    }
    close(ep[0]);
    if (n > 0) { // exec failed: forward the child's message
        c_write_all(FD_STATUS, msg, (size_t)n);
        _exit(127);
    }
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w == pid)
            return st;
        if (w < 0 && errno != EINTR)
            c_die(FD_STATUS, "waitpid", errno);
    }
}

SBX_CHILD static int c_init(void *p) {
    const child_args *a = p;
    if (dup2(a->out_w, 1) < 0 || dup2(a->err_w, 2) < 0 || dup2(a->st_w, FD_STATUS) < 0)
        _exit(127);
    // Close everything else, including pipes of concurrent runs inherited from other threads.
    syscall(SYS_close_range, FD_STATUS + 1, ~0U, 0);
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0)
        c_die(FD_STATUS, "opening /dev/null", errno);
    close(nul);
    sethostname("sandbox", 7);
    c_setup_fs(a);
    const sqz_sandbox_job *j = a->job;
    int st = 0;
    if (j->compile_argv) {
        st = c_run_step(a, j->compile_argv);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            char rep[6] = {'C'};
            memcpy(rep + 1, &st, sizeof st);
            c_write_all(FD_STATUS, rep, 1 + sizeof st);
            _exit(0);
        }
    }
    st = c_run_step(a, j->argv);
    char rep[6] = {'S'};
    memcpy(rep + 1, &st, sizeof st);
    c_write_all(FD_STATUS, rep, 1 + sizeof st);
    _exit(0); // the kernel now kills whatever is left in this PID namespace
}

// ---- parent side --------------------------------------------------------------------------------

typedef struct capture {
    char *buf;
    size_t len, cap; // keep at most cap bytes (head or tail)
    size_t total;
    int tail;
} capture;

static sqz_status cap_init(capture *c, size_t cap, int tail) {
    c->cap = cap;
    c->tail = tail;
    c->len = c->total = 0;
    c->buf = malloc(2 * cap + 1);
    SQZ_FAIL_IF(!c->buf, SQZ_ERR_NOMEM, "sandbox: out of memory for output capture");
    return SQZ_OK;
}

static void cap_add(capture *c, const char *p, size_t n) {
    c->total += n;
    if (!c->tail) {
        size_t k = c->len + n > c->cap ? c->cap - c->len : n;
        memcpy(c->buf + c->len, p, k);
        c->len += k;
        return;
    }
    if (n > c->cap) { // only the last cap bytes can survive
        p += n - c->cap;
        n = c->cap;
    }
    if (c->len + n > 2 * c->cap) { // keep the last cap bytes, then append
        size_t keep = c->len > c->cap ? c->cap : c->len;
        memmove(c->buf, c->buf + c->len - keep, keep);
        c->len = keep;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

static void cap_finish(capture *c, char **out, size_t *len, int *trunc) {
    if (c->tail && c->len > c->cap) {
        memmove(c->buf, c->buf + c->len - c->cap, c->cap);
        c->len = c->cap;
    }
    c->buf[c->len] = 0;
    *out = c->buf;
    *len = c->len;
    *trunc = c->total > c->len;
    c->buf = NULL;
}

// Read what is available from fd into c; returns 0 on EOF, 1 if still open.
static int drain(int fd, capture *c) {
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            cap_add(c, buf, (size_t)n);
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN ? 1 : 0;
    }
}

static sqz_status validate_job(const sqz_sandbox_job *job, int slot) {
    SQZ_FAIL_IF(!job || !job->argv || !job->argv[0], SQZ_ERR_ARG, "sandbox: job has no argv");
    SQZ_FAIL_IF(job->argv[0][0] != '/', SQZ_ERR_ARG, "sandbox: argv[0] '%s' is not an absolute path",
                job->argv[0]);
    SQZ_FAIL_IF(job->compile_argv && (!job->compile_argv[0] || job->compile_argv[0][0] != '/'),
                SQZ_ERR_ARG, "sandbox: compile argv[0] is not an absolute path");
    SQZ_FAIL_IF(slot < 0 || slot > 999, SQZ_ERR_ARG, "sandbox: slot %d outside 0..999", slot);
    for (size_t i = 0; i < job->n_files; i++) {
        const char *n = job->files[i].name;
        SQZ_FAIL_IF(!n || !n[0] || n[0] == '/' || strstr(n, "..") || strlen(n) > 1024, SQZ_ERR_ARG,
                    "sandbox: file name '%s' must be a relative path without '..'", n ? n : "(null)");
        SQZ_FAIL_IF(!job->files[i].data && job->files[i].len, SQZ_ERR_ARG,
                    "sandbox: file '%s' has no data", n);
    }
    return SQZ_OK;
}

static char *const k_env[] = {
    "PATH=/usr/bin:/bin", "HOME=" SBX_WORKDIR, "TMPDIR=" SBX_WORKDIR, "LANG=C.UTF-8",
    "PYTHONDONTWRITEBYTECODE=1", NULL,
};

typedef struct run_state {
    int out_r, err_r, st_r;
    capture out, err;
    char st[512];
    size_t st_len;
    int st_eof, out_eof, err_eof;
} run_state;

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

// Poll the three pipes until init closes the status pipe or the deadline passes. Returns 1 on
// timeout.
static int wait_child(run_state *s, double deadline) {
    while (!s->st_eof) {
        double left = deadline - sqz_time_now();
        if (left <= 0)
            return 1;
        struct pollfd p[3] = {{s->st_r, POLLIN, 0}, {s->out_eof ? -1 : s->out_r, POLLIN, 0},
                              {s->err_eof ? -1 : s->err_r, POLLIN, 0}};
        int ms = left > 1.0 ? 1000 : (int)(left * 1000) + 1;
        if (poll(p, 3, ms) < 0 && errno != EINTR)
            return 1;
        if (p[1].revents && !drain(s->out_r, &s->out))
            s->out_eof = 1;
        if (p[2].revents && !drain(s->err_r, &s->err))
            s->err_eof = 1;
        if (p[0].revents) {
            ssize_t n = read(s->st_r, s->st + s->st_len, sizeof s->st - 1 - s->st_len);
            if (n > 0)
                s->st_len += (size_t)n;
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                s->st_eof = 1;
        }
    }
    return 0;
}

// After init is gone every writer of the output pipes is dead, except copies briefly held by a
// concurrent run's init before it closes them: read to EOF with a short grace period.
static void drain_rest(run_state *s) {
    double end = sqz_time_now() + 2.0;
    while ((!s->out_eof || !s->err_eof) && sqz_time_now() < end) {
        struct pollfd p[2] = {{s->out_eof ? -1 : s->out_r, POLLIN, 0},
                              {s->err_eof ? -1 : s->err_r, POLLIN, 0}};
        poll(p, 2, 100);
        if (!s->out_eof && !drain(s->out_r, &s->out))
            s->out_eof = 1;
        if (!s->err_eof && !drain(s->err_r, &s->err))
            s->err_eof = 1;
    }
}

static sqz_outcome classify(int st, int fail_on_output, size_t n_output) {
    if (WIFEXITED(st))
        return WEXITSTATUS(st) == 0 && !(fail_on_output && n_output) ? SQZ_OUTCOME_PASSED
                                                                     : SQZ_OUTCOME_FAILED;
    if (!WIFSIGNALED(st))
        return SQZ_OUTCOME_CRASHED;
    switch (WTERMSIG(st)) {
    case SIGSYS: return SQZ_OUTCOME_VIOLATION;
    case SIGXCPU: return SQZ_OUTCOME_TIMEOUT;
    default: return SQZ_OUTCOME_CRASHED;
    }
}

// Turn init's report into the result (or a setup error).
static sqz_status interpret(const run_state *s, int timed_out, const sqz_sandbox_job *job,
                            sqz_sandbox_result *res) {
    res->exit_code = -1;
    if (timed_out) {
        res->outcome = SQZ_OUTCOME_TIMEOUT;
        res->term_signal = SIGKILL;
        return SQZ_OK;
    }
    if (s->st_len >= 1 && s->st[0] == 'E')
        return sqz_error(SQZ_ERR_SANDBOX, "sandbox setup failed: %.*s", (int)(s->st_len - 1), s->st + 1);
    SQZ_FAIL_IF(s->st_len != 1 + sizeof(int) || (s->st[0] != 'S' && s->st[0] != 'C'), SQZ_ERR_SANDBOX,
                "sandbox: the sandbox init process died without a report");
    int st;
    memcpy(&st, s->st + 1, sizeof st);
    res->outcome = classify(st, job->fail_on_output, s->out.total + s->err.total);
    if (s->st[0] == 'C' && res->outcome == SQZ_OUTCOME_PASSED)
        res->outcome = SQZ_OUTCOME_FAILED; // cannot happen (init only reports failed compiles)
    res->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    res->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return SQZ_OK;
}

static sqz_status open_pipes(run_state *s, int w[3]) {
    int fds[3][2];
    int made = 0;
    for (; made < 3; made++)
        if (pipe2(fds[made], O_CLOEXEC) != 0)
            break;
    if (made < 3) {
        int e = errno;
        for (int i = 0; i < made; i++) {
            close(fds[i][0]);
            close(fds[i][1]);
        }
        return sqz_error(SQZ_ERR_SANDBOX, "sandbox: pipe: %s", strerror(e));
    }
    s->out_r = fds[0][0], s->err_r = fds[1][0], s->st_r = fds[2][0];
    for (int i = 0; i < 3; i++) {
        w[i] = fds[i][1];
        fcntl(fds[i][0], F_SETFL, O_NONBLOCK);
    }
    return SQZ_OK;
}

static sqz_status spawn(child_args *a, void *stack, pid_t *pid) {
    int flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
    *pid = clone(c_init, (char *)stack + SBX_STACK, flags, a);
    SQZ_FAIL_IF(*pid < 0, SQZ_ERR_SANDBOX,
                "sandbox: clone with new PID/network/mount namespaces failed: %s (needs root or "
                "CAP_SYS_ADMIN)", strerror(errno));
    return SQZ_OK;
}

sqz_status sqz_sandbox_run(const sqz_sandbox_job *job, int slot, sqz_sandbox_result *res) {
    memset(res, 0, sizeof *res);
    SQZ_TRY(validate_job(job, slot));
    child_args a = {.job = job, .lim = job->limits, .envp = k_env, .uid = SBX_UID_BASE + (unsigned)slot};
    sqz_sandbox_limits_default(&a.lim);
    SQZ_TRY(sqz_sbx_filter_get(&a.filter));
    snprintf(a.tmpfs_opts, sizeof a.tmpfs_opts, "size=%zu,nr_inodes=4096,mode=0700,uid=%u,gid=%u",
             a.lim.tmpfs_bytes, a.uid, a.uid);

    run_state s = {.out_r = -1, .err_r = -1, .st_r = -1};
    int w[3];
    SQZ_TRY(open_pipes(&s, w));
    a.out_w = w[0], a.err_w = w[1], a.st_w = w[2];
    void *stack = malloc(SBX_STACK);
    sqz_status st = !stack ? sqz_error(SQZ_ERR_NOMEM, "sandbox: out of memory") : SQZ_OK;
    if (st == SQZ_OK)
        st = cap_init(&s.out, a.lim.stdout_cap, 0);
    if (st == SQZ_OK)
        st = cap_init(&s.err, a.lim.stderr_cap, 1);
    pid_t pid = -1;
    double t0 = sqz_time_now();
    if (st == SQZ_OK)
        st = spawn(&a, stack, &pid);
    for (int i = 0; i < 3; i++)
        close(w[i]);
    if (st == SQZ_OK) {
        int timed_out = wait_child(&s, t0 + a.lim.timeout_s);
        if (timed_out)
            kill(pid, SIGKILL); // init dies → every process of the PID namespace dies
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        drain_rest(&s);
        res->wall_s = sqz_time_now() - t0;
        st = interpret(&s, timed_out, job, res);
    }
    if (st == SQZ_OK) {
        cap_finish(&s.out, &res->out, &res->out_len, &res->out_truncated);
        cap_finish(&s.err, &res->err, &res->err_len, &res->err_truncated);
    }
    free(s.out.buf);
    free(s.err.buf);
    close_fd(&s.out_r);
    close_fd(&s.err_r);
    close_fd(&s.st_r);
    free(stack);
    return st;
}
