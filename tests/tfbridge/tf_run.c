/*
 * tf_run.c - the real terraform in its own session, with a deadline, its
 * output in files, and a search for processes it left behind.
 */
#include "tf_run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool tf_find_terraform(char *path, size_t len) {
    const char *env = getenv("PATH");
    if (!env)
        return false;
    char *copy = strdup(env);
    if (!copy)
        return false;
    bool found = false;
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        struct stat st;
        snprintf(path, len, "%s/terraform", *d ? d : ".");
        found = stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
    }
    free(copy);
    if (found && path[0] != '/') {
        char cwd[256];
        char rel[256];
        snprintf(rel, sizeof(rel), "%s", path);
        if (getcwd(cwd, sizeof(cwd)))
            snprintf(path, len, "%s/%s", cwd, rel);
    }
    return found;
}

int tf_write_file(const tf_workdir *w, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", w->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

char *tf_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

int tf_workdir_make(tf_workdir *w, const char *terraform, const char *plugin_dir, bool no_tls) {
    memset(w, 0, sizeof(*w));
    snprintf(w->terraform, sizeof(w->terraform), "%s", terraform);
    w->no_tls = no_tls;
    snprintf(w->dir, sizeof(w->dir), "/tmp/tfe.XXXXXX");
    if (!mkdtemp(w->dir))
        return -1;
    char path[256];
    snprintf(path, sizeof(path), "%s/home", w->dir);
    if (mkdir(path, 0700) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/tmp", w->dir);
    if (mkdir(path, 0700) < 0)
        return -1;
    snprintf(w->cli_config, sizeof(w->cli_config), "%s/cli.tfrc", w->dir);
    char text[1024];
    snprintf(text, sizeof(text),
             "provider_installation {\n"
             "  dev_overrides {\n"
             "    \"terraform.local/sso-connectors/cloudflare\" = \"%s\"\n"
             "  }\n"
             "  direct {}\n"
             "}\n",
             plugin_dir);
    return tf_write_file(w, "cli.tfrc", text);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tf_workdir_remove(tf_workdir *w) {
    if (w->dir[0])
        nftw(w->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool is_dropped(const char *entry) {
    static const char *const prefixes[] = {"TF_",   "CLOUDFLARE_", "CHECKPOINT_",
                                           "HOME=", "TMPDIR=",     NULL};
    for (size_t i = 0; prefixes[i]; i++)
        if (strncmp(entry, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* The case's environment (see tf_run.h), built before fork so the child
 * only execs. The array is malloc'd; its own strings are in own[0..2]
 * (malloc'd), the others are borrowed. */
static char **child_environment(const tf_workdir *w, const char *const extra[], char *own[3]) {
    size_t n = 0, n_extra = 0;
    while (environ[n])
        n++;
    while (extra && extra[n_extra])
        n_extra++;
    char **env = calloc(n + n_extra + 8, sizeof(char *));
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_dropped(environ[i]))
            env[k++] = environ[i];
    if (asprintf(&own[0], "HOME=%s/home", w->dir) < 0 ||
        asprintf(&own[1], "TMPDIR=%s/tmp", w->dir) < 0 ||
        asprintf(&own[2], "TF_CLI_CONFIG_FILE=%s", w->cli_config) < 0) {
        free(env);
        return NULL;
    }
    env[k++] = own[0];
    env[k++] = own[1];
    env[k++] = own[2];
    env[k++] = "CHECKPOINT_DISABLE=1";
    env[k++] = "TF_IN_AUTOMATION=1";
    if (w->no_tls)
        env[k++] = "TF_DISABLE_PLUGIN_TLS=1";
    for (size_t i = 0; i < n_extra; i++)
        env[k++] = (char *)extra[i];
    env[k] = NULL;
    return env;
}

int tf_start(tf_workdir *w, tf_job *job, const char *const env[], const char *const args[]) {
    memset(job, 0, sizeof(*job));
    int run = ++w->runs;
    snprintf(job->out_path, sizeof(job->out_path), "%s/run-%02d.stdout", w->dir, run);
    snprintf(job->err_path, sizeof(job->err_path), "%s/run-%02d.stderr", w->dir, run);
    const char *argv[64] = {w->terraform};
    char chdir_arg[192];
    snprintf(chdir_arg, sizeof(chdir_arg), "-chdir=%s", w->dir);
    argv[1] = chdir_arg;
    size_t argc = 2;
    size_t used = (size_t)snprintf(job->cmd, sizeof(job->cmd), "terraform");
    for (size_t i = 0; args[i] && argc < 63; i++) {
        argv[argc++] = args[i];
        if (used < sizeof(job->cmd))
            used += (size_t)snprintf(job->cmd + used, sizeof(job->cmd) - used, " %s", args[i]);
    }
    argv[argc] = NULL;
    char *own[3] = {NULL, NULL, NULL};
    char **child_env = child_environment(w, env, own);
    if (!child_env)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Its own session and process group, like a job a terminal runs:
         * SIGINT can then reach Terraform and its plugins together, and a
         * deadline can kill them all. Dies with the test. */
        setsid();
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        static const int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int in = open("/dev/null", O_RDONLY);
        int out = open(job->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(job->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execve(argv[0], (char *const *)argv, child_env);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(child_env);
    for (size_t i = 0; i < 3; i++)
        free(own[i]);
    if (pid < 0)
        return -1;
    job->pid = pid;
    return 0;
}

bool tf_running(const tf_job *job) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid(P_PID, (id_t)job->pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        return false;
    return info.si_pid == 0;
}

int tf_interrupt(const tf_job *job) {
    return kill(-job->pid, SIGINT);
}

/* Removes ANSI escape sequences (colours, bold) in place. */
static void strip_ansi(char *s) {
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '\033' && r[1] == '[') {
            r += 2;
            while (*r && !(*r >= '@' && *r <= '~'))
                r++;
            if (*r)
                r++;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

void tf_finish(tf_job *job, int timeout_ms, tf_result *res) {
    memset(res, 0, sizeof(*res));
    snprintf(res->cmd, sizeof(res->cmd), "%s", job->cmd);
    long deadline = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(job->pid, &status, WNOHANG);
        if (r == job->pid)
            break;
        if (r < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (now_ms() >= deadline) {
            res->timed_out = true;
            kill(-job->pid, SIGKILL);
            waitpid(job->pid, &status, 0);
            break;
        }
        usleep(2000);
    }
    if (status == -1)
        res->code = -1;
    else if (WIFEXITED(status))
        res->code = WEXITSTATUS(status);
    else
        res->code = 128 + WTERMSIG(status);
    res->out = tf_read_file(job->out_path);
    res->err = tf_read_file(job->err_path);
    if (!res->out)
        res->out = strdup("");
    if (!res->err)
        res->err = strdup("");
    strip_ansi(res->out);
    strip_ansi(res->err);
    if (asprintf(&res->all, "%s\n%s", res->out, res->err) < 0)
        res->all = NULL;
}

void tf_result_free(tf_result *res) {
    free(res->out);
    free(res->err);
    free(res->all);
    memset(res, 0, sizeof(*res));
}

/* True when /proc/<pid>/environ holds exactly the entry `marker`. */
static bool environ_has(const char *pid, const char *marker) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%.32s/environ", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    size_t mlen = strlen(marker);
    for (size_t i = 0; i < len;) {
        size_t elen = strnlen(buf + i, len - i);
        if (elen == mlen && memcmp(buf + i, marker, mlen) == 0)
            return true;
        i += elen + 1;
    }
    return false;
}

/* Fills pids[] with the processes carrying `marker`; returns how many. */
static size_t find_marked(const char *marker, pid_t *pids, size_t cap) {
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    size_t n = 0;
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self)
            continue;
        if (environ_has(e->d_name, marker))
            pids[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

int tf_leftovers(const tf_workdir *w, int wait_ms, char *report, size_t len) {
    char marker[256];
    snprintf(marker, sizeof(marker), "TF_CLI_CONFIG_FILE=%s", w->cli_config);
    long deadline = now_ms() + wait_ms;
    pid_t pids[64];
    size_t n;
    /* Plugins usually exit a few milliseconds after terraform: poll soon,
     * then less often (2, 4, ... 50 ms), up to the deadline. */
    useconds_t pause = 2000;
    while ((n = find_marked(marker, pids, 64)) > 0 && now_ms() < deadline) {
        usleep(pause);
        pause = pause < 25000 ? pause * 2 : 50000;
    }
    if (len)
        report[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        char link[64], exe[256] = "?";
        snprintf(link, sizeof(link), "/proc/%d/exe", (int)pids[i]);
        ssize_t k = readlink(link, exe, sizeof(exe) - 1);
        exe[k > 0 ? k : 1] = '\0';
        if (used < len)
            used += (size_t)snprintf(report + used, len - used, "pid %d: %s; ", (int)pids[i], exe);
        kill(pids[i], SIGKILL);
    }
    return (int)n;
}
