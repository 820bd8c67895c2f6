/*
 * stdfds.c - making sure descriptors 0, 1 and 2 exist before anything else
 * opens a file.
 *
 * A process started with a standard descriptor closed (`2>&-`, `<&-`)
 * hands that number to the first file it opens: with libuv, its epoll
 * descriptor. Then "stderr" log lines are written into the epoll
 * descriptor, "stdin" is read from it, and libuv aborts when it finds its
 * own descriptor misused. This runs first thing in main(), before the loop
 * exists.
 */
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

static bool is_closed(int fd) {
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/*
 * Every closed descriptor among 0-2 is pointed at /dev/null, lowest first
 * (so open() returns exactly that number; dup2 covers the odd case where
 * it does not), so no later open can take it. A closed stderr is then
 * fine: logs go nowhere, as the caller asked. A closed stdin or stdout is
 * not: the orchestrator could neither send a request nor read an answer,
 * so after filling the hole (nothing may take the number while we exit)
 * the problem is logged (on stderr, when it is open) and UV_EBADF is
 * returned; the caller exits 1. Returns 0 otherwise, or a negative libuv
 * code when /dev/null cannot be opened.
 */
int stdio_ensure_open(void) {
    static const char *const names[3] = {"standard input (descriptor 0)",
                                         "standard output (descriptor 1)",
                                         "standard error (descriptor 2)"};
    bool closed[3];
    for (int fd = 0; fd <= 2; fd++)
        closed[fd] = is_closed(fd);
    for (int fd = 0; fd <= 2; fd++) {
        if (!closed[fd])
            continue;
        int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (null < 0)
            return uv_translate_sys_error(errno);
        if (null != fd) {
            int rc = dup2(null, fd);
            int err = errno;
            close(null);
            if (rc < 0)
                return uv_translate_sys_error(err);
        }
    }
    int rc = 0;
    for (int fd = 0; fd <= 1; fd++) {
        if (closed[fd]) {
            if (!closed[2])
                log_error("provider",
                          "%s is closed: the orchestrator talks to this plugin over stdin and "
                          "stdout, so both must be open; exiting",
                          names[fd]);
            rc = UV_EBADF;
        }
    }
    return rc;
}
