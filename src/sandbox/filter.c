// The sandbox's seccomp filter (docs/sandbox.md). Default: allow. Denied:
//  - kill the process (SIGSYS → outcome "sandbox-violation"): ptrace,
//    process_vm_readv/writev, namespace and mount syscalls (mount, umount2, pivot_root, chroot,
//    unshare, setns, clone with CLONE_NEW* flags, the new mount API), keyctl/add_key/request_key,
//    bpf, perf_event_open, module/kexec/reboot/swap/clock/quota/acct syscalls, userfaultfd,
//    open_by_handle_at, kcmp, syslog;
//  - fail with EAFNOSUPPORT: socket() of a family other than AF_UNIX, AF_INET, AF_INET6 (network
//    isolation itself is the empty network namespace, see sandbox.c);
//  - fail with ENOSYS (so runtimes fall back quietly): clone3 (its flags live in memory the filter
//    cannot inspect; glibc falls back to clone) and io_uring (its operations bypass seccomp; libuv
//    falls back to threads).
// The filter is built once per process and exported to classic BPF so that installing it in the
// child is a single prctl, safe after clone() in a multithreaded parent.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "sandbox/internal.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct sock_fprog g_prog;
static char g_err[256]; // non-empty when building failed

static const int k_kill_syscalls[] = {
    SCMP_SYS(ptrace),          SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
    SCMP_SYS(mount),           SCMP_SYS(umount2),          SCMP_SYS(pivot_root),
    SCMP_SYS(chroot),          SCMP_SYS(unshare),          SCMP_SYS(setns),
    SCMP_SYS(open_tree),       SCMP_SYS(move_mount),       SCMP_SYS(fsopen),
    SCMP_SYS(fsconfig),        SCMP_SYS(fsmount),          SCMP_SYS(fspick),
    SCMP_SYS(mount_setattr),   SCMP_SYS(keyctl),           SCMP_SYS(add_key),
    SCMP_SYS(request_key),     SCMP_SYS(bpf),              SCMP_SYS(perf_event_open),
    SCMP_SYS(init_module),     SCMP_SYS(finit_module),     SCMP_SYS(delete_module),
    SCMP_SYS(kexec_load),      SCMP_SYS(kexec_file_load),  SCMP_SYS(reboot),
    SCMP_SYS(swapon),          SCMP_SYS(swapoff),          SCMP_SYS(settimeofday),
    SCMP_SYS(clock_settime),   SCMP_SYS(clock_adjtime),    SCMP_SYS(adjtimex),
    SCMP_SYS(quotactl),        SCMP_SYS(acct),             SCMP_SYS(userfaultfd),
    SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at), SCMP_SYS(kcmp),
    SCMP_SYS(syslog),          SCMP_SYS(iopl),             SCMP_SYS(ioperm),
    SCMP_SYS(lookup_dcookie),  SCMP_SYS(fanotify_init),    SCMP_SYS(vhangup),
};

static const int k_enosys_syscalls[] = {
    SCMP_SYS(clone3), SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
};

static const unsigned long k_ns_flags[] = {
    CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int add_rules(scmp_filter_ctx ctx) {
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (size_t i = 0; rc == 0 && i < N_OF(k_kill_syscalls); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, k_kill_syscalls[i], 0);
    for (size_t i = 0; rc == 0 && i < N_OF(k_enosys_syscalls); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), k_enosys_syscalls[i], 0);
    // socket(): AF_UNIX, AF_INET and AF_INET6 are allowed (the JVM opens INET sockets at start-up
    // to probe IPv6; the new network namespace has only a down loopback, so nothing is reachable);
    // every other family (netlink, packet, vsock, alg, ...) fails as if the kernel lacked it.
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_GT, AF_INET6));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_LT, AF_UNIX));
    for (int fam = AF_UNIX + 1; rc == 0 && fam < AF_INET6; fam++)
        if (fam != AF_INET)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                  SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam));
    for (size_t i = 0; rc == 0 && i < N_OF(k_ns_flags); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, k_ns_flags[i], k_ns_flags[i]));
    return rc;
}

// Export the filter to an in-memory file and read it back as struct sock_filter[].
static int export_bpf(scmp_filter_ctx ctx) {
    int fd = memfd_create("sqz-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = seccomp_export_bpf(ctx, fd);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = -errno;
    if (rc == 0 && (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
                    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS))
        rc = -EINVAL;
    struct sock_filter *insns = rc == 0 ? malloc((size_t)st.st_size) : NULL;
    if (rc == 0 && !insns)
        rc = -ENOMEM;
    if (rc == 0 && pread(fd, insns, (size_t)st.st_size, 0) != st.st_size)
        rc = -EIO;
    close(fd);
    if (rc != 0) {
        free(insns);
        return rc;
    }
    g_prog.filter = insns;
    g_prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    return 0;
}

static void build_filter(void) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(g_err, sizeof g_err, "seccomp_init failed");
        return;
    }
    int rc = add_rules(ctx);
    if (rc != 0)
        snprintf(g_err, sizeof g_err, "adding seccomp rules failed: %s", strerror(-rc));
    else if ((rc = export_bpf(ctx)) != 0)
        snprintf(g_err, sizeof g_err, "exporting the seccomp filter failed: %s", strerror(-rc));
    seccomp_release(ctx);
}

sqz_status sqz_sbx_filter_get(const struct sock_fprog **out) {
    pthread_once(&g_once, build_filter);
    SQZ_FAIL_IF(g_err[0], SQZ_ERR_SANDBOX, "sandbox: %s", g_err);
    *out = &g_prog;
    return SQZ_OK;
}
