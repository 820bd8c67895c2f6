/*
 * diag.c - diagnostics and attribute paths (contract section 3).
 */
#include "schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *path_attr(const char *name) {
    return json_pack("[s]", name);
}

json_t *path_child(const json_t *path, const char *name) {
    json_t *out = path ? json_deep_copy(path) : json_array();
    json_array_append_new(out, json_string(name));
    return out;
}

json_t *path_index(const json_t *path, size_t index) {
    json_t *out = path ? json_deep_copy(path) : json_array();
    json_array_append_new(out, json_integer((json_int_t)index));
    return out;
}

json_t *diag_new(const char *severity, const char *summary, const char *detail, json_t *path) {
    json_t *d = json_pack("{s:s, s:s}", "severity", severity, "summary", summary);
    if (detail)
        json_object_set_new(d, "detail", json_string(detail));
    if (path)
        json_object_set_new(d, "attribute", path);
    return d;
}

/* Formats the detail and appends the diagnostic; shared by diag_error_new and
 * diag_warning_new. Steals `path` in every case. */
static void diag_append(json_t *diags, const char *severity, json_t *path, const char *summary,
                        const char *detail_fmt, va_list ap) {
    char *detail = NULL;
    if (detail_fmt && vasprintf(&detail, detail_fmt, ap) < 0)
        detail = NULL;
    json_array_append_new(diags, diag_new(severity, summary, detail, path));
    free(detail);
}

void diag_error_new(json_t *diags, json_t *path, const char *summary, const char *detail_fmt, ...) {
    va_list ap;
    va_start(ap, detail_fmt);
    diag_append(diags, "error", path, summary, detail_fmt, ap);
    va_end(ap);
}

void diag_warning_new(json_t *diags, json_t *path, const char *summary, const char *detail_fmt,
                      ...) {
    va_list ap;
    va_start(ap, detail_fmt);
    diag_append(diags, "warning", path, summary, detail_fmt, ap);
    va_end(ap);
}

bool diag_has_error(const json_t *diags) {
    size_t i;
    json_t *d;
    json_array_foreach(diags, i, d) {
        const char *sev = json_string_value(json_object_get(d, "severity"));
        if (sev && strcmp(sev, "error") == 0)
            return true;
    }
    return false;
}
