/*
 * cfapi_render.c - cfapi_result_render(): the words for a failed call.
 *
 * The client reports what happened as data (cfapi_result); this file
 * alone turns it into text a person can act on: what was being done, the
 * request and its HTTP status, Cloudflare's own error codes and messages,
 * the token permission a 401/403 points at, how many attempts were made,
 * and whether the change may have been applied (for a create: the import
 * id that adopts it). Callers decide what the text becomes (sso/ makes
 * Terraform diagnostics of it). Every rendering passes through
 * log_redact(), the one registry of secrets.
 */
#include "cfapi.h"
#include "cfapi_internal.h"
#include "http_uv.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static bool is_mutating(cfapi_op op) {
    return op != CFAPI_OP_LIST && op != CFAPI_OP_GET;
}

/* "creating SSO connector for example.com". */
static void describe_op(const cfapi_result *r, char **s) {
    static const char *const what[] = {
        [CFAPI_OP_LIST] = "listing SSO connectors of account",
        [CFAPI_OP_GET] = "reading SSO connector",
        [CFAPI_OP_CREATE] = "creating SSO connector for",
        [CFAPI_OP_UPDATE] = "updating SSO connector",
        [CFAPI_OP_DELETE] = "deleting SSO connector",
        [CFAPI_OP_VERIFY] = "beginning verification of SSO connector",
    };
    const char *subject = r->op == CFAPI_OP_LIST     ? r->account_id
                          : r->op == CFAPI_OP_CREATE ? r->domain
                                                     : r->connector_id;
    cfapi_strappf(s, "%s %s", what[r->op], subject ? subject : "");
}

/* The permission hint for a 401/403. */
static void append_auth_hint(const cfapi_result *r, char **detail) {
    if (r->key_auth)
        cfapi_strappf(detail,
                      "\nCloudflare did not accept email/api_key for account %s: check that the "
                      "key is the Global API Key of a user with access to SSO connectors on it.",
                      r->account_id);
    else if (is_mutating(r->op))
        cfapi_strappf(detail,
                      "\nCloudflare rejected the API token. Check that it is valid and has the "
                      "account permission \"SSO Connector Write\" on account %s (\"SSO "
                      "Connector Read\" is enough only for reads).",
                      r->account_id);
    else
        cfapi_strappf(detail,
                      "\nCloudflare rejected the API token. Check that it is valid and has the "
                      "account permission \"SSO Connector Read\" (or \"SSO Connector Write\") "
                      "on account %s.",
                      r->account_id);
}

/* Why a call that could have retried did not: the next wait would have
 * passed the time one call may wait between its attempts. */
static void append_not_retried(const cfapi_result *r, char **detail) {
    if (!r->not_retried_wait_ms)
        return;
    cfapi_strappf(detail,
                  "\nNot retried: %s %.3g s%s, more than the %.3g s left of the time one call "
                  "may wait between attempts (60 s, or request_timeout when longer).",
                  r->not_retried_from_server ? "the server asked to wait"
                                             : "the backoff would wait",
                  (double)r->not_retried_wait_ms / 1000.0,
                  r->not_retried_from_server && r->not_retried_wait_ms >= CFAPI_MAX_RETRY_AFTER_MS
                      ? " or more"
                      : "",
                  (double)r->wait_left_ms / 1000.0);
}

static void append_attempts(const cfapi_result *r, char **detail) {
    if (r->attempts > 1)
        cfapi_strappf(detail, "\nGave up after %u attempts.", r->attempts);
}

static void append_maybe_applied(const cfapi_result *r, char **detail) {
    if (!r->maybe_applied)
        return;
    if (r->op == CFAPI_OP_CREATE)
        cfapi_strappf(
            detail,
            "\nThe request may have reached Cloudflare before its answer was lost, so the "
            "connector may have been created; if an SSO connector for %s exists in account "
            "%s, import it with the id %s/%s.",
            r->domain, r->account_id, r->account_id, r->domain);
    else
        cfapi_strappf(detail,
                      "\nThe request may have reached Cloudflare before its answer was lost, "
                      "so the change may have been applied; refresh to see the current state.");
}

/* An HTTP answer that failed the call (non-2xx, or a 2xx that was not
 * what the call needed). */
static void render_http(const cfapi_result *r, char **summary, char **detail) {
    cfapi_strappf(summary, "Cloudflare API error ");
    describe_op(r, summary);
    cfapi_strappf(detail, "HTTP %ld from %s %s.", r->http_status, r->method ? r->method : "",
                  r->path ? r->path : "");
    if (r->not_envelope) {
        if (!r->body_excerpt || !*r->body_excerpt)
            cfapi_strappf(detail, "\nThe answer had no body.");
        else
            cfapi_strappf(detail, "\nThe answer is not a Cloudflare API response: \"%s\"",
                          r->body_excerpt);
    } else {
        char *errs = NULL;
        cfapi_append_errors(&errs, r->errors);
        if (errs)
            cfapi_strappf(detail, "\n%s", errs);
        else if (r->http_status >= 200 && r->http_status < 300)
            cfapi_strappf(detail, "\nCloudflare answered success=false without an error.");
        free(errs);
    }
    if (r->http_status == 401 || r->http_status == 403)
        append_auth_hint(r, detail);
    if (r->http_status == 429)
        cfapi_strappf(detail, "\nCloudflare's rate limit was hit; try again later, or set max_rps "
                              "to stay under it.");
    if (r->http_status == 409 && r->op == CFAPI_OP_CREATE)
        cfapi_strappf(detail,
                      "\nAn SSO connector for %s already exists in account %s. To manage it here, "
                      "import it with the id %s/%s.",
                      r->domain, r->account_id, r->account_id, r->domain);
    if (r->http_status == 404 && r->op != CFAPI_OP_LIST && r->op != CFAPI_OP_CREATE)
        cfapi_strappf(detail,
                      "\nThe SSO connector %s does not exist in account %s (or the "
                      "credentials cannot see it).",
                      r->connector_id, r->account_id);
}

/* A request that got no usable answer. */
static void render_transport(const cfapi_result *r, cfapi_failure kind, char **summary,
                             char **detail) {
    if (kind == CFAPI_FAIL_TIMEOUT) {
        cfapi_strappf(summary, "Timed out waiting for the Cloudflare API while ");
        describe_op(r, summary);
        cfapi_strappf(detail, "No complete answer from %s within %ld ms (request_timeout %.3g s).",
                      r->host, r->timeout_ms, (double)r->timeout_ms / 1000.0);
    } else if (kind == CFAPI_FAIL_TOO_LARGE) {
        cfapi_strappf(summary, "Cloudflare API error ");
        describe_op(r, summary);
        cfapi_strappf(detail, "The answer from %s was larger than the %zu MiB limit.", r->host,
                      HTTP_MAX_BODY >> 20);
    } else {
        cfapi_strappf(summary, "Could not reach the Cloudflare API while ");
        describe_op(r, summary);
        cfapi_strappf(detail, "%s (host %s).", r->transport_error ? r->transport_error : "",
                      r->host);
    }
}

/* A page of a create's lookup failed, so whether the create happened is
 * unknown: what failed, and how to adopt the connector if it exists. */
static void render_lookup_failure(const cfapi_result *r, char **summary, char **detail) {
    cfapi_strappf(summary, "Cloudflare API error ");
    describe_op(r, summary);
    cfapi_strappf(detail,
                  "The create request may have reached Cloudflare but its answer was lost, and "
                  "looking the connector up by its domain failed: ");
    if (r->cause == CFAPI_FAIL_HTTP || r->cause == CFAPI_FAIL_BAD_ANSWER) {
        cfapi_strappf(detail, "HTTP %ld from GET %s.", r->http_status, r->path ? r->path : "");
        char *errs = NULL;
        cfapi_append_errors(&errs, r->errors);
        if (errs)
            cfapi_strappf(detail, "\n%s", errs);
        free(errs);
        if (r->http_status == 401 || r->http_status == 403)
            append_auth_hint(r, detail);
    } else if (r->cause == CFAPI_FAIL_LIST_LIMIT) {
        cfapi_strappf(detail, "the account's list passed the limit of %zu %s.", r->limit,
                      r->limit_is_bytes ? "bytes" : "connectors");
    } else {
        cfapi_strappf(detail, "%s (host %s).",
                      r->transport_error ? r->transport_error : "no answer", r->host);
    }
    append_attempts(r, detail);
    cfapi_strappf(detail,
                  "\nThe connector for %s may exist; if it does, import it with the id %s/%s.",
                  r->domain, r->account_id, r->domain);
}

/* What the failing request itself was: HTTP, transport or a cap. */
static void render_cause(const cfapi_result *r, cfapi_failure kind, char **summary, char **detail) {
    switch (kind) {
    case CFAPI_FAIL_HTTP:
    case CFAPI_FAIL_BAD_ANSWER:
        render_http(r, summary, detail);
        break;
    case CFAPI_FAIL_UNREACHABLE:
    case CFAPI_FAIL_TIMEOUT:
    case CFAPI_FAIL_TOO_LARGE:
        if (kind == CFAPI_FAIL_TOO_LARGE && r->http_status && !r->transport_error)
            render_http(r, summary, detail);
        else
            render_transport(r, kind, summary, detail);
        break;
    case CFAPI_FAIL_LIST_LIMIT:
        cfapi_strappf(summary, "Cloudflare API error ");
        describe_op(r, summary);
        cfapi_strappf(detail,
                      "The list of SSO connectors passed the limit of %zu %s before its last "
                      "page (result_info.total_count may be wrong); nothing is returned rather "
                      "than part of the list.",
                      r->limit, r->limit_is_bytes ? "bytes" : "connectors");
        break;
    case CFAPI_FAIL_NOT_STARTED:
        cfapi_strappf(summary, "Could not start a Cloudflare API request while ");
        describe_op(r, summary);
        cfapi_strappf(detail, "%s.", r->transport_error ? r->transport_error : "");
        break;
    default:
        cfapi_strappf(summary, "Cloudflare API error ");
        describe_op(r, summary);
        cfapi_strappf(detail, "The call failed.");
        break;
    }
}

int cfapi_result_render(const cfapi_result *r, char **summary, char **detail) {
    *summary = NULL;
    *detail = NULL;
    if (!r || r->ok || r->failure == CFAPI_FAIL_NONE)
        return UV_EINVAL;
    char *s = NULL, *d = NULL;
    if (r->failure == CFAPI_FAIL_CANCELLED) {
        cfapi_strappf(&s, "Cancelled while ");
        describe_op(r, &s);
        cfapi_strappf(&d, "The operation was cancelled before it completed.");
        append_maybe_applied(r, &d);
    } else if (r->failure == CFAPI_FAIL_CREATE_UNKNOWN && r->failed_in_lookup) {
        render_lookup_failure(r, &s, &d);
    } else {
        render_cause(r, r->failure == CFAPI_FAIL_CREATE_UNKNOWN ? r->cause : r->failure, &s, &d);
        append_attempts(r, &d);
        append_maybe_applied(r, &d);
        append_not_retried(r, &d);
    }
    if (!s || !d) {
        free(s);
        free(d);
        return UV_ENOMEM;
    }
    *summary = log_redact(s);
    *detail = log_redact(d);
    free(s);
    free(d);
    if (!*summary || !*detail) {
        free(*summary);
        free(*detail);
        *summary = *detail = NULL;
        return UV_ENOMEM;
    }
    return 0;
}
