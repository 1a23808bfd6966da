/* sl_http: incremental HTTP/1.x parser and body decoders (see sl_http.h for the contract).
 *
 * The parser is a byte-at-a-time state machine for start lines, headers, chunk-size lines and
 * multipart delimiters, with bulk paths for body data and RAW, so any split of the input gives
 * the same result and work per byte is bounded. Nothing is buffered beyond the current token:
 * header lines are streamed to on_data as they arrive, and only the values the parser needs
 * (lengths, codings, content type, host) are kept, truncated to fixed buffers.
 *
 * Output is batched per sl_http_feed call in a small buffer (struct run) so that a header read
 * one byte at a time still reaches the scanner in runs; the buffer is flushed before any other
 * callback, so the order of data, unit ends, messages and anomalies follows the input.
 *
 * Body pipeline: framing (length, chunked, until close) -> content codings, outermost first, each
 * an ISA-L inflate state with its own output buffer in the pool -> caps -> content-type stage
 * (identity, form-urlencoded, multipart) -> on_data. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <emmintrin.h>

#include <brotli/decode.h>
#include <isa-l/igzip_lib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_initStaticDStream: decoders in fixed workspaces */
#include <zstd.h>

#include "sl_http.h"

/* ISA-L over zlib, by measurement (tools/bench_inflate.c: 16 MiB of JSON/HTML gzipped at level
 * 6, fed in 1448-byte segments into a reused 16 KiB output buffer): zlib 226 MB/s, ISA-L 789
 * MB/s, 3.5x. ISA-L also needs no allocator hooks: a state is one fixed struct. */
#define SL_HTTP_OUT_BUF	   16384
#define SL_HTTP_RATIO_STEP 65536 /* output between two inflate ratio checks */
#define SL_HTTP_EMIT_BUF   2048
#define SL_HTTP_BATCH_MAX  256 /* pieces up to this size are batched into one callback */
/* A brotli decoder's arena: its ring buffer for the largest window RFC 7932 allows (16 MiB, plus
 * a slack it adds), allocated once per body (reallocation disabled), and its Huffman tables and
 * context maps, allocated and freed per metablock: under 3 MiB at their largest. */
#define SL_HTTP_BR_ARENA ((size_t)(20u << 20))

enum state {
	ST_MSG_START = 0,
	ST_TOKEN,	   /* method, or "HTTP" of a status line */
	ST_TARGET,	   /* request-target */
	ST_REQ_VERSION,	   /* "HTTP/1.x" after the target */
	ST_STATUS_VERSION, /* "1.x " after "HTTP/" */
	ST_STATUS_CODE,
	ST_REASON,
	ST_LINE_LF, /* CR of the start line seen */
	ST_HDR_START,
	ST_HDR_NAME,
	ST_HDR_OWS,
	ST_HDR_VALUE,
	ST_HDR_CR,
	ST_HDR_END_CR,
	ST_BODY_CL,
	ST_BODY_CLOSE,
	ST_CHUNK_SIZE,
	ST_CHUNK_EXT,
	ST_CHUNK_SIZE_LF,
	ST_CHUNK_DATA,
	ST_CHUNK_DATA_CR,
	ST_CHUNK_DATA_LF,
	ST_WS_HDR,  /* WebSocket frame header */
	ST_WS_DATA, /* WebSocket frame payload */
	ST_RAW,
};

enum role { ROLE_NONE = 0, ROLE_REQ, ROLE_RESP };
enum hdr_kind {
	HK_OTHER = 0,
	HK_CL,
	HK_TE,
	HK_CE,
	HK_CT,
	HK_HOST,
	HK_UPGRADE,
	HK_WS_EXT,
	HK_CTE, /* Content-Transfer-Encoding: SMTP messages only (HTTP has none) */
};
/* d->smtp: the SMTP session state of a client direction */
enum smtp_state { SM_NONE = 0, SM_CMD, SM_DATA, SM_BDAT, SM_RAW };
/* d->smtp_dot: the DATA framing (RFC 5321 4.5.2) after the bytes seen so far */
enum smtp_dot {
	SD_MID = 0, /* inside a line */
	SD_BOL,	    /* at a line's start */
	SD_DOT,	    /* a '.' at a line's start: stuffing, or the end if CRLF follows */
	SD_DOT_CR,  /* ".\r" at a line's start */
};
enum enc { ENC_GZIP = 1, ENC_DEFLATE, ENC_ZSTD, ENC_BR };
enum layer_phase { LP_DETECT = 0, LP_RUN, LP_DONE, LP_FAILED, LP_MEMBER_END };
enum ctype_kind { CT_IDENTITY = 0, CT_FORM, CT_MULTIPART };
enum mp_state {
	MP_CONTENT = 0, /* preamble or part content, matching the delimiter */
	MP_AFTER,	/* full delimiter seen: "--" (close) or padding then CRLF must follow */
	MP_DASH,
	MP_AFTER_CR,
	MP_PH_START, /* part header line start */
	MP_PH_LINE,
	MP_PH_LINE_CR,
	MP_PH_END_CR,
	MP_EPILOGUE,
};
/* d->ph_ct: what the part headers read so far say about a nested multipart */
enum part_ct {
	PCT_NONE = 0,
	PCT_KEEP,   /* a Content-Type: multipart/... line (and its continuations) goes to ct */
	PCT_NESTED, /* the part is multipart: its boundary is the stack's next level */
	PCT_LOST,   /* the part is multipart, but no level is left to follow it */
};

#define SL_HTTP_MIME_CT 256 /* a part's multipart Content-Type value kept to find its boundary */

/* The boundaries of the multipart levels inside a body's own (level j > 0 in b[j - 1]), and the
 * Content-Type value of the part being read that may open the next one. */
struct mime_stack {
	uint8_t blen[SL_HTTP_MIME_DEPTH];
	char b[SL_HTTP_MIME_DEPTH][SL_HTTP_BOUNDARY_MAX];
	uint16_t ct_len; /* SL_HTTP_MIME_CT + 1: the value was longer than ct */
	char ct[SL_HTTP_MIME_CT];
};

/* d->flags */
#define F_HAS_CL    0x01
#define F_CHUNKED   0x02
#define F_TE_OTHER  0x04 /* a transfer coding other than chunked is last */
#define F_ENC_BAD   0x08 /* unknown content coding */
#define F_PENDING   0x10 /* a header line is complete but may still be folded */
#define F_TRAILER   0x20 /* reading trailers, not headers */
#define F_VAL_TRUNC 0x40
#define F_REASON    0x80 /* status line had a reason phrase */

/* d->ws */
#define WS_UPGRADE 0x01 /* Upgrade: websocket in this message's headers */
#define WS_DEFLATE 0x02 /* permessage-deflate accepted (the 101's Sec-WebSocket-Extensions) */
#define WS_BROKEN  0x04 /* the inflate window was lost: later compressed messages pass undecoded */
/* d->ws_op, beside the opcode */
#define WSF_FIN	   0x40
#define WSF_MASKED 0x80
enum ws_msg {
	WSM_NONE = 0,
	WSM_PLAIN,   /* uncompressed */
	WSM_DEFLATE, /* permessage-deflate, inflated through layer 0 */
	WSM_ASIS,    /* compressed in a way we cannot follow: passed on as it came (reported) */
};

/* The decoders of one kind that are free: a stack of their indexes. */
enum dec_kind { DK_INFLATE = 0, DK_ZSTD, DK_BR, DK_MIME, DK_COUNT };
struct free_list {
	uint32_t *idx;
	uint32_t n, max;
};

struct sl_http_pool {
	struct sl_http_params p;
	struct free_list free[DK_COUNT];
	struct inflate_state *states;
	/* zstd: max_zstd decoders, each in its own fixed workspace (no allocation when used) */
	ZSTD_DStream **zstd;
	uint8_t *zstd_mem;
	/* brotli: max_br decoders, each allocating only from its own arena (br_alloc) */
	struct br_slot *br;
	uint8_t *br_mem;
	struct mime_stack *mime; /* max_mime stacks */
	uint8_t out[SL_HTTP_MAX_LAYERS][SL_HTTP_OUT_BUF];
};

/* ---- brotli's memory ----
 * The brotli decoder allocates as it goes (its ring buffer, then tables for every metablock)
 * through the functions it is given: these serve it first-fit from one fixed arena per decoder,
 * blocks kept in address order and merged when freed, so a body decodes without malloc and a
 * decoder can never take more than its arena (an allocation that does not fit fails, which the
 * decoder reports as an error). The arena is emptied, decoder state and all, when it is taken
 * for the next body. */
struct br_block {
	size_t size; /* bytes, header included, a multiple of 16 */
	struct br_block *next;
};

struct br_arena {
	uint8_t *base;
	size_t size;
	struct br_block *free; /* free blocks in address order */
};

struct br_slot {
	struct br_arena a;
	BrotliDecoderState *dec;
};

static void
br_arena_reset(struct br_arena *a)
{
	a->free = (struct br_block *)a->base;
	a->free->size = a->size;
	a->free->next = NULL;
}

static void *
br_alloc(void *opaque, size_t n)
{
	struct br_arena *a = opaque;
	size_t need = (n + sizeof(struct br_block) + 15) & ~(size_t)15;

	if (n > a->size)
		return NULL;
	for (struct br_block **pp = &a->free, *b; (b = *pp) != NULL; pp = &b->next) {
		if (b->size < need)
			continue;
		if (b->size - need >= 64) { /* split: the rest stays free */
			struct br_block *rest = (struct br_block *)((uint8_t *)b + need);

			rest->size = b->size - need;
			rest->next = b->next;
			*pp = rest;
			b->size = need;
		} else {
			*pp = b->next;
		}
		return b + 1;
	}
	return NULL;
}

static void
br_release(void *opaque, void *p)
{
	struct br_arena *a = opaque;
	struct br_block *b, *prev = NULL, **pp = &a->free;

	if (p == NULL)
		return;
	b = (struct br_block *)p - 1;
	while (*pp && *pp < b) {
		prev = *pp;
		pp = &prev->next;
	}
	b->next = *pp;
	*pp = b;
	if (b->next && (uint8_t *)b + b->size == (uint8_t *)b->next) {
		b->size += b->next->size;
		b->next = b->next->next;
	}
	if (prev && (uint8_t *)prev + prev->size == (uint8_t *)b) {
		prev->size += b->size;
		prev->next = b->next;
	}
}

/* Everything one sl_http_feed call needs, plus the output batch. */
struct run {
	struct sl_http_pool *pool;
	struct sl_http_conn *conn;
	struct sl_http_dir *d;
	unsigned dir;
	const struct sl_http_callbacks *cb;
	void *ctx;
	int out_ctx;
	size_t out_len;
	uint8_t out[SL_HTTP_EMIT_BUF];
};

static const char *const anomaly_names[] = {
#define SL_X(e, s, u) s,
    SL_HTTP_ANOMALIES(SL_X)
#undef SL_X
};

static const uint8_t anomaly_uninspected[] = {
#define SL_X(e, s, u) u,
    SL_HTTP_ANOMALIES(SL_X)
#undef SL_X
};

const char *
sl_http_anomaly_name(enum sl_http_anomaly a)
{
	return (unsigned)a < SL_HTTP_AN_COUNT ? anomaly_names[a] : "http_unknown";
}

int
sl_http_anomaly_uninspected(enum sl_http_anomaly a)
{
	return (unsigned)a < SL_HTTP_AN_COUNT ? anomaly_uninspected[a] : 0;
}

/* RFC 9110 tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~ (a header name is tested byte by byte, so
 * this stays off libc's locale tables). */
static const uint8_t tchar_tab[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
    ['%'] = 1,	       ['&'] = 1,	  ['\''] = 1,	     ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1,	       ['^'] = 1,	  ['_'] = 1,	     ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

static inline int
is_tchar(uint8_t c)
{
	return tchar_tab[c];
}

/* Bytes before the first CR or LF of p[0..n): 16 at a time, reading nothing past n. */
static inline size_t
to_eol(const uint8_t *p, size_t n)
{
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	size_t k = 0;

	for (; k + 16 <= n; k += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(p + k));
		unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));

		if (m)
			return k + (unsigned)__builtin_ctz(m);
	}
	while (k < n && p[k] != '\r' && p[k] != '\n')
		k++;
	return k;
}

static inline int
is_digit(uint8_t c)
{
	return (uint8_t)(c - '0') < 10;
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
sl_http_detect(const uint8_t *p, size_t n)
{
	static const char status[] = "HTTP/1.x ddd";
	static const char version[] = "HTTP/1.";
	size_t i = 0, tok;

	/* Status line: a fixed 12-byte shape. */
	if (n > 0 && p[0] == 'H') {
		for (i = 0; i < n && i < 12; i++) {
			char want = status[i];
			int ok =
			    want == 'x' || want == 'd' ? is_digit(p[i]) : p[i] == (uint8_t)want;

			if (!ok)
				break;
		}
		if (i == 12)
			return 1;
		if (i == n)
			return -1;
		/* "HTTP/..." that failed is no request either ('/' is not a tchar); "HEAD" is. */
	}
	/* Request line: method SP target SP "HTTP/1." */
	for (i = 0; i < n && is_tchar(p[i]); i++)
		if (i >= SL_HTTP_METHOD_LEN - 1)
			return 0;
	if (i == n)
		return -1;
	if (i == 0 || p[i] != ' ')
		return 0;
	i++;
	tok = i;
	while (i < n && p[i] > ' ' && p[i] != 0x7f)
		i++;
	if (i == n)
		return -1;
	if (i == tok || p[i] != ' ')
		return 0;
	i++;
	for (size_t k = 0; k < sizeof(version) - 1; k++, i++) {
		if (i == n)
			return -1;
		if (p[i] != (uint8_t)version[k])
			return 0;
	}
	return 1;
}

/* ---- pool ---- */

/* Decoder workspaces are mapped, not malloc'ed: their pages are taken as bodies need them and
 * never touched up front (a debugging malloc would fill tens of megabytes per pool). */
static uint8_t *
map_lazy(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void
unmap_lazy(uint8_t *p, size_t n)
{
	if (p)
		munmap(p, n);
}

/* Fills free list f with all of its n decoders, the first on top. Returns 0 or -ENOMEM. */
static int
free_list_init(struct free_list *f, uint32_t n)
{
	f->idx = calloc(n, sizeof(uint32_t));
	if (f->idx == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		f->idx[i] = n - 1 - i;
	f->n = f->max = n;
	return 0;
}

/* One zstd decoder's fixed workspace, for windows up to SL_HTTP_ZSTD_WINDOW_LOG. */
static size_t
zstd_workspace(void)
{
	return (ZSTD_estimateDStreamSize((size_t)1 << SL_HTTP_ZSTD_WINDOW_LOG) + 63) & ~(size_t)63;
}

struct sl_http_pool *
sl_http_pool_create(const struct sl_http_params *p)
{
	struct sl_http_pool *pool;

	if (p == NULL || p->max_line == 0 || p->max_headers == 0)
		return NULL;
	pool = aligned_alloc(64, (sizeof(*pool) + 63) & ~(size_t)63);
	if (pool == NULL)
		return NULL;
	memset(pool, 0, sizeof(*pool));
	pool->p = *p;
	if (p->max_inflate) {
		size_t sz =
		    ((size_t)p->max_inflate * sizeof(struct inflate_state) + 63) & ~(size_t)63;

		pool->states = aligned_alloc(64, sz);
		if (pool->states == NULL || free_list_init(&pool->free[DK_INFLATE], p->max_inflate))
			goto fail_free;
		memset(pool->states, 0, sz);
	}
	if (p->max_zstd) {
		size_t sz = zstd_workspace();

		pool->zstd = calloc(p->max_zstd, sizeof(*pool->zstd));
		pool->zstd_mem = map_lazy(sz * p->max_zstd);
		if (pool->zstd == NULL || pool->zstd_mem == NULL ||
		    free_list_init(&pool->free[DK_ZSTD], p->max_zstd))
			goto fail_free;
		for (uint32_t i = 0; i < p->max_zstd; i++) {
			pool->zstd[i] = ZSTD_initStaticDStream(pool->zstd_mem + sz * i, sz);
			if (pool->zstd[i] == NULL ||
			    ZSTD_isError(ZSTD_DCtx_setParameter(pool->zstd[i], ZSTD_d_windowLogMax,
								SL_HTTP_ZSTD_WINDOW_LOG)))
				goto fail_free;
		}
	}
	if (p->max_br) {
		pool->br = calloc(p->max_br, sizeof(*pool->br));
		pool->br_mem = map_lazy(SL_HTTP_BR_ARENA * p->max_br);
		if (pool->br == NULL || pool->br_mem == NULL ||
		    free_list_init(&pool->free[DK_BR], p->max_br))
			goto fail_free;
		for (uint32_t i = 0; i < p->max_br; i++) {
			pool->br[i].a.base = pool->br_mem + SL_HTTP_BR_ARENA * i;
			pool->br[i].a.size = SL_HTTP_BR_ARENA;
		}
	}
	if (p->max_mime) {
		pool->mime = calloc(p->max_mime, sizeof(*pool->mime));
		if (pool->mime == NULL || p->max_mime > UINT16_MAX ||
		    free_list_init(&pool->free[DK_MIME], p->max_mime))
			goto fail_free;
	}
	return pool;

fail_free:
	sl_http_pool_free(pool);
	return NULL;
}

void
sl_http_pool_free(struct sl_http_pool *pool)
{
	if (pool == NULL)
		return;
	for (unsigned k = 0; k < DK_COUNT; k++)
		free(pool->free[k].idx);
	free(pool->states);
	free(pool->zstd);
	unmap_lazy(pool->zstd_mem, zstd_workspace() * pool->p.max_zstd);
	free(pool->br);
	free(pool->mime);
	unmap_lazy(pool->br_mem, SL_HTTP_BR_ARENA * pool->p.max_br);
	free(pool);
}

uint32_t
sl_http_pool_in_use(const struct sl_http_pool *pool)
{
	uint32_t n = 0;

	for (unsigned k = 0; k < DK_COUNT; k++)
		n += pool->free[k].max - pool->free[k].n;
	return n;
}

/* The free list of the decoders a layer of coding `kind` uses (gzip and deflate: inflate). */
static struct free_list *
free_list_of(struct sl_http_pool *pool, uint8_t kind)
{
	return &pool->free[kind == ENC_ZSTD ? DK_ZSTD : kind == ENC_BR ? DK_BR : DK_INFLATE];
}

/* Takes a decoder for layer l (of l->kind) into l->slot, its index + 1; 0 if none is free. */
static void
slot_get(struct sl_http_pool *pool, struct sl_http_layer *l)
{
	struct free_list *f = free_list_of(pool, l->kind);

	l->slot = f->n ? f->idx[--f->n] + 1 : 0;
}

/* Gives layer l's decoder back, if it holds one. */
static void
slot_put(struct sl_http_pool *pool, struct sl_http_layer *l)
{
	struct free_list *f = free_list_of(pool, l->kind);

	if (l->slot == 0)
		return;
	f->idx[f->n++] = l->slot - 1;
	l->slot = 0;
}

/* Gives back what a body holds from the pool: its coding layers' decoders, its MIME stack. */
static void
body_release(struct sl_http_pool *pool, struct sl_http_dir *d)
{
	for (unsigned i = 0; i < SL_HTTP_MAX_LAYERS; i++)
		slot_put(pool, &d->layer[i]);
	d->n_layers = 0;
	if (d->mime) {
		struct free_list *f = &pool->free[DK_MIME];

		f->idx[f->n++] = d->mime - 1u;
		d->mime = 0;
	}
	d->mp_depth = 0;
	d->ph_ct = PCT_NONE;
}

/* ---- output ---- */

static void
flush(struct run *r)
{
	if (r->out_len) {
		r->cb->on_data(r->ctx, (enum sl_scan_context)r->out_ctx, r->out, r->out_len);
		r->out_len = 0;
	}
}

static void
emit_byte(struct run *r, enum sl_scan_context c, uint8_t b)
{
	if (r->out_len && (r->out_ctx != (int)c || r->out_len == sizeof(r->out)))
		flush(r);
	r->out_ctx = c;
	r->out[r->out_len++] = b;
	r->d->open |= 1u << c;
}

/* Every callback costs a Hyperscan call (about 80 ns whatever its length, measured), so the
 * small pieces a header block is made of are batched into one; large ones go straight. */
static void
emit(struct run *r, enum sl_scan_context c, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	if (r->out_len && (r->out_ctx != (int)c || r->out_len + n > sizeof(r->out)))
		flush(r);
	r->d->open |= 1u << c;
	if (n <= SL_HTTP_BATCH_MAX) {
		r->out_ctx = c;
		memcpy(r->out + r->out_len, p, n);
		r->out_len += n;
		return;
	}
	flush(r);
	r->cb->on_data(r->ctx, c, p, n);
}

static void
unit_end(struct run *r, enum sl_scan_context c)
{
	flush(r);
	if (r->d->open & (1u << c)) {
		r->d->open &= ~(1u << c);
		if (r->cb->on_unit_end)
			r->cb->on_unit_end(r->ctx, c);
	}
}

static void
anomaly(struct run *r, enum sl_http_anomaly a)
{
	flush(r);
	if (r->cb->on_anomaly)
		r->cb->on_anomaly(r->ctx, a);
}

/* Percent-decoding shared by the URL and form bodies: a %XX split across calls decodes right;
 * an invalid escape is passed literally. plus: '+' means a space. */
static void
pct_byte(struct run *r, enum sl_scan_context c, uint8_t b, int plus)
{
	struct sl_http_dir *d = r->d;

	if (d->pct == 1) {
		if (hexval(b) >= 0) {
			d->pct_hi = b;
			d->pct = 2;
			return;
		}
		emit_byte(r, c, '%');
		d->pct = 0;
	} else if (d->pct == 2) {
		d->pct = 0;
		if (hexval(b) >= 0) {
			emit_byte(r, c, (uint8_t)(hexval(d->pct_hi) << 4 | hexval(b)));
			return;
		}
		emit_byte(r, c, '%');
		emit_byte(r, c, d->pct_hi);
	}
	if (b == '%')
		d->pct = 1;
	else
		emit_byte(r, c, plus && b == '+' ? ' ' : b);
}

static void
pct_flush(struct run *r, enum sl_scan_context c)
{
	struct sl_http_dir *d = r->d;

	if (d->pct >= 1)
		emit_byte(r, c, '%');
	if (d->pct == 2)
		emit_byte(r, c, d->pct_hi);
	d->pct = 0;
}

/* ---- multipart ---- */

static struct mime_stack *
mime_of(const struct run *r)
{
	return &r->pool->mime[r->d->mime - 1u];
}

/* Length of level j's delimiter, "\r\n--" and its boundary (level 0: the body's own). */
static unsigned
delim_len(const struct run *r, unsigned j)
{
	return 4u + (j == 0 ? r->d->boundary_len : mime_of(r)->blen[j - 1]);
}

/* Byte k of level j's delimiter. */
static uint8_t
delim_at(const struct run *r, unsigned j, unsigned k)
{
	if (k < 4)
		return (uint8_t) "\r\n--"[k];
	return (uint8_t)(j == 0 ? r->d->boundary[k - 4] : mime_of(r)->b[j - 1][k - 4]);
}

/* a[0..alen) equals the lowercase string b, ASCII case folded (no locale: a header name is
 * compared against several names per header line). b is a literal, so its length is a
 * constant once inlined and most mismatches cost one compare. */
static inline int
ieq(const char *a, size_t alen, const char *b)
{
	if (alen != strlen(b))
		return 0;
	for (size_t i = 0; i < alen; i++) {
		uint8_t c = (uint8_t)a[i];

		if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (uint8_t)b[i])
			return 0;
	}
	return 1;
}

/* base64 alphabet values (RFC 4648); 64 the padding '=', 65 whitespace (skipped), 255 anything
 * else. A table: base64 text is random, so a chain of range tests mispredicts on most bytes. */
/* clang-format off */
static const uint8_t b64_tab[256] = {
	255, 255, 255, 255, 255, 255, 255, 255, 255,  65,  65, 255, 255,  65, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	 65, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255,  64, 255, 255,
	255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
	255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};
/* clang-format on */

enum cte { CTE_NONE = 0, CTE_BASE64, CTE_QP };

/* Writes the bytes of q (0 to 3) held base64 characters, their 6-bit values the low bits of
 * acc, to out: 2 or 3 characters make 1 or 2 bytes, fewer none. Returns how many. */
static size_t
b64_tail(uint32_t acc, unsigned q, uint8_t *out)
{
	uint32_t full = acc << (6 * (4 - q));

	if (q < 2)
		return 0;
	out[0] = (uint8_t)(full >> 16);
	out[1] = (uint8_t)(full >> 8);
	return q - 1;
}

/* Emits the bytes of the held base64 characters (the end of the content). */
static void
b64_flush(struct run *r)
{
	struct sl_http_dir *d = r->d;
	uint32_t acc = 0;
	uint8_t out[2];

	for (unsigned j = 0; j < d->cte_n; j++)
		acc = acc << 6 | d->cte_q[j];
	emit(r, SL_SCAN_CTX_BODY, out, b64_tail(acc, d->cte_n, out));
	d->cte_n = 0;
}

/* base64 content. At the first character base64 does not have, what is held is decoded, an
 * anomaly says so, and the rest of the part is passed as sent (scanned, not lost). */
static void
b64_content(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	uint8_t out[1024];
	size_t o = 0;
	unsigned q = d->cte_n;
	uint32_t acc = 0;

	/* The quantum state lives in locals (emit's calls would make the compiler reload it from
	 * d at every byte); decoded bytes leave in runs, not 3 at a time. */
	for (unsigned j = 0; j < q; j++)
		acc = acc << 6 | d->cte_q[j];
	for (size_t i = 0; i < n; i++) {
		uint8_t v;

		/* Whole quanta of plain alphabet characters, the bulk of any base64 text (MIME
		 * lines are 76 characters, a multiple of 4): four lookups, one test. */
		while (q == 0 && i + 4 <= n && o <= sizeof(out) - 3) {
			uint32_t a = b64_tab[p[i]], b = b64_tab[p[i + 1]], c = b64_tab[p[i + 2]],
				 e = b64_tab[p[i + 3]];

			if ((a | b | c | e) >= 64)
				break;
			out[o] = (uint8_t)(a << 2 | b >> 4);
			out[o + 1] = (uint8_t)(b << 4 | c >> 2);
			out[o + 2] = (uint8_t)(c << 6 | e);
			o += 3;
			i += 4;
		}
		if (o > sizeof(out) - 3) {
			emit(r, SL_SCAN_CTX_BODY, out, o);
			o = 0;
		}
		if (i == n)
			break;
		v = b64_tab[p[i]];

		if (v < 64) {
			acc = acc << 6 | v;
			if (++q == 4) {
				out[o] = (uint8_t)(acc >> 16);
				out[o + 1] = (uint8_t)(acc >> 8);
				out[o + 2] = (uint8_t)acc;
				o += 3;
				q = 0;
				acc = 0;
				if (o > sizeof(out) - 3) {
					emit(r, SL_SCAN_CTX_BODY, out, o);
					o = 0;
				}
			}
			continue;
		}
		if (v == 65)
			continue;
		o += b64_tail(acc, q, out + o); /* padding, or the end of what can be decoded */
		q = 0;
		acc = 0;
		if (v == 64)
			continue;
		emit(r, SL_SCAN_CTX_BODY, out, o);
		d->cte_n = 0;
		anomaly(r, SL_HTTP_AN_BAD_BASE64);
		d->mp_cte = CTE_NONE;
		emit(r, SL_SCAN_CTX_BODY, p + i, n - i);
		return;
	}
	emit(r, SL_SCAN_CTX_BODY, out, o);
	for (unsigned j = 0; j < q; j++)
		d->cte_q[j] = (uint8_t)(acc >> (6 * (q - 1 - j)) & 63);
	d->cte_n = (uint8_t)q;
}

static int
hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Emits what a quoted-printable escape held, as sent: it was not one. */
static void
qp_flush(struct run *r)
{
	struct sl_http_dir *d = r->d;

	emit(r, SL_SCAN_CTX_BODY, d->cte_q, d->cte_n);
	d->cte_n = 0;
}

/* quoted-printable content (RFC 2045 6.7): "=XX" is byte XX, "=" at a line end a soft line
 * break (nothing), anything else is itself. */
static void
qp_content(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];

		if (d->cte_n == 0) {
			const uint8_t *eq = memchr(p + i, '=', n - i);
			size_t k = eq ? (size_t)(eq - p) : n;

			emit(r, SL_SCAN_CTX_BODY, p + i, k - i);
			if (k < n)
				d->cte_q[d->cte_n++] = '=';
			i = k + 1;
			continue;
		}
		if (d->cte_n == 1 && (hex_value(c) >= 0 || c == '\r')) {
			d->cte_q[d->cte_n++] = c;
		} else if (c == '\n' && (d->cte_n == 1 || d->cte_q[1] == '\r')) {
			d->cte_n = 0; /* soft line break */
		} else if (d->cte_n == 2 && d->cte_q[1] != '\r' && hex_value(c) >= 0) {
			uint8_t b = (uint8_t)(hex_value(d->cte_q[1]) << 4 | hex_value(c));

			emit(r, SL_SCAN_CTX_BODY, &b, 1);
			d->cte_n = 0;
		} else {
			qp_flush(r);
			continue; /* c again, outside an escape */
		}
		i++;
	}
}

/* Part content, decoded by its transfer encoding. */
static void
mp_content(struct run *r, const uint8_t *p, size_t n)
{
	switch (r->d->mp_cte) {
	case CTE_BASE64:
		b64_content(r, p, n);
		break;
	case CTE_QP:
		qp_content(r, p, n);
		break;
	default:
		emit(r, SL_SCAN_CTX_BODY, p, n);
	}
}

static void
mp_content_byte(struct run *r, uint8_t b)
{
	if (r->d->mp_cte)
		mp_content(r, &b, 1);
	else
		emit_byte(r, SL_SCAN_CTX_BODY, b);
}

/* The end of a part's content: what its decoder holds goes out. */
static void
mp_content_end(struct run *r)
{
	struct sl_http_dir *d = r->d;

	if (d->mp_cte == CTE_BASE64)
		b64_flush(r);
	else if (d->mp_cte == CTE_QP)
		qp_flush(r);
	d->mp_cte = CTE_NONE;
	d->cte_n = 0;
}

/* Whether a Content-Type value whose media type is v[0..mt) is multipart: form-data uploads;
 * mixed, alternative, related... in mail; any subtype has the same delimited parts (RFC 2046
 * 5.1). */
static int
is_multipart(const char *v, size_t mt)
{
	return mt > 10 && strncasecmp(v, "multipart/", 10) == 0;
}

/* The boundary parameter of a multipart Content-Type value v[0..n) whose media type ends at mt
 * (quoted or a token). Returns its length with *bp set, or 0 if there is none that RFC 2046
 * allows (1 to 70 bytes, no CR or LF). */
static size_t
ctype_boundary(const char *v, size_t n, size_t mt, const char **bp)
{
	const char *b = NULL;
	size_t blen = 0;

	for (size_t i = mt; i + 9 <= n; i++) {
		if (strncasecmp(v + i, "boundary=", 9) == 0 &&
		    (v[i - 1] == ';' || v[i - 1] == ' ' || v[i - 1] == '\t')) {
			b = v + i + 9;
			blen = n - (i + 9);
			break;
		}
	}
	if (b && blen && b[0] == '"') {
		const char *q = memchr(b + 1, '"', blen - 1);

		blen = q ? (size_t)(q - b - 1) : 0;
		b++;
	} else if (b) {
		size_t k = 0;

		while (k < blen && b[k] != ';' && b[k] != ' ' && b[k] != '\t')
			k++;
		blen = k;
	}
	if (b == NULL || blen == 0 || blen > SL_HTTP_BOUNDARY_MAX || memchr(b, '\r', blen) ||
	    memchr(b, '\n', blen))
		return 0;
	*bp = b;
	return blen;
}

/* Whether the part header line kept in ph is named `name` (a lowercase literal; ASCII case
 * folded, blanks before the colon allowed): if so *v is where its value starts, past the blanks
 * after the colon. */
static int
ph_named(const struct sl_http_dir *d, const char *name, size_t *v)
{
	const char *p = d->ph;
	size_t n = d->ph_len, colon = 0, e;

	while (colon < n && p[colon] != ':')
		colon++;
	for (e = colon; e > 0 && (p[e - 1] == ' ' || p[e - 1] == '\t'); e--)
		;
	if (colon == n || !ieq(p, e, name))
		return 0;
	for (*v = colon + 1; *v < n && (p[*v] == ' ' || p[*v] == '\t'); (*v)++)
		;
	return 1;
}

/* The part header line kept in ph (its first bytes) may be "Content-Type: multipart/...": then
 * its value goes to the MIME stack's ct from here on, continuation lines included, to find the
 * boundary of a nested level (ct_end). Takes the stack on the first such line of the body. */
static void
ct_begin(struct run *r)
{
	struct sl_http_dir *d = r->d;
	const char *p = d->ph;
	size_t n = d->ph_len, v, mt;
	struct mime_stack *ms;

	if (!ph_named(d, "content-type", &v))
		return;
	for (mt = v; mt < n && p[mt] != ';' && p[mt] != ' ' && p[mt] != '\t'; mt++)
		;
	if (!is_multipart(p + v, mt - v))
		return;
	if (d->mime == 0 && d->mp_depth < SL_HTTP_MIME_DEPTH) {
		struct free_list *f = &r->pool->free[DK_MIME];

		d->mime = f->n ? (uint16_t)(f->idx[--f->n] + 1) : 0;
	}
	if (d->mime == 0 || d->mp_depth >= SL_HTTP_MIME_DEPTH) {
		d->ph_ct = PCT_LOST;
		return;
	}
	ms = mime_of(r);
	ms->ct_len = (uint16_t)(n - v);
	memcpy(ms->ct, p + v, n - v);
	d->ph_ct = PCT_KEEP;
}

/* The multipart Content-Type value kept in ct is complete: its boundary becomes the next
 * level's (PCT_NESTED), unless it has none. */
static void
ct_end(struct run *r)
{
	struct sl_http_dir *d = r->d;
	struct mime_stack *ms = mime_of(r);
	const char *b = NULL;
	size_t n = ms->ct_len, mt = 0, blen = 0;

	while (mt < n && ms->ct[mt] != ';' && ms->ct[mt] != ' ' && ms->ct[mt] != '\t')
		mt++;
	if (n <= SL_HTTP_MIME_CT)
		blen = ctype_boundary(ms->ct, n, mt, &b);
	if (blen == 0) {
		d->ph_ct = PCT_NONE;
		anomaly(r, SL_HTTP_AN_MULTIPART_NO_BOUNDARY); /* its content goes as sent */
		return;
	}
	memcpy(ms->b[d->mp_depth], b, blen);
	ms->blen[d->mp_depth] = (uint8_t)blen;
	d->ph_ct = PCT_NESTED;
}

/* A part header line ended: Content-Transfer-Encoding base64 or quoted-printable makes the
 * part's content decoded; Content-Type multipart may make it a nested level. The line was kept
 * in d->ph (its first bytes, all this needs). */
static void
mp_header_line(struct run *r)
{
	struct sl_http_dir *d = r->d;
	const char *p = d->ph;
	size_t n = d->ph_len, v, e;

	if (d->ph_ct != PCT_KEEP && n && p[0] != '\0')
		ct_begin(r);
	int cte = ph_named(d, "content-transfer-encoding", &v);

	d->ph_len = 0;
	if (!cte)
		return;
	for (e = n; e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'); e--)
		;
	if (ieq(p + v, e - v, "base64"))
		d->mp_cte = CTE_BASE64;
	else if (ieq(p + v, e - v, "quoted-printable"))
		d->mp_cte = CTE_QP;
}

/* One more byte of a kept Content-Type value. */
static void
ct_byte(struct run *r, uint8_t c)
{
	struct mime_stack *ms = mime_of(r);

	if (ms->ct_len < SL_HTTP_MIME_CT)
		ms->ct[ms->ct_len++] = (char)c;
	else
		ms->ct_len = SL_HTTP_MIME_CT + 1;
}

/* A byte of a part header line: scanned, kept in ph while it fits, and in ct while a multipart
 * Content-Type is kept (its first line from where ph overflows, then its continuation lines). */
static void
mp_ph_byte(struct run *r, uint8_t c)
{
	struct sl_http_dir *d = r->d;

	emit_byte(r, SL_SCAN_CTX_HEADER, c);
	if (d->ph_ct == PCT_KEEP)
		ct_byte(r, c);
	if (d->ph_len < sizeof(d->ph)) {
		d->ph[d->ph_len++] = (char)c;
		return;
	}
	if (d->ph[0] != '\0' && d->ph_ct != PCT_KEEP) {
		ct_begin(r); /* a Content-Type longer than ph: its value is kept from here */
		if (d->ph_ct == PCT_KEEP)
			ct_byte(r, c);
	}
	d->ph[0] = '\0'; /* longer than any other line looked for */
}

/* The part headers ended (empty line): the part's content follows, a nested multipart body if
 * its Content-Type said so and it is sent as it is (RFC 2046 allows no other encoding). */
static void
mp_part_begin(struct run *r)
{
	struct sl_http_dir *d = r->d;

	if (d->ph_ct == PCT_KEEP)
		ct_end(r);
	unit_end(r, SL_SCAN_CTX_HEADER);
	d->mp_state = MP_CONTENT;
	if (d->ph_ct == PCT_NESTED && d->mp_cte == CTE_NONE) {
		d->mp_depth++;
		d->mp_match = 2; /* its first delimiter may come at once, without its CRLF */
		d->mp_virtual = 1;
	} else if (d->ph_ct == PCT_LOST && d->mp_cte == CTE_NONE) {
		anomaly(r, SL_HTTP_AN_MIME_NOT_DECODED); /* its parts go as sent */
	}
	d->ph_ct = PCT_NONE;
}

/* A whole delimiter of level mp_hit was read, a close delimiter if `close`: the part before it
 * ends, with the levels inside mp_hit (left unclosed), and the body goes on with the next part's
 * headers, the enclosing part's content after a nested close, or the body's epilogue. */
static void
mp_delimited(struct run *r, int close)
{
	struct sl_http_dir *d = r->d;
	unsigned hit = d->mp_hit;

	mp_content_end(r);
	unit_end(r, SL_SCAN_CTX_BODY);
	if (hit < d->mp_depth)
		anomaly(r, SL_HTTP_AN_MIME_UNCLOSED);
	d->mp_virtual = d->mp_match = 0;
	d->ph_len = 0;
	d->ph_ct = PCT_NONE;
	d->mp_depth = (uint8_t)hit;
	if (!close) {
		d->mp_state = MP_PH_START;
	} else if (hit == 0) {
		d->mp_state = MP_EPILOGUE;
	} else {
		d->mp_depth = (uint8_t)(hit - 1);
		d->mp_state = MP_CONTENT;
	}
}

/* Emits the first `upto` bytes of level j's delimiter as content: they were not a delimiter.
 * The leading CRLF is virtual (not in the input) before the first delimiter of a body or
 * level. */
static void
mp_unmatch(struct run *r, unsigned j, unsigned upto)
{
	struct sl_http_dir *d = r->d;

	for (unsigned k = d->mp_virtual ? 2 : 0; k < upto; k++)
		mp_content_byte(r, delim_at(r, j, k));
	d->mp_virtual = 0;
	d->mp_match = 0;
}

/* The bytes held in mp_match, the delimiter of a level still in mp_cand, are content. */
static void
mp_unmatch_held(struct run *r)
{
	unsigned cand = r->d->mp_cand;

	mp_unmatch(r, cand ? (unsigned)__builtin_ctz(cand) : 0, r->d->mp_match);
}

/* Takes c as byte mp_match of a delimiter: returns 1 if it still is one of an open level's, 0
 * if it is none. When it is one whole the state is MP_AFTER, with that level in mp_hit: the
 * shortest boundary first (RFC 2046 5.1.1 forbids one that starts another), the innermost
 * between equal ones; longer ones stay in mp_cand in case what follows ends it not. */
static int
mp_advance(struct run *r, uint8_t c)
{
	struct sl_http_dir *d = r->d;
	unsigned k = d->mp_match, cand = 0;

	if (k < 4) {
		if (c != delim_at(r, 0, k))
			return 0;
		d->mp_match++;
		d->mp_cand = (uint8_t)((2u << d->mp_depth) - 1); /* every open level */
		return 1;
	}
	for (unsigned j = 0; j <= d->mp_depth; j++)
		if ((d->mp_cand >> j & 1) && k < delim_len(r, j) && delim_at(r, j, k) == c)
			cand |= 1u << j;
	if (cand == 0)
		return 0;
	d->mp_cand = (uint8_t)cand;
	d->mp_match++;
	for (unsigned j = d->mp_depth + 1; j-- > 0;) {
		if ((cand >> j & 1) && delim_len(r, j) == k + 1) {
			d->mp_hit = (uint8_t)j;
			d->mp_pad = 0;
			d->mp_state = MP_AFTER;
			break;
		}
	}
	return 1;
}

/* What followed the whole delimiter of level mp_hit (its padding, then a '-' if `dash`) does
 * not end a delimiter line. A longer boundary of another level may still match (nothing but the
 * '-' read after it): matching goes on. Otherwise all that was held is content; padding is
 * given back as spaces (a tab among it becomes one, which no sensor tells apart). */
static void
mp_not_delimiter(struct run *r, int dash)
{
	struct sl_http_dir *d = r->d;
	unsigned hit = d->mp_hit;

	d->mp_state = MP_CONTENT;
	d->mp_cand &= (uint8_t) ~(1u << hit);
	if (d->mp_cand && d->mp_pad == 0 && (!dash || mp_advance(r, '-')))
		return;
	mp_unmatch(r, hit, delim_len(r, hit));
	for (; d->mp_pad; d->mp_pad--)
		mp_content_byte(r, ' ');
	if (dash)
		mp_content_byte(r, '-');
}

/* Multipart stage: delimiters "\r\n--boundary" of every open level found by a streaming match.
 * A boundary cannot hold CR (checked when parsed), so on a mismatch the only possible restart is
 * a CR at the current byte, and the held prefix is a delimiter's: no buffer is needed. */
static void
mp_stage(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	size_t i = 0;

	while (i < n && !d->body_stop) {
		uint8_t c = p[i];

		switch (d->mp_state) {
		case MP_EPILOGUE:
			emit(r, SL_SCAN_CTX_BODY, p + i, n - i);
			return;
		case MP_CONTENT:
			if (d->mp_match == 0) {
				const uint8_t *cr = memchr(p + i, '\r', n - i);
				size_t k = cr ? (size_t)(cr - p) : n;

				mp_content(r, p + i, k - i);
				d->mp_virtual = d->mp_virtual && k == i;
				i = k;
				if (i == n)
					return;
				c = p[i];
			}
			if (mp_advance(r, c)) {
				i++;
				continue;
			}
			mp_unmatch_held(r);
			continue; /* same byte, from a fresh match */
		case MP_AFTER:
			if (c == '-' && d->mp_pad == 0) {
				d->mp_state = MP_DASH;
			} else if (c == '\r') {
				d->mp_state = MP_AFTER_CR;
			} else if (c == '\n') {
				mp_delimited(r, 0);
			} else if ((c == ' ' || c == '\t') && d->mp_pad < UINT8_MAX) {
				d->mp_pad++;
			} else {
				mp_not_delimiter(r, 0);
				continue;
			}
			i++;
			continue;
		case MP_DASH:
			if (c == '-') {
				mp_delimited(r, 1);
				i++;
				continue;
			}
			mp_not_delimiter(r, 1);
			continue;
		case MP_AFTER_CR:
			if (c == '\n') {
				mp_delimited(r, 0);
				i++;
				continue;
			}
			d->mp_cand = 0; /* no boundary holds a CR */
			mp_not_delimiter(r, 0);
			d->mp_match = 1; /* the CR, held: it may start a delimiter */
			continue;
		case MP_PH_START:
			if (d->ph_ct == PCT_KEEP && c != ' ' && c != '\t')
				ct_end(r); /* not folded onto this line */
			if (c == '\r') {
				d->mp_state = MP_PH_END_CR;
			} else if (c == '\n') {
				mp_part_begin(r);
			} else {
				mp_ph_byte(r, c);
				d->mp_state = MP_PH_LINE;
			}
			i++;
			continue;
		case MP_PH_LINE:
			if (c == '\r') {
				d->mp_state = MP_PH_LINE_CR;
			} else if (c == '\n') {
				emit_byte(r, SL_SCAN_CTX_HEADER, '\n');
				mp_header_line(r);
				d->mp_state = MP_PH_START;
			} else {
				mp_ph_byte(r, c);
			}
			i++;
			continue;
		case MP_PH_LINE_CR:
			if (c == '\n') {
				emit_byte(r, SL_SCAN_CTX_HEADER, '\n');
				mp_header_line(r);
				d->mp_state = MP_PH_START;
				i++;
			} else {
				mp_ph_byte(r, '\r');
				d->mp_state = MP_PH_LINE;
			}
			continue;
		case MP_PH_END_CR:
			if (c == '\n') {
				mp_part_begin(r);
				i++;
			} else {
				mp_ph_byte(r, '\r');
				d->mp_state = MP_PH_LINE;
			}
			continue;
		}
	}
}

/* Content-type stage: decoded body bytes to on_data. */
static void
ctype_stage(struct run *r, const uint8_t *p, size_t n)
{
	switch (r->d->ctype_kind) {
	case CT_FORM:
		for (size_t i = 0; i < n; i++)
			pct_byte(r, SL_SCAN_CTX_BODY, p[i], 1);
		break;
	case CT_MULTIPART:
		mp_stage(r, p, n);
		break;
	default: /* an SMTP message may be base64 or quoted-printable as a whole */
		if (r->d->mp_cte)
			mp_content(r, p, n);
		else
			emit(r, SL_SCAN_CTX_BODY, p, n);
		break;
	}
}

/* Output of the last content coding: applies the output and ratio caps. Cut points are fixed
 * output offsets (the cap, multiples of SL_HTTP_RATIO_STEP) so they do not depend on how the
 * input was split; only the ratio decision uses the compressed bytes consumed so far. */
static void
decoded_stage(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	const struct sl_http_params *pp = &r->pool->p;

	while (n && !d->body_stop) {
		size_t take = n;

		if (pp->max_body_out && d->body_out >= pp->max_body_out) {
			anomaly(r, SL_HTTP_AN_BODY_CAP);
			d->body_stop = 1;
			return;
		}
		if (pp->max_body_out && take > pp->max_body_out - d->body_out)
			take = pp->max_body_out - d->body_out;
		if (pp->max_ratio && take > d->next_mark - d->body_out)
			take = d->next_mark - d->body_out;
		ctype_stage(r, p, take);
		d->body_out += take;
		p += take;
		n -= take;
		if (pp->max_ratio && d->body_out == d->next_mark) {
			if (d->body_out > d->consumed * pp->max_ratio) {
				anomaly(r, SL_HTTP_AN_RATIO_CAP);
				d->body_stop = 1;
				return;
			}
			d->next_mark += SL_HTTP_RATIO_STEP;
		}
	}
}

static void decode(struct run *r, unsigned i, const uint8_t *p, size_t n);

/* How much of the input zstd layer l may take in its next call: one step of the frame at most
 * (its header, a block header, a block), never the start of the next, and nothing while
 * decoded bytes wait to be flushed. An error then costs the same output whatever the split:
 * the steps before it were decoded and passed on by earlier calls, in every split. */
static size_t
zstd_take(const struct sl_http_layer *l, ZSTD_DStream *z, size_t n)
{
	size_t want;

	if (l->zflush)
		return 0;
	if (l->zhdr_len < 5) { /* ZSTD_FRAMEHEADERSIZE_PREFIX: enough to know the header's size */
		want = 5u - l->zhdr_len;
	} else {
		size_t hs = ZSTD_frameHeaderSize(l->zhdr, l->zhdr_len);

		if (!ZSTD_isError(hs) && l->zhdr_len < hs)
			want = hs - l->zhdr_len;
		else if (l->zhint > 3 && ZSTD_nextInputType(z) == ZSTDnit_block)
			want = l->zhint - 3; /* the hint preloads the next block's header */
		else
			want = l->zhint ? l->zhint : 1;
	}
	return n < want ? n : want;
}

/* Runs layer i's zstd decoder over p/n and passes its output on. Frames may follow each other
 * (each is decoded, as zstd -d does); between two, the layer waits in LP_MEMBER_END, so a body
 * that ends inside a frame is reported truncated. A frame whose header is refused (not zstd, a
 * window over SL_HTTP_ZSTD_WINDOW_LOG) is passed on undecoded from its first byte, so it is
 * still scanned; an error inside a frame stops the body (reported, flagged uninspected): what
 * follows is compressed data the decoder could not follow. */
static void
zstd_run(struct run *r, unsigned i, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	struct sl_http_layer *l = &d->layer[i];
	ZSTD_DStream *z = r->pool->zstd[l->slot - 1];

	if (l->phase != LP_RUN) { /* a new frame */
		l->phase = LP_RUN;
		l->zhint = 0;
		l->zhdr_len = 0;
		l->zflush = 0;
	}
	while (!d->body_stop) {
		size_t take = zstd_take(l, z, n), ret;
		ZSTD_inBuffer in = {p, take, 0};
		ZSTD_outBuffer out = {r->pool->out[i], SL_HTTP_OUT_BUF, 0};

		ret = ZSTD_decompressStream(z, &out, &in);
		/* No progress on input it asked for is never expected: taken as an error. */
		if (ZSTD_isError(ret) || (take && in.pos == 0 && out.pos == 0)) {
			/* The header refused, or inside the frame? Judged on the bytes taken by
			 * the calls that succeeded, the same whatever the split. */
			size_t hs = ZSTD_frameHeaderSize(l->zhdr, l->zhdr_len);

			anomaly(r, SL_HTTP_AN_DECOMPRESS_ERROR);
			l->phase = LP_FAILED;
			slot_put(r->pool, l);
			if (ZSTD_isError(hs) || l->zhdr_len < hs) {
				decode(r, i + 1, l->zhdr, l->zhdr_len);
				decode(r, i + 1, p, n);
			} else {
				d->body_stop = 1;
			}
			return;
		}
		for (size_t k = 0; k < in.pos && l->zhdr_len < sizeof(l->zhdr); k++)
			l->zhdr[l->zhdr_len++] = p[k];
		if (i == 0)
			d->consumed += in.pos;
		p += in.pos;
		n -= in.pos;
		l->zflush = out.pos == out.size;
		if (out.pos)
			decode(r, i + 1, r->pool->out[i], out.pos);
		if (ret == 0 && !l->zflush) { /* a frame ended, all of it out */
			l->phase = LP_MEMBER_END;
			if (n)
				zstd_run(r, i, p, n); /* the next frame, in this buffer */
			return;
		}
		l->zhint = (uint32_t)(ret < UINT32_MAX ? ret : UINT32_MAX);
		if (!l->zflush && n == 0)
			return;
	}
}

/* Runs layer i's brotli decoder over p/n and passes its output on (the decoder pushes what it
 * has decoded whenever it needs more input, so nothing waits for the next segment). At the end
 * of the stream the bytes after it are passed on undecoded, as after any finished coding; on an
 * error (corrupt data, a window over 16 MiB, or its arena exhausted) the anomaly is raised and
 * the rest of this input is passed on undecoded. */
static void
br_run(struct run *r, unsigned i, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	struct sl_http_layer *l = &d->layer[i];
	BrotliDecoderState *b = r->pool->br[l->slot - 1].dec;

	while (!d->body_stop) {
		size_t avail_in = n, avail_out = SL_HTTP_OUT_BUF, k;
		const uint8_t *next_in = p;
		uint8_t *next_out = r->pool->out[i];
		BrotliDecoderResult res = BrotliDecoderDecompressStream(
		    b, &avail_in, &next_in, &avail_out, &next_out, NULL);

		if (i == 0)
			d->consumed += n - avail_in;
		p = next_in;
		n = avail_in;
		k = SL_HTTP_OUT_BUF - avail_out;
		if (k)
			decode(r, i + 1, r->pool->out[i], k);
		if (res == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT)
			continue;
		if (res == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
			return;
		if (res == BROTLI_DECODER_RESULT_ERROR)
			anomaly(r, SL_HTTP_AN_DECOMPRESS_ERROR);
		l->phase = res == BROTLI_DECODER_RESULT_SUCCESS ? LP_DONE : LP_FAILED;
		slot_put(r->pool, l);
		decode(r, i + 1, p, n);
		return;
	}
}

/* Starts layer l's inflate state on a new stream, wrapped as crc_flag says (ISAL_GZIP,
 * ISAL_ZLIB, ISAL_DEFLATE). */
static void
inflate_start(struct run *r, struct sl_http_layer *l, int crc_flag)
{
	struct inflate_state *st = &r->pool->states[l->slot - 1];

	isal_inflate_init(st);
	st->crc_flag = (uint32_t)crc_flag;
	l->phase = LP_RUN;
}

/* Runs layer i's inflate over p/n and passes its output on. On error or at the end of the
 * compressed stream the layer's state goes back to the pool and what is left of its input is
 * passed on undecoded, so it is still scanned. ISA-L may hand unused bits back by moving next_in
 * before this call's input, so the rest is always taken from p/n (avail_in clamped to n). */
static void
inflate_run(struct run *r, unsigned i, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	struct sl_http_layer *l = &d->layer[i];
	struct inflate_state *st = &r->pool->states[l->slot - 1];

	st->next_in = (uint8_t *)p;
	st->avail_in = (uint32_t)n;
	while (!d->body_stop) {
		uint32_t before = st->avail_in;
		size_t k;
		int ret;

		st->next_out = r->pool->out[i];
		st->avail_out = SL_HTTP_OUT_BUF;
		ret = isal_inflate(st);
		if (st->avail_in > n) /* bits handed back from before this call */
			st->avail_in = (uint32_t)n;
		if (i == 0 && before > st->avail_in)
			d->consumed += before - st->avail_in;
		k = SL_HTTP_OUT_BUF - st->avail_out;
		if (k)
			decode(r, i + 1, r->pool->out[i], k);
		if (ret < 0 || ret == ISAL_NEED_DICT ||
		    (k == 0 && st->avail_in == before && st->block_state != ISAL_BLOCK_FINISH &&
		     before != 0)) {
			size_t left = st->avail_in;
			const uint8_t *rest = p + n - left;

			anomaly(r, SL_HTTP_AN_DECOMPRESS_ERROR);
			l->phase = LP_FAILED;
			slot_put(r->pool, l);
			decode(r, i + 1, rest, left);
			return;
		}
		if (st->block_state == ISAL_BLOCK_FINISH && l->kind == ENC_GZIP) {
			/* A gzip body may hold several members, and every gunzip decodes them
			 * all: a member that follows is decoded too. Bytes that do not start
			 * one pass on undecoded, as after any finished coding. */
			/* ISA-L hands back the whole bytes it read ahead past the member by
			 * moving next_in back: the next member starts there, when that is
			 * still inside this buffer. */
			const uint8_t *rest = st->next_in;
			size_t left = st->avail_in;

			if (rest < p || rest > p + n) {
				left = left > n ? n : left;
				rest = p + n - left;
			}
			if (left == 0) {
				l->phase = LP_MEMBER_END; /* the next bytes decide */
				return;
			}
			if (rest[0] == 0x1f && (left == 1 || rest[1] == 0x8b)) {
				inflate_start(r, l, ISAL_GZIP);
				st->next_in = (uint8_t *)rest;
				st->avail_in = (uint32_t)left;
				p = rest;
				n = left;
				continue;
			}
		}
		if (st->block_state == ISAL_BLOCK_FINISH) {
			/* Whole bytes ISA-L read ahead past the end stay in its bit buffer: they
			 * follow the stream, and are passed on with the rest (when they came in
			 * this call; an earlier call cannot have read past the end). */
			size_t ahead = st->read_in_length > 0 ? (size_t)st->read_in_length / 8 : 0;
			size_t left =
			    st->avail_in + (ahead < n - st->avail_in ? ahead : n - st->avail_in);
			const uint8_t *rest = p + n - left;

			l->phase = LP_DONE;
			slot_put(r->pool, l);
			decode(r, i + 1, rest, left);
			return;
		}
		if (st->avail_out != 0 && st->avail_in == 0)
			return;
	}
}

/* Feeds p/n to content-coding layer i (0 = outermost), or past the last one. */
static void
decode(struct run *r, unsigned i, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	struct sl_http_layer *l;

	if (n == 0 || d->body_stop)
		return;
	if (i == d->n_layers) {
		if (d->n_layers)
			decoded_stage(r, p, n);
		else
			ctype_stage(r, p, n);
		return;
	}
	l = &d->layer[i];
	switch (l->phase) {
	case LP_DETECT: {
		/* "deflate" is zlib-wrapped by the RFC and raw in practice: the zlib header's
		 * first two bytes are a multiple of 31 with method 8, which raw data rarely is. */
		uint8_t b1;

		if (!l->have_first) {
			l->first = p[0];
			l->have_first = 1;
			p++;
			n--;
			if (n == 0)
				return;
		}
		b1 = p[0];
		inflate_start(r, l,
			      (l->first & 0x0f) == 8 && (l->first >> 4) <= 7 &&
				      (((unsigned)l->first << 8) | b1) % 31 == 0
				  ? ISAL_ZLIB
				  : ISAL_DEFLATE);
		inflate_run(r, i, &l->first, 1);
		if (l->phase == LP_RUN)
			inflate_run(r, i, p, n);
		else
			decode(r, i, p, n);
		return;
	}
	case LP_RUN:
		if (l->kind == ENC_ZSTD)
			zstd_run(r, i, p, n);
		else if (l->kind == ENC_BR)
			br_run(r, i, p, n);
		else
			inflate_run(r, i, p, n);
		return;
	case LP_MEMBER_END: {
		if (l->kind == ENC_ZSTD) { /* another frame */
			zstd_run(r, i, p, n);
			return;
		}
		/* gzip member finished at the end of the last buffer: another member? */
		if (p[0] == 0x1f) {
			inflate_start(r, l, ISAL_GZIP);
			inflate_run(r, i, p, n);
			return;
		}
		l->phase = LP_DONE;
		slot_put(r->pool, l);
		decode(r, i + 1, p, n);
		return;
	}
	default:
		decode(r, i + 1, p, n);
		return;
	}
}

/* ---- message framing ---- */

static void
hold_add(struct sl_http_dir *d, uint8_t c)
{
	if (d->hold_len < sizeof(d->hold))
		d->hold[d->hold_len++] = (char)c;
}

/* Ends the body: flushes decoder state, closes units, returns inflate states. */
static void
body_end(struct run *r)
{
	struct sl_http_dir *d = r->d;

	if (!d->body_stop) {
		for (unsigned i = 0; i < d->n_layers; i++) {
			struct sl_http_layer *l = &d->layer[i];

			if (l->phase == LP_DETECT && l->have_first) {
				l->phase = LP_FAILED;
				decode(r, i + 1, &l->first, 1);
			} else if (l->phase == LP_RUN && d->body_in) {
				anomaly(r, SL_HTTP_AN_DECOMPRESS_ERROR);
				l->phase = LP_FAILED;
			}
		}
	}
	if (d->ctype_kind == CT_FORM)
		pct_flush(r, SL_SCAN_CTX_BODY);
	if (d->ctype_kind == CT_MULTIPART && d->mp_state == MP_CONTENT && !d->body_stop) {
		mp_unmatch_held(r);
		mp_content_end(r);
	}
	if (d->ctype_kind == CT_IDENTITY && d->mp_cte && !d->body_stop)
		mp_content_end(r);
	body_release(r->pool, d);
	unit_end(r, SL_SCAN_CTX_HEADER);
	unit_end(r, SL_SCAN_CTX_BODY);
	d->body_stop = 0;
}

/* De-chunked body bytes. */
static void
body_wire(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;

	if (d->body_stop)
		return;
	d->body_in += n;
	decode(r, 0, p, n);
	if (d->body_stop)
		body_release(r->pool, d); /* a cap was hit: the rest is skipped */
}

/* Switches d to RAW for good: the rejected token's bytes go first, then everything else. */
static void
go_raw(struct run *r, int why)
{
	struct sl_http_dir *d = r->d;

	if (why >= 0)
		anomaly(r, (enum sl_http_anomaly)why);
	if (d->state == ST_TARGET)
		pct_flush(r, SL_SCAN_CTX_URL);
	if (d->state >= ST_BODY_CL && d->state <= ST_CHUNK_DATA_LF)
		body_end(r);
	body_release(r->pool, d);
	unit_end(r, SL_SCAN_CTX_URL);
	unit_end(r, SL_SCAN_CTX_HEADER);
	unit_end(r, SL_SCAN_CTX_BODY);
	if (d->state == ST_TARGET || d->state == ST_REQ_VERSION ||
	    (d->state == ST_LINE_LF && d->role == ROLE_REQ)) {
		emit(r, SL_SCAN_CTX_RAW, (const uint8_t *)d->method, strlen(d->method));
		emit_byte(r, SL_SCAN_CTX_RAW, ' ');
	}
	emit(r, SL_SCAN_CTX_RAW, (const uint8_t *)d->hold, d->hold_len);
	d->hold_len = 0;
	d->state = ST_RAW;
}

/* ---- WebSocket (RFC 6455) ----
 * After a 101 answering a request with Upgrade: websocket, both directions carry frames. Client
 * frames are masked, each with a key of its own, so a raw scan of them sees nothing: payloads
 * are unmasked, a data message's frames make one BODY unit (a value cut across frames is
 * found), a control frame's payload (ping, pong, close reason) one RAW unit. Messages the sender
 * compressed with permessage-deflate (RFC 7692) are inflated through layer 0, kept from message
 * to message: the window carries over unless the sender starts afresh, which a new stream (a
 * final block ended the last) tells. A frame that breaks the protocol sends the rest of the
 * direction to RAW (http_ws_bad_frame). */

static int
ws_upgrade_token(struct run *r, const char *t, size_t n)
{
	if (ieq(t, n, "websocket"))
		r->d->ws |= WS_UPGRADE;
	return 0;
}

/* One extension of Sec-WebSocket-Extensions: its name, then "; parameters". Only whether
 * permessage-deflate was accepted matters: window sizes and context takeover are the
 * compressor's business (an inflater with the largest window follows every choice). */
static int
ws_extension(struct run *r, const char *t, size_t n)
{
	size_t k = 0;

	while (k < n && t[k] != ';')
		k++;
	while (k && (t[k - 1] == ' ' || t[k - 1] == '\t'))
		k--;
	if (ieq(t, k, "permessage-deflate"))
		r->d->ws |= WS_DEFLATE;
	return 0;
}

static void
ws_begin(struct sl_http_pool *pool, struct sl_http_dir *d, uint8_t deflate)
{
	body_release(pool, d);
	memset(d->layer, 0, sizeof(d->layer)); /* no phase left from an earlier body */
	d->state = ST_WS_HDR;
	d->ws = deflate;
	d->ws_hdr_len = d->ws_msg = d->ws_mpos = 0;
	d->ws_left = 0;
	d->ctype_kind = CT_IDENTITY;
}

/* Header bytes of the frame in d->ws_hdr: 2 until its length byte is known. */
static size_t
ws_hdr_need(const struct sl_http_dir *d)
{
	unsigned len7;

	if (d->ws_hdr_len < 2)
		return 2;
	len7 = d->ws_hdr[1] & 0x7f;
	return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (d->ws_hdr[1] & 0x80 ? 4 : 0);
}

/* A data message starts; rsv: the first frame's RSV1-3 bits. */
static void
ws_msg_begin(struct run *r, unsigned rsv)
{
	struct sl_http_dir *d = r->d;
	struct sl_http_layer *l = &d->layer[0];

	d->body_in = d->body_out = d->consumed = 0;
	d->next_mark = SL_HTTP_RATIO_STEP;
	d->body_stop = 0;
	d->ws_msg = WSM_PLAIN;
	if (rsv == 0)
		return;
	d->ws_msg = WSM_ASIS;
	if (rsv != 4 || !(d->ws & WS_DEFLATE)) {
		anomaly(r, SL_HTTP_AN_UNKNOWN_ENCODING); /* an extension we did not see agreed */
		return;
	}
	if (l->phase == LP_FAILED)
		d->ws |= WS_BROKEN; /* a corrupt message: the window is lost (reported then) */
	if (d->ws & WS_BROKEN)
		return;
	if (l->slot == 0) {
		memset(l, 0, sizeof(*l));
		l->kind = ENC_DEFLATE;
		slot_get(r->pool, l);
		if (l->slot == 0) {
			anomaly(r, SL_HTTP_AN_INFLATE_POOL_EMPTY);
			return;
		}
	}
	if (l->phase != LP_RUN) /* the first message, or the last ended its stream */
		inflate_start(r, l, ISAL_DEFLATE);
	d->n_layers = 1;
	d->ws_msg = WSM_DEFLATE;
}

static void
ws_msg_end(struct run *r)
{
	static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff}; /* RFC 7692 7.2.2 */
	struct sl_http_dir *d = r->d;

	if (d->ws_msg == WSM_DEFLATE) {
		if (d->layer[0].phase == LP_RUN && !d->body_stop)
			decode(r, 0, tail, sizeof(tail));
		if (d->body_stop) { /* a cap cut the message: its window is lost */
			d->ws |= WS_BROKEN;
			body_release(r->pool, d);
		}
	}
	unit_end(r, SL_SCAN_CTX_BODY);
	d->ws_msg = WSM_NONE;
}

/* Unmasked payload bytes of the current frame. */
static void
ws_payload(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;

	if ((d->ws_op & 0x0f) >= 8)
		emit(r, SL_SCAN_CTX_RAW, p, n);
	else if (d->ws_msg != WSM_DEFLATE)
		ctype_stage(r, p, n);
	else if (!d->body_stop) {
		d->body_in += n;
		decode(r, 0, p, n);
	}
}

static void
ws_frame_end(struct run *r)
{
	struct sl_http_dir *d = r->d;

	d->state = ST_WS_HDR;
	if ((d->ws_op & 0x0f) >= 8)
		unit_end(r, SL_SCAN_CTX_RAW);
	else if (d->ws_op & WSF_FIN)
		ws_msg_end(r);
}

/* The frame header is complete: checks it (RFC 6455 5.2, 5.4, 5.5) and starts its payload. */
static void
ws_frame_start(struct run *r)
{
	struct sl_http_dir *d = r->d;
	const uint8_t *h = d->ws_hdr;
	unsigned op = h[0] & 0x0f, rsv = (h[0] >> 4) & 7, fin = h[0] >> 7, k = 2;
	uint64_t len = h[1] & 0x7f;
	int bad;

	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		k = 4;
	} else if (len == 127) {
		len = 0;
		for (k = 2; k < 10; k++)
			len = len << 8 | h[k];
	}
	if (op >= 8)
		bad = op > 10 || !fin || len > 125 || rsv;
	else if (op == 0)
		bad = d->ws_msg == WSM_NONE || rsv;
	else
		bad = op > 2 || d->ws_msg != WSM_NONE;
	if (bad || len >> 63) {
		uint8_t hdr[sizeof(d->ws_hdr)];
		size_t hlen = d->ws_hdr_len;

		memcpy(hdr, d->ws_hdr, hlen);
		go_raw(r, SL_HTTP_AN_WS_BAD_FRAME);
		emit(r, SL_SCAN_CTX_RAW, hdr, hlen); /* the rejected frame's bytes go first */
		return;
	}
	if (op == 1 || op == 2)
		ws_msg_begin(r, rsv);
	d->ws_op = (uint8_t)(op | (fin ? WSF_FIN : 0) | (h[1] & 0x80 ? WSF_MASKED : 0));
	if (h[1] & 0x80)
		memcpy(d->ws_key, h + k, 4);
	d->ws_left = len;
	d->ws_mpos = 0;
	d->ws_hdr_len = 0;
	if (len == 0)
		ws_frame_end(r);
	else
		d->state = ST_WS_DATA;
}

static size_t
ws_header(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	size_t used = 0;

	while (used < n) {
		d->ws_hdr[d->ws_hdr_len++] = p[used++];
		if (d->ws_hdr_len == ws_hdr_need(d)) {
			ws_frame_start(r);
			break;
		}
	}
	return used;
}

static size_t
ws_data(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	size_t k = n < d->ws_left ? n : (size_t)d->ws_left;

	if (!(d->ws_op & WSF_MASKED)) {
		ws_payload(r, p, k);
	} else {
		uint8_t buf[1024];

		for (size_t done = 0; done < k;) {
			size_t m = k - done < sizeof(buf) ? k - done : sizeof(buf), i = 0;
			uint8_t key[4];
			uint64_t k64;

			for (unsigned j = 0; j < 4; j++)
				key[j] = d->ws_key[(d->ws_mpos + j) & 3];
			memcpy(&k64, key, 4);
			memcpy((uint8_t *)&k64 + 4, key, 4);
			for (; i + 8 <= m; i += 8) {
				uint64_t v;

				memcpy(&v, p + done + i, 8);
				v ^= k64;
				memcpy(buf + i, &v, 8);
			}
			for (; i < m; i++)
				buf[i] = p[done + i] ^ key[i & 3];
			d->ws_mpos = (uint8_t)((d->ws_mpos + m) & 3);
			ws_payload(r, buf, m);
			done += m;
		}
	}
	d->ws_left -= k;
	if (d->ws_left == 0)
		ws_frame_end(r);
	return k;
}

static void
msg_reset(struct sl_http_dir *d)
{
	d->flags = 0;
	d->ws = 0;
	d->msg_cte = CTE_NONE;
	d->n_enc = d->n_layers = d->ctype_kind = d->boundary_len = 0;
	d->status = 0;
	d->url_len = 0;
	d->url[0] = d->host[0] = d->ctype[0] = d->method[0] = 0;
	d->content_length = d->remaining = 0;
	d->line_len = d->n_headers = 0;
	d->hold_len = d->sub = 0;
	d->pct = d->in_query = 0;
	d->body_in = d->body_out = d->consumed = 0;
	d->next_mark = SL_HTTP_RATIO_STEP;
	d->body_stop = 0;
	memset(d->layer, 0, sizeof(d->layer));
}

/* Splits a comma-separated list value into trimmed tokens and calls fn for each; returns the
 * first negative value fn returns, else 0. */
static int
each_token(struct run *r, const char *v, size_t n, int (*fn)(struct run *, const char *, size_t))
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s) {
			int ret = fn(r, v + s, e - s);

			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int
add_coding(struct run *r, const char *t, size_t n)
{
	struct sl_http_dir *d = r->d;
	uint8_t e;

	if (ieq(t, n, "identity"))
		return 0;
	if (ieq(t, n, "gzip") || ieq(t, n, "x-gzip"))
		e = ENC_GZIP;
	else if (ieq(t, n, "deflate"))
		e = ENC_DEFLATE;
	else if (ieq(t, n, "zstd") && r->pool->p.max_zstd)
		e = ENC_ZSTD;
	else if (ieq(t, n, "br") && r->pool->p.max_br)
		e = ENC_BR;
	else {
		d->flags |= F_ENC_BAD;
		return 0;
	}
	if (d->n_enc < sizeof(d->enc))
		d->enc[d->n_enc] = e;
	if (d->n_enc < 255)
		d->n_enc++;
	return 0;
}

static int
add_te(struct run *r, const char *t, size_t n)
{
	struct sl_http_dir *d = r->d;

	if (d->flags & F_CHUNKED)
		return -1; /* chunked must be the last transfer coding, and only once */
	if (ieq(t, n, "chunked")) {
		d->flags = (d->flags | F_CHUNKED) & ~F_TE_OTHER;
		return 0;
	}
	if (ieq(t, n, "identity"))
		return 0;
	d->flags |= F_TE_OTHER;
	if (!ieq(t, n, "gzip") && !ieq(t, n, "x-gzip") && !ieq(t, n, "deflate"))
		return -1;
	return add_coding(r, t, n);
}

static int
add_cl(struct run *r, const char *t, size_t n)
{
	struct sl_http_dir *d = r->d;
	uint64_t v = 0;

	if (n > 18)
		return -SL_HTTP_AN_BAD_CONTENT_LENGTH - 1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((uint8_t)t[i]))
			return -SL_HTTP_AN_BAD_CONTENT_LENGTH - 1;
		v = v * 10 + (uint64_t)(t[i] - '0');
	}
	if ((d->flags & F_HAS_CL) && v != d->content_length)
		return -SL_HTTP_AN_CL_CONFLICT - 1;
	d->flags |= F_HAS_CL;
	d->content_length = v;
	return 0;
}

static void
copy_str(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* Content-Type: form, or multipart with its boundary. */
static void
parse_ctype(struct run *r, const char *v, size_t n)
{
	struct sl_http_dir *d = r->d;
	size_t mt = 0;

	copy_str(d->ctype, sizeof(d->ctype), v, n);
	while (mt < n && v[mt] != ';' && v[mt] != ' ' && v[mt] != '\t')
		mt++;
	if (ieq(v, mt, "application/x-www-form-urlencoded")) {
		d->ctype_kind = CT_FORM;
	} else if (is_multipart(v, mt)) {
		const char *b = NULL;
		size_t blen = ctype_boundary(v, n, mt, &b);

		if (blen == 0 || (d->flags & F_VAL_TRUNC)) {
			anomaly(r, SL_HTTP_AN_MULTIPART_NO_BOUNDARY);
			return;
		}
		memcpy(d->boundary, b, blen);
		d->boundary_len = (uint8_t)blen;
		d->ctype_kind = CT_MULTIPART;
	}
}

/* A header line is complete and not folded: act on the headers the framing needs. Returns -1
 * if the direction went RAW. */
static int
header_done(struct run *r)
{
	struct sl_http_dir *d = r->d;
	size_t n = d->val_len;
	int ret;

	d->flags &= ~F_PENDING;
	emit_byte(r, SL_SCAN_CTX_HEADER, '\n');
	while (n && (d->val[n - 1] == ' ' || d->val[n - 1] == '\t'))
		n--;
	switch (d->hdr_kind) {
	case HK_CL:
		if (d->flags & F_VAL_TRUNC) {
			go_raw(r, SL_HTTP_AN_BAD_CONTENT_LENGTH);
			return -1;
		}
		if (n == 0)
			ret = -SL_HTTP_AN_BAD_CONTENT_LENGTH - 1;
		else
			ret = each_token(r, d->val, n, add_cl);
		if (ret < 0) {
			go_raw(r, -ret - 1);
			return -1;
		}
		break;
	case HK_TE:
		if ((d->flags & F_VAL_TRUNC) || each_token(r, d->val, n, add_te) < 0) {
			go_raw(r, SL_HTTP_AN_BAD_TRANSFER_ENCODING);
			return -1;
		}
		break;
	case HK_CE:
		if (d->flags & F_VAL_TRUNC)
			d->flags |= F_ENC_BAD;
		each_token(r, d->val, n, add_coding);
		break;
	case HK_CT:
		parse_ctype(r, d->val, n);
		break;
	case HK_HOST:
		copy_str(d->host, sizeof(d->host), d->val, n);
		break;
	case HK_UPGRADE:
		each_token(r, d->val, n, ws_upgrade_token);
		break;
	case HK_WS_EXT:
		each_token(r, d->val, n, ws_extension);
		break;
	case HK_CTE:
		d->msg_cte = ieq(d->val, n, "base64")		  ? CTE_BASE64
			     : ieq(d->val, n, "quoted-printable") ? CTE_QP
								  : CTE_NONE;
		break;
	}
	return 0;
}

static void
classify_header(struct sl_http_dir *d)
{
#define KNOWN(s, k)                                                                                \
	{                                                                                          \
		s, sizeof(s) - 1, k                                                                \
	}
	static const struct {
		const char *name;
		uint8_t len, kind;
	} known[] = {
	    KNOWN("content-length", HK_CL),
	    KNOWN("transfer-encoding", HK_TE),
	    KNOWN("content-encoding", HK_CE),
	    KNOWN("content-type", HK_CT),
	    KNOWN("host", HK_HOST),
	    KNOWN("upgrade", HK_UPGRADE),
	    KNOWN("sec-websocket-extensions", HK_WS_EXT),
	    KNOWN("content-transfer-encoding", HK_CTE),
	};
#undef KNOWN

	d->hdr_kind = HK_OTHER;
	d->val_len = 0;
	d->flags &= ~F_VAL_TRUNC;
	if (d->flags & F_TRAILER)
		return; /* trailers cannot change framing or decoding */
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (d->name_len == known[i].len && ieq(d->name, d->name_len, known[i].name)) {
			d->hdr_kind = known[i].kind;
			break;
		}
}

static void
pending_push(struct sl_http_conn *c, const char *method, struct run *r)
{
	if (c->pend_count == SL_HTTP_PIPELINE) {
		anomaly(r, SL_HTTP_AN_PIPELINE_OVERFLOW);
		return;
	}
	copy_str(c->pending[(c->pend_head + c->pend_count) % SL_HTTP_PIPELINE], SL_HTTP_METHOD_LEN,
		 method, strlen(method));
	c->pend_count++;
}

static void
msg_end(struct run *r)
{
	struct sl_http_dir *d = r->d;

	d->msg_index++;
	d->state = ST_MSG_START;
	if (d->role == ROLE_REQ && strcmp(d->method, "CONNECT") == 0)
		d->state = ST_RAW; /* what follows is tunnelled */
}

/* Sets up the body decoders for a message that has a body. */
static void
body_begin(struct run *r)
{
	struct sl_http_dir *d = r->d;
	unsigned n_enc = d->n_enc;

	d->mp_state = MP_CONTENT;
	d->mp_match = 2; /* the first delimiter may open the body, without its CRLF */
	d->mp_virtual = 1;
	d->mp_cte = d->cte_n = d->ph_len = 0;
	d->mp_depth = d->mp_cand = 0;
	d->ph_ct = PCT_NONE;
	d->pct = 0;
	if (d->flags & F_ENC_BAD) {
		anomaly(r, SL_HTTP_AN_UNKNOWN_ENCODING); /* passed on undecoded */
		return;
	}
	if (n_enc == 0)
		return;
	if (n_enc > SL_HTTP_MAX_LAYERS) {
		anomaly(r, SL_HTTP_AN_TOO_MANY_ENCODINGS);
		return;
	}
	/* Codings are listed in the order applied: decode from the last. */
	for (unsigned i = 0; i < n_enc; i++) {
		struct sl_http_layer *l = &d->layer[i];

		memset(l, 0, sizeof(*l));
		l->kind = d->enc[n_enc - 1 - i];
		slot_get(r->pool, l);
		if (l->slot == 0) {
			body_release(r->pool, d);
			anomaly(r, SL_HTTP_AN_INFLATE_POOL_EMPTY);
			return;
		}
		if (l->kind == ENC_GZIP) {
			inflate_start(r, l, ISAL_GZIP);
		} else if (l->kind == ENC_ZSTD) {
			ZSTD_DCtx_reset(r->pool->zstd[l->slot - 1], ZSTD_reset_session_only);
			l->phase = LP_RUN;
		} else if (l->kind == ENC_BR) {
			struct br_slot *bs = &r->pool->br[l->slot - 1];

			/* The ring buffer is sized for the stream's window at once: growing it
			 * would hold the old and the new together. */
			br_arena_reset(&bs->a);
			bs->dec = BrotliDecoderCreateInstance(br_alloc, br_release, &bs->a);
			if (bs->dec == NULL ||
			    !BrotliDecoderSetParameter(
				bs->dec, BROTLI_DECODER_PARAM_DISABLE_RING_BUFFER_REALLOCATION,
				1)) {
				body_release(r->pool, d);
				anomaly(r, SL_HTTP_AN_INFLATE_POOL_EMPTY);
				return;
			}
			l->phase = LP_RUN;
		}
	}
	d->n_layers = (uint8_t)n_enc;
}

/* Reports the message whose headers just ended (an SMTP message is a request without a URL). */
static void
report_message(struct run *r)
{
	struct sl_http_dir *d = r->d;
	struct sl_http_msg m;

	memset(&m, 0, sizeof(m));
	m.is_request = d->role == ROLE_REQ || d->smtp;
	m.url_truncated = d->url_len >= SL_HTTP_URL_LEN;
	m.chunked = (d->flags & F_CHUNKED) != 0;
	m.n_encodings = d->n_enc;
	m.status = d->status;
	m.index = d->msg_index;
	m.content_length = (d->flags & F_HAS_CL) ? (int64_t)d->content_length : -1;
	m.method = d->method;
	m.url = d->smtp ? "" : d->url;
	m.host = d->host;
	m.content_type = d->ctype;
	flush(r);
	if (r->cb->on_message)
		r->cb->on_message(r->ctx, &m);
}

/* The headers of an SMTP message ended: it is reported, then its body, up to the end the
 * session's framing gives, goes through the MIME stages (mail has no content codings). */
static void
smtp_headers_done(struct run *r)
{
	struct sl_http_dir *d = r->d;

	report_message(r);
	d->n_enc = 0;
	d->flags &= (uint8_t)~F_ENC_BAD;
	body_begin(r);
	if (d->ctype_kind == CT_IDENTITY)
		d->mp_cte = d->msg_cte;
	d->state = ST_BODY_CLOSE;
}

/* Empty line after the headers (or trailers). Chooses the body framing (RFC 9112 6.3). */
static void
headers_done(struct run *r)
{
	struct sl_http_dir *d = r->d;
	struct sl_http_conn *c = r->conn;
	int body = 0, tunnel = 0;

	if ((d->flags & F_PENDING) && header_done(r) < 0)
		return;
	unit_end(r, SL_SCAN_CTX_HEADER);
	if (d->flags & F_TRAILER) {
		msg_end(r);
		return;
	}
	if (d->smtp) {
		smtp_headers_done(r);
		return;
	}
	if (d->role == ROLE_REQ) {
		if ((d->flags & F_TE_OTHER) && !(d->flags & F_CHUNKED)) {
			go_raw(r, SL_HTTP_AN_BAD_TRANSFER_ENCODING); /* length unknowable */
			return;
		}
		pending_push(c, d->method, r);
	} else if (d->status >= 200 || d->status < 100) {
		if (c->pend_count) {
			copy_str(d->method, sizeof(d->method), c->pending[c->pend_head],
				 strlen(c->pending[c->pend_head]));
			c->pend_head = (c->pend_head + 1) % SL_HTTP_PIPELINE;
			c->pend_count--;
		} else {
			anomaly(r, SL_HTTP_AN_UNSOLICITED_RESPONSE);
		}
	} else if (c->pend_count) {
		copy_str(d->method, sizeof(d->method), c->pending[c->pend_head],
			 strlen(c->pending[c->pend_head]));
	}
	if ((d->flags & F_CHUNKED) && (d->flags & F_HAS_CL))
		anomaly(r, SL_HTTP_AN_CL_AND_CHUNKED); /* chunked wins, as RFC 9112 says */

	report_message(r);

	if (d->role == ROLE_REQ) {
		body = (d->flags & F_CHUNKED) || d->content_length;
	} else if (d->status < 200 || d->status == 204 || d->status == 304 ||
		   strcmp(d->method, "HEAD") == 0) {
		body = 0;
		tunnel = d->status == 101;
	} else if (strcmp(d->method, "CONNECT") == 0 && d->status < 300) {
		tunnel = 1;
	} else {
		body = 1;
	}
	if (tunnel) {
		struct sl_http_dir *o = &c->dir[r->dir ^ 1];

		if (d->status == 101 && (d->ws & WS_UPGRADE) && (o->ws & WS_UPGRADE) &&
		    o->role == ROLE_REQ && o->state == ST_MSG_START) {
			uint8_t deflate = d->ws & WS_DEFLATE;

			ws_begin(r->pool, d, deflate);
			ws_begin(r->pool, o, deflate);
			return;
		}
		d->state = ST_RAW;
		if (o->state == ST_MSG_START && o->role == ROLE_REQ)
			o->state = ST_RAW;
		return;
	}
	if (d->role == ROLE_RESP && d->status < 200) {
		d->state = ST_MSG_START; /* interim: the final response follows */
		return;
	}
	if (!body) {
		msg_end(r);
		return;
	}
	body_begin(r);
	if (d->flags & F_CHUNKED) {
		d->state = ST_CHUNK_SIZE;
		d->remaining = d->sub = d->hold_len = 0;
		d->line_len = 0;
	} else if ((d->flags & F_HAS_CL) && !(d->flags & F_TE_OTHER)) {
		d->remaining = d->content_length;
		d->state = d->remaining ? ST_BODY_CL : ST_MSG_START;
		if (!d->remaining) {
			body_end(r);
			msg_end(r);
		}
	} else {
		d->state = ST_BODY_CLOSE;
	}
}

static void
start_headers(struct sl_http_dir *d)
{
	d->state = ST_HDR_START;
	d->line_len = 0;
	d->n_headers = 0;
	d->hold_len = 0;
}

/* One byte of a start line, header line or chunk-size line. Returns 1 if the byte was
 * consumed, 0 if it was rejected and the direction went RAW (the caller emits it as RAW). */
static int
step(struct run *r, uint8_t c)
{
	struct sl_http_dir *d = r->d;
	const struct sl_http_params *pp = &r->pool->p;

	if (d->state == ST_HDR_START)
		d->line_len = 0;
	if (d->state != ST_MSG_START && ++d->line_len > pp->max_line) {
		go_raw(r, SL_HTTP_AN_HEADER_TOO_LONG);
		return 0;
	}
	switch (d->state) {
	case ST_MSG_START:
		if (c == '\r' || c == '\n')
			return 1; /* empty lines between messages are tolerated */
		msg_reset(d);
		d->state = ST_TOKEN;
		d->line_len = 1;
		/* fall through */
	case ST_TOKEN:
		if (c == ' ' && d->hold_len && d->role != ROLE_RESP) {
			copy_str(d->method, sizeof(d->method), d->hold, d->hold_len);
			d->hold_len = 0;
			d->role = ROLE_REQ;
			d->state = ST_TARGET;
			d->sub = 0;
			return 1;
		}
		if (c == '/' && d->hold_len == 4 && memcmp(d->hold, "HTTP", 4) == 0 &&
		    d->role != ROLE_REQ) {
			hold_add(d, c);
			d->role = ROLE_RESP;
			d->state = ST_STATUS_VERSION;
			d->sub = 0;
			return 1;
		}
		if (is_tchar(c) && d->hold_len < SL_HTTP_METHOD_LEN - 1) {
			hold_add(d, c);
			return 1;
		}
		go_raw(r, d->role == ROLE_RESP ? SL_HTTP_AN_BAD_STATUS_LINE
					       : SL_HTTP_AN_BAD_REQUEST_LINE);
		return 0;
	case ST_TARGET:
		if (c == ' ' && d->sub) {
			pct_flush(r, SL_SCAN_CTX_URL);
			unit_end(r, SL_SCAN_CTX_URL);
			d->url[d->url_len < SL_HTTP_URL_LEN ? d->url_len : SL_HTTP_URL_LEN - 1] = 0;
			d->state = ST_REQ_VERSION;
			d->sub = 0;
			return 1;
		}
		if (c <= ' ' || c == 0x7f) {
			go_raw(r, SL_HTTP_AN_BAD_REQUEST_LINE);
			return 0;
		}
		d->sub = 1;
		if (d->url_len < SL_HTTP_URL_LEN) {
			if (d->url_len < SL_HTTP_URL_LEN - 1)
				d->url[d->url_len] = (char)c;
			d->url_len++;
		}
		pct_byte(r, SL_SCAN_CTX_URL, c, d->in_query); /* '+' is a space in the query */
		if (c == '?')
			d->in_query = 1;
		return 1;
	case ST_REQ_VERSION:
		if (d->sub < 7 ? c == (uint8_t) "HTTP/1."[d->sub] : d->sub == 7 && is_digit(c)) {
			hold_add(d, c);
			d->sub++;
			return 1;
		}
		if (d->sub == 8 && (c == '\r' || c == '\n')) {
			d->state = ST_LINE_LF;
			if (c == '\n')
				start_headers(d);
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_REQUEST_LINE);
		return 0;
	case ST_STATUS_VERSION:
		if (d->sub < 2	  ? c == (uint8_t) "1."[d->sub]
		    : d->sub == 2 ? is_digit(c)
				  : c == ' ') {
			hold_add(d, c);
			if (++d->sub == 4) {
				d->state = ST_STATUS_CODE;
				d->sub = 0;
			}
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_STATUS_LINE);
		return 0;
	case ST_STATUS_CODE:
		if (d->sub < 3 && is_digit(c)) {
			hold_add(d, c);
			d->status = (uint16_t)(d->status * 10 + (c - '0'));
			d->sub++;
			return 1;
		}
		if (d->sub == 3 && (c == ' ' || c == '\r' || c == '\n')) {
			d->hold_len = 0;
			d->state = c == ' ' ? ST_REASON : ST_LINE_LF;
			if (c == '\n')
				start_headers(d);
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_STATUS_LINE);
		return 0;
	case ST_REASON:
		if (c == '\r' || c == '\n') {
			if (d->flags & F_REASON)
				emit_byte(r, SL_SCAN_CTX_HEADER, '\n');
			d->state = ST_LINE_LF;
			if (c == '\n')
				start_headers(d);
			return 1;
		}
		d->flags |= F_REASON;
		emit_byte(r, SL_SCAN_CTX_HEADER, c);
		return 1;
	case ST_LINE_LF:
		if (c == '\n') {
			start_headers(d);
			return 1;
		}
		go_raw(r, d->role == ROLE_RESP ? SL_HTTP_AN_BAD_STATUS_LINE
					       : SL_HTTP_AN_BAD_REQUEST_LINE);
		return 0;
	case ST_HDR_START:
		if (c == '\r') {
			d->state = ST_HDR_END_CR;
			return 1;
		}
		if (c == '\n') {
			headers_done(r);
			return 1;
		}
		if (c == ' ' || c == '\t') {
			if (!(d->flags & F_PENDING)) {
				go_raw(r, SL_HTTP_AN_BAD_HEADER);
				return 0;
			}
			/* obs-fold: the recipient sees one space, then the value goes on */
			anomaly(r, SL_HTTP_AN_FOLDED_HEADER);
			emit_byte(r, SL_SCAN_CTX_HEADER, ' ');
			if (d->val_len < sizeof(d->val))
				d->val[d->val_len++] = ' ';
			d->state = ST_HDR_OWS;
			return 1;
		}
		if ((d->flags & F_PENDING) && header_done(r) < 0)
			return 0;
		if (++d->n_headers > pp->max_headers) {
			go_raw(r, SL_HTTP_AN_TOO_MANY_HEADERS);
			return 0;
		}
		d->name_len = 0;
		d->state = ST_HDR_NAME;
		/* fall through */
	case ST_HDR_NAME:
		if (is_tchar(c)) {
			if (d->name_len < sizeof(d->name))
				d->name[d->name_len++] = (char)c;
			emit_byte(r, SL_SCAN_CTX_HEADER, c);
			return 1;
		}
		if (c == ':' && d->name_len) {
			classify_header(d);
			emit_byte(r, SL_SCAN_CTX_HEADER, ':');
			emit_byte(r, SL_SCAN_CTX_HEADER, ' ');
			d->state = ST_HDR_OWS;
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_HEADER);
		return 0;
	case ST_HDR_OWS:
		if (c == ' ' || c == '\t')
			return 1;
		d->state = ST_HDR_VALUE;
		/* fall through */
	case ST_HDR_VALUE:
		if (c == '\r' || c == '\n') {
			d->flags |= F_PENDING;
			d->state = c == '\r' ? ST_HDR_CR : ST_HDR_START;
			return 1;
		}
		emit_byte(r, SL_SCAN_CTX_HEADER, c);
		if (d->hdr_kind != HK_OTHER) {
			if (d->val_len < sizeof(d->val))
				d->val[d->val_len++] = (char)c;
			else
				d->flags |= F_VAL_TRUNC;
		}
		return 1;
	case ST_HDR_CR:
		if (c == '\n') {
			d->state = ST_HDR_START;
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_HEADER);
		return 0;
	case ST_HDR_END_CR:
		if (c == '\n') {
			headers_done(r);
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_HEADER);
		return 0;
	case ST_CHUNK_SIZE:
		if (hexval(c) >= 0 && d->sub < 15) {
			hold_add(d, c);
			d->remaining = d->remaining << 4 | (uint64_t)hexval(c);
			d->sub++;
			return 1;
		}
		if (d->sub && (c == ';' || c == ' ' || c == '\t')) {
			hold_add(d, c);
			emit_byte(r, SL_SCAN_CTX_HEADER, c);
			d->state = ST_CHUNK_EXT;
			return 1;
		}
		if (d->sub && (c == '\r' || c == '\n'))
			goto chunk_line_end;
		go_raw(r, SL_HTTP_AN_BAD_CHUNK_SIZE);
		return 0;
	case ST_CHUNK_EXT:
		/* Extensions are scanned as HEADER: a receiver may read them. */
		if (c == '\r' || c == '\n')
			goto chunk_line_end;
		emit_byte(r, SL_SCAN_CTX_HEADER, c);
		return 1;
	case ST_CHUNK_SIZE_LF:
		if (c == '\n') {
			d->state = d->remaining ? ST_CHUNK_DATA : ST_HDR_START;
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_CHUNK_SIZE);
		return 0;
	case ST_CHUNK_DATA_CR:
		if (c == '\r') {
			d->state = ST_CHUNK_DATA_LF;
			return 1;
		}
		/* fall through */
	case ST_CHUNK_DATA_LF:
		if (c == '\n') {
			d->state = ST_CHUNK_SIZE;
			d->remaining = d->sub = d->hold_len = 0;
			d->line_len = 0;
			return 1;
		}
		go_raw(r, SL_HTTP_AN_BAD_CHUNK_END);
		return 0;
	default:
		return 0;
	}

chunk_line_end:
	unit_end(r, SL_SCAN_CTX_HEADER);
	d->hold_len = 0;
	if (d->remaining == 0) {
		body_end(r);
		d->flags |= F_TRAILER;
		d->flags &= ~F_PENDING;
		d->n_headers = 0;
	}
	d->line_len = 0;
	if (c == '\r') {
		d->state = ST_CHUNK_SIZE_LF;
	} else {
		d->state = d->remaining ? ST_CHUNK_DATA : ST_HDR_START;
	}
	return 1;
}

/* Keeps the value bytes of a header the parser acts on (hdr_kind), up to sizeof(val). */
static inline void
val_append(struct sl_http_dir *d, const uint8_t *p, size_t k)
{
	size_t fit = sizeof(d->val) - d->val_len;

	if (d->hdr_kind == HK_OTHER)
		return;
	if (k > fit)
		d->flags |= F_VAL_TRUNC;
	memcpy(d->val + d->val_len, p, k < fit ? k : fit);
	d->val_len = (uint8_t)(d->val_len + (k < fit ? k : fit));
}

/* Request-target bytes that step() would copy and emit unchanged: not a delimiter, not part of
 * a percent escape, not '+' or '?' (whose meaning depends on the query). */
static inline int
url_plain(uint8_t c)
{
	return c > ' ' && c < 0x7f && c != '%' && c != '+' && c != '?';
}

/* Bulk path for a run of plain bytes inside a request-target, reason phrase, header name or
 * header value, with exactly the effect of step() on each: the line cap cuts at the same byte,
 * which step() then handles. Returns the bytes taken; 0 leaves the next byte to step(). */
static size_t
line_run(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	const struct sl_http_params *pp = &r->pool->p;
	size_t k = 0, fit, room = pp->max_line > d->line_len ? pp->max_line - d->line_len : 0;

	if (n > room)
		n = room;
	switch (d->state) {
	case ST_TARGET:
		if (d->pct)
			return 0; /* an escape is being read */
		while (k < n && url_plain(p[k]))
			k++;
		if (k == 0)
			return 0;
		fit = d->url_len < SL_HTTP_URL_LEN - 1 ? SL_HTTP_URL_LEN - 1 - d->url_len : 0;
		memcpy(d->url + d->url_len, p, k < fit ? k : fit);
		d->url_len =
		    (uint16_t)(d->url_len + k < SL_HTTP_URL_LEN ? d->url_len + k : SL_HTTP_URL_LEN);
		d->sub = 1;
		emit(r, SL_SCAN_CTX_URL, p, k);
		break;
	case ST_REASON:
		k = to_eol(p, n);
		if (k == 0)
			return 0;
		d->flags |= F_REASON;
		emit(r, SL_SCAN_CTX_HEADER, p, k);
		break;
	case ST_HDR_NAME:
		while (k < n && is_tchar(p[k]))
			k++;
		if (k == 0)
			return 0;
		fit = sizeof(d->name) - d->name_len;
		memcpy(d->name + d->name_len, p, k < fit ? k : fit);
		d->name_len = (uint8_t)(d->name_len + (k < fit ? k : fit));
		emit(r, SL_SCAN_CTX_HEADER, p, k);
		break;
	case ST_HDR_VALUE:
		k = to_eol(p, n);
		if (k == 0)
			return 0;
		emit(r, SL_SCAN_CTX_HEADER, p, k);
		val_append(d, p, k);
		break;
	default:
		return 0;
	}
	d->line_len += (uint32_t)k;
	return k;
}

/* Fast paths for the fixed parts of a start line whole in p[0..n), with exactly the effect of
 * step() on each of their bytes: a request's method and its space, a status line up to its
 * reason ("HTTP/1.1 200 "), a request's version and line end. Anything else (a token cut by the
 * segment end, a bad byte, a line over the cap) is left to step(). Returns the bytes taken. */
static size_t
start_line(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	const struct sl_http_params *pp = &r->pool->p;
	size_t k = 0, room = pp->max_line > d->line_len ? pp->max_line - d->line_len : 0;

	if (d->state == ST_REQ_VERSION) {
		if (d->sub || n < 9 || room < 10 || memcmp(p, "HTTP/1.", 7) || !is_digit(p[7]))
			return 0;
		k = p[8] == '\n' ? 9 : p[8] == '\r' && n >= 10 && p[9] == '\n' ? 10 : 0;
		if (k) {
			d->sub = 8;
			start_headers(d);
		}
		return k;
	}
	if (d->state != ST_MSG_START || p[0] == '\r' || p[0] == '\n' || pp->max_line < 13)
		return 0;
	if (d->role != ROLE_REQ && n >= 13 && memcmp(p, "HTTP/1.", 7) == 0 && is_digit(p[7]) &&
	    p[8] == ' ' && is_digit(p[9]) && is_digit(p[10]) && is_digit(p[11]) &&
	    (p[12] == ' ' || p[12] == '\r' || p[12] == '\n')) {
		msg_reset(d);
		d->role = ROLE_RESP;
		d->status = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
		d->sub = 3;
		d->line_len = 13;
		d->state = p[12] == ' ' ? ST_REASON : ST_LINE_LF;
		if (p[12] == '\n')
			start_headers(d);
		return 13;
	}
	if (d->role == ROLE_RESP)
		return 0;
	while (k < n && k < SL_HTTP_METHOD_LEN - 1 && is_tchar(p[k]))
		k++;
	if (k == 0 || k == n || p[k] != ' ' || k + 1 > pp->max_line)
		return 0;
	msg_reset(d);
	copy_str(d->method, sizeof(d->method), (const char *)p, k);
	d->role = ROLE_REQ;
	d->state = ST_TARGET;
	d->sub = 0;
	d->line_len = (uint32_t)(k + 1);
	return k + 1;
}

/* Fast path for a header line that is whole in p[0..n): "name:" OWS value, then CRLF or LF, within
 * the line cap. It has exactly the effect of step() on each of its bytes; any other line
 * (end of headers, folding, a bad byte, a line cut by the segment end or too long) is left to
 * step(). Returns the bytes taken: 0 with the state unchanged leaves the line to step(); 0
 * with the direction gone RAW means the line ended the previous header badly. */
static size_t
header_line(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	const struct sl_http_params *pp = &r->pool->p;
	size_t name_n = 0, v, e, eol, fit;

	if (n > pp->max_line)
		n = pp->max_line; /* with its line end, the line must fit: step() counts every byte
				   */
	while (name_n < n && is_tchar(p[name_n]))
		name_n++;
	if (name_n == 0 || name_n == n || p[name_n] != ':' || d->n_headers >= pp->max_headers)
		return 0;
	e = name_n + 1 + to_eol(p + name_n + 1, n - name_n - 1);
	if (e == n)
		return 0;
	if (p[e] == '\n')
		eol = 1;
	else if (e + 1 < n && p[e + 1] == '\n')
		eol = 2;
	else
		return 0;
	if ((d->flags & F_PENDING) && header_done(r) < 0)
		return 0;
	d->n_headers++;
	fit = name_n < sizeof(d->name) ? name_n : sizeof(d->name);
	memcpy(d->name, p, fit);
	d->name_len = (uint8_t)fit;
	emit(r, SL_SCAN_CTX_HEADER, p, name_n);
	classify_header(d);
	emit(r, SL_SCAN_CTX_HEADER, (const uint8_t *)": ", 2);
	for (v = name_n + 1; v < e && (p[v] == ' ' || p[v] == '\t'); v++)
		;
	emit(r, SL_SCAN_CTX_HEADER, p + v, e - v);
	val_append(d, p + v, e - v);
	d->flags |= F_PENDING;
	d->line_len = (uint32_t)(e + eol);
	return e + eol;
}

/* The fast path of d's state, if it has one: the bytes it took, or 0 (see each). */
static size_t
fast_path(struct run *r, const uint8_t *p, size_t n)
{
	switch (r->d->state) {
	case ST_MSG_START:
	case ST_REQ_VERSION:
		return start_line(r, p, n);
	case ST_HDR_START:
		return header_line(r, p, n);
	case ST_TARGET:
	case ST_REASON:
	case ST_HDR_NAME:
	case ST_HDR_VALUE:
		return line_run(r, p, n);
	default:
		return 0;
	}
}

/* Equivalent to zeroing c, at a fraction of the cost (a flow's HTTP state is set up per flow):
 * every byte array from `hold` on is read only below its length field or as a string, and the
 * strings are emptied here. */
void
sl_http_conn_init(struct sl_http_conn *c)
{
	for (int i = 0; i < 2; i++) {
		struct sl_http_dir *d = &c->dir[i];

		memset(d, 0, offsetof(struct sl_http_dir, hold));
		d->method[0] = d->url[0] = d->host[0] = d->ctype[0] = '\0';
		d->env.helo[0] = d->env.from[0] = d->env.rcpt[0] = '\0';
	}
	c->pend_head = c->pend_count = 0;
}

/* Runs the message parser over len bytes of the direction (for SMTP, of the current message). */
static void
parse(struct run *r, const uint8_t *data, size_t len)
{
	struct sl_http_dir *d = r->d;
	size_t i = 0;

	while (i < len) {
		size_t n = len - i;

		switch (d->state) {
		case ST_RAW:
			emit(r, SL_SCAN_CTX_RAW, data + i, n);
			i = len;
			break;
		case ST_BODY_CLOSE:
			body_wire(r, data + i, n);
			i = len;
			break;
		case ST_WS_HDR:
			i += ws_header(r, data + i, n);
			break;
		case ST_WS_DATA:
			i += ws_data(r, data + i, n);
			break;
		case ST_BODY_CL:
		case ST_CHUNK_DATA:
			if (n > d->remaining)
				n = d->remaining;
			body_wire(r, data + i, n);
			i += n;
			d->remaining -= n;
			if (d->remaining == 0) {
				if (d->state == ST_CHUNK_DATA) {
					d->state = ST_CHUNK_DATA_CR;
				} else {
					body_end(r);
					msg_end(r);
				}
			}
			break;
		default: {
			/* a fast path if the state has one, else (or if it declines) step() */
			uint8_t st = d->state;
			size_t k = fast_path(r, data + i, n);

			if (k)
				i += k;
			else if (d->state == st && step(r, data[i]))
				i++;
			break;
		}
		}
	}
}

/* ---- SMTP client (RFC 5321) ----
 * The session is command lines, scanned as RAW units (apart from the message's header lines,
 * which a BDAT command may interrupt). DATA or BDAT opens a message, an RFC 5322 message run
 * through the same parser as an HTTP message's headers and body (MIME multipart, base64 and
 * quoted-printable). DATA's framing is undone first: a line's leading dot is stuffing, a line of
 * a lone dot ends the message; BDAT gives its chunk sizes. What follows STARTTLS is ciphertext,
 * and after a hole the framing is lost: RAW. */

int
sl_http_detect_smtp(const uint8_t *p, size_t n)
{
	return n >= 5 && (ieq((const char *)p, 4, "ehlo") || ieq((const char *)p, 4, "helo")) &&
	       p[4] == ' ';
}

void
sl_http_conn_smtp(struct sl_http_conn *c, unsigned dir)
{
	struct sl_http_dir *d = &c->dir[dir & 1];

	d->smtp = SM_CMD;
	d->smtp_len = d->smtp_msg = 0;
	d->state = ST_RAW; /* no message open */
}

static void
smtp_msg_begin(struct sl_http_dir *d)
{
	msg_reset(d);
	start_headers(d);
	d->smtp_msg = 1;
}

/* The session's framing ended the message; commands follow. Headers never closed by an empty line
 * end there (a message may have no body); a header line cut short goes out as RAW, as any cut
 * token. */
static void
smtp_msg_end(struct run *r)
{
	struct sl_http_dir *d = r->d;

	if (d->state == ST_HDR_START)
		parse(r, (const uint8_t *)"\r\n", 2);
	if (d->state == ST_BODY_CLOSE)
		body_end(r);
	else if (d->state != ST_RAW)
		go_raw(r, -1);
	unit_end(r, SL_SCAN_CTX_HEADER);
	d->msg_index++;
	d->state = ST_RAW;
	d->smtp_msg = 0;
	d->smtp = SM_CMD;
}

/* Copies the argument of a command (from `at`, up to the end or past a closing '>'). */
static void
smtp_arg(char *dst, size_t cap, const char *l, size_t n, size_t at)
{
	size_t e;

	while (at < n && l[at] == ' ')
		at++;
	for (e = at; e < n && l[e] != '>'; e++)
		;
	copy_str(dst, cap, l + at, e < n ? e + 1 - at : n - at);
}

/* Keeps the envelope (RFC 5321 4.1.1): HELO/EHLO name, MAIL FROM (a new transaction: its
 * recipients start over), the first RCPT TO; RSET forgets the transaction. */
static void
smtp_envelope_line(struct sl_http_dir *d, const char *l, size_t n)
{
	if (n > 5 && (ieq(l, 5, "ehlo ") || ieq(l, 5, "helo ")))
		smtp_arg(d->env.helo, sizeof(d->env.helo), l, n, 5);
	else if (n > 10 && ieq(l, 10, "mail from:")) {
		smtp_arg(d->env.from, sizeof(d->env.from), l, n, 10);
		d->env.rcpt[0] = '\0';
	} else if (n > 8 && ieq(l, 8, "rcpt to:") && d->env.rcpt[0] == '\0')
		smtp_arg(d->env.rcpt, sizeof(d->env.rcpt), l, n, 8);
	else if (ieq(l, n, "rset"))
		d->env.from[0] = d->env.rcpt[0] = '\0';
}

void
sl_http_smtp_envelope(const struct sl_http_conn *c, unsigned dir, struct sl_http_smtp_envelope *out)
{
	const struct sl_http_dir *d = &c->dir[dir & 1];

	out->helo = d->env.helo;
	out->mail_from = d->env.from;
	out->rcpt_to = d->env.rcpt;
}

/* A complete command line, its start in env.line. */
static void
smtp_command(struct run *r)
{
	struct sl_http_dir *d = r->d;
	const char *l = d->env.line;
	size_t n = d->smtp_len, i = 5;
	uint64_t size = 0;

	while (n && (l[n - 1] == '\r' || l[n - 1] == '\n' || l[n - 1] == ' '))
		n--;
	smtp_envelope_line(d, l, n);
	if (ieq(l, n, "data")) {
		smtp_msg_begin(d);
		d->smtp = SM_DATA;
		d->smtp_dot = SD_BOL;
		return;
	}
	if (ieq(l, n, "starttls")) {
		d->smtp = SM_RAW;
		return;
	}
	if (n < 6 || !ieq(l, 5, "bdat ") || !is_digit((uint8_t)l[5]))
		return; /* any other command: nothing to follow */
	for (; i < n && is_digit((uint8_t)l[i]) && i < 5 + 18; i++)
		size = size * 10 + (uint64_t)(l[i] - '0');
	while (i < n && l[i] == ' ')
		i++;
	d->smtp_last = ieq(l + i, n - i, "last");
	if (!d->smtp_msg)
		smtp_msg_begin(d); /* clears url[0], that is l[0]: l is not read after this */
	d->smtp_left = size;
	if (size)
		d->smtp = SM_BDAT;
	else if (d->smtp_last)
		smtp_msg_end(r);
}

static size_t
smtp_cmd(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	const uint8_t *lf = memchr(p, '\n', n);
	size_t k = lf ? (size_t)(lf - p) + 1 : n;

	emit(r, SL_SCAN_CTX_RAW, p, k);
	for (size_t i = 0; i < k && d->smtp_len < sizeof(d->env.line); i++)
		d->env.line[d->smtp_len++] = (char)p[i];
	if (lf) {
		unit_end(r, SL_SCAN_CTX_RAW);
		smtp_command(r);
		d->smtp_len = 0;
	}
	return k;
}

/* DATA: undoes the dot-stuffing and finds the end (RFC 5321 4.5.2; a bare LF ends lines too). */
static size_t
smtp_data(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;
	size_t i = 0;

	while (i < n) {
		const uint8_t *lf;
		size_t k;

		switch (d->smtp_dot) {
		case SD_BOL:
			if (p[i] == '.') {
				d->smtp_dot = SD_DOT;
				i++;
				continue;
			}
			break;
		case SD_DOT:
			if (p[i] == '\r') {
				d->smtp_dot = SD_DOT_CR;
				i++;
				continue;
			}
			if (p[i] == '\n') {
				smtp_msg_end(r);
				return i + 1;
			}
			break; /* the dot was stuffing */
		case SD_DOT_CR:
			if (p[i] == '\n') {
				smtp_msg_end(r);
				return i + 1;
			}
			parse(r, (const uint8_t *)"\r", 1);
			break;
		}
		/* Lines up to the next one that starts with a dot (or the end of the input) go
		 * to the parser in one call. */
		for (k = i + 1; (lf = memchr(p + k, '.', n - k)) != NULL; k = (size_t)(lf - p) + 1)
			if (lf[-1] == '\n')
				break;
		k = lf ? (size_t)(lf - p) : n;
		d->smtp_dot = lf || p[n - 1] == '\n' ? SD_BOL : SD_MID;
		parse(r, p + i, k - i);
		i = k;
	}
	return i;
}

static void
smtp_feed(struct run *r, const uint8_t *p, size_t n)
{
	struct sl_http_dir *d = r->d;

	while (n) {
		size_t k = n;

		switch (d->smtp) {
		case SM_CMD:
			k = smtp_cmd(r, p, n);
			break;
		case SM_DATA:
			k = smtp_data(r, p, n);
			break;
		case SM_BDAT:
			if (k > d->smtp_left)
				k = (size_t)d->smtp_left;
			parse(r, p, k);
			d->smtp_left -= k;
			if (d->smtp_left == 0) {
				if (d->smtp_last)
					smtp_msg_end(r);
				d->smtp = SM_CMD;
			}
			break;
		default:
			emit(r, SL_SCAN_CTX_RAW, p, n);
			break;
		}
		p += k;
		n -= k;
	}
}

/* Sets up r for one call on direction dir of c; returns that direction. */
static struct sl_http_dir *
run_init(struct run *r, struct sl_http_pool *pool, struct sl_http_conn *c, unsigned dir,
	 const struct sl_http_callbacks *cb, void *ctx)
{
	r->pool = pool;
	r->conn = c;
	r->dir = dir & 1;
	r->d = &c->dir[r->dir];
	r->cb = cb;
	r->ctx = ctx;
	r->out_len = 0;
	r->out_ctx = 0;
	return r->d;
}

void
sl_http_feed(struct sl_http_pool *pool, struct sl_http_conn *c, unsigned dir, const uint8_t *data,
	     size_t len, const struct sl_http_callbacks *cb, void *ctx)
{
	struct run r;
	struct sl_http_dir *d = run_init(&r, pool, c, dir, cb, ctx);

	if (data == NULL) {
		if (d->smtp && d->smtp != SM_RAW) {
			go_raw(&r, SL_HTTP_AN_GAP); /* the framing is lost */
			d->smtp = SM_RAW;
			d->smtp_msg = 0;
		} else if (len && d->state != ST_RAW) {
			go_raw(&r, SL_HTTP_AN_GAP);
		}
		flush(&r);
		return;
	}
	if (d->smtp)
		smtp_feed(&r, data, len);
	else
		parse(&r, data, len);
	flush(&r);
}

void
sl_http_eof(struct sl_http_pool *pool, struct sl_http_conn *c, unsigned dir,
	    const struct sl_http_callbacks *cb, void *ctx)
{
	struct run r;
	struct sl_http_dir *d = run_init(&r, pool, c, dir, cb, ctx);

	if (d->smtp) {
		if (d->smtp_msg) {
			anomaly(&r, SL_HTTP_AN_TRUNCATED); /* the session ended inside a message */
			smtp_msg_end(&r);
		}
		d->smtp = SM_RAW;
	}
	switch (d->state) {
	case ST_BODY_CLOSE:
		body_end(&r);
		msg_end(&r);
		break;
	case ST_MSG_START:
	case ST_RAW:
		break;
	case ST_WS_HDR:
	case ST_WS_DATA:
		if (d->state == ST_WS_DATA || d->ws_hdr_len || d->ws_msg)
			anomaly(&r, SL_HTTP_AN_TRUNCATED); /* inside a frame or a message */
		emit(&r, SL_SCAN_CTX_RAW, d->ws_hdr, d->ws_hdr_len);
		break;
	default:
		/* Mid-message: what was held goes out as RAW so nothing is lost. */
		anomaly(&r, SL_HTTP_AN_TRUNCATED);
		go_raw(&r, -1);
		break;
	}
	body_release(pool, d);
	unit_end(&r, SL_SCAN_CTX_URL);
	unit_end(&r, SL_SCAN_CTX_HEADER);
	unit_end(&r, SL_SCAN_CTX_BODY);
	unit_end(&r, SL_SCAN_CTX_RAW);
	d->state = ST_RAW;
	flush(&r);
}

void
sl_http_conn_release(struct sl_http_pool *pool, struct sl_http_conn *c)
{
	body_release(pool, &c->dir[0]);
	body_release(pool, &c->dir[1]);
}
