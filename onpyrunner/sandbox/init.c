/*
 * onpyrunner-init: PID 1 of every sandbox.
 *
 * nsjail (in RERUN mode: one long-lived nsjail per slot) builds a fresh sandbox -
 * namespaces, mounts, seccomp, unprivileged user - and starts this program in it. Init
 * says "ready" on fd 3 and waits for the host's "go", so a sandbox is complete before any
 * job asks for it. It then runs the program as PID 2, with the run's stdin, stdout and
 * stderr received over fd 3, reaps every process of the sandbox, and reports the
 * program's exact end and the CPU time of everything the program started.
 *
 * Why an init at all: a PID 1 ignores signals it has no handler for, so a program running
 * as PID 1 would survive its own kill(getpid(), SIGSEGV) and would never reap orphans.
 * Here the program is an ordinary process, as on a bare machine.
 *
 * fd 3 is a SOCK_SEQPACKET socket to the host; one message per packet:
 *   init -> host  "ready"
 *   host -> init  "go <cpu_s> <fsize_bytes> <wall_ms>" NUL program NUL arg NUL ..., with
 *                 3 fds: stdin, stdout, stderr. The program is an absolute path.
 *   host -> init  "kill"            stop the program (a limit was hit)
 *   init -> host  "exit <code> <wall_us> <cpu_us> <maxrss_kb>"
 *                 "signal <sig> <wall_us> <cpu_us> <maxrss_kb>"
 *                 "execfail <errno>"
 *   host -> init  "bye"             the host has read the cgroup counters; init exits
 * cpu_us is the user+system time of every process of the sandbox but init, all reaped.
 * EOF on fd 3 at any point means the host is gone: kill everything and exit.
 *
 * The program never holds fd 3 (close-on-exec), and init makes itself non-dumpable so
 * that /proc/1/fd is closed to the program, which runs under the same uid. When the
 * program ends, init kills what is left of the sandbox before reporting. A wall-time alarm
 * is a last line of defence behind the host's own timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOST_FD 3

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv) {
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

static void say(const char *text) {
    while (send(HOST_FD, text, strlen(text), MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

static void on_alarm(int sig) {
    (void)sig;
    kill(-1, SIGKILL); /* every process of this PID namespace but init itself */
}

#define MESSAGE_MAX 65536
#define ARGS_MAX 1024

/* Receive one message (and up to 3 fds) from the host; returns its length, 0 on EOF.
 * The message is NUL-terminated one byte past its length. */
static ssize_t hear(char *buf, size_t size, int fds[3], int *nfds) {
    char control[CMSG_SPACE(3 * sizeof(int))];
    struct iovec iov = {buf, size - 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        n = recvmsg(HOST_FD, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return 0;
    buf[n] = '\0';
    *nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < count && *nfds < 3; i++) {
                memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            }
        }
    }
    return n;
}

static void run_program(char **argv, unsigned long long cpu_s, unsigned long long fsize) {
    struct rlimit cpu = {cpu_s, cpu_s + 1}; /* SIGXCPU at the soft limit, SIGKILL at hard */
    struct rlimit fs = {fsize, fsize};
    sigset_t none;
    sigemptyset(&none);
    signal(SIGALRM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    char line[64];
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_FSIZE, &fs) != 0) {
        snprintf(line, sizeof(line), "execfail %d", errno);
        say(line);
        _exit(127);
    }
    execv(argv[0], argv);
    snprintf(line, sizeof(line), "execfail %d", errno);
    say(line);
    _exit(127);
}

/* Split the go message's NUL-separated program and arguments into argv. */
static int parse_argv(char *buf, ssize_t len, char **argv) {
    int argc = 0;
    char *p = buf + strlen(buf) + 1; /* after "go ..." */
    while (p < buf + len && argc < ARGS_MAX - 1) {
        argv[argc++] = p;
        p += strlen(p) + 1;
    }
    argv[argc] = NULL;
    return argc;
}

/* Wait for the program to end, reaping orphans as they die, and obeying "kill". */
static int wait_program(pid_t child, int sigchld_fd, int *status) {
    for (;;) {
        pid_t pid;
        while ((pid = waitpid(-1, status, WNOHANG)) > 0) {
            if (pid == child) return 0;
        }
        if (pid < 0 && errno != EINTR) return -1;
        struct pollfd fds[2] = {{HOST_FD, POLLIN, 0}, {sigchld_fd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR) return -1;
        if (fds[1].revents) {
            struct signalfd_siginfo info;
            while (read(sigchld_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
            }
        }
        if (fds[0].revents) {
            char buf[64];
            int extra[3], n = 0;
            ssize_t len = hear(buf, sizeof(buf), extra, &n);
            for (int i = 0; i < n; i++) close(extra[i]);
            if (len == 0 || strcmp(buf, "kill") == 0) kill(-1, SIGKILL);
        }
    }
}

static char message[MESSAGE_MAX + 1];
static char *program[ARGS_MAX];

int main(void) {
    char buf[256];
    int fds[3], nfds = 0;
    unsigned long long cpu_s, fsize, wall_ms;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    fcntl(HOST_FD, F_SETFD, FD_CLOEXEC);
    say("ready");

    ssize_t len = hear(message, sizeof(message), fds, &nfds);
    if (len == 0) return 0; /* the host let it go */
    if (sscanf(message, "go %llu %llu %llu", &cpu_s, &fsize, &wall_ms) != 3 || nfds != 3
        || parse_argv(message, len, program) < 1 || program[0][0] != '/') {
        say("execfail 22");
        return 125;
    }
    for (int i = 0; i < 3; i++) {
        dup2(fds[i], i);
        close(fds[i]);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigchld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigchld_fd < 0) {
        snprintf(buf, sizeof(buf), "execfail %d", errno);
        say(buf);
        return 126;
    }

    long long started = now_us();
    pid_t child = fork();
    if (child < 0) {
        snprintf(buf, sizeof(buf), "execfail %d", errno);
        say(buf);
        return 126;
    }
    if (child == 0) run_program(program, cpu_s, fsize);
    for (int i = 0; i < 3; i++) close(i); /* only the program holds the run's pipes */
    alarm((unsigned)(wall_ms / 1000 + 2));

    int status = 0;
    if (wait_program(child, sigchld_fd, &status) != 0) return 126;
    long long wall = now_us() - started;
    kill(-1, SIGKILL); /* whatever the program left behind */
    while (wait(NULL) > 0 || errno == EINTR) {
    }
    alarm(0);

    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    long long cpu = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
    if (WIFSIGNALED(status)) {
        snprintf(buf, sizeof(buf), "signal %d %lld %lld %ld", WTERMSIG(status), wall, cpu,
                 ru.ru_maxrss);
    } else {
        snprintf(buf, sizeof(buf), "exit %d %lld %lld %ld", WEXITSTATUS(status), wall, cpu,
                 ru.ru_maxrss);
    }
    say(buf);
    int none[3], n = 0;
    hear(buf, sizeof(buf), none, &n); /* "bye", or EOF */
    return 0;
}
