/*
 * tf_run.h - running the real terraform from a test, the way a user's
 * terminal would.
 *
 * A tf_workdir is one private folder per test case: the configuration, the
 * state, a CLI configuration file whose dev_overrides entry points Terraform
 * at the built bridge, and a private HOME and TMPDIR, so nothing touches the
 * user's home. Terraform runs with `-chdir=<folder>` in its own session (its
 * own process group, SIGINT at its default disposition, stdin /dev/null),
 * with its stdout and stderr captured in files, and under a deadline: past
 * it the whole process group is killed, so a hung bridge fails a test
 * instead of hanging it.
 *
 * Terraform's environment is the test's, without any TF_*, CLOUDFLARE_* or
 * CHECKPOINT_* variable, plus the case's own. The path of the case's CLI
 * configuration file, which every descendant inherits (Terraform passes its
 * environment to the bridge, the bridge to the provider), is how leftover
 * processes are recognised afterwards, whatever session they moved to.
 */
#ifndef TF_RUN_H
#define TF_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct tf_workdir {
    char dir[128];        /* the case's folder, made by mkdtemp */
    char cli_config[192]; /* <dir>/cli.tfrc */
    char terraform[256];  /* absolute path of the terraform executable */
    bool no_tls;          /* run with TF_DISABLE_PLUGIN_TLS=1 */
    int runs;             /* commands run so far, numbers the output files */
} tf_workdir;

typedef struct tf_job {
    pid_t pid; /* also the process group id */
    char out_path[256], err_path[256];
    char cmd[512]; /* "terraform plan -out=..." for messages */
} tf_job;

typedef struct tf_result {
    int code;        /* exit status; 128 + signal when killed by one */
    bool timed_out;  /* the deadline passed; the process group was killed */
    char *out, *err; /* Terraform's stdout and stderr, ANSI colours removed */
    char *all;       /* both, stdout first */
    char cmd[512];
} tf_result;

/* Searches PATH for an executable named terraform; copies its path into
 * `path` and returns true when found. */
bool tf_find_terraform(char *path, size_t len);

/* Makes a fresh case folder (under /tmp, keeping the bridge's unix socket
 * path short) with home/, tmp/ and a CLI configuration whose dev_overrides
 * entry maps terraform.local/sso-connectors/cloudflare to `plugin_dir`.
 * Returns 0 or -1. */
int tf_workdir_make(tf_workdir *w, const char *terraform, const char *plugin_dir, bool no_tls);
/* Removes the case folder and everything in it. */
void tf_workdir_remove(tf_workdir *w);

/* Writes `text` to <dir>/<name>. Returns 0 or -1. */
int tf_write_file(const tf_workdir *w, const char *name, const char *text);
/* Reads a whole file; malloc'd and NUL-terminated, or NULL. */
char *tf_read_file(const char *path);

/* Starts `terraform -chdir=<dir> args...` (`args` NULL-terminated) with
 * `env` ("NAME=value" entries, NULL-terminated, may be NULL) added to the
 * case's environment. Returns 0 or -1. */
int tf_start(tf_workdir *w, tf_job *job, const char *const env[], const char *const args[]);
/* True while the job's terraform has not exited (it is not reaped here). */
bool tf_running(const tf_job *job);
/* Sends SIGINT to the job's whole process group, as Ctrl-C in a terminal
 * does. Returns 0 or -1. */
int tf_interrupt(const tf_job *job);
/* Waits at most timeout_ms for terraform to exit (killing its process group
 * when the time is up) and fills *res. The caller frees it with
 * tf_result_free. */
void tf_finish(tf_job *job, int timeout_ms, tf_result *res);
void tf_result_free(tf_result *res);

/* Processes, other than the caller, whose environment holds this case's
 * TF_CLI_CONFIG_FILE: bridges or providers Terraform left behind. Waits up
 * to wait_ms for them to go; those still there are described in `report`
 * ("pid 123: /path/to/exe; ...") and killed. Returns how many there were. */
int tf_leftovers(const tf_workdir *w, int wait_ms, char *report, size_t len);

#endif /* TF_RUN_H */
