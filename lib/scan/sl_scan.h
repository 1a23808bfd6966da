/* sl_scan: sensors, their compiled Hyperscan database, streaming scans and validators.
 *
 * A sensor is a name, one or more regexes, the contexts it applies to and an optional validator.
 * sl_scan_db_build compiles every sensor of a ruleset into one streaming Hyperscan database (off
 * the data path); the result is immutable and shared by all workers. Each worker owns one
 * sl_scan_worker (Hyperscan scratch cloned from the database's prototype, plus a pool for stream
 * state so opening a stream never calls malloc on the data path).
 *
 * A stream is one ordered byte sequence (a TCP direction, an HTTP body...). Hyperscan reports
 * where a match ends; to hand the matched text to the validator without paying for start-of-match
 * in streaming mode, each stream keeps a tail window of its last bytes, sized from the longest
 * possible match (hs_expression_info). A candidate is confirmed by the sensor's validator (or, for
 * sensors without one, by locating the match start in that window) before on_match sees it;
 * rejected candidates only count. The raw value passed to on_match lives in scan-owned memory
 * valid for the duration of the callback: the caller masks or hashes it there and keeps nothing.
 *
 * Keywords. A sensor may also require one of its `near` keywords within `within` bytes of a value
 * (gap between the value's edges and the keyword's edges, same stream). Keywords are literal:
 * ASCII and Latin-1 letters caseless, other bytes as written, matched anywhere (not only as whole
 * words), compiled into the same streaming database. A value whose keyword came before is
 * reported at once; one with no keyword yet waits in one of the stream's SL_SCAN_PENDING
 * slots (its bytes stay in the tail window, which such databases size for it) until a keyword
 * starts within `within` bytes after it (reported then, from the feed that carries the keyword)
 * or the stream moves past it (dropped, counted in near_rejects). Bounds: SL_SCAN_NEAR_SENSORS
 * sensors with keywords per database, SL_SCAN_MAX_NEAR keywords of at most SL_SCAN_NEAR_LEN
 * bytes each, `within` at most SL_SCAN_NEAR_MAX_WITHIN; a stream remembers the last keyword end
 * per such sensor. Sensors without keywords pay one predictable branch per confirmed match.
 *
 * Undeclared base64. Base64 text that encodes a run of 9 or more digits (a value an implant
 * encoded without saying so) is decoded where the run ends and scanned like any text of the
 * stream's context; such matches carry `encoded` (see sl_scan.c: Base64 runs).
 *
 * Right boundary. A validated value written in groups ("4111 1111 1111 1111") is only reported
 * once the two bytes after it are known not to be its separator and another digit or letter: the
 * regex's trailing \b cannot tell "4111 1111 1111 1111" from the first groups of a longer
 * grouped number ("4111 1111 1111 1111 123"). When the value ends a feed, it waits in a pending
 * slot for the next feed (or the stream's end, which accepts it). */
#ifndef SL_SCAN_H
#define SL_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define SL_SCAN_MAX_SENSORS  64
#define SL_SCAN_MAX_PATTERNS 8 /* regexes per sensor */
#define SL_SCAN_NAME_LEN     32
#define SL_SCAN_TEXT_LEN     64	 /* category, validator name */
#define SL_SCAN_WINDOW	     256 /* longest matched value the validator can see */
#define SL_SCAN_EVIDENCE_LEN 48	 /* masked evidence, NUL-terminated */

#define SL_SCAN_MAX_NEAR	8   /* keywords per sensor */
#define SL_SCAN_NEAR_LEN	48  /* longest keyword, in bytes */
#define SL_SCAN_NEAR_SENSORS	4   /* sensors with keywords per database */
#define SL_SCAN_PENDING		4   /* values a stream holds back (keyword, right boundary) */
#define SL_SCAN_NEAR_WITHIN	64  /* default `within` */
#define SL_SCAN_NEAR_MAX_WITHIN 128 /* largest `within` (the tail window must hold it) */

/* Where scanned bytes come from; a sensor applies to a set of them. */
#define SL_SCAN_CONTEXTS(X)                                                                        \
	X(RAW, "raw")                                                                              \
	X(URL, "url")                                                                              \
	X(HEADER, "header")                                                                        \
	X(BODY, "body")

enum sl_scan_context {
#define SL_X(e, s) SL_SCAN_CTX_##e,
	SL_SCAN_CONTEXTS(SL_X)
#undef SL_X
	    SL_SCAN_CTX_COUNT
};
#define SL_SCAN_CTX_ALL ((1u << SL_SCAN_CTX_COUNT) - 1)

const char *sl_scan_context_name(enum sl_scan_context c);
/* Returns the context named `name`, or -1. */
int sl_scan_context_parse(const char *name);

/* How evidence is masked: cards keep the first 6 and last 4 digits (PCI DSS); others keep the
 * last `keep` characters at most. */
enum sl_scan_mask_kind {
	SL_SCAN_MASK_TAIL = 0,
	SL_SCAN_MASK_PAN,
};

struct sl_sensor_def {
	char name[SL_SCAN_NAME_LEN];
	const char *patterns[SL_SCAN_MAX_PATTERNS]; /* owned by the caller until build returns */
	unsigned n_patterns;
	char category[SL_SCAN_TEXT_LEN];
	char validator[SL_SCAN_TEXT_LEN]; /* "" or "none": regex only */
	uint32_t signature_id;
	uint8_t severity;   /* 1 (high) .. 3 (low), as in EVE */
	uint32_t contexts;  /* bitmask of 1u << SL_SCAN_CTX_*; 0 means all */
	uint32_t min_count; /* distinct values before the sensor fires (>= 1) */
	uint8_t caseless;   /* HS_FLAG_CASELESS on every pattern */
	/* Keywords (owned by the caller until build returns), 0 to SL_SCAN_MAX_NEAR of 1 to
	 * SL_SCAN_NEAR_LEN bytes; with any, a value is reported only if one of them starts or ends
	 * within `within` bytes of it (0: SL_SCAN_NEAR_WITHIN; at most SL_SCAN_NEAR_MAX_WITHIN). */
	const char *near[SL_SCAN_MAX_NEAR];
	unsigned n_near;
	uint32_t within;
};

/* A compiled, immutable set of sensors. */
struct sl_scan_db;

/* Compiles `n` sensors. Returns NULL and writes "sensor 'NAME' pattern N: <Hyperscan message>"
 * (or another precise reason: unknown validator, duplicate name, too many keywords, a keyword
 * window that does not fit the tail, ...) to err on failure. */
struct sl_scan_db *sl_scan_db_build(const struct sl_sensor_def *defs, unsigned n, char *err,
				    size_t errlen);
void sl_scan_db_free(struct sl_scan_db *db);
unsigned sl_scan_db_sensor_count(const struct sl_scan_db *db);
const struct sl_sensor_def *sl_scan_db_sensor(const struct sl_scan_db *db, unsigned idx);

/* Per-worker state: scratch and the stream-state pool (max_streams streams). */
struct sl_scan_worker;
struct sl_scan_worker *sl_scan_worker_create(const struct sl_scan_db *db, uint32_t max_streams,
					     char *err, size_t errlen);
void sl_scan_worker_free(struct sl_scan_worker *w);

#define SL_SCAN_COUNTERS(X)                                                                        \
	X(bytes, "bytes_scanned")                                                                  \
	X(calls, "scan_calls")                                                                     \
	X(candidates, "candidates")                                                                \
	X(matches, "matches")                                                                      \
	X(validator_rejects, "validator_rejects")                                                  \
	X(streams_opened, "streams_opened")                                                        \
	X(stream_alloc_failed, "stream_alloc_failed")                                              \
	X(stream_pool_fallback, "stream_pool_fallback")                                            \
	X(scan_errors, "scan_errors")                                                              \
	X(near_rejects, "near_rejects")                                                            \
	X(pending_overflow, "pending_overflow")                                                    \
	X(b64_runs, "base64_runs_decoded")

struct sl_scan_stats {
#define SL_X(f, s) uint64_t f;
	SL_SCAN_COUNTERS(SL_X)
#undef SL_X
	uint64_t sensor_hits[SL_SCAN_MAX_SENSORS];
	uint64_t sensor_rejects[SL_SCAN_MAX_SENSORS];
};
void sl_scan_stats_get(const struct sl_scan_worker *w, struct sl_scan_stats *out);

/* One confirmed match. `value` is the raw matched text: mask or hash it inside the callback, never
 * keep or print it. */
struct sl_scan_match {
	unsigned sensor; /* index in the database */
	enum sl_scan_context context;
	uint64_t offset; /* stream offset of the first byte of the value (encoded: of the base64
			  * run it was decoded from) */
	const uint8_t *value; /* as decoded when `encoded` */
	uint32_t value_len;
	uint8_t encoded; /* 1: found in base64 the sender did not declare (see sl_scan.c) */
};
typedef void (*sl_scan_match_fn)(void *ctx, const struct sl_scan_match *m);

/* A validated value held back; its bytes are still in the stream's tail. */
struct sl_scan_pending {
	uint64_t end;	/* stream offset just past the value */
	uint16_t len;	/* value length; 0: free slot */
	uint8_t sensor; /* index in the database */
	uint8_t wait;	/* SL_SCAN_WAIT_RIGHT: the bytes after it; else a keyword */
};
#define SL_SCAN_WAIT_RIGHT 1

/* Stream state, embedded in the caller's flow state; all-zero means closed. */
struct sl_scan_stream {
	void *hs;	 /* hs_stream_t *, NULL when closed */
	uint64_t offset; /* bytes fed so far */
	uint16_t tail_len;
	uint8_t context;   /* enum sl_scan_context */
	uint8_t failed;	   /* stream could not be opened: bytes are counted, not scanned */
	uint8_t n_pending; /* used slots of pending[] */
	uint64_t shift;	   /* offset minus Hyperscan's own offset (non-zero after a migration) */
	uint8_t tail[SL_SCAN_WINDOW + 16];
	/* Keywords: end offset of the last keyword of each sensor with keywords (0: none yet). */
	uint64_t kw_end[SL_SCAN_NEAR_SENSORS];
	struct sl_scan_pending pending[SL_SCAN_PENDING];
};

/* Puts s in the closed state, as all-zero memory is, without touching its buffers. */
static inline void
sl_scan_stream_init(struct sl_scan_stream *s)
{
	s->hs = NULL;
	s->offset = s->shift = 0;
	s->tail_len = 0;
	s->context = s->failed = s->n_pending = 0;
}

/* Opens a stream for `context`. Stream state comes from the worker's pool; when the pool is
 * exhausted it falls back to malloc (counted in stream_pool_fallback). Returns 0; -ENOMEM when
 * even malloc fails (the stream is then marked failed and counted in stream_alloc_failed);
 * -EBUSY if s is not closed; -EINVAL if w was not created for db. */
int sl_scan_stream_open(const struct sl_scan_db *db, struct sl_scan_worker *w,
			struct sl_scan_stream *s, enum sl_scan_context context);

/* Scans the next `len` bytes of the stream, reporting confirmed matches to fn. */
int sl_scan_stream_feed(const struct sl_scan_db *db, struct sl_scan_worker *w,
			struct sl_scan_stream *s, const uint8_t *data, size_t len,
			sl_scan_match_fn fn, void *ctx);

/* Ends the stream: values held back for their right boundary and matches that needed end-of-data
 * (e.g. a trailing \b) are reported, values still waiting for a keyword are dropped
 * (near_rejects), then the state returns to the pool.
 * Safe on a closed stream. */
void sl_scan_stream_close(const struct sl_scan_db *db, struct sl_scan_worker *w,
			  struct sl_scan_stream *s, sl_scan_match_fn fn, void *ctx);

/* Moves an open stream to another database (a new ruleset) at its current offset. The old
 * Hyperscan stream is closed without reporting: an end-anchored match at an arbitrary cut would
 * be false. A new one is opened on new_db and primed with the tail window, so a value that
 * straddles the switch is still found; matches ending inside the primed bytes were the old
 * database's to report and are not reported again. Keywords in the primed bytes count for the
 * new database; values held back (for a keyword, or for the bytes after a grouped value) are
 * dropped and counted. Returns 0, or the error
 * of opening (the stream is then failed: counted, not scanned). A closed or failed stream is left
 * as it is. */
int sl_scan_stream_migrate(const struct sl_scan_db *old_db, struct sl_scan_worker *old_w,
			   const struct sl_scan_db *new_db, struct sl_scan_worker *new_w,
			   struct sl_scan_stream *s);

/* Writes masked evidence of a value for sensor idx (NUL-terminated, at most SL_SCAN_EVIDENCE_LEN
 * bytes): digits and letters become '*' except what the sensor's mask kind lets through. */
void sl_scan_mask(const struct sl_scan_db *db, unsigned sensor, const uint8_t *value, uint32_t len,
		  char *out, size_t outlen);

/* Returns the i-th recommended regex for `validator` ("nir", "luhn", "ssn", "iban"), or
 * NULL past the last one or for an unknown name. They are written to end where the value ends,
 * as the validators expect. */
const char *sl_scan_default_pattern(const char *validator, unsigned i);

/* Block-mode scan of a whole buffer (benchmarks, tests): same reporting as a stream. */
int sl_scan_block(const struct sl_scan_db *db, struct sl_scan_worker *w,
		  enum sl_scan_context context, const uint8_t *data, size_t len,
		  sl_scan_match_fn fn, void *ctx);

#endif /* SL_SCAN_H */
