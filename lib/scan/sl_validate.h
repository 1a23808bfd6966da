/* sl_validate: validators that confirm a Hyperscan candidate (internal to lib/scan).
 *
 * Hyperscan streaming mode reports where a match ends, not where it starts. A validator receives a
 * window of stream bytes that ends exactly at the match end and finds the value by walking
 * backwards from there: the regexes paired with each validator (sl_scan_default_pattern) are
 * written so that the match end is the value's end. The right boundary of a value (no digit after
 * a card number, ...) is the regex's job (a trailing \b): the byte after the match may not have
 * arrived yet, and a validator must give the same answer whatever the segmentation.
 *
 * Invariants: a validator never reads outside [win, win + win_len), never allocates, and looks at
 * no more than max_len + 1 bytes before the end (the value plus the byte before it), so its answer
 * depends only on those bytes. The caller sizes windows with that bound. */
#ifndef SL_VALIDATE_H
#define SL_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "sl_scan.h"

/* Returns 1 and sets *start, *len to the value inside win when the bytes ending at win_len hold a
 * valid value; returns 0 otherwise. */
typedef int (*sl_validate_fn)(const uint8_t *win, size_t win_len, size_t *start, size_t *len);

struct sl_validator {
	const char *name;
	sl_validate_fn fn; /* NULL for "none": the regex alone decides */
	uint16_t max_len;  /* longest value the validator accepts, separators included */
	enum sl_scan_mask_kind mask;
};

/* Returns the validator named `name` ("" and "none" give the regex-only entry), or NULL. */
const struct sl_validator *sl_validate_find(const char *name);

/* Known validator names, comma-separated, for error messages. */
const char *sl_validate_names(void);

int sl_validate_nir(const uint8_t *win, size_t win_len, size_t *start, size_t *len);
int sl_validate_luhn(const uint8_t *win, size_t win_len, size_t *start, size_t *len);
int sl_validate_ssn(const uint8_t *win, size_t win_len, size_t *start, size_t *len);
int sl_validate_iban(const uint8_t *win, size_t win_len, size_t *start, size_t *len);

/* Returns the IBAN length of an ISO 3166 country (two uppercase letters), or 0 if unknown. */
unsigned sl_validate_iban_length(const char *country);

#endif /* SL_VALIDATE_H */
