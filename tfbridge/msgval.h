/*
 * msgval.h - values between Terraform's msgpack encoding and the contract's
 * JSON values (tfbridge).
 *
 * Terraform's plugin protocol carries every value (config, state, plan) as a
 * DynamicValue holding msgpack whose shape is dictated by a type (reference
 * section 5.1); the provider's JSON-RPC contract carries the same values as
 * plain JSON (contract section 3), with the object {"$unknown": true} for an
 * unknown. This module translates one value in each direction, driven by a
 * type expression in the contract's form: "string", "number", "bool",
 * "dynamic", ["list",T], ["set",T], ["map",T], ["tuple",[T...]],
 * ["object",{name:T,...}] (an optional third element, the list of optional
 * attributes cty writes for type constraints, is accepted and ignored).
 * msgval_block_type() derives the object type of a schema block.
 *
 * Decoding (msgpack -> JSON):
 * - nil is null for any type (a null object is nil). Any msgpack ext, of any
 *   code and length (ext 0 `d4 00 00`, a refined unknown ext 12 such as
 *   `c7 03 0c 81 01 c2`, anything else) is {"$unknown": true}: refinements
 *   are dropped, as go-cty's decoder treats every extension as unknown.
 * - string: str or bin, which must be UTF-8 (jansson's rule). number: an
 *   integer is a JSON integer (a uint above INT64_MAX becomes a JSON real),
 *   a float a JSON real (NaN and infinities are refused: JSON has none), a
 *   str holding decimal text (how Terraform sends numbers that int64 and
 *   float64 cannot hold) an integer when it is a plain integer that fits
 *   int64, else the nearest double. Precision beyond a double is lost.
 * - object: a map with string keys, each of them an attribute of the type;
 *   attributes missing from the map come out as null, so the result always
 *   carries every attribute. map: a map with string keys. list, set, tuple:
 *   an array (a tuple's length must match).
 * - "dynamic" is supported: Terraform's [type JSON (str or bin), value]
 *   pair is read by parsing and checking the embedded type and decoding the
 *   value with it. The result is the bare JSON value: the concrete type is
 *   not kept (the contract has no place for it).
 * - The input must be exactly one value: truncated input, trailing bytes,
 *   bytes that are not msgpack, duplicate keys, and containers nested more
 *   than MSGVAL_MAX_DEPTH deep are errors. Inputs over MSGVAL_MAX_INPUT are
 *   refused. Any byte string is safe to pass: the bytes are checked before
 *   msgpack-c sees them (msgval.c says why), so memory use stays within a
 *   few dozen bytes per input byte.
 * - A map whose decoded JSON would be exactly {"$unknown": true} (a map of
 *   bools with the single key "$unknown" set to true) is refused: in JSON it
 *   could not be told from an unknown.
 *
 * Encoding (JSON -> msgpack), the inverse, as Terraform expects answers:
 * - null is nil; exactly {"$unknown": true}, for any type, is an unknown
 *   written as ext 0 with one zero byte (`d4 00 00`), never ext 12.
 * - strings are always str (never bin), lengths from json_string_length()
 *   (NUL bytes survive). A JSON integer is a msgpack int (smallest form); a
 *   real that is integral and fits int64 an int, else a float64.
 * - An object is a map holding EVERY attribute of the type (a member missing
 *   from the JSON is nil), keys sorted bytewise; a member that is not an
 *   attribute of the type is an error, as Terraform would refuse it. Map keys
 *   are sorted too, so the output is deterministic.
 * - "dynamic": a null is nil, an unknown `d4 00 00`; any other value is
 *   written as Terraform's [bin(type JSON), value] pair, with the type implied
 *   by the JSON value the way go-cty's JSON ImpliedType does it: string,
 *   number, bool, an array as a tuple, an object as an object, null and
 *   unknown members as "dynamic". A list or map the provider meant cannot be
 *   recovered from JSON, so a dynamic value comes back to Terraform as a
 *   tuple or an object.
 *
 * Errors: functions return 0 or a negative MSGVAL_E* code, and write a
 * NUL-terminated message to `err` (MSGVAL_ERR_MAX bytes; may be NULL; left
 * untouched on success). Messages name the place in the value, e.g.
 * "at .verification.code: expected a string, got an array", with steps
 * .attr, [index] and ["key"]; an error about the value as a whole has no
 * "at" part.
 *
 * Ownership follows jansson: "new" results belong to the caller, "borrowed"
 * arguments are only read, nothing is stolen.
 */
#ifndef TFBRIDGE_MSGVAL_H
#define TFBRIDGE_MSGVAL_H

#include <jansson.h>
#include <stddef.h>

#define MSGVAL_ERR_MAX 256
/* Deepest nesting of containers (arrays, maps, dynamic pairs) in a value,
 * and of constructors in a type or of blocks in a schema. 32 is also the
 * fixed depth of msgpack-c's unpacker stack (MSGPACK_EMBED_STACK_SIZE), past
 * which it would fail with a misleading "out of memory". */
#define MSGVAL_MAX_DEPTH 32
/* Largest msgpack input msgval_decode() accepts, in bytes. */
#define MSGVAL_MAX_INPUT (16u * 1024u * 1024u)

enum {
    /* The value (bytes or JSON) does not fit the type, or is malformed. */
    MSGVAL_EVALUE = -1,
    /* The type expression or schema block is malformed (a caller's bug, or
     * a bad type embedded in a dynamic value: that one is MSGVAL_EVALUE). */
    MSGVAL_ETYPE = -2,
    /* Memory ran out. */
    MSGVAL_ENOMEM = -3,
};

/* Returns a new reference to the object type ["object", {attr: type, ...}]
 * implied by a schema block in the JSON form of `terraform providers schema
 * -json`: each attribute's "type" (or "nested_type": single -> object,
 * list/set/map -> ["list"|"set"|"map", object]), and each of "block_types"
 * by nesting mode: single/group -> object, list -> ["list", obj], set ->
 * ["set", obj], map -> ["map", obj]; a list or map block whose object holds a
 * "dynamic" type is itself "dynamic", as in Terraform. `block` is borrowed.
 * Returns NULL, with a message in err, when the block is malformed. */
json_t *msgval_block_type(const json_t *block, char err[MSGVAL_ERR_MAX]);

/* Checks that `type` (borrowed) is a well-formed type expression nested at
 * most MSGVAL_MAX_DEPTH deep. Returns 0 or MSGVAL_ETYPE. decode and encode
 * check their type themselves; this is for callers that want to know early
 * (e.g. before announcing a schema to Terraform, which crashes on a bad
 * one). */
int msgval_type_check(const json_t *type, char err[MSGVAL_ERR_MAX]);

/* Decodes the msgpack value data[0..len) of type `type` (borrowed) into
 * *out, a new reference. On failure *out is NULL and the result is
 * MSGVAL_EVALUE (bad bytes, or they do not fit the type), MSGVAL_ETYPE (bad
 * type) or MSGVAL_ENOMEM. `data` is only read, and may be NULL when len is
 * 0 (an error: no value). */
int msgval_decode(const void *data, size_t len, const json_t *type, json_t **out,
                  char err[MSGVAL_ERR_MAX]);

/* Encodes the JSON value `value` (borrowed) of type `type` (borrowed) as
 * msgpack into *out, a malloc'd buffer of *out_len bytes that the caller
 * frees with free(). On failure *out is NULL, *out_len 0, and the result is
 * MSGVAL_EVALUE (the value does not fit the type), MSGVAL_ETYPE or
 * MSGVAL_ENOMEM. */
int msgval_encode(const json_t *value, const json_t *type, char **out, size_t *out_len,
                  char err[MSGVAL_ERR_MAX]);

#endif
