/*
 * onpyrunner-init: PID 1 of every sandbox.
 *
 * nsjail (in RERUN mode: one long-lived nsjail per slot) builds a fresh sandbox -
 * namespaces, mounts, seccomp, unprivileged user - and starts this program in it. Init
 * says "ready" and waits for the host's "go", so a sandbox is complete before any job asks
 * for it. It then runs the program as PID 2 with the run's stdin, stdout and stderr,
 * reaps every process of the sandbox, and reports the program's exact end and the CPU
 * time of everything the program started.
 *
 * Why an init at all: a PID 1 ignores signals it has no handler for, so a program running
 * as PID 1 would survive its own kill(getpid(), SIGSEGV) and would never reap orphans.
 * Here the program is an ordinary process, as on a bare machine.
 *
 * THE PROTOCOL. This comment is its specification; sandbox/protocol.py names the same
 * words on the host's side. Every socket is SOCK_SEQPACKET: one message per packet.
 *
 * fd 3 is the slot's socket, passed by nsjail to every sandbox it builds. Only two
 * messages ever cross it:
 *   init -> host  "ready"             the sandbox is complete; init waits for its run
 *   host -> init  "go <cpu_s> <fsize_bytes> <wall_ms> <argc>" NUL program NUL arg NUL ...
 *                 NUL link NUL link ..., with 4 fds: stdin, stdout, stderr, and the run's
 *                 control socket. argc counts the program and its arguments; the names
 *                 after them are files of the run to link rather than copy (below). The
 *                 program is an absolute path.
 * Init closes fd 3 once it has the "go". Everything else about the run crosses the control
 * socket, which the host makes for this run alone: whatever happens to a run, none of its
 * messages can reach another sandbox.
 *
 * The run's files: the host puts them in /.onpyrunner/in (read-only here); init copies them
 * into /sandbox, the program's working directory (a fresh tmpfs of this sandbox, writable
 * and size-capped), as the sandbox user, subdirectories included. A file named in the go's
 * link list (a compiled program from the compile cache) is a symlink to its read-only
 * original instead of a copy. This happens before the program's clock starts.
 *   init -> host  "started"           the program runs (its exec succeeded)
 *   host -> init  "kill"              stop the program (the host saw a limit hit)
 *   host -> init  "signal <sig>"      send the program (PID 2) that signal
 *   init -> host  "exit <code> <wall_us> <cpu_us> <maxrss_kb> <fsize_hit>"
 *                 "signal <sig> <wall_us> <cpu_us> <maxrss_kb> <fsize_hit>"
 *                 with 1 fd: /sandbox, open, for the host to read the files the run left
 *                 (a compile's output, files asked back) before it closes the socket
 *                 "execfail <errno>"  the program could not be started: none of it ran
 *                                     (an "exit 127 ..." follows)
 *   the host closes the control socket once it has read the counters: init exits, and
 *   nsjail builds the next sandbox.
 * A "go" that init cannot take (cut short, not exactly 4 fds, no absolute program) is
 * answered on fd 3 with "refused <errno>", and so is a failed set-up step of init itself;
 * init then exits. The host never trusts that slot again.
 * EOF on fd 3 before "go", or on the control socket at any time, means the host is gone:
 * init kills everything and exits.
 *
 * cpu_us is the user+system time of every process of the sandbox but init, all reaped.
 * fsize_hit is 1 when the program died of SIGXFSZ and a file in a writable place (/tmp,
 * /dev/shm, /sandbox) had reached fsize_bytes: the evidence that the file-size limit, not
 * the program itself, sent that signal. Otherwise 0.
 *
 * WARM START. When nsjail starts the init with arguments (`init WARM_ARGV...`, a phase
 * whose runtime declares warm start, see runtimes.toml), the init starts that command (the
 * runtime's interpreter with sandbox/warm.py) before it says "ready", as PID 2, with
 * /dev/null as 0, 1, 2 and a socket of its own as fd 3, and waits until the interpreter says
 * "warm <bytes>" there: it has started (and imported the profile's declared modules) and
 * waits for its program; <bytes> is the memory the interpreter had before those imports.
 * The init then says "ready <bytes>" on fd 3 instead of "ready". At the go it sets the
 * run's rlimits on that process (prlimit; RLIMIT_CPU counted from the CPU the warm-up
 * already used, rounded up to a second), notes that CPU, and sends the go's argv words
 * (NUL-separated) with the run's stdin, stdout and stderr on the interpreter's socket; the
 * interpreter answers "running" and runs the program (warm.py says how). "started" follows
 * that answer; an interpreter that is gone before it is an "execfail" (none of the program
 * ran). cpu_us then leaves out the warm-up's CPU. An interpreter that dies before it says
 * "warm" makes the init refuse (on fd 3).
 *
 * FORK SERVER. `init --forked <pid> <fd>` is exec'd by a fork server's child (sandbox/warm.py)
 * that has already built this sandbox's namespaces and forked a warm interpreter as <pid>,
 * this init's own child, with <fd> its socket: the init takes them as it would take an
 * interpreter it started itself, waits for its "warm <bytes>", and goes on as above.
 *
 * The program never holds a socket of the host (close-on-exec), and init makes itself
 * non-dumpable so that /proc/1/fd is closed to the program, which runs under the same uid.
 * When the program ends, init kills what is left of the sandbox before reporting. A
 * wall-time alarm is a last line of defence behind the host's own timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The protocol's words, each named once (the header above is their specification). */
#define W_READY "ready"
#define W_GO "go"
#define W_REFUSED "refused"
#define W_STARTED "started"
#define W_KILL "kill"
#define W_SIGNAL "signal"
#define W_EXIT "exit"
#define W_EXECFAIL "execfail"
#define W_WARM "warm" /* warm interpreter -> init: it waits for its program */
#define W_RUNNING "running" /* warm interpreter -> init: it took its run */

#define FORKED_FLAG "--forked" /* init --forked <pid> <fd>: see FORK SERVER above */
#define SLOT_FD 3
#define WARM_FD 3 /* the warm interpreter's socket, in the interpreter */
#define IN_DIR "/.onpyrunner/in"
#define WORK_DIR "/sandbox"
#define RUN_FDS 4 /* stdin, stdout, stderr, control */
#define MESSAGE_MAX 65536
#define ARGS_MAX 1024
#define SCAN_MAX_ENTRIES 100000

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv) {
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

static void say(int fd, const char *text) {
    while (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

/* Say text on fd with one descriptor attached (none when passed < 0). */
static void say_with_fd(int fd, const char *text, int passed) {
    if (passed < 0) {
        say(fd, text);
        return;
    }
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof(control));
    struct iovec iov = {(void *)text, strlen(text)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passed, sizeof(int));
    while (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

/* Say "<word> <errno>" on fd. */
static void say_errno(int fd, const char *word, int err) {
    char line[64];
    snprintf(line, sizeof(line), "%s %d", word, err);
    say(fd, line);
}

/* Say "<word> <errno>" on fd and return code: the way out of every failed step. */
static int fail(int fd, const char *word, int err, int code) {
    say_errno(fd, word, err);
    return code;
}

static void on_alarm(int sig) {
    (void)sig;
    kill(-1, SIGKILL); /* every process of this PID namespace but init itself */
}

/* Receive one message (and up to max_fds fds) on fd. Returns its length, 0 on EOF, or -1
 * when it was cut short (data or descriptors did not fit). The message is NUL-terminated
 * one byte past its length. Descriptors beyond *nfds are never kept open. */
static ssize_t hear(int fd, char *buf, size_t size, int *fds, int max_fds, int *nfds) {
    char control[CMSG_SPACE(RUN_FDS * sizeof(int))];
    struct iovec iov = {buf, size - 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    *nfds = 0;
    if (n <= 0) return 0;
    buf[n] = '\0';
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < count; i++) {
                int got;
                memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (*nfds < max_fds) {
                    fds[(*nfds)++] = got;
                } else {
                    close(got);
                    *nfds = max_fds + 1; /* more than asked for: refused below */
                }
            }
        }
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -1;
    return n;
}

/* Every signal's default disposition and an empty mask, as on a bare machine (the service's
 * Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec). */
static void default_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child: set the run's rlimits and dispositions and exec the program. On failure
 * the errno goes to exec_fd (close-on-exec: a successful exec closes it with nothing said). */
static void run_program(char **argv, int exec_fd, unsigned long long cpu_s,
                        unsigned long long fsize) {
    struct rlimit cpu = {cpu_s, cpu_s + 1}; /* SIGXCPU at the soft limit, SIGKILL at hard */
    struct rlimit fs = {fsize, fsize};
    default_signals();
    int err = 0;
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_FSIZE, &fs) != 0) {
        err = errno;
    } else {
        execv(argv[0], argv);
        err = errno;
    }
    while (write(exec_fd, &err, sizeof(err)) < 0 && errno == EINTR) {
    }
    _exit(127);
}

/* After the fork: 0 once the program runs (its exec closed exec_fd), or the errno of why
 * it could not start. */
static int exec_result(int exec_fd) {
    int err = 0;
    ssize_t n;
    while ((n = read(exec_fd, &err, sizeof(err))) < 0 && errno == EINTR) {
    }
    return n == (ssize_t)sizeof(err) ? (err ? err : EIO) : 0;
}

/* Split the go message's NUL-separated words after its header into argv (argc of them,
 * NULL-terminated) and the link list (the rest, NULL-terminated). Returns 0, or -1 when the
 * message does not hold argc words or holds too many. */
static int parse_words(char *buf, ssize_t len, int argc, char **argv, char **links) {
    char *p = buf + strlen(buf) + 1; /* after "go ..." */
    int n = 0, k = 0;
    if (argc < 1 || argc >= ARGS_MAX) return -1;
    while (p < buf + len) {
        if (n < argc) {
            argv[n++] = p;
        } else if (k < ARGS_MAX - 1) {
            links[k++] = p;
        } else {
            return -1;
        }
        p += strlen(p) + 1;
    }
    argv[n] = NULL;
    links[k] = NULL;
    return n == argc ? 0 : -1;
}

/* --- the run's files: IN_DIR (read-only) into WORK_DIR (the program's) ------------------ */
static char **link_names;
static int populate_errno;

static int is_link(const char *rel) {
    for (char **name = link_names; *name != NULL; name++)
        if (strcmp(*name, rel) == 0) return 1;
    return 0;
}

static int copy_file(const char *from, const char *to, mode_t mode) {
    int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode & 0111) ? 0755 : 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    static char block[65536];
    ssize_t n;
    int failed = 0;
    while ((n = read(in, block, sizeof(block))) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            failed = 1;
            break;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, block + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                failed = 1;
                break;
            }
            done += w;
        }
        if (failed) break;
    }
    int saved = errno;
    close(in);
    close(out);
    errno = saved;
    return failed ? -1 : 0;
}

static int populate_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)ftw;
    const char *rel = path + strlen(IN_DIR);
    if (*rel == '\0') return 0; /* IN_DIR itself */
    rel++;
    char dest[4096];
    if (snprintf(dest, sizeof(dest), "%s/%s", WORK_DIR, rel) >= (int)sizeof(dest)) {
        populate_errno = ENAMETOOLONG;
        return 1;
    }
    int failed = 0;
    if (type == FTW_D) {
        failed = mkdir(dest, 0755) != 0 && errno != EEXIST;
    } else if (type == FTW_F) {
        failed = is_link(rel) ? symlink(path, dest) != 0 : copy_file(path, dest, st->st_mode);
    }
    if (failed) {
        populate_errno = errno;
        return 1;
    }
    return 0;
}

/* Copy (or link) the run's files into the working directory; 0 or an errno. */
static int populate(char **links) {
    link_names = links;
    populate_errno = 0;
    if (nftw(IN_DIR, populate_entry, 16, FTW_PHYS) != 0 && populate_errno == 0)
        populate_errno = errno ? errno : EIO;
    return populate_errno;
}

/* Wait for the program to end, reaping orphans as they die, and obeying "kill". */
static int wait_program(pid_t child, int ctl, int sigchld_fd, int *status) {
    int host_here = 1;
    for (;;) {
        pid_t pid;
        while ((pid = waitpid(-1, status, WNOHANG)) > 0) {
            if (pid == child) return 0;
        }
        if (pid < 0 && errno != EINTR) return -1;
        struct pollfd fds[2] = {{sigchld_fd, POLLIN, 0}, {ctl, POLLIN, 0}};
        if (poll(fds, host_here ? 2 : 1, -1) < 0 && errno != EINTR) return -1;
        if (fds[0].revents) {
            struct signalfd_siginfo info;
            while (read(sigchld_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
            }
        }
        if (host_here && fds[1].revents) {
            char buf[64];
            int extra[RUN_FDS], n = 0;
            ssize_t len = hear(ctl, buf, sizeof(buf), extra, RUN_FDS, &n);
            for (int i = 0; i < n && i < RUN_FDS; i++) close(extra[i]);
            int sig;
            if (len == 0) host_here = 0; /* the host is gone: stop, and stop listening */
            if (len == 0 || strcmp(buf, W_KILL) == 0) {
                kill(-1, SIGKILL);
            } else if (sscanf(buf, W_SIGNAL " %d", &sig) == 1 && sig > 0 && sig < NSIG) {
                kill(child, sig);
            }
        }
    }
}

/* The evidence for fsize_hit: a regular file of at least scan_limit bytes. */
static unsigned long long scan_limit;
static long scan_entries;

static int scan_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)path;
    (void)ftw;
    if (++scan_entries > SCAN_MAX_ENTRIES) return 2;
    if (type == FTW_F && S_ISREG(st->st_mode) && (unsigned long long)st->st_size >= scan_limit)
        return 1;
    return 0;
}

static int file_at_limit(unsigned long long fsize) {
    static const char *const places[] = {"/tmp", "/dev/shm", "/sandbox"};
    scan_limit = fsize;
    scan_entries = 0;
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        int found = nftw(places[i], scan_entry, 16, FTW_PHYS | FTW_MOUNT);
        if (found == 1) return 1;
        if (found == 2) return 0;
    }
    return 0;
}

/* --- warm start: an interpreter started before the go (see the header) ---------------- */
static pid_t warm_pid = -1;
static int warm_sock = -1;

static int await_warm(pid_t pid, int sock, unsigned long long *warm_bytes);

/* Start the warm interpreter and wait for its "warm <bytes>"; 0 (bytes in *warm_bytes) or
 * an errno. */
static int start_warm(char **argv, unsigned long long *warm_bytes) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return errno;
    pid_t pid = fork();
    if (pid < 0) return errno;
    if (pid == 0) {
        default_signals();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        /* dup2 clears close-on-exec on its target: fd 3 (the slot's socket here) becomes
         * the interpreter's own socket, and the slot's socket is gone from this process. */
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0
            || dup2(pair[1], WARM_FD) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pair[1]);
    return await_warm(pid, pair[0], warm_bytes);
}

/* Take pid as the warm interpreter, sock as its socket, and wait for its "warm <bytes>";
 * 0 (bytes in *warm_bytes) or an errno. */
static int await_warm(pid_t pid, int sock, unsigned long long *warm_bytes) {
    warm_pid = pid;
    warm_sock = sock;
    if (fcntl(sock, F_SETFD, FD_CLOEXEC) != 0) return errno;
    char buf[64];
    int none[RUN_FDS], n = 0;
    ssize_t len = hear(warm_sock, buf, sizeof(buf), none, 0, &n);
    if (len <= 0 || n != 0 || sscanf(buf, W_WARM " %llu", warm_bytes) != 1) return ECHILD;
    return 0;
}

/* CPU time the warm interpreter has used so far, in us. */
static long long warm_cpu_us(void) {
    clockid_t clock;
    struct timespec ts;
    if (clock_getcpuclockid(warm_pid, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Hand the run to the warm interpreter: its rlimits (the CPU limit on top of the warm-up's
 * CPU, rounded up), then argv and the run's 0, 1, 2. 0, or an errno. */
static int go_warm(char **argv, unsigned long long cpu_s, unsigned long long fsize,
                   long long baseline_us) {
    unsigned long long used_s = (unsigned long long)((baseline_us + 999999) / 1000000);
    struct rlimit cpu = {used_s + cpu_s, used_s + cpu_s + 1};
    struct rlimit fs = {fsize, fsize};
    if (prlimit(warm_pid, RLIMIT_CPU, &cpu, NULL) != 0) return errno;
    if (prlimit(warm_pid, RLIMIT_FSIZE, &fs, NULL) != 0) return errno;
    static char words[MESSAGE_MAX];
    size_t used = 0;
    for (char **arg = argv; *arg != NULL; arg++) {
        size_t n = strlen(*arg) + 1;
        if (used + n > sizeof(words)) return E2BIG;
        memcpy(words + used, *arg, n);
        used += n;
    }
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof(fds))];
    memset(control, 0, sizeof(control));
    struct iovec iov = {words, used};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    ssize_t sent;
    do {
        sent = sendmsg(warm_sock, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    int err = sent < 0 ? errno : 0;
    if (err == 0) { /* "running": the interpreter took the run (it may have died since) */
        char buf[16];
        int none[RUN_FDS], n = 0;
        ssize_t len = hear(warm_sock, buf, sizeof(buf), none, 0, &n);
        if (len <= 0 || n != 0 || strcmp(buf, W_RUNNING) != 0) err = ECHILD;
    }
    close(warm_sock);
    warm_sock = -1;
    return err;
}

static char message[MESSAGE_MAX + 1];
static char *program[ARGS_MAX];
static char *links[ARGS_MAX];

int main(int init_argc, char **init_argv) {
    char buf[256];
    int fds[RUN_FDS], nfds = 0;
    unsigned long long cpu_s, fsize, wall_ms;
    int argc = 0;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return fail(SLOT_FD, W_REFUSED, errno, 125);
    if (fcntl(SLOT_FD, F_SETFD, FD_CLOEXEC) != 0) return fail(SLOT_FD, W_REFUSED, errno, 125);
    if (init_argc > 1) {
        unsigned long long warm_bytes = 0;
        int err;
        if (strcmp(init_argv[1], FORKED_FLAG) == 0) { /* started by a fork server */
            char *end1 = NULL, *end2 = NULL;
            long pid = init_argc == 4 ? strtol(init_argv[2], &end1, 10) : 0;
            long sock = init_argc == 4 ? strtol(init_argv[3], &end2, 10) : -1;
            err = pid > 1 && sock > SLOT_FD && end1 && !*end1 && end2 && !*end2
                      ? await_warm((pid_t)pid, (int)sock, &warm_bytes)
                      : EINVAL;
        } else {
            err = start_warm(init_argv + 1, &warm_bytes);
        }
        if (err != 0) return fail(SLOT_FD, W_REFUSED, err, 125);
        snprintf(buf, sizeof(buf), W_READY " %llu", warm_bytes);
        say(SLOT_FD, buf);
    } else {
        say(SLOT_FD, W_READY);
    }

    ssize_t len = hear(SLOT_FD, message, sizeof(message), fds, RUN_FDS, &nfds);
    if (len == 0 && nfds == 0) return 0; /* the host let it go */
    if (len <= 0 || nfds != RUN_FDS
        || sscanf(message, W_GO " %llu %llu %llu %d", &cpu_s, &fsize, &wall_ms, &argc) != 4
        || parse_words(message, len, argc, program, links) != 0 || program[0][0] != '/') {
        for (int i = 0; i < nfds && i < RUN_FDS; i++) close(fds[i]);
        return fail(SLOT_FD, W_REFUSED, EINVAL, 125);
    }
    close(SLOT_FD); /* the rest of this run is on its own control socket */
    int ctl = fds[3];
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) return fail(ctl, W_EXECFAIL, errno, 126);
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
    if (sigchld_fd < 0) return fail(ctl, W_EXECFAIL, errno, 126);
    int populated = populate(links);
    if (populated != 0) return fail(ctl, W_EXECFAIL, populated, 126);

    long long started = now_us();
    long long warm_baseline_us = 0;
    pid_t child;
    int exec_errno;
    if (warm_pid > 0) {
        child = warm_pid;
        warm_baseline_us = warm_cpu_us();
        exec_errno = go_warm(program, cpu_s, fsize, warm_baseline_us);
        started = now_us();
    } else {
        int exec_pipe[2];
        if (pipe2(exec_pipe, O_CLOEXEC) != 0) return fail(ctl, W_EXECFAIL, errno, 126);
        child = fork();
        if (child < 0) return fail(ctl, W_EXECFAIL, errno, 126);
        if (child == 0) {
            close(exec_pipe[0]);
            run_program(program, exec_pipe[1], cpu_s, fsize);
        }
        close(exec_pipe[1]);
        exec_errno = exec_result(exec_pipe[0]);
        close(exec_pipe[0]);
    }
    if (exec_errno != 0) say_errno(ctl, W_EXECFAIL, exec_errno); /* its exit 127 follows */
    else say(ctl, W_STARTED);
    for (int i = 0; i < 3; i++) close(i); /* only the program holds the run's pipes */
    alarm((unsigned)(wall_ms / 1000 + 2));

    int status = 0;
    if (wait_program(child, ctl, sigchld_fd, &status) != 0) return 126;
    long long wall = now_us() - started;
    kill(-1, SIGKILL); /* whatever the program left behind */
    while (wait(NULL) > 0 || errno == EINTR) {
    }
    alarm(0);

    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    long long cpu = tv_us(ru.ru_utime) + tv_us(ru.ru_stime) - warm_baseline_us;
    if (cpu < 0) cpu = 0;
    if (WIFSIGNALED(status)) {
        int hit = WTERMSIG(status) == SIGXFSZ && file_at_limit(fsize);
        snprintf(buf, sizeof(buf), W_SIGNAL " %d %lld %lld %ld %d", WTERMSIG(status), wall, cpu,
                 ru.ru_maxrss, hit);
    } else {
        snprintf(buf, sizeof(buf), W_EXIT " %d %lld %lld %ld 0", WEXITSTATUS(status), wall, cpu,
                 ru.ru_maxrss);
    }
    int work = open(WORK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    say_with_fd(ctl, buf, work);
    if (work >= 0) close(work);
    int none[RUN_FDS], n = 0;
    while (hear(ctl, buf, sizeof(buf), none, RUN_FDS, &n) > 0) { /* until the host closes */
        for (int i = 0; i < n && i < RUN_FDS; i++) close(none[i]);
    }
    return 0;
}
