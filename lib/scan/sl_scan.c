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
#define SL_SCAN_OVERREAD   64u /* bytes Hyperscan may read past a buffer (see near_page_end) */

_Static_assert(sizeof(((struct sl_scan_stream *)0)->tail) == SL_SCAN_TAIL, "tail size");
_Static_assert(SL_SCAN_MAX_SENSORS <= 64, "one bit per sensor in the dedup mask");

static const char *const context_names[] = {
#define SL_X(e, s) s,
    SL_SCAN_CONTEXTS(SL_X)
#undef SL_X
};

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
	enum sl_scan_mask_kind mask;
};

struct sl_scan_db {
	hs_database_t *hs;  /* HS_MODE_STREAM, every sensor */
	hs_database_t *som; /* HS_MODE_BLOCK + SOM, regex-only sensors; NULL if none */
	hs_scratch_t *proto;
	hs_scratch_t *som_proto;
	size_t stream_size; /* hs_stream_size(hs) */
	uint16_t tail_keep; /* largest sensor window */
	unsigned n;
	struct sl_sensor_def defs[SL_SCAN_MAX_SENSORS];
	struct sl_scan_sensor sensors[SL_SCAN_MAX_SENSORS];
};

static void
defs_free(struct sl_scan_db *db)
{
	for (unsigned i = 0; i < db->n; i++)
		for (unsigned k = 0; k < db->defs[i].n_patterns; k++)
			free((char *)db->defs[i].patterns[k]);
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
	return 0;
}

/* Compiles the patterns listed in ids/pat_of (total m) in `mode`. On failure maps Hyperscan's
 * expression index back to the sensor and pattern. Returns the database or NULL. */
static hs_database_t *
compile(const struct sl_scan_db *db, const char *const *exprs, const unsigned *flags,
	const unsigned *ids, const unsigned *pat_of, unsigned m, unsigned mode, const char *what,
	char *err, size_t errlen)
{
	hs_database_t *hdb = NULL;
	hs_compile_error_t *cerr = NULL;

	if (hs_compile_multi(exprs, flags, ids, m, mode, NULL, &hdb, &cerr) == HS_SUCCESS)
		return hdb;
	if (cerr && cerr->expression >= 0 && (unsigned)cerr->expression < m)
		snprintf(err, errlen, "sensor '%s' pattern %u: %s%s",
			 db->defs[ids[cerr->expression]].name, pat_of[cerr->expression] + 1,
			 cerr->message, what);
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
	return 0;
}

struct sl_scan_db *
sl_scan_db_build(const struct sl_sensor_def *defs, unsigned n, char *err, size_t errlen)
{
	const char *exprs[SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS];
	unsigned flags[SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS];
	unsigned ids[SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS];
	unsigned pat_of[SL_SCAN_MAX_SENSORS * SL_SCAN_MAX_PATTERNS];
	struct sl_scan_db *db;
	unsigned m = 0;

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
		db->n = i + 1; /* defs_free sees what was copied so far */
		for (unsigned k = 0; k < defs[i].n_patterns; k++) {
			d->patterns[k] = strdup(defs[i].patterns[k]);
			if (!d->patterns[k])
				goto fail_nomem_db;
			d->n_patterns = k + 1;
		}
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
			pat_of[m] = k;
		}
	}
	db->hs = compile(db, exprs, flags, ids, pat_of, m, HS_MODE_STREAM, "", err, errlen);
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
			pat_of[m] = k;
		}
	}
	if (m) {
		db->som =
		    compile(db, exprs, flags, ids, pat_of, m, HS_MODE_BLOCK,
			    " (start-of-match database; give the sensor a validator)", err, errlen);
		if (!db->som)
			goto fail_db;
	}
	if (set_windows(db, err, errlen))
		goto fail_db;
	if (hs_stream_size(db->hs, &db->stream_size) != HS_SUCCESS ||
	    hs_alloc_scratch(db->hs, &db->proto) != HS_SUCCESS ||
	    (db->som && hs_alloc_scratch(db->som, &db->som_proto) != HS_SUCCESS))
		goto fail_nomem_db;
	return db;

fail_nomem_db:
	sl_scan_db_free(db);
fail_nomem:
	snprintf(err, errlen, "out of memory building the sensor database");
	return NULL;
fail_db: /* err already says why */
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
	p->mem = aligned_alloc(SL_SCAN_CACHE_LINE, bytes);
	if (!p->mem)
		return -1;
	for (uint32_t i = n; i-- > 0;) {
		union sl_block_hdr *h = (union sl_block_hdr *)(p->mem + i * p->stride);

		h->pool = p;
		h->next = p->free_list;
		p->free_list = h;
	}
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
} __attribute__((aligned(SL_SCAN_CACHE_LINE)));

struct sl_scan_worker *
sl_scan_worker_create(const struct sl_scan_db *db, uint32_t max_streams, char *err, size_t errlen)
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
}

/* ---- Matching ---- */

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

/* Hyperscan stream callback: confirms one candidate and reports it. Never stops the scan. */
static int
on_hs_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	    void *arg)
{
	struct sl_scan_call *c = arg;
	const struct sl_scan_db *db = c->db;
	struct sl_scan_worker *w = c->w;
	struct sl_scan_stream *s = c->s;
	const struct sl_scan_sensor *sn;
	struct sl_scan_match m;
	uint64_t tail_start, start;
	const uint8_t *win;
	size_t win_len, vstart = 0, vlen = 0;
	int ok;

	(void)from;
	(void)flags;
	if (id >= db->n || c->priming)
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

	tail_start = c->base - s->tail_len;
	if (to < tail_start || to > c->base + c->len)
		goto reject; /* cannot happen: Hyperscan reports ends within data seen */
	start = to > sn->window ? to - sn->window : 0;
	if (start < tail_start)
		start = tail_start;
	win_len = (size_t)(to - start);
	if (start >= c->base) {
		win = c->data + (start - c->base);
	} else if (to <= c->base) {
		win = s->tail + (start - tail_start);
	} else {
		size_t from_tail = (size_t)(c->base - start);

		memcpy(w->win, s->tail + (start - tail_start), from_tail);
		memcpy(w->win + from_tail, c->data, (size_t)(to - c->base));
		win = w->win;
	}

	if (sn->v) {
		ok = sn->v->fn(win, win_len, &vstart, &vlen);
	} else {
		ok = som_confirm(w, db, id, win, win_len, &vstart);
		vlen = win_len - vstart;
	}
	if (!ok || vlen == 0 || vstart + vlen > win_len)
		goto reject;

	m.sensor = id;
	m.context = (enum sl_scan_context)s->context;
	m.offset = to - win_len + vstart;
	m.value = win + vstart;
	m.value_len = (uint32_t)vlen;
	w->stats.matches++;
	w->stats.sensor_hits[id]++;
	if (c->fn)
		c->fn(c->ctx, &m);
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
	if (hs_scan_stream(s->hs, (const char *)data, (unsigned)n, 0, w->scratch, on_hs_match, c) !=
	    HS_SUCCESS) {
		w->stats.scan_errors++;
		ret = -1;
	}
	tail_push(s, db->tail_keep, data, n);
	s->offset += n;
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
		sl_cur_pool = &w->pool;
		if (hs_close_stream(s->hs, w->scratch, on_hs_match, c) != HS_SUCCESS)
			w->stats.scan_errors++;
		sl_cur_pool = NULL;
	}
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

static inline int
is_alnum_ascii(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

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
		if (kind == SL_SCAN_MASK_PAN ? (value[i] >= '0' && value[i] <= '9')
					     : is_alnum_ascii(value[i]))
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
		int counted = kind == SL_SCAN_MASK_PAN ? (c >= '0' && c <= '9') : is_alnum_ascii(c);

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
