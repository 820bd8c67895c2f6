/*
 * validate.h - input checks shared by the API and the control plane.
 *
 * Everything here is pure: no locks, no I/O. Request bodies are parsed with
 * jansson and checked against a list of allowed members so that an unknown
 * field is an error, as the real API treats it.
 */
#ifndef SIM_VALIDATE_H
#define SIM_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* True when `s` is exactly 32 lowercase or uppercase hex digits. */
bool validate_is_hex32(const char *s);

/* True when `s` is a DNS name usable as an email domain: 2+ labels of
 * letters, digits and hyphens (no leading/trailing hyphen, 1..63 each),
 * 253 characters at most, and a last label that is not all digits. */
bool validate_is_domain(const char *s);

/* Parses a request body that must be a JSON object. `body` may be NULL or
 * empty when `empty_ok` is true (then *out is a new empty object).
 * On success returns 0 and stores a new reference in *out. On failure
 * returns -1 and writes a message for the client into err. */
int validate_parse_object(const char *body, size_t len, bool empty_ok, json_t **out, char *err,
                          size_t errlen);

/* Returns the name of the first member of `obj` (borrowed) that is not in
 * the NULL-terminated list `allowed`, or NULL when all are known. */
const char *validate_unknown_member(json_t *obj, const char *const allowed[]);

/* Reads an optional boolean member. Returns 0 when absent (*out untouched,
 * *present false) or a boolean (*out set, *present true); -1 when the member
 * exists with another type. */
int validate_opt_bool(json_t *obj, const char *name, bool *out, bool *present);

#endif /* SIM_VALIDATE_H */
