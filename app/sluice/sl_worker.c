/* sl_worker: the per-lcore pipeline (see sl_worker.h).
 *
 * Per-flow state lives in the flow table's user area: reassembly and scan stream state for each
 * key side, and a small table of sensor hits. A hit (sensor, side) raises one alert the first
 * time the sensor's threshold is met in that direction; later matches only raise its count,
 * reported once in a flow-end update, so a dump of ten thousand records is one alert, not ten
 * thousand. The raw matched value is seen only inside on_match, where it is masked and hashed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>

#include "sl_http.h"
#include "sl_worker.h"

#define SL_MAX_HITS	 8  /* distinct (sensor, side) hits tracked per flow */
#define SL_MAX_DISTINCT	 16 /* value fingerprints kept per hit for distinct counts */
#define SL_EXPIRE_BUDGET 64 /* flows expired per tick, to bound the pause */
/* Whole datagrams being inspected or held by TCP reassembly at once (64 KB each). */
#define DEFRAG_MBUFS  63
#define SL_MAX_INJECT 64 /* resets made per burst (2 per blocked flow) */
/* A flow reset through an injection port still shows up on the mirror while the resets travel
 * (or if one was lost): each later packet of it resets both ends again, up to this many times. */
#define SL_MIRROR_RESETS  4
#define SL_PREFETCH_AHEAD 4  /* frames prefetched ahead of use */
#define SL_PENDING	  16 /* alerts waiting for the HTTP message they belong to */

struct flow_hit {
	uint8_t used;
	uint8_t side;
	uint8_t sensor;
	uint8_t alerted;
	uint8_t context;
	uint8_t n_fp;
	uint32_t count;
	uint32_t alerted_count;
	uint32_t distinct;
	uint64_t offset;
	uint32_t fp[SL_MAX_DISTINCT]; /* last: not cleared at flow creation (on_flow_create) */
};

struct flow_side {
	struct sl_tcp_dir tcp;
	struct sl_scan_stream scan; /* raw stream (sides that are not HTTP) */
	/* from here on, zeroed at flow creation (on_flow_create) */
	uint64_t delivered; /* bytes handed to inspection, gaps included */
	uint64_t base;	    /* `delivered` when the current raw stream opened */
	uint8_t fin;
	uint8_t http; /* bytes go through the HTTP parser (flow_state.http) */
	uint8_t smtp; /* ... as an SMTP client's */
	uint8_t sniffed;
	uint8_t icmp_type, icmp_code; /* ICMP: of the last echo message this side sent */
};

/* The HTTP message a side is in, as events report it. */
struct http_msg_info {
	char method[SL_HTTP_METHOD_LEN];
	char host[SL_HTTP_HOST_LEN];
	char url[SL_HTTP_URL_LEN];
	char ctype[SL_HTTP_CTYPE_LEN];
	uint16_t status;
	int64_t length;
	uint32_t index; /* request: its number; response: the request it answers */
	uint8_t valid;
};

#define HTTP_REQ_RING 4 /* requests remembered for the responses that answer them */

/* HTTP state of a flow, from a per-worker pool: only flows that speak HTTP pay for it. Each
 * side has one scan stream per context slot, since a body stays open while chunk extensions
 * (headers) are scanned; URL and RAW share a slot because the parser closes every unit before
 * it falls back to RAW. */
enum { HTTP_SLOT_URL_RAW = 0, HTTP_SLOT_HEADER, HTTP_SLOT_BODY, HTTP_SLOTS };

struct http_state {
	struct sl_http_conn conn;
	struct sl_scan_stream st[2][HTTP_SLOTS];
	struct http_msg_info msg[2];		 /* the message each side is in */
	struct http_msg_info req[HTTP_REQ_RING]; /* requests by index, for pipelined responses */
	uint32_t next_free;			 /* pool free list: index + 1 */
};

struct flow_state {
	struct flow_side side[2];
	struct flow_hit hits[SL_MAX_HITS];
	/* from here on, zeroed at flow creation (on_flow_create) */
	struct http_state *http; /* NULL unless a side speaks HTTP */
	uint32_t http_anomalies; /* bit per enum sl_http_anomaly seen, reported in events */
	_Static_assert(SL_HTTP_AN_COUNT <= 32, "http_anomalies has a bit per anomaly");
	uint8_t incomplete;   /* some content could not be inspected (reported once) */
	uint8_t blocked;      /* deny enforced (enum sl_enforce): later packets dropped or reset */
	uint8_t block_sensor; /* the sensor that blocked it */
	uint8_t block_side;
	uint8_t resets;	  /* times both ends were reset (SL_ENFORCE_RESET) */
	uint32_t dropped; /* packets dropped since (SL_ENFORCE_DROP) */
};

struct sl_worker {
	uint16_t id;
	const struct sl_conf *conf;
	struct sl_ruleset *const *rs_slot;
	const struct sl_ruleset *rs; /* in force on this worker */
	const struct sl_scan_db *db; /* rs->db */
	struct sl_event_out *events;
	struct rte_mempool *tx_pool;
	const uint8_t *port_enforce;
	const uint16_t *port_out;
	const struct rte_ether_addr *port_mac;
	struct rte_mbuf *inject[SL_MAX_INJECT];
	uint16_t inject_port[SL_MAX_INJECT];
	uint16_t n_inject;
	struct sl_flow_table *flows;
	struct sl_tcp_pool *tcp;
	struct sl_scan_worker *scan;
	struct sl_http_pool *http;
	struct http_state *http_states;
	uint32_t http_free; /* free list head: index + 1 */
	uint64_t http_anomalies[SL_HTTP_AN_COUNT];
	struct sl_scan_stats scan_base; /* counts of scan workers of earlier rulesets */
	/* Alerts found in a URL or header wait for the parser to finish that message's headers,
	 * so that the event names the right message (host, method, URL, status). */
	struct pending_alert {
		struct sl_event ev;
		uint64_t flow_id;
		uint8_t side;
		uint8_t used;
	} pending[SL_PENDING];
	unsigned n_pending;
	/* flows.top: the control thread sets top_state 1, the worker fills top[] and sets 2 */
	int top_state;
	unsigned top_n, top_count;
	struct sl_flow_brief top[SL_WORKER_TOP_MAX];
	struct sl_worker_stats st;
	/* set for the duration of one packet's inspection, read by the callbacks */
	struct sl_flow *cur_flow;
	struct flow_state *cur_state;
	uint8_t cur_side;
	uint8_t cur_enforce; /* what a deny can do to the current packet's flow (sl_enforce) */
	uint8_t cur_block;   /* the current packet completed a match that blocks its flow */
	uint64_t now_ns;
	uint64_t ts_flag; /* packet clock (sl_worker_params) */
	int ts_field;
	/* Cold, so last: the hot fields above keep their places. */
	struct sl_frag_table *frag;    /* NULL: fragments are counted, not reassembled */
	struct rte_mempool *frag_pool; /* whole datagrams, as frames, for the stages after sl_pkt */
} __rte_cache_aligned;

static void
mbuf_hold(void *ref)
{
	rte_mbuf_refcnt_update(ref, 1);
}

static void
mbuf_release(void *ref)
{
	rte_pktmbuf_free(ref);
}

/* A value as sensors compare it: its alphanumerics, case-folded, so "1 85 05..." and
 * "18505..." are the same value. Writes at most cap bytes to out; returns how many. */
static size_t
normalise(const uint8_t *v, uint32_t len, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (uint32_t i = 0; i < len && n < cap; i++)
		if ((v[i] >= '0' && v[i] <= '9') || ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z'))
			out[n++] = v[i] >= 'A' && v[i] <= 'Z' ? (uint8_t)(v[i] | 0x20) : v[i];
	return n;
}

/* FNV-1a of a normalised value, for distinct counts. */
static uint32_t
fingerprint(const uint8_t *v, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ v[i]) * 16777619u;
	return h;
}

/* strlcpy: a bounded copy without snprintf's format machinery (called per HTTP message). */
static inline void
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src); /* src is always terminated, often shorter than dst */

	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
emit(struct sl_worker *w, const struct sl_event *ev)
{
	if (w->events == NULL || sl_event_push(w->events, ev) == 0)
		w->st.events++;
	else
		w->st.events_lost++;
}

/* Copies a URL for an event with every digit and %XX escape masked: a value matched in the URL
 * must not leave in the event that reports it. */
static void
mask_url(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; in[i] && o + 1 < outlen; i++)
		out[o++] = (in[i] >= '0' && in[i] <= '9') || in[i] == '%' ? '*' : in[i];
	out[o] = '\0';
}

/* HTTP fields of an event about bytes sent by `side`: the request they belong to (for a
 * response, the request it answers, found by index, which carries the host and URL). */
static void
http_event_fields(const struct http_state *hs, uint8_t side, uint8_t client, struct sl_event *ev)
{
	const struct http_msg_info *me = &hs->msg[side], *req = &hs->msg[client];

	if (side != client && me->valid) {
		const struct http_msg_info *r = &hs->req[me->index % HTTP_REQ_RING];

		if (r->valid && r->index == me->index)
			req = r;
	}
	if (!req->valid && !me->valid)
		return;
	ev->has_http = 1;
	copy_str(ev->http.method, sizeof(ev->http.method), req->method);
	copy_str(ev->http.hostname, sizeof(ev->http.hostname), req->host);
	mask_url(req->url, ev->http.url, sizeof(ev->http.url));
	copy_str(ev->http.content_type, sizeof(ev->http.content_type), me->ctype);
	if (side != client)
		ev->http.status = me->status;
	ev->http.length = me->length > 0 ? (uint64_t)me->length : 0;
}

/* The envelope of the message the SMTP client side is sending, masked like a URL (an address
 * may hold a value). */
static void
smtp_event_fields(const struct flow_state *fs, struct sl_event *ev)
{
	struct sl_http_smtp_envelope env;
	unsigned client = fs->side[1].smtp;

	sl_http_smtp_envelope(&fs->http->conn, client, &env);
	if (!env.helo[0] && !env.mail_from[0] && !env.rcpt_to[0])
		return;
	ev->has_smtp = 1;
	mask_url(env.helo, ev->smtp.helo, sizeof(ev->smtp.helo));
	mask_url(env.mail_from, ev->smtp.mail_from, sizeof(ev->smtp.mail_from));
	mask_url(env.rcpt_to, ev->smtp.rcpt_to, sizeof(ev->smtp.rcpt_to));
}

/* Names of the HTTP anomalies of a flow, comma-separated, for its events. */
static void
anomaly_names(uint32_t bits, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned a = 0; a < SL_HTTP_AN_COUNT && bits; a++) {
		const char *n = sl_http_anomaly_name(a);
		size_t len = strlen(n);

		if (!(bits & (1u << a)) || o + len + 2 > cap)
			continue;
		if (o)
			out[o++] = ',';
		memcpy(out + o, n, len + 1);
		o += len;
	}
}

/* The application a flow carries, as its events and `sluicectl flows` name it. */
static uint8_t
flow_app(const struct flow_state *fs)
{
	if (fs->side[0].smtp || fs->side[1].smtp)
		return SL_EVENT_APP_SMTP;
	return fs->side[0].http || fs->side[1].http ? SL_EVENT_APP_HTTP : SL_EVENT_APP_RAW;
}

/* The fields every event about flow f shares, for bytes sent by `side`. */
static void
event_flow(struct sl_worker *w, const struct sl_flow *f, const struct flow_state *fs, uint8_t side,
	   struct sl_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = w->now_ns;
	ev->flow_id = f->id;
	ev->key = f->key;
	ev->src_side = side;
	ev->client_side = f->client;
	ev->app = flow_app(fs);
	ev->incomplete = fs->incomplete;
	for (unsigned s = 0; s < 2; s++) { /* rendered for ICMP flows only */
		ev->icmp_type[s] = fs->side[s].icmp_type;
		ev->icmp_code[s] = fs->side[s].icmp_code;
		ev->icmp_sent |= (uint8_t)((f->pkts[s] != 0) << s);
	}
	if (fs->http && ev->app == SL_EVENT_APP_HTTP)
		http_event_fields(fs->http, side, f->client, ev);
	if (fs->http && ev->app == SL_EVENT_APP_SMTP)
		smtp_event_fields(fs, ev);
	anomaly_names(fs->http_anomalies, ev->anomalies, sizeof(ev->anomalies));
	ev->action = SL_EVENT_ACTION_ALLOWED;
}

/* An alert (or flow-end update) for hit h. */
static void
event_init(struct sl_worker *w, const struct sl_flow *f, const struct flow_state *fs,
	   const struct flow_hit *h, struct sl_event *ev)
{
	const struct sl_sensor_def *d = sl_scan_db_sensor(w->db, h->sensor);

	event_flow(w, f, fs, h->side, ev);
	ev->severity = d->severity;
	ev->signature_id = d->signature_id;
	ev->count = h->count;
	ev->distinct = h->distinct;
	ev->offset = h->offset;
	copy_str(ev->sensor, sizeof(ev->sensor), d->name);
	copy_str(ev->category, sizeof(ev->category), d->category);
	copy_str(ev->context, sizeof(ev->context), sl_scan_context_name(h->context));
}

/* Holds an alert until the HTTP message it belongs to is known; emits it at once when no slot
 * is free (the event then lacks or has older HTTP fields, never goes missing). */
static void
defer(struct sl_worker *w, const struct sl_event *ev)
{
	for (unsigned i = 0; i < SL_PENDING; i++)
		if (!w->pending[i].used) {
			w->pending[i].ev = *ev;
			w->pending[i].flow_id = w->cur_flow->id;
			w->pending[i].side = w->cur_side;
			w->pending[i].used = 1;
			w->n_pending++;
			return;
		}
	emit(w, ev);
}

/* Emits the alerts of the current flow (and side, or both when side > 1) that were waiting,
 * with the HTTP fields known now. */
static void
release_pending(struct sl_worker *w, unsigned side)
{
	struct flow_state *fs = w->cur_state;

	for (unsigned i = 0; w->n_pending && i < SL_PENDING; i++) {
		struct pending_alert *p = &w->pending[i];

		if (!p->used || p->flow_id != w->cur_flow->id || (side <= 1 && p->side != side))
			continue;
		if (fs->http)
			http_event_fields(fs->http, p->side, w->cur_flow->client, &p->ev);
		anomaly_names(fs->http_anomalies, p->ev.anomalies, sizeof(p->ev.anomalies));
		emit(w, &p->ev);
		p->used = 0;
		w->n_pending--;
	}
}

static enum sl_event_action
block_action(uint8_t how)
{
	return how == SL_ENFORCE_DROP ? SL_EVENT_ACTION_BLOCKED : SL_EVENT_ACTION_RESET;
}

/* A deny on the current flow: with `protect` (the policy enforces) and a port that can act, the
 * flow is blocked (sensor: what blocked it, UINT8_MAX for uninspectable content) and the
 * current packet's inspection ends with its verdict; otherwise it is only reported. Returns the
 * event's action. */
static enum sl_event_action
enforce(struct sl_worker *w, struct flow_state *fs, int protect, uint8_t sensor)
{
	if (!protect || w->cur_enforce == SL_ENFORCE_NONE)
		return SL_EVENT_ACTION_WOULD_BLOCK;
	w->cur_block = 1;
	if (!fs->blocked) {
		fs->blocked = w->cur_enforce;
		fs->block_sensor = sensor;
		fs->block_side = w->cur_side;
		if (w->cur_enforce == SL_ENFORCE_DROP)
			w->st.blocked_flows++;
		else
			w->st.reset_flows++;
	}
	return block_action(w->cur_enforce);
}

/* A confirmed match on the current flow and side. */
static void
on_match(void *ctx, const struct sl_scan_match *m)
{
	struct sl_worker *w = ctx;
	struct flow_state *fs = w->cur_state;
	struct flow_side *sd = &fs->side[w->cur_side];
	const struct sl_sensor_def *d = sl_scan_db_sensor(w->db, m->sensor);
	struct flow_hit *h = NULL;
	uint8_t norm[SL_SCAN_WINDOW];
	size_t nlen = normalise(m->value, m->value_len, norm, sizeof(norm));
	uint32_t fp = fingerprint(norm, nlen);
	int seen = 0;

	for (unsigned i = 0; i < SL_MAX_HITS && h == NULL; i++) {
		struct flow_hit *c = &fs->hits[i];

		if (!c->used) {
			h = c;
			h->used = 1;
			h->side = w->cur_side;
			h->sensor = (uint8_t)m->sensor;
			h->context = (uint8_t)m->context;
			h->offset = m->context == SL_SCAN_CTX_RAW && !sd->http
					? sd->base + m->offset
					: m->offset;
		} else if (c->side == w->cur_side && c->sensor == m->sensor) {
			h = c;
		}
	}
	if (h == NULL) {
		w->st.hits_overflow++;
		return;
	}
	h->count++;
	for (unsigned i = 0; i < h->n_fp; i++)
		seen |= h->fp[i] == fp;
	if (!seen) {
		h->distinct++;
		if (h->n_fp < SL_MAX_DISTINCT)
			h->fp[h->n_fp++] = fp;
	}
	if (h->alerted || h->distinct < d->min_count)
		return;

	struct sl_event ev;
	struct sl_policy_verdict v =
	    sl_policy_decide(&w->rs->policy, &w->cur_flow->key, w->cur_side, m->sensor);
	event_init(w, w->cur_flow, fs, h, &ev);
	ev.offset = m->context == SL_SCAN_CTX_RAW && !sd->http ? sd->base + m->offset : m->offset;
	if (v.action == SL_POLICY_DENY) {
		/* Mirror ports cannot drop: without an injection port the event says what would
		 * have been blocked. */
		ev.action = enforce(w, fs, v.enforce, (uint8_t)m->sensor);
	}
	ev.context[0] = '\0';
	ev.encoded = m->encoded;
	copy_str(ev.context, sizeof(ev.context), sl_scan_context_name(m->context));
	sl_scan_mask(w->db, m->sensor, m->value, m->value_len, ev.evidence, sizeof(ev.evidence));
	/* The writer thread hashes the normalised value, so the same number written with or
	 * without separators correlates across events. */
	ev.value_len = (uint8_t)(nlen < sizeof(ev.value) ? nlen : sizeof(ev.value));
	memcpy(ev.value, norm, ev.value_len);
	h->alerted = 1;
	h->alerted_count = h->count;
	h->context = (uint8_t)m->context;
	if (fs->http && sd->http && !sd->smtp &&
	    (m->context == SL_SCAN_CTX_URL || m->context == SL_SCAN_CTX_HEADER))
		defer(w, &ev); /* until the message's http fields are known */
	else
		emit(w, &ev);
}

/* --- HTTP: the parser's output goes to one scan stream per context slot --- */

static struct sl_scan_stream *
http_stream(struct sl_worker *w, enum sl_scan_context c)
{
	unsigned slot = c == SL_SCAN_CTX_HEADER ? HTTP_SLOT_HEADER
			: c == SL_SCAN_CTX_BODY ? HTTP_SLOT_BODY
						: HTTP_SLOT_URL_RAW;

	return &w->cur_state->http->st[w->cur_side][slot];
}

static void
http_on_data(void *ctx, enum sl_scan_context c, const uint8_t *data, size_t len)
{
	struct sl_worker *w = ctx;
	struct sl_scan_stream *st = http_stream(w, c);

	/* URL and RAW share a slot: the parser gave up, what follows is raw */
	if (st->hs && st->context != c)
		sl_scan_stream_close(w->db, w->scan, st, on_match, w);
	if (st->hs == NULL && !st->failed)
		sl_scan_stream_open(w->db, w->scan, st, c);
	sl_scan_stream_feed(w->db, w->scan, st, data, len, on_match, w);
}

static void
http_on_unit_end(void *ctx, enum sl_scan_context c)
{
	struct sl_worker *w = ctx;

	sl_scan_stream_close(w->db, w->scan, http_stream(w, c), on_match, w);
	if (c == SL_SCAN_CTX_BODY)
		release_pending(w, w->cur_side); /* part headers, trailers: this message */
}

static void
http_on_message(void *ctx, const struct sl_http_msg *m)
{
	struct sl_worker *w = ctx;
	struct http_state *hs = w->cur_state->http;
	struct http_msg_info *mi = &hs->msg[w->cur_side];

	if (w->cur_state->side[w->cur_side].smtp)
		w->st.smtp_messages++;
	else
		w->st.http_messages++;
	copy_str(mi->method, sizeof(mi->method), m->method);
	copy_str(mi->ctype, sizeof(mi->ctype), m->content_type);
	mi->status = m->status;
	mi->length = m->content_length;
	mi->index = m->index;
	mi->host[0] = mi->url[0] = '\0';
	if (m->is_request) {
		copy_str(mi->host, sizeof(mi->host), m->host);
		copy_str(mi->url, sizeof(mi->url), m->url);
	}
	mi->valid = 1;
	if (m->is_request)
		hs->req[m->index % HTTP_REQ_RING] = *mi;
	release_pending(w, w->cur_side);
}

static void uninspectable(struct sl_worker *w, const char *why);

static void
http_on_anomaly(void *ctx, enum sl_http_anomaly a)
{
	struct sl_worker *w = ctx;

	w->http_anomalies[a]++;
	w->cur_state->http_anomalies |= 1u << a;
	/* the message may never complete (the parser may give up here): report what waits */
	release_pending(w, w->cur_side);
	if (sl_http_anomaly_uninspected(a))
		uninspectable(w, sl_http_anomaly_name(a));
}

static const struct sl_http_callbacks http_cb = {
    .on_data = http_on_data,
    .on_unit_end = http_on_unit_end,
    .on_message = http_on_message,
    .on_anomaly = http_on_anomaly,
};

/* Some content of the current flow could not be inspected (decoding caps, unknown encoding, a
 * hole in an HTTP stream). Counted always; http.on_uninspectable decides whether an event says
 * so (once per flow) and whether deny applies. */
static void
uninspectable(struct sl_worker *w, const char *why)
{
	struct flow_state *fs = w->cur_state;
	struct sl_event ev;

	w->st.uninspectable_content++;
	if (fs->incomplete || w->conf->on_uninspectable == SL_CONF_UNINSPECTABLE_PASS)
		return;
	fs->incomplete = 1;
	event_flow(w, w->cur_flow, fs, w->cur_side, &ev);
	ev.severity = 2;
	ev.signature_id = 9100999;
	ev.count = 1;
	copy_str(ev.sensor, sizeof(ev.sensor), "uninspectable");
	copy_str(ev.category, sizeof(ev.category), "Content not fully inspected");
	copy_str(ev.context, sizeof(ev.context), "body");
	copy_str(ev.evidence, sizeof(ev.evidence), why);
	if (w->conf->on_uninspectable == SL_CONF_UNINSPECTABLE_DENY) {
		ev.action = enforce(w, fs, w->rs->policy.mode == SL_POLICY_MODE_PROTECT, UINT8_MAX);
	}
	emit(w, &ev);
}

static void
msg_info_clear(struct http_msg_info *mi)
{
	mi->method[0] = mi->host[0] = mi->url[0] = mi->ctype[0] = '\0';
	mi->status = 0;
	mi->length = 0;
	mi->index = 0;
	mi->valid = 0;
}

/* Gives the current flow HTTP state from the pool; NULL when the pool is empty. */
static struct http_state *
http_attach(struct sl_worker *w, struct flow_state *fs)
{
	struct http_state *hs;

	if (fs->http)
		return fs->http;
	if (w->http_free == 0) {
		w->st.http_pool_empty++;
		return NULL;
	}
	hs = &w->http_states[w->http_free - 1];
	w->http_free = hs->next_free;
	/* Field by field rather than a 6.5 KB memset per HTTP flow: the streams are closed, as
	 * rte_zmalloc made them and http_detach leaves them. */
	sl_http_conn_init(&hs->conn);
	for (unsigned i = 0; i < 2; i++)
		msg_info_clear(&hs->msg[i]);
	for (unsigned i = 0; i < HTTP_REQ_RING; i++)
		msg_info_clear(&hs->req[i]);
	fs->http = hs;
	return hs;
}

static void
http_detach(struct sl_worker *w, struct flow_state *fs)
{
	struct http_state *hs = fs->http;

	if (hs == NULL)
		return;
	sl_http_conn_release(w->http, &hs->conn);
	for (int s = 0; s < 2; s++)
		for (int k = 0; k < HTTP_SLOTS; k++)
			sl_scan_stream_close(w->db, w->scan, &hs->st[s][k], NULL, NULL);
	hs->next_free = w->http_free;
	w->http_free = (uint32_t)(hs - w->http_states) + 1;
	fs->http = NULL;
}

/* Counts the next len bytes of side sd against inspection.depth; returns how many of them are
 * inspected: all, those before the depth (the side reaching it is counted), or none past it. */
static inline uint32_t
within_depth(struct sl_worker *w, struct flow_side *sd, uint32_t len)
{
	uint64_t depth = w->conf->inspect_depth;

	if (depth && sd->delivered + len > depth) {
		if (sd->delivered >= depth) {
			sd->delivered += len;
			return 0;
		}
		w->st.depth_reached++;
		len = (uint32_t)(depth - sd->delivered);
	}
	sd->delivered += len;
	return len;
}

/* In-order bytes of the current side, from reassembly. NULL data is a hole. */
static void
on_bytes(void *ctx, const uint8_t *data, uint32_t len)
{
	struct sl_worker *w = ctx;
	struct flow_state *fs = w->cur_state;
	struct flow_side *sd = &fs->side[w->cur_side];
	uint32_t n;

	if (!sd->sniffed && data != NULL) {
		/* HTTP by content, on any port. A prefix that could still be HTTP goes to the
		 * parser too: it falls back to raw without losing a byte if it is not. */
		sd->sniffed = 1;
		sd->smtp = (uint8_t)sl_http_detect_smtp(data, len);
		if (sd->smtp || sl_http_detect(data, len) != 0) {
			sd->http = http_attach(w, fs) != NULL;
			if (sd->http && sd->smtp)
				sl_http_conn_smtp(&fs->http->conn, w->cur_side);
			/* Scanned raw, compressed or encoded values would go unseen: say so. */
			if (!sd->http)
				uninspectable(w, "http_state_pool_empty");
		}
	}
	n = within_depth(w, sd, len);
	if (n == 0 && len != 0)
		return; /* past the depth */
	len = n;
	if (sd->http) {
		sl_http_feed(w->http, &fs->http->conn, w->cur_side, data, len, &http_cb, w);
		return;
	}
	if (data == NULL) {
		/* A value cannot span a hole: end the stream; the next bytes open a new one. */
		sl_scan_stream_close(w->db, w->scan, &sd->scan, on_match, w);
		return;
	}
	if (sd->scan.hs == NULL && !sd->scan.failed) {
		sd->base = sd->delivered - len;
		sl_scan_stream_open(w->db, w->scan, &sd->scan, SL_SCAN_CTX_RAW);
	}
	sl_scan_stream_feed(w->db, w->scan, &sd->scan, data, len, on_match, w);
}

static void
set_current(struct sl_worker *w, struct sl_flow *f, uint8_t side)
{
	w->cur_flow = f;
	w->cur_state = sl_flow_user(f);
	w->cur_side = side;
}

/* Flow table callback: a new flow's state, which holds what its slot held before. Zeroing all
 * 1.7 KB of it cost 2% of cycles on mixed traffic; the stream windows and value fingerprints
 * are read only below their lengths, so only the rest is cleared. */
static void
on_flow_create(void *ctx, struct sl_flow *f)
{
	struct flow_state *fs = sl_flow_user(f);

	(void)ctx;
	for (unsigned s = 0; s < 2; s++) {
		struct flow_side *sd = &fs->side[s];

		memset(&sd->tcp, 0, sizeof(sd->tcp));
		sl_scan_stream_init(&sd->scan);
		memset(&sd->delivered, 0, sizeof(*sd) - offsetof(struct flow_side, delivered));
	}
	for (unsigned i = 0; i < SL_MAX_HITS; i++)
		memset(&fs->hits[i], 0, offsetof(struct flow_hit, fp));
	memset(&fs->http, 0, sizeof(*fs) - offsetof(struct flow_state, http));
}

/* Flow table callback: the flow is leaving; report everything it still holds. */
static void
on_flow_end(void *ctx, struct sl_flow *f, enum sl_flow_end_reason why)
{
	struct sl_worker *w = ctx;
	struct flow_state *fs = sl_flow_user(f);

	for (uint8_t s = 0; s < 2; s++) {
		set_current(w, f, s);
		sl_tcp_flush(w->tcp, &fs->side[s].tcp, on_bytes, w);
		if (fs->side[s].http)
			sl_http_eof(w->http, &fs->http->conn, s, &http_cb, w);
		sl_scan_stream_close(w->db, w->scan, &fs->side[s].scan, on_match, w);
		for (int k = 0; fs->http && k < HTTP_SLOTS; k++)
			sl_scan_stream_close(w->db, w->scan, &fs->http->st[s][k], on_match, w);
	}
	release_pending(w, 2);
	for (unsigned i = 0; i < SL_MAX_HITS; i++) {
		struct flow_hit *h = &fs->hits[i];
		struct sl_event ev;

		if (!h->used || !h->alerted ||
		    (h->count == h->alerted_count &&
		     !(fs->blocked && fs->block_sensor == h->sensor && fs->block_side == h->side)))
			continue;
		event_init(w, f, fs, h, &ev);
		ev.kind = SL_EVENT_FLOW;
		memcpy(ev.pkts, f->pkts, sizeof(ev.pkts));
		memcpy(ev.bytes, f->bytes, sizeof(ev.bytes));
		ev.first_ns = f->first_ns;
		snprintf(ev.end_reason, sizeof(ev.end_reason), "%s", sl_flow_end_name(why));
		snprintf(ev.evidence, sizeof(ev.evidence), "%s", "");
		if (fs->blocked && fs->block_sensor == h->sensor && fs->block_side == h->side) {
			ev.action = block_action(fs->blocked);
			ev.dropped = fs->dropped;
			ev.resets = fs->resets;
		}
		emit(w, &ev);
	}
	http_detach(w, fs);
	w->cur_flow = NULL;
	w->cur_state = NULL;
}

/* The flow table of a worker for conf c (name, socket and context filled in by the caller). */
static struct sl_flow_params
flow_params(const struct sl_conf *c)
{
	return (struct sl_flow_params){
	    .capacity = c->flow_capacity,
	    .user_size = sizeof(struct flow_state),
	    .idle_timeout_ns = (uint64_t)c->tcp_idle_timeout_s * 1000000000ull,
	    .udp_idle_timeout_ns = (uint64_t)c->udp_idle_timeout_s * 1000000000ull,
	    .on_end = on_flow_end,
	    .on_create = on_flow_create,
	};
}

size_t
sl_worker_mem_size(const struct sl_conf *c)
{
	struct sl_flow_params fp = flow_params(c);

	/* plus allocator headers and alignment of the worker and its HTTP states (the flow
	 * table counts its own) */
	return sizeof(struct sl_worker) + sl_flow_table_mem_size(&fp) +
	       sizeof(struct http_state) * c->http_flows + 3 * 64;
}

struct sl_worker *
sl_worker_create(const struct sl_worker_params *p, char *err, size_t errlen)
{
	const struct sl_conf *c = p->conf;
	struct sl_worker *w;
	char name[32];

	w = rte_zmalloc_socket("sl_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, p->socket_id);
	if (w == NULL) {
		snprintf(err, errlen, "worker %u: out of memory", p->id);
		return NULL;
	}
	w->id = p->id;
	w->conf = c;
	w->rs_slot = p->rs_slot;
	w->rs = __atomic_load_n(p->rs_slot, __ATOMIC_ACQUIRE);
	w->db = w->rs->db;
	w->scan = w->rs->scan[p->id];
	w->events = p->events;
	w->tx_pool = p->tx_pool;
	w->port_enforce = p->port_enforce;
	w->port_out = p->port_out;
	w->port_mac = p->port_mac;
	w->ts_flag = p->ts_flag;
	w->ts_field = p->ts_field;

	snprintf(name, sizeof(name), "sl_flows_%u_%p", p->id, (void *)w);
	struct sl_flow_params fp = flow_params(c);
	fp.name = name;
	fp.worker_id = p->id;
	fp.socket_id = p->socket_id;
	fp.ctx = w;
	w->flows = sl_flow_table_create(&fp, err, errlen);
	if (w->flows == NULL)
		goto fail_flows;

	struct sl_tcp_pool_params tp = {
	    .max_segments = c->reasm_segments,
	    .cap_per_dir = c->reasm_bytes_per_flow,
	    .cap_per_worker = c->reasm_bytes_per_worker,
	    .cap_policy =
		c->reasm_on_cap == SL_CONF_CAP_BYPASS ? SL_TCP_CAP_BYPASS : SL_TCP_CAP_INSPECT,
	    .ops = {.hold = mbuf_hold, .release = mbuf_release},
	};
	w->tcp = sl_tcp_pool_create(&tp);
	if (w->tcp == NULL) {
		snprintf(err, errlen, "worker %u: cannot create the reassembly pool", p->id);
		goto fail_tcp;
	}
	/* Two streams per flow, plus headroom for HTTP units opened while the flow streams are. */
	struct sl_http_params hp = {
	    .max_inflate = c->http_inflate,
	    .max_zstd = c->http_zstd,
	    .max_br = c->http_br,
	    .max_mime = c->http_mime,
	    .max_line = c->http_max_line,
	    .max_headers = c->http_max_headers,
	    .max_body_out = c->http_max_body,
	    .max_ratio = c->http_max_ratio,
	};
	w->http = sl_http_pool_create(&hp);
	if (c->http_flows)
		w->http_states =
		    rte_zmalloc_socket("sl_http_states", sizeof(struct http_state) * c->http_flows,
				       RTE_CACHE_LINE_SIZE, p->socket_id);
	if (w->http == NULL || (c->http_flows && w->http_states == NULL)) {
		snprintf(err, errlen, "worker %u: cannot allocate %u HTTP states", p->id,
			 c->http_flows);
		goto fail_http;
	}
	for (uint32_t i = 0; i < c->http_flows; i++)
		w->http_states[i].next_free = i + 2 <= c->http_flows ? i + 2 : 0;
	w->http_free = c->http_flows ? 1 : 0;
	if (c->defrag_datagrams) {
		w->frag = sl_frag_create(c->defrag_datagrams,
					 (uint64_t)c->defrag_timeout_s * 1000000000ull);
		static unsigned seq; /* mempool names are short (RTE_MEMPOOL_NAMESIZE) and unique */
		snprintf(name, sizeof(name), "sl_defrag_%u_%u", p->id,
			 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
		w->frag_pool =
		    rte_pktmbuf_pool_create(name, DEFRAG_MBUFS, 0, 0, UINT16_MAX, p->socket_id);
		if (w->frag == NULL || w->frag_pool == NULL) {
			snprintf(err, errlen,
				 "worker %u: cannot allocate IP reassembly for %u datagrams", p->id,
				 c->defrag_datagrams);
			goto fail_frag;
		}
	}
	return w;

fail_frag:
	sl_frag_free(w->frag);
	rte_mempool_free(w->frag_pool);
fail_http:
	sl_http_pool_free(w->http);
	rte_free(w->http_states);
	sl_tcp_pool_free(w->tcp);
fail_tcp:
	sl_flow_table_free(w->flows);
fail_flows:
	rte_free(w);
	return NULL;
}

void
sl_worker_drain(struct sl_worker *w)
{
	struct sl_flow_table *t = w->flows;

	/* expire everything: a timeout of "now + forever" ends all flows in LRU order */
	while (sl_flow_expire(t, UINT64_MAX, UINT32_MAX) > 0)
		;
}

void
sl_worker_free(struct sl_worker *w)
{
	if (w == NULL)
		return;
	sl_flow_table_free(w->flows); /* ends flows through on_flow_end first */
	sl_http_pool_free(w->http);
	rte_free(w->http_states);
	sl_tcp_pool_free(w->tcp);
	sl_frag_free(w->frag);
	rte_mempool_free(w->frag_pool);
	rte_free(w);
}

/* Writes a TCP reset for the flow of `m` into a new frame: toward the receiver of m (same L2
 * and L3 endpoints as m) when `back` is 0, with sequence number `rseq`, toward its sender
 * (swapped) when 1. Sequence numbers must be the ones each end expects next for the reset to be
 * accepted at once (RFC 5961). `src_mac`: the frame's source MAC, NULL to keep the endpoint's. */
static struct rte_mbuf *
make_rst(struct sl_worker *w, const struct rte_mbuf *m, const struct sl_pkt_info *pi, int back,
	 uint32_t rseq, const struct rte_ether_addr *src_mac)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint16_t l3 = pi->l3_off, iplen = pi->key.ipver == 4 ? 20 : 40;
	struct rte_mbuf *r = rte_pktmbuf_alloc(w->tx_pool);
	struct rte_tcp_hdr *tcp;
	uint8_t *o;

	if (r == NULL)
		return NULL;
	o = (uint8_t *)rte_pktmbuf_append(r, (uint16_t)(l3 + iplen + 20));
	if (o == NULL) {
		rte_pktmbuf_free(r);
		return NULL;
	}
	memcpy(o, f, l3);
	if (back) { /* swap MACs */
		memcpy(o, f + 6, 6);
		memcpy(o + 6, f, 6);
	}
	if (src_mac)
		memcpy(o + 6, src_mac, 6);
	if (pi->key.ipver == 4) {
		const struct rte_ipv4_hdr *in = (const void *)(f + l3);
		struct rte_ipv4_hdr *ip = (void *)(o + l3);

		memset(ip, 0, 20);
		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16(40);
		ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = 64;
		ip->next_proto_id = 6;
		ip->src_addr = back ? in->dst_addr : in->src_addr;
		ip->dst_addr = back ? in->src_addr : in->dst_addr;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	} else {
		const struct rte_ipv6_hdr *in = (const void *)(f + l3);
		struct rte_ipv6_hdr *ip = (void *)(o + l3);

		memset(ip, 0, 40);
		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16(20);
		ip->proto = 6;
		ip->hop_limits = 64;
		memcpy(ip->src_addr, back ? in->dst_addr : in->src_addr, 16);
		memcpy(ip->dst_addr, back ? in->src_addr : in->dst_addr, 16);
	}
	tcp = (struct rte_tcp_hdr *)(o + l3 + iplen);
	memset(tcp, 0, 20);
	const struct rte_tcp_hdr *itcp = (const void *)(f + pi->l4_off);
	tcp->src_port = back ? itcp->dst_port : itcp->src_port;
	tcp->dst_port = back ? itcp->src_port : itcp->dst_port;
	tcp->sent_seq = rte_cpu_to_be_32(back ? pi->ack : rseq);
	tcp->recv_ack = rte_cpu_to_be_32(back ? pi->seq + pi->payload_len : pi->ack);
	tcp->data_off = 5 << 4;
	tcp->tcp_flags = RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
	if (pi->key.ipver == 4)
		tcp->cksum = rte_ipv4_udptcp_cksum((const void *)(o + l3), tcp);
	else
		tcp->cksum = rte_ipv6_udptcp_cksum((const void *)(o + l3), tcp);
	return r;
}

/* Resets both ends of the flow of m (sd: the state of m's direction). Inline (m dropped): the
 * receiver through the peer port, expecting m's first byte, and the sender back through the port
 * m came from. Mirror (m went through): both through the injection port, the receiver expecting
 * what follows m, or what follows the bytes m made contiguous. */
static void
reset_both_ends(struct sl_worker *w, const struct rte_mbuf *m, const struct sl_pkt_info *pi,
		const struct flow_side *sd, uint8_t how)
{
	uint16_t out = w->port_out[m->port];
	const struct rte_ether_addr *mac = how == SL_ENFORCE_RESET ? &w->port_mac[out] : NULL;
	uint32_t rseq = pi->seq;

	if (how == SL_ENFORCE_RESET) {
		rseq += pi->payload_len + !!(pi->tcp_flags & SL_PKT_TCP_SYN) +
			!!(pi->tcp_flags & SL_PKT_TCP_FIN);
		if (sd->tcp.synced && (int32_t)(sd->tcp.next_seq - rseq) > 0)
			rseq = sd->tcp.next_seq;
	}
	for (int back = 0; back < 2; back++) {
		struct rte_mbuf *r;

		if (w->tx_pool == NULL || w->n_inject == SL_MAX_INJECT)
			return;
		r = make_rst(w, m, pi, back, rseq, mac);
		if (r == NULL) {
			w->st.rst_alloc_failed++;
			continue;
		}
		w->inject[w->n_inject] = r;
		w->inject_port[w->n_inject++] = back && how == SL_ENFORCE_DROP ? m->port : out;
		w->st.rst_sent++;
	}
}

/* A packet of a flow blocked on an inline port: dropped and counted. */
static inline uint8_t
drop_blocked(struct sl_worker *w, struct flow_state *fs)
{
	fs->dropped++;
	w->st.drop_blocked++;
	return SL_VERDICT_DROP;
}

/* What an inline port does with a packet sluice could not inspect (policy.fail). */
static inline uint8_t
uninspected(struct sl_worker *w, const struct rte_mbuf *m)
{
	w->st.uninspected++;
	if (w->conf->fail_inline == SL_POLICY_FAIL_CLOSED && w->port_enforce &&
	    w->port_enforce[m->port] == SL_ENFORCE_DROP) {
		w->st.drop_fail_closed++;
		return SL_VERDICT_DROP;
	}
	return SL_VERDICT_FORWARD;
}

/* frag_conflict: m is a datagram whose fragments overlapped with other bytes. Always inlined:
 * with a second caller (defragment) GCC stopped inlining it into the frame loop, and 64-byte
 * frames lost 8% to the call; inlined, the loop's constant 0 removes the conflict test. */
static __rte_always_inline uint8_t
inspect_tcp(struct sl_worker *w, struct rte_mbuf *m, const struct sl_pkt_info *pi,
	    int frag_conflict)
{
	uint8_t syn = pi->tcp_flags & SL_PKT_TCP_SYN;
	uint8_t create = pi->payload_len > 0 || syn;
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
	struct sl_flow *f;
	struct flow_state *fs;
	struct flow_side *sd;
	int created;

	f = sl_flow_lookup(w->flows, &pi->key, w->now_ns, create, &created);
	if (f == NULL) {
		w->st.no_flow++;
		return create ? uninspected(w, m) : SL_VERDICT_FORWARD;
	}
	fs = sl_flow_user(f);
	if (unlikely(fs->blocked)) {
		/* A new connection reusing the tuple of a blocked one starts afresh. */
		if (!(syn && !(pi->tcp_flags & SL_PKT_TCP_ACK))) {
			if (fs->blocked == SL_ENFORCE_RESET) {
				/* Seen on the mirror after its resets (ours included, which
				 * need no answer): reset again from this packet's numbers. */
				if (!(pi->tcp_flags & SL_PKT_TCP_RST) &&
				    fs->resets < SL_MIRROR_RESETS &&
				    w->port_enforce[m->port] == SL_ENFORCE_RESET) {
					fs->resets++;
					reset_both_ends(w, m, pi, &fs->side[pi->dir],
							SL_ENFORCE_RESET);
				}
				return SL_VERDICT_FORWARD;
			}
			return drop_blocked(w, fs);
		}
		sl_flow_end(w->flows, f, SL_FLOW_END_CLOSED);
		f = sl_flow_lookup(w->flows, &pi->key, w->now_ns, 1, &created);
		if (f == NULL)
			return uninspected(w, m);
		fs = sl_flow_user(f);
	}
	if (created) {
		/* The opener is the SYN sender; a flow picked up mid-stream starts with whoever
		 * spoke first, corrected by a SYN-ACK if one shows up. */
		f->client = pi->dir;
		if ((pi->tcp_flags & (SL_PKT_TCP_SYN | SL_PKT_TCP_ACK)) ==
		    (SL_PKT_TCP_SYN | SL_PKT_TCP_ACK))
			f->client = !pi->dir;
	}
	f->pkts[pi->dir]++;
	f->bytes[pi->dir] += rte_pktmbuf_pkt_len(m);
	sd = &fs->side[pi->dir];
	set_current(w, f, pi->dir);
	w->cur_enforce = w->port_enforce ? w->port_enforce[m->port] : SL_ENFORCE_NONE;
	w->cur_block = 0;
	/* Fragments that overlapped with other bytes: what the receiver reassembled may not be
	 * what was inspected (an evasion, Ptacek and Newsham 1998). */
	if (unlikely(frag_conflict))
		uninspectable(w, "ip_fragment_overlap_conflict");
	if (pi->payload_len || (pi->tcp_flags & (SL_PKT_TCP_SYN | SL_PKT_TCP_FIN)))
		sl_tcp_segment(w->tcp, &sd->tcp, pi->seq, pi->tcp_flags, frame + pi->payload_off,
			       pi->payload_len, m, on_bytes, w);
	w->cur_flow = NULL;
	if (unlikely(w->cur_block)) {
		/* Nothing more of this flow is inspected or forwarded, both ways. */
		sl_tcp_release(w->tcp, &fs->side[0].tcp);
		sl_tcp_release(w->tcp, &fs->side[1].tcp);
		reset_both_ends(w, m, pi, sd, w->cur_enforce);
		if (w->cur_enforce == SL_ENFORCE_RESET) {
			fs->resets++;
			return SL_VERDICT_FORWARD;
		}
		return drop_blocked(w, fs);
	}
	if (pi->tcp_flags & SL_PKT_TCP_FIN)
		sd->fin = 1;
	/* A direction whose reassembly gave up (caps, policy bypass) is no longer inspected:
	 * its data follows the fail policy. */
	uint8_t v =
	    unlikely(sd->tcp.bypass && pi->payload_len) ? uninspected(w, m) : SL_VERDICT_FORWARD;
	if ((pi->tcp_flags & SL_PKT_TCP_RST) || (fs->side[0].fin && fs->side[1].fin))
		sl_flow_end(w->flows, f, SL_FLOW_END_CLOSED);
	return v;
}

/* All of a frame: headers and payload are read within a few packets (parser, reassembly,
 * HTTP, Hyperscan), and fetching every line ahead took the mixed benchmark from 19 to 29
 * Gbit/s; prefetching only the headers left the payload to the hardware prefetcher. */
static inline void
prefetch_frame(const struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);

	rte_prefetch0(d);
	for (uint32_t off = RTE_CACHE_LINE_SIZE; off < len; off += RTE_CACHE_LINE_SIZE)
		rte_prefetch0(d + off);
}

/* Whether a datagram, UDP or an ICMP echo message (sl_pkt decodes nothing else besides TCP), is
 * inspected: each protocol as configured. */
static inline int
datagram_inspected(const struct sl_worker *w, const struct sl_pkt_info *pi)
{
	return pi->key.proto == 17 ? w->conf->inspect_udp : w->conf->inspect_icmp;
}

/* A UDP datagram or an ICMP echo message, both data of the sender's choosing: each is scanned on
 * its own, as a raw stream that ends with it, so a value split across datagrams is two messages'
 * worth, not one. A deny drops the datagram and every later one of the flow, both ways, empty
 * ones too, on an inline port; there is no connection to reset, so a mirror port only reports.
 * Only datagrams with data open a flow. The client of a UDP flow is its first sender, of a ping
 * the side that sends requests (a session may be picked up at a reply). Out of line: most
 * traffic is TCP, and the frame loop keeps its size. */
static __rte_noinline uint8_t
inspect_datagram(struct sl_worker *w, struct rte_mbuf *m, const struct sl_pkt_info *pi,
		 int frag_conflict)
{
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *) + pi->payload_off;
	int create = pi->payload_len > 0, created;
	int reply = sl_pkt_proto_icmp(pi->key.proto) && (pi->icmp_type == SL_PKT_ICMP_ECHO_REPLY ||
							 pi->icmp_type == SL_PKT_ICMPV6_ECHO_REPLY);
	struct flow_state *fs;
	struct flow_side *sd;
	struct sl_flow *f;

	f = sl_flow_lookup(w->flows, &pi->key, w->now_ns, create, &created);
	if (f == NULL) {
		w->st.no_flow++;
		return create ? uninspected(w, m) : SL_VERDICT_FORWARD;
	}
	fs = sl_flow_user(f);
	if (created)
		f->client = reply ? !pi->dir : pi->dir;
	f->pkts[pi->dir]++;
	f->bytes[pi->dir] += rte_pktmbuf_pkt_len(m);
	sd = &fs->side[pi->dir];
	sd->icmp_type = pi->icmp_type; /* for events, even of a blocked flow's end */
	sd->icmp_code = pi->icmp_code;
	if (unlikely(fs->blocked)) {
		return drop_blocked(w, fs);
	}
	set_current(w, f, pi->dir);
	w->cur_enforce = w->port_enforce && w->port_enforce[m->port] == SL_ENFORCE_DROP
			     ? SL_ENFORCE_DROP
			     : SL_ENFORCE_NONE;
	w->cur_block = 0;
	if (unlikely(frag_conflict))
		uninspectable(w, "ip_fragment_overlap_conflict");
	sd->base = sd->delivered; /* event offsets count from the direction's first byte */
	uint32_t len = within_depth(w, sd, pi->payload_len);
	if (len)
		sl_scan_block(w->db, w->scan, SL_SCAN_CTX_RAW, data, len, on_match, w);
	w->cur_flow = NULL;
	if (unlikely(w->cur_block)) {
		return drop_blocked(w, fs);
	}
	return SL_VERDICT_FORWARD;
}

/* A fragment: kept until its datagram is whole, then the datagram is inspected as one frame.
 * Fragments are forwarded as they came (an inline bridge must not rewrite them); the one that
 * completes a datagram carries its verdict, so a denied datagram never reaches its receiver
 * whole. A fragment that cannot be reassembled follows the fail policy. */
static __rte_noinline __rte_cold uint8_t
defragment(struct sl_worker *w, struct rte_mbuf *m)
{
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
	struct sl_frag_datagram dg;
	struct sl_pkt_info pi;
	struct sl_pkt_frag fr;
	struct rte_mbuf *d;
	enum sl_pkt_error e;
	uint8_t v = SL_VERDICT_FORWARD;

	sl_pkt_fragment(frame, rte_pktmbuf_data_len(m), &fr);
	switch (sl_frag_add(w->frag, frame, &fr, w->now_ns, &dg)) {
	case SL_FRAG_HELD:
		return SL_VERDICT_FORWARD;
	case SL_FRAG_REFUSED:
		return uninspected(w, m);
	case SL_FRAG_DONE:
		break;
	}
	d = rte_pktmbuf_alloc(w->frag_pool);
	if (d == NULL || dg.len > rte_pktmbuf_tailroom(d)) {
		rte_pktmbuf_free(d);
		w->st.defrag_no_buffer++;
		return uninspected(w, m);
	}
	memcpy(rte_pktmbuf_append(d, (uint16_t)dg.len), dg.frame, dg.len);
	d->port = m->port;
	e = sl_pkt_parse(rte_pktmbuf_mtod(d, const uint8_t *), dg.len, &pi);
	if (e != SL_PKT_OK)
		w->st.pkt_errors[e]++;
	else if (pi.key.proto == 6)
		v = inspect_tcp(w, d, &pi, dg.overlap_conflicts != 0);
	else if (datagram_inspected(w, &pi))
		v = inspect_datagram(w, d, &pi, dg.overlap_conflicts != 0);
	rte_pktmbuf_free(d); /* reassembly holds its own reference if it kept the segment */
	return v;
}

void
sl_worker_process(struct sl_worker *w, struct rte_mbuf **pkts, uint16_t n, uint8_t *verdict,
		  uint64_t now_ns)
{
	struct sl_pkt_info pi;

	if (w->ts_flag == 0)
		w->now_ns = now_ns;
	/* Frames are rarely in cache: fetch the mbuf of frame i+2*AHEAD and the data of frame
	 * i+AHEAD while frame i is inspected (two levels, since finding the data needs the
	 * mbuf), as l3fwd does. */
	for (uint16_t i = 0; i < n && i < 2 * SL_PREFETCH_AHEAD; i++)
		rte_prefetch0(pkts[i]);
	for (uint16_t i = 0; i < n && i < SL_PREFETCH_AHEAD; i++)
		prefetch_frame(pkts[i]);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		enum sl_pkt_error e;

		if (i + 2 * SL_PREFETCH_AHEAD < n)
			rte_prefetch0(pkts[i + 2 * SL_PREFETCH_AHEAD]);
		if (i + SL_PREFETCH_AHEAD < n)
			prefetch_frame(pkts[i + SL_PREFETCH_AHEAD]);
		verdict[i] = SL_VERDICT_FORWARD;
		if (m->ol_flags & w->ts_flag)
			w->now_ns = *RTE_MBUF_DYNFIELD(m, w->ts_field, uint64_t *) * 1000;
		w->st.pkts++;
		w->st.bytes += rte_pktmbuf_pkt_len(m);
		if (unlikely(m->nb_segs > 1)) {
			w->st.multiseg++;
			verdict[i] = uninspected(w, m);
			continue;
		}
		e = sl_pkt_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
				 &pi);
		if (unlikely(e != SL_PKT_OK)) {
			if (e == SL_PKT_ERR_IP_FRAGMENT && w->frag) {
				verdict[i] = defragment(w, m);
				continue;
			}
			w->st.pkt_errors[e]++;
			if (e == SL_PKT_ERR_IP_FRAGMENT)
				verdict[i] = uninspected(w, m);
			continue;
		}
		w->st.payload_bytes += pi.payload_len;
		if (pi.key.proto == 6) {
			w->st.tcp_pkts++;
			verdict[i] = inspect_tcp(w, m, &pi, 0);
		} else {
			if (pi.key.proto == 17)
				w->st.udp_pkts++;
			else
				w->st.icmp_pkts++; /* an echo message */
			if (datagram_inspected(w, &pi))
				verdict[i] = inspect_datagram(w, m, &pi, 0);
		}
	}
}

/* Index in `to` of the sensor named like sensor idx of `from`, or -1. */
static int
sensor_remap(const struct sl_scan_db *from, const struct sl_scan_db *to, unsigned idx)
{
	const char *name = sl_scan_db_sensor(from, idx)->name;

	for (unsigned i = 0; i < sl_scan_db_sensor_count(to); i++)
		if (!strcmp(sl_scan_db_sensor(to, i)->name, name))
			return (int)i;
	return -1;
}

struct migration {
	struct sl_worker *w;
	const struct sl_ruleset *to;
	struct sl_scan_worker *to_scan;
};

static void
migrate_stream(struct migration *mg, struct sl_scan_stream *st)
{
	sl_scan_stream_migrate(mg->w->db, mg->w->scan, mg->to->db, mg->to_scan, st);
}

/* Moves one flow's streams and hits to the new ruleset (sl_flow_foreach callback). */
static void
migrate_flow(void *ctx, struct sl_flow *f)
{
	struct migration *mg = ctx;
	struct flow_state *fs = sl_flow_user(f);

	for (int s = 0; s < 2; s++) {
		migrate_stream(mg, &fs->side[s].scan);
		for (int k = 0; fs->http && k < HTTP_SLOTS; k++)
			migrate_stream(mg, &fs->http->st[s][k]);
	}
	for (unsigned i = 0; i < SL_MAX_HITS; i++) {
		struct flow_hit *h = &fs->hits[i];
		int to;

		if (!h->used)
			continue;
		to = sensor_remap(mg->w->db, mg->to->db, h->sensor);
		if (fs->blocked && fs->block_sensor == h->sensor)
			fs->block_sensor = to < 0 ? UINT8_MAX : (uint8_t)to;
		if (to < 0)
			memset(h, 0, sizeof(*h));
		else
			h->sensor = (uint8_t)to;
	}
}

int
sl_worker_sync_ruleset(struct sl_worker *w)
{
	const struct sl_ruleset *rs = __atomic_load_n(w->rs_slot, __ATOMIC_ACQUIRE);
	struct migration mg = {.w = w, .to = rs};

	if (likely(rs == w->rs))
		return 0;
	mg.to_scan = rs->scan[w->id];
	sl_flow_foreach(w->flows, migrate_flow, &mg);
	/* Counters survive the switch; per-sensor ones follow their sensor by name. */
	struct sl_scan_stats old, *b = &w->scan_base;
	uint64_t hits[SL_SCAN_MAX_SENSORS] = {0}, rejects[SL_SCAN_MAX_SENSORS] = {0};
	sl_scan_stats_get(w->scan, &old);
#define SL_X(f, s) b->f += old.f;
	SL_SCAN_COUNTERS(SL_X)
#undef SL_X
	for (unsigned i = 0; i < sl_scan_db_sensor_count(w->db); i++) {
		int to = sensor_remap(w->db, rs->db, i);
		if (to >= 0) {
			hits[to] = b->sensor_hits[i] + old.sensor_hits[i];
			rejects[to] = b->sensor_rejects[i] + old.sensor_rejects[i];
		}
	}
	memcpy(b->sensor_hits, hits, sizeof(hits));
	memcpy(b->sensor_rejects, rejects, sizeof(rejects));
	w->rs = rs;
	w->db = rs->db;
	w->scan = mg.to_scan;
	w->st.ruleset_switches++;
	return 1;
}

uint16_t
sl_worker_injected(struct sl_worker *w, struct rte_mbuf ***pkts, const uint16_t **ports)
{
	*pkts = w->inject;
	*ports = w->inject_port;
	return w->n_inject;
}

void
sl_worker_inject_reset(struct sl_worker *w)
{
	w->n_inject = 0;
}

static uint64_t
brief_bytes(const struct sl_flow_brief *b)
{
	return b->bytes[0] + b->bytes[1];
}

/* Keeps the top_n flows with the most bytes in top[], sorted (sl_flow_foreach callback). */
static void
top_visit(void *ctx, struct sl_flow *f)
{
	struct sl_worker *w = ctx;
	struct flow_state *fs = sl_flow_user(f);
	uint64_t bytes = f->bytes[0] + f->bytes[1];
	unsigned pos = w->top_count;

	while (pos > 0 && brief_bytes(&w->top[pos - 1]) < bytes)
		pos--;
	if (pos >= w->top_n)
		return;
	if (w->top_count < w->top_n)
		w->top_count++;
	memmove(&w->top[pos + 1], &w->top[pos], (w->top_count - 1 - pos) * sizeof(w->top[0]));
	struct sl_flow_brief *b = &w->top[pos];
	b->flow_id = f->id;
	b->key = f->key;
	b->client = f->client;
	b->app = flow_app(fs);
	b->blocked = fs->blocked;
	memcpy(b->pkts, f->pkts, sizeof(b->pkts));
	memcpy(b->bytes, f->bytes, sizeof(b->bytes));
	b->first_ns = f->first_ns;
	b->last_ns = f->last_ns;
}

int
sl_worker_top_flows(struct sl_worker *w, unsigned n, struct sl_flow_brief *out, unsigned timeout_ms)
{
	const struct timespec nap = {0, 1000000};

	w->top_n = n < SL_WORKER_TOP_MAX ? n : SL_WORKER_TOP_MAX;
	__atomic_store_n(&w->top_state, 1, __ATOMIC_RELEASE);
	for (unsigned t = 0; __atomic_load_n(&w->top_state, __ATOMIC_ACQUIRE) != 2; t++) {
		if (t >= timeout_ms) {
			int expected = 1;
			/* withdraw the request, unless the worker took it meanwhile */
			if (__atomic_compare_exchange_n(&w->top_state, &expected, 0, 0,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return -ETIMEDOUT;
		}
		nanosleep(&nap, NULL);
	}
	memcpy(out, w->top, w->top_count * sizeof(*out));
	n = w->top_count;
	__atomic_store_n(&w->top_state, 0, __ATOMIC_RELEASE);
	return (int)n;
}

void
sl_worker_http_anomalies(const struct sl_worker *w, uint64_t out[SL_HTTP_AN_COUNT])
{
	memcpy(out, w->http_anomalies, sizeof(w->http_anomalies));
}

void
sl_worker_tick(struct sl_worker *w, uint64_t now_ns)
{
	if (w->ts_flag)
		now_ns = w->now_ns;
	w->now_ns = now_ns;
	if (unlikely(__atomic_load_n(&w->top_state, __ATOMIC_ACQUIRE) == 1)) {
		w->top_count = 0;
		sl_flow_foreach(w->flows, top_visit, w);
		__atomic_store_n(&w->top_state, 2, __ATOMIC_RELEASE);
	}
	sl_flow_expire(w->flows, now_ns, SL_EXPIRE_BUDGET);
	if (w->frag)
		sl_frag_expire(w->frag, now_ns);
}

void
sl_worker_stats_get(const struct sl_worker *w, struct sl_worker_stats *ws, struct sl_flow_stats *fs,
		    struct sl_tcp_stats *ts, struct sl_scan_stats *ss)
{
	if (ws) {
		*ws = w->st;
		if (w->frag)
			sl_frag_stats_get(w->frag, &ws->frag);
	}
	if (fs)
		sl_flow_stats_get(w->flows, fs);
	if (ts)
		sl_tcp_stats_get(w->tcp, ts);
	if (ss) {
		sl_scan_stats_get(w->scan, ss);
#define SL_X(f, s) ss->f += w->scan_base.f;
		SL_SCAN_COUNTERS(SL_X)
#undef SL_X
		for (unsigned i = 0; i < SL_SCAN_MAX_SENSORS; i++) {
			ss->sensor_hits[i] += w->scan_base.sensor_hits[i];
			ss->sensor_rejects[i] += w->scan_base.sensor_rejects[i];
		}
	}
}
