/*
 * test_tls.c - http_uv's minimum TLS version against real TLS servers
 * (`openssl s_server` on 127.0.0.1, started by the test).
 *
 * Debian's OpenSSL already refuses TLS 1.0/1.1 by its system policy, so a
 * TLS 1.1 server would be refused whether or not http_uv asks for TLS 1.2.
 * To see what http_uv itself enforces, this process (and the servers) run
 * with OPENSSL_CONF pointing at a permissive policy (MinProtocol TLSv1,
 * SECLEVEL 0), as found on systems that still allow old protocols. Under
 * that policy a TLS 1.1-only server completes its handshake unless the
 * transfer sets its own minimum:
 *
 *   TLS 1.2 server: handshake completes, then the self-signed certificate
 *                   fails verification (CURLE_PEER_FAILED_VERIFICATION):
 *                   the control, showing handshakes do get through.
 *   TLS 1.1 server: the handshake itself must fail (CURLE_SSL_CONNECT_ERROR);
 *                   without CURLOPT_SSLVERSION it completes and fails only
 *                   at verification, as with the TLS 1.2 server.
 *
 * The TLS 1.2 server also shows that a proxy from the environment is not
 * used for an https:// loopback host. Skipped when no openssl executable
 * was found at configure time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http_uv.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef OPENSSL_EXECUTABLE
#define OPENSSL_EXECUTABLE ""
#endif

static char dir[] = "/tmp/test_tls.XXXXXX";
static char conf_path[256], cert_path[256], key_path[256];
static bool have_openssl;

/* Runs argv to completion with its output discarded; returns its exit
 * status, or -1. */
static int run(char *const argv[]) {
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Starts `openssl s_server` allowing only `version` ("-tls1_1",
 * "-tls1_2") on a free port of 127.0.0.1. Its output goes to a file; the
 * port is read from its "ACCEPT 127.0.0.1:PORT" line (the file is removed
 * first, so an earlier server's line is never read). The child dies with
 * this process (PR_SET_PDEATHSIG) if the test crashes. Returns the pid and
 * sets *port. */
static pid_t start_server(const char *version, int *port) {
    char out_path[300];
    snprintf(out_path, sizeof out_path, "%s/server%s.out", dir, version);
    unlink(out_path); /* never read an earlier server's port */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(OPENSSL_EXECUTABLE, OPENSSL_EXECUTABLE, "s_server", "-accept", "127.0.0.1:0", version,
              "-cert", cert_path, "-key", key_path, "-www", (char *)NULL);
        _exit(127);
    }
    *port = 0;
    for (int i = 0; i < 500 && *port == 0; i++) {
        usleep(10000);
        FILE *f = fopen(out_path, "r");
        char line[256];
        while (f && fgets(line, sizeof line, f)) {
            const char *a = strstr(line, "ACCEPT 127.0.0.1:");
            if (a && strchr(a, '\n')) /* a whole line, not one being written */
                *port = atoi(a + strlen("ACCEPT 127.0.0.1:"));
        }
        if (f)
            fclose(f);
    }
    assert_true(*port > 0);
    return pid;
}

/* SIGKILL: it cannot be lost, even by a child that has not reached
 * execl() yet (under valgrind that takes a while). */
static void stop_server(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

typedef struct outcome {
    int calls;
    int curl_code;
    char error[CURL_ERROR_SIZE + 64];
} outcome;

static void on_done(const http_response *r, void *arg) {
    outcome *o = arg;
    o->calls++;
    o->curl_code = r->curl_code;
    snprintf(o->error, sizeof o->error, "%s", r->error);
}

static void on_closed(void *arg) {
    *(bool *)arg = true;
}

/* One GET to https://127.0.0.1:port/ through a fresh http_uv client. */
static outcome get_once(int port) {
    uv_loop_t loop;
    http_client *http;
    outcome o = {0};
    bool closed = false;
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(http_client_new(&loop, "tls-test/1.0", &http), 0);
    http_request req = {.method = "GET", .url = url, .timeout_ms = 10000, .idempotent = true};
    assert_int_equal(http_send(http, &req, on_done, &o, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    http_client_close(http, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(o.calls, 1);
    return o;
}

/* The control: a TLS 1.2 server completes the handshake; only its
 * self-signed certificate is refused. */
static void test_tls12_handshake_completes(void **state) {
    (void)state;
    if (!have_openssl)
        skip();
    int port;
    pid_t pid = start_server("-tls1_2", &port);
    outcome o = get_once(port);
    stop_server(pid);
    print_message("TLS 1.2 server: curl code %d (%s)\n", o.curl_code, o.error);
    assert_int_equal(o.curl_code, CURLE_PEER_FAILED_VERIFICATION);
}

/* A TLS 1.1-only server is refused during the handshake, before any
 * certificate is looked at. */
static void test_tls11_refused(void **state) {
    (void)state;
    if (!have_openssl)
        skip();
    int port;
    pid_t pid = start_server("-tls1_1", &port);
    outcome o = get_once(port);
    stop_server(pid);
    print_message("TLS 1.1 server: curl code %d (%s)\n", o.curl_code, o.error);
    assert_int_equal(o.curl_code, CURLE_SSL_CONNECT_ERROR);
}

/* A proxy from the environment is not used for a loopback host, https://
 * included (the proxy would reach its own loopback, not ours). The proxy
 * named here refuses connections (port 1 on 127.0.0.1): through it the
 * transfer would fail with CURLE_COULDNT_CONNECT; going direct, it reaches
 * the TLS 1.2 server and fails only at the certificate. */
static void test_no_proxy_for_https_loopback(void **state) {
    (void)state;
    if (!have_openssl)
        skip();
    static const char *const vars[] = {"https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy",
                                       NULL};
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    int port;
    pid_t pid = start_server("-tls1_2", &port);
    for (int i = 0; vars[i]; i++) {
        setenv(vars[i], "http://127.0.0.1:1", 1);
        outcome o = get_once(port);
        unsetenv(vars[i]);
        print_message("%s set: curl code %d (%s)\n", vars[i], o.curl_code, o.error);
        if (o.curl_code != CURLE_PEER_FAILED_VERIFICATION) {
            stop_server(pid);
            fail_msg("with %s set, curl code %d: the transfer went to the proxy", vars[i],
                     o.curl_code);
        }
    }
    stop_server(pid);
}

/* Writes the permissive OpenSSL policy and a self-signed certificate into
 * a fresh temporary directory, and points this process at the policy
 * before libcurl (and so OpenSSL) is first initialised. */
static int group_setup(void **state) {
    (void)state;
    have_openssl = OPENSSL_EXECUTABLE[0] && access(OPENSSL_EXECUTABLE, X_OK) == 0;
    if (!have_openssl)
        return 0;
    assert_non_null(mkdtemp(dir));
    snprintf(conf_path, sizeof conf_path, "%s/weak.cnf", dir);
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
    FILE *f = fopen(conf_path, "w");
    assert_non_null(f);
    fputs("openssl_conf = default_conf\n"
          "[default_conf]\nssl_conf = ssl_sect\n"
          "[ssl_sect]\nsystem_default = system_default_sect\n"
          "[system_default_sect]\nMinProtocol = TLSv1\nCipherString = DEFAULT@SECLEVEL=0\n",
          f);
    fclose(f);
    setenv("OPENSSL_CONF", conf_path, 1);
    char *const req[] = {OPENSSL_EXECUTABLE,
                         "req",
                         "-x509",
                         "-newkey",
                         "rsa:2048",
                         "-nodes",
                         "-keyout",
                         key_path,
                         "-out",
                         cert_path,
                         "-days",
                         "2",
                         "-subj",
                         "/CN=localhost",
                         NULL};
    assert_int_equal(run(req), 0);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (!have_openssl)
        return 0;
    unlink(conf_path);
    unlink(cert_path);
    unlink(key_path);
    char path[300];
    snprintf(path, sizeof path, "%s/server-tls1_1.out", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/server-tls1_2.out", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls12_handshake_completes),
        cmocka_unit_test(test_tls11_refused),
        cmocka_unit_test(test_no_proxy_for_https_loopback),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
