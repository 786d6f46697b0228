// The sandbox: normal outcomes, output capture, and escape attempts that must stay contained.
// Each escape check asserts the outcome inside and that the host is unaffected.
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sqz/sandbox.h"

static const char *const k_py[] = {"/usr/bin/python3", "-I", "-B", "main.py", NULL};

// Run a Python program (main.py) in the sandbox with default limits except the timeout.
static sqz_status run_py(const char *src, double timeout_s, sqz_sandbox_result *r) {
    sqz_sandbox_file f = {"main.py", src, strlen(src)};
    sqz_sandbox_job job = {.argv = k_py, .files = &f, .n_files = 1};
    job.limits.timeout_s = timeout_s;
    return sqz_sandbox_run(&job, 0, r);
}

// Processes whose uid is the sandbox's (61000 + slot): there must be none after a run.
static int count_uid_procs(unsigned uid) {
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300];
        struct stat st;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s", e->d_name);
        if (stat(path, &st) == 0 && st.st_uid == uid)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void test_basic(void) {
    sqz_sandbox_result r;
    CHECK_OK(run_py("print('hello')\nimport sys\nprint('oops', file=sys.stderr)\n", 10, &r));
    CHECK(r.outcome == SQZ_OUTCOME_PASSED);
    CHECK(r.exit_code == 0);
    CHECK(strcmp(r.out, "hello\n") == 0);
    CHECK(strcmp(r.err, "oops\n") == 0);
    sqz_sandbox_result_clear(&r);

    CHECK_OK(run_py("assert 1 == 2, 'nope'\n", 10, &r));
    CHECK(r.outcome == SQZ_OUTCOME_FAILED);
    CHECK(r.exit_code == 1);
    CHECK(strstr(r.err, "AssertionError: nope") != NULL);
    sqz_sandbox_result_clear(&r);

    // Clean environment, unprivileged uid, private working directory, new hostname.
    CHECK_OK(run_py("import os, socket\n"
                    "print(sorted(os.environ))\n"
                    "print(os.getuid(), os.getcwd(), socket.gethostname(), os.getpid())\n",
                    10, &r));
    CHECK_MSG(strstr(r.out, "['HOME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'TMPDIR']") != NULL,
              "%s", r.out);
    CHECK_MSG(strstr(r.out, "61000 /tmp sandbox 2\n") != NULL, "%s / %s", r.out, r.err);
    sqz_sandbox_result_clear(&r);

    // Crash by signal.
    CHECK_OK(run_py("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", 10, &r));
    CHECK(r.outcome == SQZ_OUTCOME_CRASHED && r.term_signal == SIGSEGV);
    sqz_sandbox_result_clear(&r);

    // Bounded capture: 1 MB of stdout keeps the 64 KiB head; stderr keeps the 4 KiB tail.
    CHECK_OK(run_py("import sys\nsys.stdout.write('a' * 1000000)\n"
                    "sys.stderr.write('x' * 100000 + 'END')\n",
                    10, &r));
    CHECK(r.outcome == SQZ_OUTCOME_PASSED);
    CHECK(r.out_len == 64 * 1024 && r.out_truncated);
    CHECK(r.err_len == 4096 && r.err_truncated && strcmp(r.err + 4093, "END") == 0);
    sqz_sandbox_result_clear(&r);
}

static void test_files_and_compile(void) {
    // Files in sub-folders; a compile step that fails stops the run as "failed".
    const char *lib = "X = 41\n", *main = "import sys; sys.path.insert(0, 'pkg'); import lib; "
                                          "print(lib.X + 1)\n";
    sqz_sandbox_file f[2] = {{"pkg/lib.py", lib, strlen(lib)}, {"main.py", main, strlen(main)}};
    sqz_sandbox_job job = {.argv = k_py, .files = f, .n_files = 2};
    sqz_sandbox_result r;
    CHECK_OK(sqz_sandbox_run(&job, 1, &r));
    CHECK(r.outcome == SQZ_OUTCOME_PASSED && strcmp(r.out, "42\n") == 0);
    sqz_sandbox_result_clear(&r);

    static const char *const bad_cc[] = {"/usr/bin/python3", "-I", "-c", "raise SystemExit(3)", NULL};
    job.compile_argv = bad_cc;
    CHECK_OK(sqz_sandbox_run(&job, 1, &r));
    CHECK(r.outcome == SQZ_OUTCOME_FAILED && r.exit_code == 3 && r.out_len == 0);
    sqz_sandbox_result_clear(&r);

    // fail_on_output: exit 0 with output is a failure (HumanEval-X JavaScript rule).
    job.compile_argv = NULL;
    job.fail_on_output = 1;
    CHECK_OK(sqz_sandbox_run(&job, 1, &r));
    CHECK(r.outcome == SQZ_OUTCOME_FAILED);
    sqz_sandbox_result_clear(&r);
}

static void test_escape_socket(void) {
    // The network namespace has no interface up: an internet connection cannot leave. Exotic
    // families (netlink, packet) are refused by the filter.
    sqz_sandbox_result r;
    CHECK_OK(run_py("import socket\nres = []\n"
                    "for fam, typ in ((socket.AF_NETLINK, socket.SOCK_RAW), (socket.AF_PACKET, socket.SOCK_RAW)):\n"
                    "    try:\n        socket.socket(fam, typ)\n        res.append('opened')\n"
                    "    except OSError as e:\n        res.append(e.errno)\n"
                    "print(res, flush=True)\n"
                    "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                    "s.settimeout(2)\n"
                    "s.connect(('1.1.1.1', 80))\nprint('connected')\n",
                    10, &r));
    CHECK_MSG(r.outcome == SQZ_OUTCOME_FAILED, "outcome %s", sqz_outcome_str(r.outcome));
    CHECK_MSG(strstr(r.out, "[97, 97]") != NULL && strstr(r.out, "connected") == NULL, "%s", r.out);
    CHECK_MSG(strstr(r.err, "Network is unreachable") != NULL, "%s", r.err);
    sqz_sandbox_result_clear(&r);
    // AF_UNIX stays allowed (runtimes use it) and only a down loopback exists.
    CHECK_OK(run_py("import socket\na, b = socket.socketpair()\na.send(b'x')\nprint(b.recv(1))\n"
                    "print(open('/proc/net/dev').read().count(':'))\n",
                    10, &r));
    CHECK_MSG(r.outcome == SQZ_OUTCOME_PASSED && strstr(r.out, "b'x'\n1\n"), "%s %s", r.out, r.err);
    sqz_sandbox_result_clear(&r);
}

static void test_escape_fork_bomb(void) {
    sqz_sandbox_result r;
    double t0 = sqz_time_now();
    CHECK_OK(run_py("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                    "        pass\n",
                    3, &r));
    CHECK_MSG(r.outcome == SQZ_OUTCOME_TIMEOUT, "outcome %s", sqz_outcome_str(r.outcome));
    CHECK(sqz_time_now() - t0 < 8);
    CHECK_MSG(count_uid_procs(61000) == 0, "%d processes left", count_uid_procs(61000));
    sqz_sandbox_result_clear(&r);
    // The host can still fork.
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    CHECK(p > 0);
    if (p > 0)
        waitpid(p, NULL, 0);
}

static void test_escape_memory(void) {
    sqz_sandbox_result r;
    CHECK_OK(run_py("try:\n    b = bytearray(8 << 30)\n    print('allocated', len(b))\n"
                    "except MemoryError:\n    print('MemoryError')\n",
                    10, &r));
    CHECK(r.outcome == SQZ_OUTCOME_PASSED);
    CHECK_MSG(strcmp(r.out, "MemoryError\n") == 0, "%s", r.out);
    sqz_sandbox_result_clear(&r);
}

static void test_escape_infinite_loop(void) {
    sqz_sandbox_result r;
    double t0 = sqz_time_now();
    CHECK_OK(run_py("while True:\n    pass\n", 1.5, &r));
    double dt = sqz_time_now() - t0;
    CHECK(r.outcome == SQZ_OUTCOME_TIMEOUT);
    CHECK_MSG(dt >= 1.4 && dt < 4, "took %.2f s", dt);
    sqz_sandbox_result_clear(&r);
    // A CPU limit below the wall limit gives SIGXCPU, also a timeout.
    sqz_sandbox_file f = {"main.py", "while True: pass\n", 17};
    sqz_sandbox_job job = {.argv = k_py, .files = &f, .n_files = 1};
    job.limits.timeout_s = 10;
    job.limits.cpu_s = 1;
    CHECK_OK(sqz_sandbox_run(&job, 0, &r));
    CHECK(r.outcome == SQZ_OUTCOME_TIMEOUT && r.term_signal == SIGXCPU);
    sqz_sandbox_result_clear(&r);
}

static void test_escape_write_outside(void) {
    char host_dir[] = "/tmp/sqz-test-outside-XXXXXX";
    CHECK(mkdtemp(host_dir) != NULL);
    chmod(host_dir, 0777); // even a world-writable folder must stay untouched
    char prog[1024], target[300];
    snprintf(target, sizeof target, "%s/pwned", host_dir);
    snprintf(prog, sizeof prog,
             "import os\nres = []\nfor p in ['%s', '/work/pwned', '/var/tmp/pwned', "
             "'/dev/shm/pwned', '/root/pwned']:\n"
             "    try:\n        open(p, 'w').write('x')\n        res.append('wrote ' + p)\n"
             "    except OSError as e:\n        res.append(type(e).__name__)\n"
             "open('inside.txt', 'w').write('ok')\nprint(res, open('inside.txt').read())\n",
             target);
    sqz_sandbox_result r;
    CHECK_OK(run_py(prog, 10, &r));
    CHECK(r.outcome == SQZ_OUTCOME_PASSED);
    CHECK_MSG(strstr(r.out, "wrote") == NULL && strstr(r.out, "ok") != NULL, "%s %s", r.out, r.err);
    CHECK(access(target, F_OK) != 0);
    CHECK(access("/work/pwned", F_OK) != 0 && access("/var/tmp/pwned", F_OK) != 0);
    CHECK(access("/dev/shm/pwned", F_OK) != 0);
    rmdir(host_dir);
    sqz_sandbox_result_clear(&r);
    // The working directory is fresh each run: the file written above is gone.
    CHECK_OK(run_py("import os\nprint(sorted(os.listdir('.')))\n", 10, &r));
    CHECK_MSG(strcmp(r.out, "['main.py']\n") == 0, "%s", r.out);
    sqz_sandbox_result_clear(&r);
}

static void test_escape_other_processes(void) {
    // Read the parent's memory, ptrace it, kill it: the parent is invisible in the PID namespace,
    // another uid, and ptrace/process_vm_readv are filtered.
    char prog[2048];
    snprintf(prog, sizeof prog,
             "import os, signal\nhost = %d\nres = []\n"
             "try:\n    open('/proc/%%d/mem' %% host, 'rb').read(16)\n    res.append('read mem')\n"
             "except OSError as e:\n    res.append(type(e).__name__)\n"
             "for pid in (host, os.getppid(), 1, -1):\n"
             "    try:\n        os.kill(pid, signal.SIGKILL)\n        res.append('killed %%d' %% pid)\n"
             "    except OSError as e:\n        res.append(type(e).__name__)\n"
             "print(res, flush=True)\n",
             (int)getpid());
    sqz_sandbox_result r;
    CHECK_OK(run_py(prog, 10, &r));
    // kill(-1) may only reach the program itself (it does not signal itself): nothing else exists.
    CHECK_MSG(r.outcome == SQZ_OUTCOME_PASSED, "%s %s", sqz_outcome_str(r.outcome), r.err);
    CHECK_MSG(strstr(r.out, "read mem") == NULL && strstr(r.out, "killed 1") == NULL, "%s", r.out);
    CHECK(kill(getpid(), 0) == 0); // still alive
    sqz_sandbox_result_clear(&r);

    CHECK_OK(run_py("import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.ptrace(16, 1, 0, 0))\n", 10, &r));
    CHECK_MSG(r.outcome == SQZ_OUTCOME_VIOLATION, "%s", sqz_outcome_str(r.outcome));
    sqz_sandbox_result_clear(&r);
    CHECK_OK(run_py("import ctypes\nprint(ctypes.CDLL(None).unshare(0x10000000))\n", 10, &r));
    CHECK_MSG(r.outcome == SQZ_OUTCOME_VIOLATION, "%s", sqz_outcome_str(r.outcome));
    sqz_sandbox_result_clear(&r);
}

static void test_escape_background(void) {
    // A daemonized grandchild that would keep running after the sample exits.
    const char *prog = "import os, time\n"
                       "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                       "        time.sleep(60)\n        open('/tmp/late', 'w').write('x')\n"
                       "    os._exit(0)\n"
                       "print('parent done')\n";
    sqz_sandbox_result r;
    double t0 = sqz_time_now();
    CHECK_OK(run_py(prog, 20, &r));
    CHECK(r.outcome == SQZ_OUTCOME_PASSED && strcmp(r.out, "parent done\n") == 0);
    CHECK_MSG(sqz_time_now() - t0 < 5, "run took %.1f s", sqz_time_now() - t0);
    CHECK_MSG(count_uid_procs(61000) == 0, "%d processes left", count_uid_procs(61000));
    sqz_sandbox_result_clear(&r);
}

static void test_pool_order(void) {
    enum { N = 8 };
    char src[N][64];
    sqz_sandbox_file f[N];
    sqz_sandbox_job jobs[N];
    for (int i = 0; i < N; i++) {
        snprintf(src[i], sizeof src[i], "import time\ntime.sleep(%.2f)\nprint(%d)\n",
                 0.05 * (N - i), i);
        f[i] = (sqz_sandbox_file){"main.py", src[i], strlen(src[i])};
        jobs[i] = (sqz_sandbox_job){.argv = k_py, .files = &f[i], .n_files = 1};
    }
    sqz_sandbox_result res[N];
    CHECK_OK(sqz_sandbox_run_many(jobs, N, 3, res));
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d\n", i);
        CHECK_MSG(res[i].outcome == SQZ_OUTCOME_PASSED && strcmp(res[i].out, want) == 0, "job %d: %s %s %s", i, sqz_outcome_str(res[i].outcome), res[i].err,
                  res[i].out);
        sqz_sandbox_result_clear(&res[i]);
    }
}

static void test_bad_jobs(void) {
    sqz_sandbox_result r;
    static const char *const rel[] = {"python3", "x.py", NULL};
    sqz_sandbox_job job = {.argv = rel};
    CHECK_ERR(sqz_sandbox_run(&job, 0, &r), SQZ_ERR_ARG, "absolute path");
    sqz_sandbox_file f = {"../escape.py", "x", 1};
    job = (sqz_sandbox_job){.argv = k_py, .files = &f, .n_files = 1};
    CHECK_ERR(sqz_sandbox_run(&job, 0, &r), SQZ_ERR_ARG, "without '..'");
    static const char *const missing[] = {"/usr/bin/no-such-interpreter", NULL};
    job = (sqz_sandbox_job){.argv = missing};
    CHECK_ERR(sqz_sandbox_run(&job, 0, &r), SQZ_ERR_SANDBOX, "/usr/bin/no-such-interpreter: errno 2");
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "pool")) {
        test_pool_order();
        return test_summary();
    }
    test_basic();
    test_files_and_compile();
    test_escape_socket();
    test_escape_fork_bomb();
    test_escape_memory();
    test_escape_infinite_loop();
    test_escape_write_outside();
    test_escape_other_processes();
    test_escape_background();
    test_pool_order();
    test_bad_jobs();
    return test_summary();
}
