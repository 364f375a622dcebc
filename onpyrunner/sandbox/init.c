/*
 * onpyrunner-init: PID 1 of every sandbox.
 *
 * nsjail starts this program inside the finished sandbox (namespaces, mounts, seccomp,
 * unprivileged user). It waits on fd 3 for the host's "go" message, so the sandbox can be
 * prepared before a job arrives, then forks the user's program as PID 2, reaps every
 * process of the sandbox, and reports the program's exact fate on fd 4.
 *
 * Why an init at all: a PID 1 ignores signals it has no handler for, so a user program
 * running as PID 1 would survive its own kill(getpid(), SIGSEGV) and would never reap
 * orphaned children. Here the program is an ordinary process, as on a bare machine.
 *
 *   argv:  onpyrunner-init PROGRAM [ARG]...
 *   fd 3:  "go" message from the host: "<cpu_s> <fsize_bytes> <wall_ms>\n", then EOF.
 *          EOF without a message means "never mind": exit quietly.
 *   fd 4:  "ready\n" as soon as init runs (the sandbox is complete), then a status line
 *          once the program ends:
 *          "exit <code> <wall_us> <utime_us> <stime_us> <maxrss_kb>\n" or
 *          "signal <sig> <wall_us> <utime_us> <stime_us> <maxrss_kb>\n" or
 *          "execfail <errno>\n" when the program could not be started.
 *
 * The program must not get hold of fd 3 or 4: both are close-on-exec, and this process
 * makes itself non-dumpable so that /proc/1/fd is closed to the (same-uid) program.
 * When the program ends, init exits and the kernel kills whatever is left in the PID
 * namespace. A wall-time alarm is a last line of defence behind the host's own timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GATE_FD 3
#define STATUS_FD 4

static void on_alarm(int sig) {
    (void)sig;
    kill(-1, SIGKILL); /* every process of this PID namespace but init itself */
}

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv) {
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Read the go message; returns 1 on success, 0 on EOF or a malformed message. */
static int read_go(unsigned long long *cpu_s, unsigned long long *fsize, unsigned long long *wall_ms) {
    char buf[128];
    size_t used = 0;
    while (used < sizeof(buf) - 1) {
        ssize_t n = read(GATE_FD, buf + used, sizeof(buf) - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
        if (memchr(buf, '\n', used)) break;
    }
    buf[used] = '\0';
    return sscanf(buf, "%llu %llu %llu", cpu_s, fsize, wall_ms) == 3;
}

static void run_program(char **argv, unsigned long long cpu_s, unsigned long long fsize) {
    struct rlimit cpu = {cpu_s, cpu_s + 1}; /* SIGXCPU at the soft limit, SIGKILL at hard */
    struct rlimit fs = {fsize, fsize};
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGALRM, SIG_DFL);
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_FSIZE, &fs) != 0) {
        dprintf(STATUS_FD, "execfail %d\n", errno);
        _exit(127);
    }
    execv(argv[0], argv);
    dprintf(STATUS_FD, "execfail %d\n", errno);
    _exit(127);
}

int main(int argc, char **argv) {
    unsigned long long cpu_s, fsize, wall_ms;
    if (argc < 2) return 125;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    fcntl(GATE_FD, F_SETFD, FD_CLOEXEC);
    fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
    write_all(STATUS_FD, "ready\n", 6);

    if (!read_go(&cpu_s, &fsize, &wall_ms)) return 0;
    close(GATE_FD);

    long long started = now_us();
    pid_t child = fork();
    if (child < 0) {
        dprintf(STATUS_FD, "execfail %d\n", errno);
        return 126;
    }
    if (child == 0) run_program(argv + 1, cpu_s, fsize);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)(wall_ms / 1000 + 2));

    int status = 0;
    struct rusage ru;
    for (;;) {
        pid_t pid = wait4(-1, &status, 0, &ru);
        if (pid == child) break;
        if (pid < 0 && errno != EINTR) return 126;
    }
    long long wall = now_us() - started;
    char line[160];
    int len;
    if (WIFSIGNALED(status)) {
        len = snprintf(line, sizeof(line), "signal %d %lld %lld %lld %ld\n", WTERMSIG(status),
                       wall, tv_us(ru.ru_utime), tv_us(ru.ru_stime), ru.ru_maxrss);
    } else {
        len = snprintf(line, sizeof(line), "exit %d %lld %lld %lld %ld\n", WEXITSTATUS(status),
                       wall, tv_us(ru.ru_utime), tv_us(ru.ru_stime), ru.ru_maxrss);
    }
    write_all(STATUS_FD, line, (size_t)len);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
