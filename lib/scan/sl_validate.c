/* sl_validate: checksum and structure validators for sensor candidates, and the regexes that pair
 * with them.
 *
 * Every validator walks backwards from the end of the window (the match end) to find the value,
 * checks its structure and checksum, and checks the byte before it (when the window has one) so a
 * value cut out of a longer run of digits or letters is not reported. Separators inside a value
 * must be consistent (all spaces, all dots, ...): the regexes accept any separator from a class,
 * the validator insists on one. Nothing here allocates; validators run on the data path. */
#include <string.h>

#include "sl_validate.h"

static inline int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline int
is_upper(uint8_t c)
{
	return c >= 'A' && c <= 'Z';
}

static inline int
is_alnum(uint8_t c)
{
	return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z');
}

/* Returns 1 when the byte before win[start] exists and is a digit or letter: the value would then
 * be a slice of a longer token. */
static inline int
preceded_by_alnum(const uint8_t *win, size_t start)
{
	return start > 0 && is_alnum(win[start - 1]);
}

/* ---- NIR (French social security number) ----
 *
 * 15 characters: sex (1), year (2), month (2), department (2, "2A"/"2B" for Corsica), commune (3),
 * order (3), key (2), key = 97 - (first 13 as a number mod 97), Corsica counted as 19 (2A) and 18
 * (2B). Accepted layouts, separator one of space, dot, dash:
 *   contiguous        185057800608436
 *   grouped           1 85 05 78 006 084 36
 *   key apart         1850578006084 36 */
#define NIR_LEN	    15
#define NIR_GROUPED 21

/* Returns 1 when the 15 characters of v form a valid NIR. */
static int
nir_check(const uint8_t *v)
{
	uint64_t n = 0;
	unsigned key, month;

	if (v[0] != '1' && v[0] != '2')
		return 0;
	for (int i = 0; i < NIR_LEN; i++) {
		if (i == 5 || i == 6)
			continue;
		if (!is_digit(v[i]))
			return 0;
	}
	month = (v[3] - '0') * 10u + (v[4] - '0');
	if (!((month >= 1 && month <= 12) || (month >= 20 && month <= 42) || month >= 50))
		return 0;
	if (!is_digit(v[5]) || (!is_digit(v[6]) && v[5] != '2'))
		return 0;
	for (int i = 0; i < 13; i++) {
		unsigned d = v[i] - '0';

		/* Corsica: 2A counts as 19 and 2B as 18, the rule INSEE uses for the key. */
		if (i == 5 && !is_digit(v[6]))
			d = 1;
		else if (i == 6 && (v[6] == 'A' || v[6] == 'a'))
			d = 9;
		else if (i == 6 && (v[6] == 'B' || v[6] == 'b'))
			d = 8;
		else if (!is_digit(v[i]))
			return 0;
		n = n * 10 + d;
	}
	key = (v[13] - '0') * 10u + (v[14] - '0');
	return key == 97 - n % 97;
}

static inline int
is_nir_sep(uint8_t c)
{
	return c == ' ' || c == '.' || c == '-';
}

int
sl_validate_nir(const uint8_t *win, size_t win_len, size_t *start, size_t *len)
{
	/* Offsets of the separators in the grouped layout. */
	static const uint8_t sep_at[] = {1, 4, 7, 10, 14, 18};
	uint8_t v[NIR_LEN];
	const uint8_t *p;
	size_t vlen;

	if (win_len < NIR_LEN || !is_digit(win[win_len - 1]))
		return 0;
	if (!is_nir_sep(win[win_len - 3])) {
		vlen = NIR_LEN;
		p = win + win_len - vlen;
		memcpy(v, p, NIR_LEN);
	} else if (win_len >= NIR_GROUPED && win[win_len - 7] == win[win_len - 3]) {
		uint8_t sep = win[win_len - 3];
		unsigned j = 0, k = 0;

		vlen = NIR_GROUPED;
		p = win + win_len - vlen;
		for (unsigned i = 0; i < NIR_GROUPED; i++) {
			if (k < sizeof(sep_at) && i == sep_at[k]) {
				if (p[i] != sep)
					return 0;
				k++;
			} else {
				v[j++] = p[i];
			}
		}
	} else if (win_len >= NIR_LEN + 1) {
		vlen = NIR_LEN + 1;
		p = win + win_len - vlen;
		memcpy(v, p, 13);
		v[13] = p[14];
		v[14] = p[15];
	} else {
		return 0;
	}
	if (!nir_check(v) || preceded_by_alnum(win, (size_t)(p - win)))
		return 0;
	*start = (size_t)(p - win);
	*len = vlen;
	return 1;
}

/* ---- Payment cards (Luhn + issuer ranges) ----
 *
 * 13 to 19 digits, contiguous or in groups of 3 to 6 digits (the last one 1 to 6) separated by
 * one space or one dash (the same everywhere). When a run of groups is longer than one card, the
 * longest suffix starting at a group boundary that is a valid card wins, unless the run is the tail
 * of a grouped IBAN
 * ("FR76 3000 4111 1111 1111 1111 189"): about one grouped IBAN in twenty holds four groups that
 * pass Luhn and an issuer range. */
#define PAN_MIN	       13
#define PAN_MAX	       19
#define PAN_MAX_GROUPS 8
#define IBAN_MAX_SPAN  (34 + 34 / 4) /* longest grouped IBAN, see below */
#define PAN_LOOKBACK   (IBAN_MAX_SPAN > 2 * PAN_MAX + 2 ? IBAN_MAX_SPAN : 2 * PAN_MAX + 2)

static int
luhn_ok(const uint8_t *d, unsigned n)
{
	unsigned sum = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned x = d[n - 1 - i];

		if (i & 1) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return sum % 10 == 0;
}

/* Returns 1 when n digits d (values 0-9) are in an issuer range with a length that issuer uses. */
static int
issuer_ok(const uint8_t *d, unsigned n)
{
	unsigned p2 = d[0] * 10u + d[1];
	unsigned p3 = p2 * 10u + d[2];
	unsigned p4 = p3 * 10u + d[3];

	if (d[0] == 4) /* Visa */
		return n == 13 || n == 16 || n == 19;
	if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) /* Mastercard */
		return n == 16;
	if (p2 == 34 || p2 == 37) /* American Express */
		return n == 15;
	if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) /* Discover */
		return n >= 16 && n <= 19;
	if (p4 >= 3528 && p4 <= 3589) /* JCB */
		return n >= 16 && n <= 19;
	if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) /* Diners Club */
		return n >= 14 && n <= 19;
	if (p2 == 62) /* UnionPay */
		return n >= 16 && n <= 19;
	return 0;
}

/* Returns 1 when the characters [s, e) (digits and separators) hold a valid card number. */
static int
pan_ok(const uint8_t *s, const uint8_t *e)
{
	uint8_t d[PAN_MAX];
	unsigned n = 0;

	for (; s < e; s++) {
		if (!is_digit(*s))
			continue;
		if (n == PAN_MAX)
			return 0;
		d[n++] = *s - '0';
	}
	return n >= PAN_MIN && issuer_ok(d, n) && luhn_ok(d, n);
}

/* Returns 1 when the card starting at win[i], in groups separated by sep, continues to the left
 * through four-character groups of the same separator up to one that opens an IBAN (two letters,
 * two digits, not itself part of a longer token), within PAN_LOOKBACK bytes of the end. */
static int
inside_iban(const uint8_t *win, size_t win_len, size_t i, uint8_t sep)
{
	while (i >= 5 && win[i - 1] == sep && win_len - (i - 5) <= PAN_LOOKBACK) {
		const uint8_t *g = win + i - 5;

		for (int k = 0; k < 4; k++)
			if (!is_digit(g[k]) && !is_upper(g[k]))
				return 0;
		if (is_upper(g[0]) && is_upper(g[1]) && is_digit(g[2]) && is_digit(g[3]))
			return !preceded_by_alnum(win, i - 5);
		if (i - 5 > 0 && win[i - 6] != sep)
			return 0;
		i -= 5;
	}
	return 0;
}

int
sl_validate_luhn(const uint8_t *win, size_t win_len, size_t *start, size_t *len)
{
	size_t i = win_len, g;
	unsigned digits, glen;
	uint8_t sep;
	size_t best = SIZE_MAX;

	if (win_len == 0 || !is_digit(win[win_len - 1]))
		return 0;
	while (i > 0 && is_digit(win[i - 1]) && win_len - i <= PAN_MAX)
		i--;
	glen = (unsigned)(win_len - i);
	if (glen > PAN_MAX)
		return 0; /* a longer run of digits */
	if (glen >= PAN_MIN) {
		/* Contiguous: the whole run is the only candidate. */
		if (!pan_ok(win + i, win + win_len))
			return 0;
		*start = i;
		*len = win_len - i;
		return 1;
	}
	/* The last group may be short: 13-digit Visa is written 4-4-4-1. */
	if (glen > 6 || i < 2 || (win[i - 1] != ' ' && win[i - 1] != '-') || !is_digit(win[i - 2]))
		return 0;
	/* Grouped: collect group starts backwards while groups stay well-formed. */
	sep = win[i - 1];
	digits = glen;
	for (unsigned groups = 1; groups < PAN_MAX_GROUPS; groups++) {
		if (i < 2 || win[i - 1] != sep || !is_digit(win[i - 2]))
			break;
		g = i - 1;
		while (g > 0 && is_digit(win[g - 1]) && i - 1 - g <= 6)
			g--;
		glen = (unsigned)(i - 1 - g);
		if (glen < 3 || glen > 6 || digits + glen > PAN_MAX)
			break;
		digits += glen;
		i = g;
		if (digits >= PAN_MIN && pan_ok(win + i, win + win_len))
			best = i; /* keep walking: a longer card wins */
	}
	if (best == SIZE_MAX || inside_iban(win, win_len, best, sep))
		return 0;
	*start = best;
	*len = win_len - best;
	return 1;
}

/* ---- US Social Security number ----
 *
 * AAA-GG-SSSS, AAA GG SSSS or 9 contiguous digits (only if the regex lets them through). Area not
 * 000, 666 or 9xx; group not 00; serial not 0000; numbers published as examples are refused. */
static int
ssn_check(const uint8_t *a, const uint8_t *g, const uint8_t *s)
{
	static const char *const samples[] = {"078051120", "219099999", "123456789"};
	unsigned area = (a[0] - '0') * 100u + (a[1] - '0') * 10u + (a[2] - '0');
	char v[9];

	for (int i = 0; i < 3; i++)
		if (!is_digit(a[i]))
			return 0;
	for (int i = 0; i < 2; i++)
		if (!is_digit(g[i]))
			return 0;
	for (int i = 0; i < 4; i++)
		if (!is_digit(s[i]))
			return 0;
	if (area == 0 || area == 666 || area >= 900)
		return 0;
	if (g[0] == '0' && g[1] == '0')
		return 0;
	if (s[0] == '0' && s[1] == '0' && s[2] == '0' && s[3] == '0')
		return 0;
	memcpy(v, a, 3);
	memcpy(v + 3, g, 2);
	memcpy(v + 5, s, 4);
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		if (!memcmp(v, samples[i], 9))
			return 0;
	return 1;
}

int
sl_validate_ssn(const uint8_t *win, size_t win_len, size_t *start, size_t *len)
{
	const uint8_t *e = win + win_len, *p;
	uint8_t sep;

	if (win_len < 9)
		return 0;
	if (is_digit(e[-5])) {
		p = e - 9;
		if (!ssn_check(p, p + 3, p + 5) || preceded_by_alnum(win, (size_t)(p - win)))
			return 0;
		*start = (size_t)(p - win);
		*len = 9;
		return 1;
	}
	sep = e[-5];
	if (win_len < 11 || (sep != '-' && sep != ' ') || e[-8] != sep)
		return 0;
	p = e - 11;
	if (!ssn_check(p, p + 4, p + 7) || preceded_by_alnum(win, (size_t)(p - win)))
		return 0;
	/* "1-234-56-7890": the value is the tail of a longer grouped number (a phone number). */
	if (p - win >= 2 && p[-1] == sep && is_digit(p[-2]))
		return 0;
	*start = (size_t)(p - win);
	*len = 11;
	return 1;
}

/* ---- IBAN (ISO 13616) ----
 *
 * Country code, two check digits, then the BBAN; uppercase letters and digits, contiguous or in
 * groups of four separated by single spaces (the last group may be shorter). The length must be
 * the country's and the number mod 97 (letters as 10..35, first four characters moved to the end)
 * must be 1. */
#define IBAN_MIN 15
#define IBAN_MAX 34
_Static_assert(IBAN_MAX_SPAN == IBAN_MAX + IBAN_MAX / 4, "IBAN_MAX_SPAN, defined with the cards");

static const struct {
	char cc[3];
	uint8_t len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20},
    {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
    {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31},
    {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

unsigned
sl_validate_iban_length(const char *cc)
{
	for (size_t i = 0; i < sizeof(iban_lengths) / sizeof(iban_lengths[0]); i++)
		if (cc[0] == iban_lengths[i].cc[0] && cc[1] == iban_lengths[i].cc[1])
			return iban_lengths[i].len;
	return 0;
}

static inline unsigned
iban_mod_step(unsigned r, uint8_t c)
{
	if (is_digit(c))
		return (r * 10 + (c - '0')) % 97;
	return (r * 100 + (c - 'A' + 10)) % 97;
}

/* Returns 1 when [s, e) (uppercase letters, digits, spaces) is a valid IBAN. */
static int
iban_ok(const uint8_t *s, const uint8_t *e)
{
	uint8_t v[IBAN_MAX];
	unsigned n = 0, r = 0;
	char cc[2];

	for (; s < e; s++) {
		if (*s == ' ')
			continue;
		if (n == IBAN_MAX)
			return 0;
		v[n++] = *s;
	}
	if (n < IBAN_MIN || !is_upper(v[0]) || !is_upper(v[1]) || !is_digit(v[2]) ||
	    !is_digit(v[3]))
		return 0;
	cc[0] = (char)v[0];
	cc[1] = (char)v[1];
	if (sl_validate_iban_length(cc) != n)
		return 0;
	for (unsigned i = 4; i < n + 4; i++)
		r = iban_mod_step(r, v[i % n]);
	return r == 1;
}

static inline int
is_iban_char(uint8_t c)
{
	return is_digit(c) || is_upper(c);
}

int
sl_validate_iban(const uint8_t *win, size_t win_len, size_t *start, size_t *len)
{
	size_t i = win_len, g, best = SIZE_MAX;
	unsigned chars, glen;

	if (win_len == 0 || !is_iban_char(win[win_len - 1]))
		return 0;
	while (i > 0 && is_iban_char(win[i - 1]) && win_len - i <= IBAN_MAX)
		i--;
	glen = (unsigned)(win_len - i);
	if (glen > 4) {
		/* Contiguous: the whole run of letters and digits. */
		if (glen > IBAN_MAX || preceded_by_alnum(win, i) ||
		    !iban_ok(win + i, win + win_len))
			return 0;
		*start = i;
		*len = win_len - i;
		return 1;
	}
	/* Grouped: every group but the last has exactly four characters. */
	chars = glen;
	while (chars < IBAN_MAX && i >= 5 && win[i - 1] == ' ') {
		g = i - 1;
		while (g > 0 && is_iban_char(win[g - 1]) && i - 1 - g <= 4)
			g--;
		if (i - 1 - g != 4)
			break;
		chars += 4;
		i = g;
		if (chars >= IBAN_MIN && !preceded_by_alnum(win, i) &&
		    iban_ok(win + i, win + win_len))
			best = i;
	}
	if (best == SIZE_MAX)
		return 0;
	*start = best;
	*len = win_len - best;
	return 1;
}

/* ---- Registry ---- */

static const struct sl_validator validators[] = {
    {"none", NULL, 0, SL_SCAN_MASK_TAIL},
    {"nir", sl_validate_nir, NIR_GROUPED, SL_SCAN_MASK_TAIL},
    {"luhn", sl_validate_luhn, PAN_LOOKBACK, SL_SCAN_MASK_PAN},
    {"ssn", sl_validate_ssn, 11, SL_SCAN_MASK_TAIL},
    {"iban", sl_validate_iban, IBAN_MAX_SPAN, SL_SCAN_MASK_TAIL},
};

const struct sl_validator *
sl_validate_find(const char *name)
{
	if (name[0] == '\0')
		return &validators[0];
	for (size_t i = 0; i < sizeof(validators) / sizeof(validators[0]); i++)
		if (!strcmp(name, validators[i].name))
			return &validators[i];
	return NULL;
}

const char *
sl_validate_names(void)
{
	return "none, nir, luhn, ssn, iban";
}

/* Recommended regexes. Each ends with \b where the value ends (the validators rely on the match
 * end being the value end) and starts with \b so Hyperscan does not report slices of longer
 * tokens. Separator classes are loose on purpose: the validator enforces one separator. */
static const struct {
	const char *validator;
	const char *patterns[4];
} default_patterns[] = {
    {"nir",
     {"\\b[12][ .-]?\\d{2}[ .-]?(?:0[1-9]|1[0-2]|[2-9]\\d)[ .-]?(?:\\d{2}|2[AB])[ .-]?"
      "\\d{3}[ .-]?\\d{3}[ .-]?\\d{2}\\b"}},
    {"luhn",
     {"\\b[2-6]\\d{12,18}\\b", "\\b[2-6]\\d{3}(?:[ -]\\d{4}){2,3}(?:[ -]\\d{1,4})?\\b",
      "\\b3\\d{3}[ -]\\d{6}[ -]\\d{4,5}\\b"}},
    {"ssn", {"\\b\\d{3}[ -]\\d{2}[ -]\\d{4}\\b"}},
    {"iban",
     {"\\b[A-Z]{2}\\d{2}[A-Z0-9]{11,30}\\b",
      "\\b[A-Z]{2}\\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?\\b"}},
};

const char *
sl_scan_default_pattern(const char *validator, unsigned i)
{
	for (size_t k = 0; k < sizeof(default_patterns) / sizeof(default_patterns[0]); k++) {
		if (strcmp(validator, default_patterns[k].validator))
			continue;
		if (i >=
		    sizeof(default_patterns[k].patterns) / sizeof(default_patterns[k].patterns[0]))
			return NULL;
		return default_patterns[k].patterns[i];
	}
	return NULL;
}
