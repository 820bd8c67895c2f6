/*
 * faults.h - fault rules for the next API requests.
 *
 * A rule matches on method ("*" = any) and a path glob ('*' matches any run
 * of characters, '/' included) and applies to the next `count` matching
 * requests; the first matching rule, in the order they were added, wins and
 * loses one use. What a rule does is copied out as a fault_action, which the
 * server applies (delay, answer a status, drop the connection).
 */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FAULTS_MAX_RULES    1000
#define FAULTS_MAX_BODY     65536
#define FAULTS_MAX_DELAY_MS 600000

typedef enum fault_drop {
    FAULT_DROP_NONE = 0,
    FAULT_DROP_BEFORE, /* close without answering, before handling */
    FAULT_DROP_AFTER,  /* handle (commit), then close without answering */
} fault_drop;

typedef struct fault_action {
    int status;          /* 0: none */
    char *retry_after;   /* malloc'd header value, or NULL */
    long retry_after_ms; /* -1: none */
    char *body;          /* malloc'd raw body, or NULL for the envelope */
    size_t body_len;
    long delay_ms; /* 0: none */
    fault_drop drop;
} fault_action;

typedef struct faults faults;

int faults_new(faults **out);
void faults_free(faults *f);

/* Adds a rule described by `spec` (borrowed JSON object, the control-plane
 * body). Returns 0 and a new reference to the stored rule in *added, or -1
 * with a message for the client in err. */
int faults_add(faults *f, json_t *spec, json_t **added, char *err, size_t errlen);

/* Finds the first rule matching the request, uses it once (removing it when
 * spent) and copies its action into *out (free with fault_action_free).
 * Returns true when a rule matched. */
bool faults_take(faults *f, const char *method, const char *path, fault_action *out);

void fault_action_free(fault_action *a);

/* {"faults":[...]} with each rule's remaining count (new reference). */
json_t *faults_list(faults *f);

void faults_clear(faults *f);

/* Glob match: '*' matches any run of characters; everything else is literal. */
bool faults_glob_match(const char *pattern, const char *text);

#endif /* SIM_FAULTS_H */
