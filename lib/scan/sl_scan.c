/* sl_scan: sensor databases, per-worker scan state, streaming scans and evidence masking.
 *
 * Databases. sl_scan_db_build compiles every pattern of every sensor into one HS_MODE_STREAM
 * database (expression id = sensor index, no start-of-match flag: SOM in streaming mode costs
 * stream state and speed on every byte). Sensors without a validator also go into a small
 * HS_MODE_BLOCK database compiled with HS_FLAG_SOM_LEFTMOST; it is run only on a confirmed
 * candidate's window, to find where that match starts. The db owns copies of the definitions and
 * prototype scratch for both databases; it is immutable once built and shared by all workers.
 *
 * Windows. Each sensor gets a window: the longest match its patterns allow (hs_expression_info
 * max_width, at least the validator's longest value, at most SL_SCAN_WINDOW) plus SL_SCAN_CTX
 * bytes of leading context so validators can look at the byte before a value. Every stream keeps
 * its last tail_keep bytes (the largest window) in sl_scan_stream.tail. When Hyperscan reports a
 * match ending at stream offset `to`, the candidate window is the stream bytes [to - window, to),
 * taken from the current buffer when they are all there, else assembled from tail + buffer in a
 * per-worker buffer. The window depends only on stream bytes, never on how they were segmented,
 * so a value found in one feed is found, identically, split over many.
 *
 * Stream state. Hyperscan mallocs a stream's state in hs_open_stream. To keep malloc off the data
 * path, the process-wide stream allocator (hs_set_stream_allocator, installed once by the first
 * sl_scan_worker_create) takes fixed-size blocks from the pool of the worker currently calling
 * into Hyperscan (a __thread pointer set by open and close). Every block, pooled or not, starts
 * with a small header naming its pool (NULL: malloc'd), so the free function needs no thread
 * state and cannot hand a malloc'd block to a pool or the reverse. An empty pool, or a stream
 * larger than a block, falls back to malloc (counted in stream_pool_fallback).
 *
 * Keywords. The keywords of sensors with `near` are compiled into the same streaming database as
 * literal caseless expressions with ids from SL_SCAN_NEAR_ID (slot * SL_SCAN_MAX_NEAR + keyword).
 * A keyword match records its end in the stream's kw_end[slot]; a confirmed value of such a sensor
 * is reported when kw_end is close enough before it, else parked in a pending slot (end offset,
 * length, sensor; no copy). Hyperscan reports matches in end-offset order, so a later keyword
 * finds the parked value and reports it, reading its bytes from the tail or the current buffer:
 * a database with keywords keeps tail_keep >= window + within + longest keyword, so a value stays
 * in the tail as long as a keyword can still rescue it. After each chunk, parked values no keyword
 * can reach any more are dropped (near_rejects).
 *
 * Base64 runs. Seven finder expressions (ids from SL_SCAN_B64_ID, see b64_finders) in the same
 * streaming database find base64 text that encodes 9 or more digits in a row, and where it ends.
 * The run is read back from the tail (tail_keep covers SL_SCAN_B64_SPAN), decoded, and scanned
 * from inside the match callback by the worker's sub-worker, which has its own scratch; its
 * matches reach the caller with `encoded` set, at the run's stream offset.
 *
 * Over-reads. Hyperscan 5.4's AVX512VBMI engines read past the end of the buffer they scan; a
 * buffer ending within SL_SCAN_OVERREAD bytes of a page boundary has its last bytes scanned from
 * a padded per-worker copy (near_page_end), and windows handed to hs_scan get the same care.
 *
 * Invariants: a stream is opened, fed and closed with the same db and the same worker (and so the
 * same thread); all streams are closed before their worker is freed; nothing else in the process
 * changes the Hyperscan stream allocator; on_match never sees a value of length 0. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "sl_scan.h"
#include "sl_validate.h"

#define SL_SCAN_CTX	   16 /* bytes of leading context in a window */
#define SL_SCAN_TAIL	   (SL_SCAN_WINDOW + SL_SCAN_CTX)
#define SL_SCAN_CACHE_LINE 64
#define SL_SCAN_FEED_CHUNK (1u << 30) /* hs_scan_stream takes an unsigned int length */
#define SL_SCAN_PAGE	   4096u
#define SL_SCAN_OVERREAD   64u	    /* bytes Hyperscan may read past a buffer (see near_page_end) */
#define SL_SCAN_NEAR_ID	   0x10000u /* first expression id of a keyword */
#define SL_SCAN_B64_ID	   0x8000u  /* first expression id of the base64 digit-run finders */
#define SL_SCAN_B64_QUANTA 8u	    /* digit quanta looked back over: 24 digits, past any value */
#define SL_SCAN_B64_SPAN   (4u * (SL_SCAN_B64_QUANTA + 2u) + 1u) /* characters a run needs */
#define SL_SCAN_NO_NEAR	   0xff					 /* sensor without keywords */
#define SL_SCAN_MAX_EXPR                                                                           \
	(SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS + SL_SCAN_NEAR_SENSORS * SL_SCAN_MAX_NEAR +    \
	 SL_SCAN_B64_FINDERS)

_Static_assert(sizeof(((struct sl_scan_stream *)0)->tail) == SL_SCAN_TAIL, "tail size");
_Static_assert(SL_SCAN_MAX_SENSORS <= 64, "one bit per sensor in the dedup mask");
_Static_assert(SL_SCAN_MAX_SENSORS < SL_SCAN_NO_NEAR, "sensor index fits the pending slot");
_Static_assert(SL_SCAN_PENDING < 256, "n_pending is a uint8_t");

static const char *const context_names[] = {
#define SL_X(e, s) s,
    SL_SCAN_CONTEXTS(SL_X)
#undef SL_X
};

/* Base64 text that encodes a run of ASCII digits: each 4 characters encoding 3 digits are
 * [MNO][DTjz][AEIMQUYcgk][w-z0-5] (the sextets of 0x30-0x39 three at a time), so 3 such quanta
 * (9 digits) are found wherever base64 text carries a value, at no measurable cost on other
 * text. Each finder ends where the run's end is known: a quantum that is not 3 digits follows
 * (its bytes, decoded, show the value's right edge), or the text ends after 0, 2 or 3
 * characters of a quantum (a character outside base64, or the end of the stream). trail[] is
 * how many characters after the digit quanta each finder's match holds, end[] whether one more
 * character ends it. */
#define B64_Q "[MNO][DTjz][AEIMQUYcgk][w-z0-5]"
static const char *const b64_finders[] = {
    "(?:" B64_Q "){3}[A-Za-z0-9+/]{2}[A-Za-z0-9+/=]{2}",
    "(?:" B64_Q "){3}[^A-Za-z0-9+/=]",
    "(?:" B64_Q "){3}[A-Za-z0-9+/]{2}[^A-Za-z0-9+/=]",
    "(?:" B64_Q "){3}[A-Za-z0-9+/]{3}[^A-Za-z0-9+/=]",
    "(?:" B64_Q "){3}$",
    "(?:" B64_Q "){3}[A-Za-z0-9+/]{2}$",
    "(?:" B64_Q "){3}[A-Za-z0-9+/]{3}$",
};
static const uint8_t b64_trail[] = {4, 0, 2, 3, 0, 2, 3};
static const uint8_t b64_ended[] = {0, 1, 1, 1, 0, 0, 0};
#define SL_SCAN_B64_FINDERS (sizeof(b64_finders) / sizeof(b64_finders[0]))

const char *
sl_scan_context_name(enum sl_scan_context c)
{
	return (unsigned)c < SL_SCAN_CTX_COUNT ? context_names[c] : "unknown";
}

int
sl_scan_context_parse(const char *name)
{
	for (int i = 0; i < SL_SCAN_CTX_COUNT; i++)
		if (!strcmp(name, context_names[i]))
			return i;
	return -1;
}

/* ---- Databases ---- */

struct sl_scan_sensor {
	const struct sl_validator *v; /* NULL: regex only, confirmed with the SOM database */
	uint32_t contexts;	      /* never 0: "all" is spelled out */
	uint16_t window;	      /* bytes before the match end the confirm step sees */
	uint8_t near;		      /* slot in sl_scan_db.near, or SL_SCAN_NO_NEAR */
	enum sl_scan_mask_kind mask;
};

/* A sensor with keywords. */
struct sl_scan_near {
	unsigned sensor;
	uint32_t within;
	uint16_t kw_max; /* longest keyword */
	uint16_t kw_len[SL_SCAN_MAX_NEAR];
};

struct sl_scan_db {
	hs_database_t *hs;  /* HS_MODE_STREAM, every sensor */
	hs_database_t *som; /* HS_MODE_BLOCK + SOM, regex-only sensors; NULL if none */
	hs_scratch_t *proto;
	hs_scratch_t *som_proto;
	size_t stream_size; /* hs_stream_size(hs) */
	uint16_t tail_keep; /* largest sensor window, or keyword reach (see Keywords) */
	unsigned n;
	unsigned n_near;
	struct sl_scan_near near[SL_SCAN_NEAR_SENSORS];
	struct sl_sensor_def defs[SL_SCAN_MAX_SENSORS];
	struct sl_scan_sensor sensors[SL_SCAN_MAX_SENSORS];
};

static void
defs_free(struct sl_scan_db *db)
{
	for (unsigned i = 0; i < db->n; i++) {
		for (unsigned k = 0; k < db->defs[i].n_patterns; k++)
			free((char *)db->defs[i].patterns[k]);
		for (unsigned k = 0; k < db->defs[i].n_near; k++)
			free((char *)db->defs[i].near[k]);
	}
}

void
sl_scan_db_free(struct sl_scan_db *db)
{
	if (!db)
		return;
	hs_free_scratch(db->proto);
	hs_free_scratch(db->som_proto);
	hs_free_database(db->hs);
	hs_free_database(db->som);
	defs_free(db);
	free(db);
}

/* Returns 0 when the fixed-size text field is NUL-terminated and, if required, not empty. */
static int
text_ok(const char *s, size_t size, int required)
{
	return memchr(s, '\0', size) && (!required || s[0] != '\0') ? 0 : -1;
}

/* Checks one definition against the contract of sl_sensor_def and the ones before it. Returns 0,
 * or -1 with a message in err. */
static int
def_check(const struct sl_sensor_def *defs, unsigned i, char *err, size_t errlen)
{
	const struct sl_sensor_def *d = &defs[i];

	if (text_ok(d->name, sizeof(d->name), 1)) {
		snprintf(err, errlen, "sensor %u: name is empty or longer than %d characters", i,
			 SL_SCAN_NAME_LEN - 1);
		return -1;
	}
	for (unsigned j = 0; j < i; j++) {
		if (!strcmp(defs[j].name, d->name)) {
			snprintf(err, errlen, "sensor '%s': duplicate name", d->name);
			return -1;
		}
	}
	if (text_ok(d->category, sizeof(d->category), 0) ||
	    text_ok(d->validator, sizeof(d->validator), 0)) {
		snprintf(err, errlen, "sensor '%s': category or validator not terminated", d->name);
		return -1;
	}
	if (d->n_patterns == 0 || d->n_patterns > SL_SCAN_MAX_PATTERNS) {
		snprintf(err, errlen, "sensor '%s': %u patterns (1 to %d allowed)", d->name,
			 d->n_patterns, SL_SCAN_MAX_PATTERNS);
		return -1;
	}
	for (unsigned k = 0; k < d->n_patterns; k++) {
		if (!d->patterns[k] || !d->patterns[k][0]) {
			snprintf(err, errlen, "sensor '%s' pattern %u: empty", d->name, k + 1);
			return -1;
		}
	}
	if (!sl_validate_find(d->validator)) {
		snprintf(err, errlen, "sensor '%s': unknown validator '%s' (known: %s)", d->name,
			 d->validator, sl_validate_names());
		return -1;
	}
	if (d->contexts & ~SL_SCAN_CTX_ALL) {
		snprintf(err, errlen, "sensor '%s': unknown context bits 0x%x", d->name,
			 (unsigned)(d->contexts & ~SL_SCAN_CTX_ALL));
		return -1;
	}
	if (d->n_near > SL_SCAN_MAX_NEAR) {
		snprintf(err, errlen, "sensor '%s': %u keywords (at most %d)", d->name, d->n_near,
			 SL_SCAN_MAX_NEAR);
		return -1;
	}
	for (unsigned k = 0; k < d->n_near; k++) {
		size_t len = d->near[k] ? strlen(d->near[k]) : 0;

		if (len == 0 || len > SL_SCAN_NEAR_LEN) {
			snprintf(err, errlen,
				 "sensor '%s' keyword %u: empty or longer than %d bytes", d->name,
				 k + 1, SL_SCAN_NEAR_LEN);
			return -1;
		}
	}
	if (d->n_near && d->within > SL_SCAN_NEAR_MAX_WITHIN) {
		snprintf(err, errlen, "sensor '%s': within = %u (at most %d)", d->name,
			 (unsigned)d->within, SL_SCAN_NEAR_MAX_WITHIN);
		return -1;
	}
	return 0;
}

/* Writes keyword kw as a Hyperscan expression matching its bytes literally: ASCII letters and
 * digits as they are (the expression is compiled caseless), every other byte as \xHH, and a
 * Latin-1 letter in UTF-8 (C3 80..9E / C3 A0..BE) as a class of its two cases, since
 * HS_FLAG_CASELESS folds ASCII only and HS_FLAG_UTF8 is undefined on the invalid UTF-8 that
 * traffic carries. Returns 0, or -1 when out is too small. */
static int
keyword_expr(const char *kw, char *out, size_t outlen)
{
	const uint8_t *p = (const uint8_t *)kw;
	size_t o = 0;
	int n;

	for (; *p; p++) {
		uint8_t b = *p, lo = p[1] & 0x1f;

		if ((b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z'))
			n = snprintf(out + o, outlen - o, "%c", b);
		else if (b == 0xc3 && (p[1] & 0xc0) == 0x80 && lo != 0x17 && lo != 0x1f) {
			n = snprintf(out + o, outlen - o, "\\xc3[\\x%02x\\x%02x]", 0x80 | lo,
				     0xa0 | lo);
			p++;
		} else
			n = snprintf(out + o, outlen - o, "\\x%02x", b);
		if (n < 0 || (size_t)n >= outlen - o)
			return -1;
		o += (size_t)n;
	}
	return 0;
}

/* Compiles the m expressions exprs/flags/ids in `mode`. own[j] is the sensor of expression j and
 * pat_of[j] its pattern, or SL_SCAN_MAX_PATTERNS + k for keyword k, so a failure names them.
 * Returns the database or NULL. */
static hs_database_t *
compile(const struct sl_scan_db *db, const char *const *exprs, const unsigned *flags,
	const unsigned *ids, const unsigned *own, const unsigned *pat_of, unsigned m, unsigned mode,
	const char *what, char *err, size_t errlen)
{
	hs_database_t *hdb = NULL;
	hs_compile_error_t *cerr = NULL;

	if (hs_compile_multi(exprs, flags, ids, m, mode, NULL, &hdb, &cerr) == HS_SUCCESS)
		return hdb;
	if (cerr && cerr->expression >= 0 && (unsigned)cerr->expression < m)
		snprintf(err, errlen, "sensor '%s' %s %u: %s%s",
			 db->defs[own[cerr->expression]].name,
			 pat_of[cerr->expression] < SL_SCAN_MAX_PATTERNS ? "pattern" : "keyword",
			 pat_of[cerr->expression] % SL_SCAN_MAX_PATTERNS + 1, cerr->message, what);
	else
		snprintf(err, errlen, "sensors: %s%s", cerr ? cerr->message : "compile failed",
			 what);
	hs_free_compile_error(cerr);
	return NULL;
}

/* Sets each sensor's window from the widest match of its patterns. Returns 0 or -1 with err. */
static int
set_windows(struct sl_scan_db *db, char *err, size_t errlen)
{
	for (unsigned i = 0; i < db->n; i++) {
		const struct sl_sensor_def *d = &db->defs[i];
		struct sl_scan_sensor *s = &db->sensors[i];
		unsigned width = s->v ? s->v->max_len : 0;

		for (unsigned k = 0; k < d->n_patterns; k++) {
			hs_expr_info_t *info = NULL;
			hs_compile_error_t *cerr = NULL;
			unsigned flags = d->caseless ? HS_FLAG_CASELESS : 0;

			if (hs_expression_info(d->patterns[k], flags, &info, &cerr) != HS_SUCCESS) {
				snprintf(err, errlen, "sensor '%s' pattern %u: %s", d->name, k + 1,
					 cerr ? cerr->message : "no expression info");
				hs_free_compile_error(cerr);
				return -1;
			}
			if (info->max_width > width)
				width = info->max_width; /* UINT_MAX when unbounded */
			free(info); /* allocated with Hyperscan's misc allocator, malloc */
		}
		if (width > SL_SCAN_WINDOW)
			width = SL_SCAN_WINDOW;
		s->window = (uint16_t)(width + SL_SCAN_CTX);
		if (s->window > db->tail_keep)
			db->tail_keep = s->window;
	}
	/* A parked value must stay in the tail until no keyword can reach it any more. */
	for (unsigned j = 0; j < db->n_near; j++) {
		const struct sl_scan_near *nr = &db->near[j];
		unsigned reach = db->sensors[nr->sensor].window + nr->within + nr->kw_max;

		if (reach > SL_SCAN_TAIL) {
			snprintf(err, errlen,
				 "sensor '%s': value window %u + within %u + longest keyword %u "
				 "exceed the %d-byte tail; lower 'within' or bound the patterns",
				 db->defs[nr->sensor].name, db->sensors[nr->sensor].window,
				 (unsigned)nr->within, nr->kw_max, SL_SCAN_TAIL);
			return -1;
		}
		if (reach > db->tail_keep)
			db->tail_keep = (uint16_t)reach;
	}
	return 0;
}

/* Copies the keywords of sensor i into the database and gives the sensor a keyword slot.
 * Returns 0, -ENOMEM, or -EINVAL with err when too many sensors have keywords. */
static int
near_copy(struct sl_scan_db *db, const struct sl_sensor_def *src, unsigned i, char *err,
	  size_t errlen)
{
	struct sl_sensor_def *d = &db->defs[i];
	struct sl_scan_near *nr;

	db->sensors[i].near = SL_SCAN_NO_NEAR;
	memset(d->near, 0, sizeof(d->near));
	d->n_near = 0;
	if (src->n_near == 0) {
		d->within = 0;
		return 0;
	}
	if (db->n_near == SL_SCAN_NEAR_SENSORS) {
		snprintf(err, errlen, "sensor '%s': at most %d sensors may have keywords", d->name,
			 SL_SCAN_NEAR_SENSORS);
		return -EINVAL;
	}
	nr = &db->near[db->n_near];
	memset(nr, 0, sizeof(*nr));
	nr->sensor = i;
	nr->within = d->within ? d->within : SL_SCAN_NEAR_WITHIN;
	d->within = nr->within;
	for (unsigned k = 0; k < src->n_near; k++) {
		d->near[k] = strdup(src->near[k]);
		if (!d->near[k])
			return -ENOMEM;
		d->n_near = k + 1;
		nr->kw_len[k] = (uint16_t)strlen(d->near[k]);
		if (nr->kw_len[k] > nr->kw_max)
			nr->kw_max = nr->kw_len[k];
	}
	db->sensors[i].near = (uint8_t)db->n_near++;
	return 0;
}

struct sl_scan_db *
sl_scan_db_build(const struct sl_sensor_def *defs, unsigned n, char *err, size_t errlen)
{
	static const size_t kw_expr_len = SL_SCAN_NEAR_LEN * 16 + 1;
	const char *exprs[SL_SCAN_MAX_EXPR];
	unsigned flags[SL_SCAN_MAX_EXPR];
	unsigned ids[SL_SCAN_MAX_EXPR];
	unsigned own[SL_SCAN_MAX_EXPR];
	unsigned pat_of[SL_SCAN_MAX_EXPR];
	char *kw_exprs = NULL; /* keyword expressions, kw_expr_len bytes each */
	struct sl_scan_db *db;
	unsigned m = 0;
	int rc;

	if (n == 0 || n > SL_SCAN_MAX_SENSORS) {
		snprintf(err, errlen, "%u sensors (1 to %d allowed)", n, SL_SCAN_MAX_SENSORS);
		return NULL;
	}
	for (unsigned i = 0; i < n; i++)
		if (def_check(defs, i, err, errlen))
			return NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		goto fail_nomem;
	for (unsigned i = 0; i < n; i++) {
		struct sl_sensor_def *d = &db->defs[i];

		*d = defs[i];
		memset(d->patterns, 0, sizeof(d->patterns));
		d->n_patterns = 0;
		memset(d->near, 0, sizeof(d->near)); /* the caller's until near_copy */
		d->n_near = 0;
		db->n = i + 1; /* defs_free sees what was copied so far */
		for (unsigned k = 0; k < defs[i].n_patterns; k++) {
			d->patterns[k] = strdup(defs[i].patterns[k]);
			if (!d->patterns[k])
				goto fail_nomem_db;
			d->n_patterns = k + 1;
		}
		rc = near_copy(db, &defs[i], i, err, errlen);
		if (rc == -ENOMEM)
			goto fail_nomem_db;
		if (rc)
			goto fail_db;
		db->sensors[i].v = sl_validate_find(d->validator);
		if (!db->sensors[i].v->fn)
			db->sensors[i].v = NULL;
		db->sensors[i].contexts = d->contexts ? d->contexts : SL_SCAN_CTX_ALL;
		db->sensors[i].mask = db->sensors[i].v ? db->sensors[i].v->mask : SL_SCAN_MASK_TAIL;
	}

	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k < db->defs[i].n_patterns; k++, m++) {
			exprs[m] = db->defs[i].patterns[k];
			flags[m] = db->defs[i].caseless ? HS_FLAG_CASELESS : 0;
			ids[m] = i;
			own[m] = i;
			pat_of[m] = k;
		}
	}
	if (db->n_near) {
		kw_exprs = malloc(SL_SCAN_NEAR_SENSORS * SL_SCAN_MAX_NEAR * kw_expr_len);
		if (!kw_exprs)
			goto fail_nomem_db;
	}
	for (unsigned j = 0; j < db->n_near; j++) {
		const struct sl_sensor_def *d = &db->defs[db->near[j].sensor];

		for (unsigned k = 0; k < d->n_near; k++, m++) {
			char *e = kw_exprs + (j * SL_SCAN_MAX_NEAR + k) * kw_expr_len;

			if (keyword_expr(d->near[k], e, kw_expr_len)) {
				snprintf(err, errlen, "sensor '%s' keyword %u: too long", d->name,
					 k + 1);
				goto fail_db;
			}
			exprs[m] = e;
			flags[m] = HS_FLAG_CASELESS;
			ids[m] = SL_SCAN_NEAR_ID + j * SL_SCAN_MAX_NEAR + k;
			own[m] = db->near[j].sensor;
			pat_of[m] = SL_SCAN_MAX_PATTERNS + k;
		}
	}
	for (unsigned k = 0; k < SL_SCAN_B64_FINDERS; k++, m++) {
		exprs[m] = b64_finders[k];
		flags[m] = 0;
		ids[m] = SL_SCAN_B64_ID + k;
		own[m] = 0;
		pat_of[m] = 0;
	}
	db->hs = compile(db, exprs, flags, ids, own, pat_of, m, HS_MODE_STREAM, "", err, errlen);
	free(kw_exprs);
	kw_exprs = NULL;
	if (!db->hs)
		goto fail_db;

	/* The same expressions, regex-only sensors only, with start of match. */
	m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (db->sensors[i].v)
			continue;
		for (unsigned k = 0; k < db->defs[i].n_patterns; k++, m++) {
			exprs[m] = db->defs[i].patterns[k];
			flags[m] =
			    HS_FLAG_SOM_LEFTMOST | (db->defs[i].caseless ? HS_FLAG_CASELESS : 0);
			ids[m] = i;
			own[m] = i;
			pat_of[m] = k;
		}
	}
	if (m) {
		db->som =
		    compile(db, exprs, flags, ids, own, pat_of, m, HS_MODE_BLOCK,
			    " (start-of-match database; give the sensor a validator)", err, errlen);
		if (!db->som)
			goto fail_db;
	}
	if (set_windows(db, err, errlen))
		goto fail_db;
	if (db->tail_keep < SL_SCAN_B64_SPAN)
		db->tail_keep = SL_SCAN_B64_SPAN; /* a base64 run is read back from its end */
	if (hs_stream_size(db->hs, &db->stream_size) != HS_SUCCESS ||
	    hs_alloc_scratch(db->hs, &db->proto) != HS_SUCCESS ||
	    (db->som && hs_alloc_scratch(db->som, &db->som_proto) != HS_SUCCESS))
		goto fail_nomem_db;
	return db;

fail_nomem_db:
	free(kw_exprs);
	sl_scan_db_free(db);
fail_nomem:
	snprintf(err, errlen, "out of memory building the sensor database");
	return NULL;
fail_db: /* err already says why */
	free(kw_exprs);
	sl_scan_db_free(db);
	return NULL;
}

unsigned
sl_scan_db_sensor_count(const struct sl_scan_db *db)
{
	return db->n;
}

const struct sl_sensor_def *
sl_scan_db_sensor(const struct sl_scan_db *db, unsigned idx)
{
	return idx < db->n ? &db->defs[idx] : NULL;
}

/* ---- Stream-state pool ---- */

/* Leads every stream-state block; keeps the payload aligned as malloc would. */
union sl_block_hdr {
	struct {
		struct sl_scan_pool *pool; /* NULL: the block came from malloc */
		union sl_block_hdr *next;  /* free-list link while in the pool */
	};
	max_align_t align;
};

struct sl_scan_pool {
	uint8_t *mem;
	size_t stride;	/* header + payload, cache-line multiple */
	size_t payload; /* largest stream state a block holds */
	union sl_block_hdr *free_list;
	uint32_t bump, n; /* blocks [bump, n) were never handed out: their pages stay untouched */
	uint64_t fallback;
};

/* Pool of the worker calling into Hyperscan on this thread, NULL outside open/close. */
static __thread struct sl_scan_pool *sl_cur_pool;

static void *
pool_alloc(size_t size)
{
	struct sl_scan_pool *p = sl_cur_pool;
	union sl_block_hdr *h;

	if (p && size <= p->payload && p->free_list) {
		h = p->free_list;
		p->free_list = h->next;
		h->pool = p;
		return h + 1;
	}
	if (p && size <= p->payload && p->bump < p->n) {
		h = (union sl_block_hdr *)(p->mem + (size_t)p->bump++ * p->stride);
		h->pool = p;
		return h + 1;
	}
	if (p)
		p->fallback++;
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->pool = NULL;
	return h + 1;
}

static void
pool_free(void *ptr)
{
	union sl_block_hdr *h;

	if (!ptr)
		return;
	h = (union sl_block_hdr *)ptr - 1;
	if (!h->pool) {
		free(h);
		return;
	}
	h->next = h->pool->free_list;
	h->pool->free_list = h;
}

static int allocator_installed;

/* Installs the pool allocator for Hyperscan stream state, once per process. Two workers created
 * at the same time may both install it; they install the same functions. */
static int
allocator_install(void)
{
	if (__atomic_load_n(&allocator_installed, __ATOMIC_ACQUIRE))
		return 0;
	if (hs_set_stream_allocator(pool_alloc, pool_free) != HS_SUCCESS)
		return -1;
	__atomic_store_n(&allocator_installed, 1, __ATOMIC_RELEASE);
	return 0;
}

static int
pool_init(struct sl_scan_pool *p, size_t stream_size, uint32_t n)
{
	size_t bytes;

	p->payload = stream_size;
	p->stride = (sizeof(union sl_block_hdr) + stream_size + SL_SCAN_CACHE_LINE - 1) &
		    ~(size_t)(SL_SCAN_CACHE_LINE - 1);
	if (n == 0)
		return 0;
	bytes = p->stride * n;
	/* Blocks are handed out in order and only then touched: a pool sized for every flow of
	 * the table costs no memory until flows use it, and a ruleset change (which builds new
	 * pools for every worker) stays fast. */
	p->mem = aligned_alloc(SL_SCAN_CACHE_LINE, bytes);
	if (!p->mem)
		return -1;
	p->bump = 0;
	p->n = n;
	return 0;
}

/* ---- Workers ---- */

/* The feed (or close) in progress, read by the match callback. */
struct sl_scan_call {
	const struct sl_scan_db *db;
	struct sl_scan_worker *w;
	struct sl_scan_stream *s;
	const uint8_t *data; /* current buffer, stream offset base */
	size_t len;
	uint64_t base;
	sl_scan_match_fn fn;
	void *ctx;
	uint8_t priming;    /* replaying the tail into a migrated stream: report nothing */
	uint64_t seen_to;   /* end offset of the last candidate... */
	uint64_t seen_mask; /* ...and the sensors already handled there */
};

struct sl_scan_worker {
	const struct sl_scan_db *db;
	hs_scratch_t *scratch;
	hs_scratch_t *som_scratch;
	struct sl_scan_pool pool;
	struct sl_scan_call call;
	struct sl_scan_stats stats;
	uint8_t win[SL_SCAN_TAIL + SL_SCAN_OVERREAD]; /* a window spanning tail and buffer */
	uint8_t bounce[2 * SL_SCAN_OVERREAD];	      /* the end of a buffer near a page end */
	/* Scans decoded base64 runs from inside this worker's Hyperscan callback, with scratch and
	 * stream state of its own (a scratch serves one scan at a time); NULL in that worker. */
	struct sl_scan_worker *sub;
} __attribute__((aligned(SL_SCAN_CACHE_LINE)));

static struct sl_scan_worker *worker_new(const struct sl_scan_db *db, uint32_t max_streams,
					 char *err, size_t errlen);

struct sl_scan_worker *
sl_scan_worker_create(const struct sl_scan_db *db, uint32_t max_streams, char *err, size_t errlen)
{
	struct sl_scan_worker *w = worker_new(db, max_streams, err, errlen);

	if (w == NULL)
		return NULL;
	w->sub = worker_new(db, 1, err, errlen);
	if (w->sub == NULL) {
		sl_scan_worker_free(w);
		return NULL;
	}
	return w;
}

static struct sl_scan_worker *
worker_new(const struct sl_scan_db *db, uint32_t max_streams, char *err, size_t errlen)
{
	struct sl_scan_worker *w;
	size_t size = (sizeof(*w) + SL_SCAN_CACHE_LINE - 1) & ~(size_t)(SL_SCAN_CACHE_LINE - 1);

	if (allocator_install()) {
		snprintf(err, errlen, "cannot install the Hyperscan stream allocator");
		return NULL;
	}
	w = aligned_alloc(SL_SCAN_CACHE_LINE, size);
	if (!w)
		goto fail_nomem;
	memset(w, 0, sizeof(*w));
	w->db = db;
	if (hs_clone_scratch(db->proto, &w->scratch) != HS_SUCCESS)
		goto fail_worker;
	if (db->som_proto && hs_clone_scratch(db->som_proto, &w->som_scratch) != HS_SUCCESS)
		goto fail_worker;
	if (pool_init(&w->pool, db->stream_size, max_streams))
		goto fail_worker;
	return w;

fail_worker:
	sl_scan_worker_free(w);
fail_nomem:
	snprintf(err, errlen, "out of memory for %u scan streams", max_streams);
	return NULL;
}

void
sl_scan_worker_free(struct sl_scan_worker *w)
{
	if (!w)
		return;
	sl_scan_worker_free(w->sub);
	hs_free_scratch(w->scratch);
	hs_free_scratch(w->som_scratch);
	free(w->pool.mem);
	free(w);
}

void
sl_scan_stats_get(const struct sl_scan_worker *w, struct sl_scan_stats *out)
{
	*out = w->stats;
	out->stream_pool_fallback = w->pool.fallback;
	if (w->sub) { /* the decoded runs' scans count as this worker's */
		uint64_t *o = (uint64_t *)out;
		const uint64_t *x = (const uint64_t *)&w->sub->stats;

		for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
			o[i] += x[i];
		out->stream_pool_fallback += w->sub->pool.fallback;
	}
}

/* ---- Matching ---- */

static inline int
is_digit_ascii(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline int
is_alpha_ascii(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static inline int
is_alnum_ascii(uint8_t c)
{
	return is_digit_ascii(c) || is_alpha_ascii(c);
}

/* Returns 1 when fewer than SL_SCAN_OVERREAD bytes separate end from the next page boundary.
 * Hyperscan 5.4's AVX512VBMI code reads up to a vector past the end of the buffer it scans
 * (intel/hyperscan#457, vectorscan#322): harmless inside a page, a SIGSEGV when the next page is
 * unmapped, as after the last mbuf of a hugepage. Such buffers have their last bytes scanned
 * from a padded copy; streaming makes the split invisible. */
static inline int
near_page_end(const void *end)
{
	uintptr_t off = (uintptr_t)end & (SL_SCAN_PAGE - 1);

	return off == 0 || off > SL_SCAN_PAGE - SL_SCAN_OVERREAD;
}

struct som_result {
	unsigned id;
	unsigned long long end;
	unsigned long long best;
};

static int
on_som_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	     void *arg)
{
	struct som_result *r = arg;

	(void)flags;
	if (id == r->id && to == r->end && from < r->best)
		r->best = from;
	return 0;
}

/* Finds the value of a regex-only sensor in its window: the leftmost start of a match of that
 * sensor ending at the window end. Returns 1 with *start, or 0 on a scan error. When the block
 * scan sees no such match (an assertion that needed bytes after the window, or a match longer
 * than the window), the window minus its context stands for the value: the stream did match. */
static int
som_confirm(struct sl_scan_worker *w, const struct sl_scan_db *db, unsigned id, const uint8_t *win,
	    size_t win_len, size_t *start)
{
	struct som_result r = {id, win_len, ~0ull};
	size_t width = (size_t)db->sensors[id].window - SL_SCAN_CTX;

	if (win != w->win && near_page_end(win + win_len)) {
		memcpy(w->win, win, win_len);
		win = w->win;
	}

	if (hs_scan(db->som, (const char *)win, (unsigned)win_len, 0, w->som_scratch, on_som_match,
		    &r) != HS_SUCCESS) {
		w->stats.scan_errors++;
		return 0;
	}
	if (r.best < win_len)
		*start = (size_t)r.best;
	else
		*start = win_len > width ? win_len - width : 0;
	return 1;
}

/* Returns the stream bytes [start, end) of the feed in progress, from the current buffer when
 * they are all there, else assembled from tail + buffer in the worker's window buffer; NULL when
 * they are no longer (or not yet) held. end - start <= SL_SCAN_TAIL. */
static const uint8_t *
stream_bytes(struct sl_scan_call *c, uint64_t start, uint64_t end)
{
	const struct sl_scan_stream *s = c->s;
	uint64_t tail_start = c->base - s->tail_len;
	size_t from_tail;

	if (start < tail_start || end > c->base + c->len || start > end)
		return NULL;
	if (start >= c->base)
		return c->data + (start - c->base);
	if (end <= c->base)
		return s->tail + (start - tail_start);
	from_tail = (size_t)(c->base - start);
	memcpy(c->w->win, s->tail + (start - tail_start), from_tail);
	memcpy(c->w->win + from_tail, c->data, (size_t)(end - c->base));
	return c->w->win;
}

/* ---- Base64 digit runs ---- */

/* A base64 character's value; 64 for the padding '=', -1 for anything else. */
static inline int
b64_val(uint8_t ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : ch == '=' ? 64 : -1;
}

/* Whether q[0..4) are four base64 characters, no padding: if so, *v is their 24 bits. */
static int
b64_quantum(const uint8_t *q, uint32_t *v)
{
	*v = 0;
	for (unsigned i = 0; i < 4; i++) {
		int x = b64_val(q[i]);

		if (x < 0 || x > 63)
			return 0;
		*v = *v << 6 | (uint32_t)x;
	}
	return 1;
}

/* Whether the quantum q[0..4) encodes three ASCII digits. */
static int
b64_digits(const uint8_t *q)
{
	uint32_t v;

	return b64_quantum(q, &v) && is_digit_ascii((uint8_t)(v >> 16)) &&
	       is_digit_ascii((uint8_t)(v >> 8)) && is_digit_ascii((uint8_t)v);
}

/* Decodes n characters from a quantum boundary (whole quanta; a last one of 2 or 3 characters,
 * or padded, gives 1 or 2 bytes). Returns the bytes written to out. */
static size_t
b64_decode(const uint8_t *t, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i + 2 <= n; i += 4) {
		uint32_t acc = 0;
		unsigned k = 0;

		for (; k < 4 && i + k < n; k++) {
			int x = b64_val(t[i + k]);

			if (x < 0 || x > 63)
				break;
			acc |= (uint32_t)x << (18 - 6 * k);
		}
		if (k >= 2)
			out[o++] = (uint8_t)(acc >> 16);
		if (k >= 3)
			out[o++] = (uint8_t)(acc >> 8);
		if (k == 4)
			out[o++] = (uint8_t)acc;
		if (k < 4)
			break;
	}
	return o;
}

struct b64_relay {
	sl_scan_match_fn fn;
	void *ctx;
	uint64_t at;
};

/* A value found in a decoded run goes to the caller at the run's offset in the stream. */
static void
b64_report(void *arg, const struct sl_scan_match *m)
{
	const struct b64_relay *rl = arg;
	struct sl_scan_match e = *m;

	e.offset = rl->at;
	e.encoded = 1;
	rl->fn(rl->ctx, &e);
}

/* Finder k matched, ending at stream offset `to`. The run of digit quanta before its trail is
 * read back from there, with the quantum before the run (the value's first digits, or the byte
 * before it) and the trail (its last digits, or the byte after it), decoded, and scanned at once
 * by the sub-worker (its scratch is free while this worker's is in use), so its values are
 * reported in stream order. A trail of 3 more digits is not the run's end (a later match has
 * it); a run longer than SL_SCAN_B64_QUANTA quanta holds no value whose edges are not
 * digits. */
static void
b64_found(struct sl_scan_call *c, unsigned k, uint64_t to)
{
	struct sl_scan_worker *w = c->w;
	uint64_t qend = to - b64_ended[k] - b64_trail[k], lo = c->base - c->s->tail_len, from;
	size_t p, back;
	const uint8_t *t;
	unsigned q = 0;
	uint32_t lead;

	if (w->sub == NULL || c->priming || c->fn == NULL || qend < lo)
		return; /* a decoded run's own finds are not followed */
	back = (size_t)((qend - lo) / 4);
	if (back > SL_SCAN_B64_QUANTA + 1)
		back = SL_SCAN_B64_QUANTA + 1;
	from = qend - 4 * back;
	t = stream_bytes(c, from, qend + b64_trail[k]);
	if (t == NULL)
		return;
	p = (size_t)(qend - from);
	if (b64_trail[k] == 4 && b64_digits(t + p))
		return;
	while (p >= 4 && b64_digits(t + p - 4) && q <= SL_SCAN_B64_QUANTA) {
		p -= 4;
		q++;
	}
	if (q > SL_SCAN_B64_QUANTA)
		return;
	if (p >= 4 && b64_quantum(t + p - 4, &lead))
		p -= 4;
	uint8_t bytes[SL_SCAN_B64_SPAN];
	struct b64_relay rl = {c->fn, c->ctx, from + p};
	size_t n = b64_decode(t + p, (size_t)(qend + b64_trail[k] - from) - p, bytes);

	w->stats.b64_runs++;
	sl_scan_block(c->db, w->sub, (enum sl_scan_context)c->s->context, bytes, n, b64_report,
		      &rl);
}

/* Reports a confirmed value [end - len, end) of sensor id to the caller. */
static void
report(struct sl_scan_call *c, unsigned id, const uint8_t *value, uint64_t end, size_t len)
{
	struct sl_scan_match m;

	m.sensor = id;
	m.context = (enum sl_scan_context)c->s->context;
	m.offset = end - len;
	m.value = value;
	m.value_len = (uint32_t)len;
	m.encoded = 0;
	c->w->stats.matches++;
	c->w->stats.sensor_hits[id]++;
	if (c->fn)
		c->fn(c->ctx, &m);
}

/* Frees pending slot i. */
static inline void
pending_free(struct sl_scan_stream *s, unsigned i)
{
	s->pending[i].len = 0;
	s->n_pending--;
}

/* Frees pending slot i, counting the value as rejected: by its right boundary, or for want of a
 * keyword. */
static void
pending_drop(struct sl_scan_worker *w, struct sl_scan_stream *s, unsigned i)
{
	if (s->pending[i].wait & SL_SCAN_WAIT_RIGHT) {
		w->stats.validator_rejects++;
		w->stats.sensor_rejects[s->pending[i].sensor]++;
	} else {
		w->stats.near_rejects++;
	}
	pending_free(s, i);
}

/* Drops the values waiting for a keyword that no keyword can reach once the stream is at
 * `offset` (every keyword ending before it has been reported). */
static void
near_expire(const struct sl_scan_db *db, struct sl_scan_worker *w, struct sl_scan_stream *s,
	    uint64_t offset)
{
	for (unsigned i = 0; i < SL_SCAN_PENDING; i++) {
		const struct sl_scan_pending *p = &s->pending[i];
		const struct sl_scan_near *nr;

		if (p->len == 0 || (p->wait & SL_SCAN_WAIT_RIGHT))
			continue;
		nr = &db->near[db->sensors[p->sensor].near];
		if (offset >= p->end + nr->within + nr->kw_max)
			pending_drop(w, s, i);
	}
}

/* Holds a validated value back (wait: SL_SCAN_WAIT_RIGHT or 0 for a keyword). When every slot is
 * taken, the value held first (the closest to expiring) makes room, counted. */
static void
pending_add(struct sl_scan_call *c, unsigned id, uint64_t end, size_t len, uint8_t wait)
{
	struct sl_scan_stream *s = c->s;
	unsigned slot = 0;

	/* Drop what no keyword can reach first, so the choice never depends on segmentation. A
	 * keyword ending with this value may be reported after it: only ends before it are known.
	 */
	if (s->n_pending == SL_SCAN_PENDING && c->db->n_near)
		near_expire(c->db, c->w, s, end - 1);
	for (unsigned i = 0; i < SL_SCAN_PENDING; i++) {
		if (s->pending[i].len == 0) {
			slot = i;
			break;
		}
		if (s->pending[i].end < s->pending[slot].end)
			slot = i;
	}
	if (s->pending[slot].len) {
		pending_drop(c->w, s, slot);
		c->w->stats.pending_overflow++;
	}
	s->pending[slot].end = end;
	s->pending[slot].len = (uint16_t)len;
	s->pending[slot].sensor = (uint8_t)id;
	s->pending[slot].wait = wait;
	s->n_pending++;
}

/* A keyword of near slot kid / SL_SCAN_MAX_NEAR ended at stream offset `to`: remembers it, and
 * reports the held values of that sensor it starts close enough after. */
static void
near_keyword(struct sl_scan_call *c, unsigned kid, uint64_t to)
{
	struct sl_scan_stream *s = c->s;
	unsigned slot = kid / SL_SCAN_MAX_NEAR;
	const struct sl_scan_near *nr;
	uint64_t kw_start;

	if (slot >= c->db->n_near)
		return;
	nr = &c->db->near[slot];
	if (to > s->kw_end[slot])
		s->kw_end[slot] = to;
	if (c->priming || s->n_pending == 0)
		return;
	kw_start = to - nr->kw_len[kid % SL_SCAN_MAX_NEAR];
	for (unsigned i = 0; i < SL_SCAN_PENDING; i++) {
		struct sl_scan_pending *p = &s->pending[i];
		const uint8_t *v;

		if (p->len == 0 || p->sensor != nr->sensor || (p->wait & SL_SCAN_WAIT_RIGHT) ||
		    kw_start > p->end + nr->within)
			continue;
		v = stream_bytes(c, p->end - p->len, p->end);
		if (v == NULL) { /* cannot happen: tail_keep covers the reach */
			pending_drop(c->w, s, i);
			continue;
		}
		report(c, p->sensor, v, p->end, p->len);
		pending_free(s, i);
	}
}

/* Forgets keywords and drops held values (stream moved to another database). */
static void
pending_reset(struct sl_scan_worker *w, struct sl_scan_stream *s)
{
	for (unsigned i = 0; s->n_pending && i < SL_SCAN_PENDING; i++)
		if (s->pending[i].len)
			pending_drop(w, s, i);
	memset(s->pending, 0, sizeof(s->pending));
	memset(s->kw_end, 0, sizeof(s->kw_end));
	s->n_pending = 0;
}

/* Reports a value whose boundaries are settled, unless its sensor still needs a keyword before
 * it, in which case the value is held until one comes after it. */
static void
settle(struct sl_scan_call *c, unsigned id, const uint8_t *value, uint64_t end, size_t len)
{
	const struct sl_scan_sensor *sn = &c->db->sensors[id];

	if (__builtin_expect(sn->near != SL_SCAN_NO_NEAR, 0)) {
		uint64_t kw = c->s->kw_end[sn->near];

		/* The last keyword ended at most `within` bytes before the value (or later). */
		if (kw == 0 || kw + c->db->near[sn->near].within < end - len) {
			pending_add(c, id, end, len, 0);
			return;
		}
	}
	report(c, id, value, end, len);
}

/* Returns the separator of a value written in groups (its first byte that is not a letter or a
 * digit), or 0 for a contiguous value. */
static inline uint8_t
group_sep(const uint8_t *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_alnum_ascii(v[i]))
			return v[i];
	return 0;
}

/* Returns the stream byte at offset off of the feed in progress (which holds it). */
static inline uint8_t
byte_at(const struct sl_scan_call *c, uint64_t off)
{
	if (off >= c->base)
		return c->data[off - c->base];
	return c->s->tail[off - (c->base - c->s->tail_len)];
}

/* Decides the right boundary of grouped value v (len bytes, ending at stream offset `end`):
 * returns 1 when the value ends there, 0 when its separator and what could be another group
 * follow (it is the head of a longer grouped token: a digit, or a letter if the value's groups
 * hold letters, as an IBAN's do; "nir=2 14 ... 56 ssn=" ends before " ssn"), -1 when the bytes
 * after it have not arrived yet (at_eod: they never will, 1). */
static int
right_ok(const struct sl_scan_call *c, uint64_t end, const uint8_t *v, size_t len, int at_eod)
{
	uint64_t have = c->base + c->len - end;
	uint8_t sep = group_sep(v, len), next;
	int letters = 0;

	if (have >= 1 && byte_at(c, end) != sep)
		return 1;
	if (have < 2)
		return at_eod ? 1 : -1;
	next = byte_at(c, end + 1);
	if (is_digit_ascii(next))
		return 0;
	for (size_t i = 0; i < len && !letters; i++)
		letters = is_alpha_ascii(v[i]);
	return !(letters && is_alpha_ascii(next));
}

/* Settles the values waiting for their right boundary with the feed in progress (at_eod: the
 * stream ends). Called before the feed's own matches, which end later. */
static void
right_resolve(struct sl_scan_call *c, int at_eod)
{
	struct sl_scan_stream *s = c->s;

	for (unsigned i = 0; i < SL_SCAN_PENDING; i++) {
		struct sl_scan_pending *p = &s->pending[i], held;
		const uint8_t *v;
		int ok;

		if (p->len == 0 || !(p->wait & SL_SCAN_WAIT_RIGHT))
			continue;
		v = stream_bytes(c, p->end - p->len, p->end);
		ok = v ? right_ok(c, p->end, v, p->len, at_eod) : 0;
		if (ok < 0)
			continue;
		if (ok == 0) {
			pending_drop(c->w, s, i);
			continue;
		}
		held = *p;
		pending_free(s, i);
		settle(c, held.sensor, v, held.end, held.len);
	}
}

/* Hyperscan stream callback: confirms one candidate and reports it (or holds it back until its
 * right boundary or a keyword is known); records keywords. Never stops the scan. */
static int
on_hs_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	    void *arg)
{
	struct sl_scan_call *c = arg;
	const struct sl_scan_db *db = c->db;
	struct sl_scan_worker *w = c->w;
	struct sl_scan_stream *s = c->s;
	const struct sl_scan_sensor *sn;
	uint64_t start, end;
	const uint8_t *win;
	size_t win_len, vstart = 0, vlen = 0;
	int ok;

	(void)from;
	(void)flags;
	if (id - SL_SCAN_B64_ID < SL_SCAN_B64_FINDERS) {
		b64_found(c, id - SL_SCAN_B64_ID, to + s->shift);
		return 0;
	}
	if (id >= db->n) {
		if (id >= SL_SCAN_NEAR_ID)
			near_keyword(c, id - SL_SCAN_NEAR_ID, to + s->shift);
		return 0;
	}
	if (c->priming)
		return 0;
	to += s->shift;
	sn = &db->sensors[id];
	if (!(sn->contexts & (1u << s->context)))
		return 0;
	/* Several patterns of a sensor may end at the same byte: one candidate. */
	if (to != c->seen_to) {
		c->seen_to = to;
		c->seen_mask = 0;
	}
	if (c->seen_mask & (1ull << id))
		return 0;
	c->seen_mask |= 1ull << id;
	w->stats.candidates++;

	start = to > sn->window ? to - sn->window : 0;
	if (start < c->base - s->tail_len)
		start = c->base - s->tail_len;
	win = stream_bytes(c, start, to);
	if (win == NULL)
		goto reject; /* cannot happen: Hyperscan reports ends within data seen */
	win_len = (size_t)(to - start);

	if (sn->v) {
		ok = sn->v->fn(win, win_len, &vstart, &vlen);
	} else {
		ok = som_confirm(w, db, id, win, win_len, &vstart);
		vlen = win_len - vstart;
	}
	if (!ok || vlen == 0 || vstart + vlen > win_len)
		goto reject;
	end = start + vstart + vlen;

	/* Validated values in groups: the regex's \b cannot see the next group. */
	if (sn->v && group_sep(win + vstart, vlen) != 0) {
		ok = right_ok(c, end, win + vstart, vlen, c->data == NULL);
		if (ok == 0)
			goto reject;
		if (ok < 0) {
			pending_add(c, id, end, vlen, SL_SCAN_WAIT_RIGHT);
			return 0;
		}
	}
	settle(c, id, win + vstart, end, vlen);
	return 0;

reject:
	w->stats.validator_rejects++;
	w->stats.sensor_rejects[id]++;
	return 0;
}

static void
call_begin(struct sl_scan_call *c, const struct sl_scan_db *db, struct sl_scan_worker *w,
	   struct sl_scan_stream *s, sl_scan_match_fn fn, void *ctx)
{
	c->db = db;
	c->w = w;
	c->s = s;
	c->fn = fn;
	c->ctx = ctx;
	c->data = NULL;
	c->len = 0;
	c->base = s->offset;
	c->seen_to = ~0ull;
	c->seen_mask = 0;
	c->priming = 0;
}

/* Appends data to the stream's tail, keeping its last `keep` bytes. */
static void
tail_push(struct sl_scan_stream *s, size_t keep, const uint8_t *data, size_t len)
{
	size_t old = s->tail_len;

	if (len >= keep) {
		memcpy(s->tail, data + len - keep, keep);
		s->tail_len = (uint16_t)keep;
		return;
	}
	if (old + len > keep) {
		size_t drop = old + len - keep;

		memmove(s->tail, s->tail + drop, old - drop);
		old -= drop;
	}
	memcpy(s->tail + old, data, len);
	s->tail_len = (uint16_t)(old + len);
}

int
sl_scan_stream_open(const struct sl_scan_db *db, struct sl_scan_worker *w, struct sl_scan_stream *s,
		    enum sl_scan_context context)
{
	hs_stream_t *hs = NULL;
	hs_error_t rc;

	if (w->db != db || (unsigned)context >= SL_SCAN_CTX_COUNT)
		return -EINVAL;
	if (s->hs || s->failed)
		return -EBUSY;
	s->offset = 0;
	s->shift = 0;
	s->tail_len = 0;
	s->context = (uint8_t)context;
	s->n_pending = 0;
	memset(s->pending, 0, sizeof(s->pending));
	memset(s->kw_end, 0, sizeof(s->kw_end));
	sl_cur_pool = &w->pool;
	rc = hs_open_stream(db->hs, 0, &hs);
	sl_cur_pool = NULL;
	if (rc != HS_SUCCESS) {
		s->failed = 1;
		w->stats.stream_alloc_failed++;
		return -ENOMEM;
	}
	s->hs = hs;
	w->stats.streams_opened++;
	return 0;
}

/* Scans one piece of the stream (n <= SL_SCAN_FEED_CHUNK), then moves it into the tail. Returns
 * 0, or -1 after counting a Hyperscan error. */
static int
scan_chunk(const struct sl_scan_db *db, struct sl_scan_worker *w, struct sl_scan_stream *s,
	   const uint8_t *data, size_t n, sl_scan_match_fn fn, void *ctx)
{
	struct sl_scan_call *c = &w->call;
	int ret = 0;

	call_begin(c, db, w, s, fn, ctx);
	c->data = data;
	c->len = n;
	if (s->n_pending)
		right_resolve(c, 0);
	w->stats.calls++;
	if (hs_scan_stream(s->hs, (const char *)data, (unsigned)n, 0, w->scratch, on_hs_match, c) !=
	    HS_SUCCESS) {
		w->stats.scan_errors++;
		ret = -1;
	}
	tail_push(s, db->tail_keep, data, n);
	s->offset += n;
	if (s->n_pending && db->n_near)
		near_expire(db, w, s, s->offset);
	return ret;
}

int
sl_scan_stream_feed(const struct sl_scan_db *db, struct sl_scan_worker *w, struct sl_scan_stream *s,
		    const uint8_t *data, size_t len, sl_scan_match_fn fn, void *ctx)
{
	int ret = 0;

	if (w->db != db)
		return -EINVAL;
	if (!s->hs && !s->failed)
		return -EINVAL;
	w->stats.bytes += len;
	if (!s->hs) {
		s->offset += len; /* counted, not scanned */
		return 0;
	}
	while (len) {
		size_t n = len > SL_SCAN_FEED_CHUNK ? SL_SCAN_FEED_CHUNK : len;

		if (n == len && near_page_end(data + n)) {
			/* Hyperscan may read past the end: scan the last bytes from a copy. */
			size_t k = n < SL_SCAN_OVERREAD ? n : SL_SCAN_OVERREAD;

			if (n > k)
				ret |= scan_chunk(db, w, s, data, n - k, fn, ctx);
			memcpy(w->bounce, data + n - k, k);
			ret |= scan_chunk(db, w, s, w->bounce, k, fn, ctx);
		} else {
			ret |= scan_chunk(db, w, s, data, n, fn, ctx);
		}
		data += n;
		len -= n;
	}
	return ret ? -EIO : 0;
}

void
sl_scan_stream_close(const struct sl_scan_db *db, struct sl_scan_worker *w,
		     struct sl_scan_stream *s, sl_scan_match_fn fn, void *ctx)
{
	struct sl_scan_call *c = &w->call;

	if (s->hs) {
		call_begin(c, db, w, s, fn, ctx);
		if (s->n_pending)
			right_resolve(c, 1);
		sl_cur_pool = &w->pool;
		if (hs_close_stream(s->hs, w->scratch, on_hs_match, c) != HS_SUCCESS)
			w->stats.scan_errors++;
		sl_cur_pool = NULL;
	}
	pending_reset(w, s);
	s->hs = NULL;
	s->offset = 0;
	s->tail_len = 0;
	s->context = 0;
	s->failed = 0;
}

int
sl_scan_stream_migrate(const struct sl_scan_db *old_db, struct sl_scan_worker *old_w,
		       const struct sl_scan_db *new_db, struct sl_scan_worker *new_w,
		       struct sl_scan_stream *s)
{
	uint8_t tail[sizeof(s->tail)];
	uint16_t tail_len = s->tail_len;
	uint64_t offset = s->offset;
	uint8_t context = s->context;
	int rc;

	if (s->hs == NULL || old_w->db != old_db || new_w->db != new_db)
		return s->hs == NULL ? 0 : -EINVAL;
	memcpy(tail, s->tail, tail_len);
	pending_reset(old_w, s); /* held values name old_db's sensors */
	sl_cur_pool = &old_w->pool;
	hs_close_stream(s->hs, NULL, NULL, NULL); /* no scratch: nothing reported */
	sl_cur_pool = NULL;
	s->hs = NULL;
	rc = sl_scan_stream_open(new_db, new_w, s, (enum sl_scan_context)context);
	if (rc) {
		s->offset = offset;
		return rc;
	}
	if (tail_len) {
		struct sl_scan_call *c = &new_w->call;

		call_begin(c, new_db, new_w, s, NULL, NULL);
		c->priming = 1;
		s->shift = offset - tail_len; /* keywords in the primed bytes get stream offsets */
		if (hs_scan_stream(s->hs, (const char *)tail, tail_len, 0, new_w->scratch,
				   on_hs_match, c) != HS_SUCCESS)
			new_w->stats.scan_errors++;
		c->priming = 0;
	}
	memcpy(s->tail, tail, tail_len);
	s->tail_len = tail_len;
	s->offset = offset;
	s->shift = offset - tail_len;
	return 0;
}

int
sl_scan_block(const struct sl_scan_db *db, struct sl_scan_worker *w, enum sl_scan_context context,
	      const uint8_t *data, size_t len, sl_scan_match_fn fn, void *ctx)
{
	struct sl_scan_stream s;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = sl_scan_stream_open(db, w, &s, context);
	if (rc)
		return rc;
	rc = sl_scan_stream_feed(db, w, &s, data, len, fn, ctx);
	sl_scan_stream_close(db, w, &s, fn, ctx);
	return rc;
}

/* ---- Evidence ---- */

void
sl_scan_mask(const struct sl_scan_db *db, unsigned sensor, const uint8_t *value, uint32_t len,
	     char *out, size_t outlen)
{
	enum sl_scan_mask_kind kind = SL_SCAN_MASK_TAIL;
	unsigned total = 0, seen = 0, head = 0, tail;
	size_t cap = outlen < SL_SCAN_EVIDENCE_LEN ? outlen : SL_SCAN_EVIDENCE_LEN, o = 0;

	if (!out || cap == 0)
		return;
	if (db && sensor < db->n)
		kind = db->sensors[sensor].mask;
	for (uint32_t i = 0; i < len; i++)
		if (kind == SL_SCAN_MASK_PAN ? is_digit_ascii(value[i]) : is_alnum_ascii(value[i]))
			total++;
	/* Short values keep nothing: two characters of a four-character value say too much. */
	if (kind == SL_SCAN_MASK_PAN && total >= 13) {
		head = 6;
		tail = 4;
	} else {
		kind = SL_SCAN_MASK_TAIL;
		tail = total >= 8 ? 2 : 0;
	}
	for (uint32_t i = 0; i < len && o + 1 < cap; i++) {
		uint8_t c = value[i];
		int counted = kind == SL_SCAN_MASK_PAN ? is_digit_ascii(c) : is_alnum_ascii(c);

		if (counted) {
			out[o++] = seen < head || seen >= total - tail ? (char)c : '*';
			seen++;
		} else if (c >= 0x20 && c < 0x7f && !is_alnum_ascii(c)) {
			out[o++] = (char)c; /* separators show the layout, not the value */
		} else {
			out[o++] = '*';
		}
	}
	out[o] = '\0';
}
