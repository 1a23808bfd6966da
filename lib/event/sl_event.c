/* sl_event: event records -> ring -> writer thread -> EVE JSON lines (see sl_event.h).
 *
 * The ring holds records by value (rte_ring "elem" API), so a worker's push is one copy into
 * preallocated memory with no pointer to manage. The writer thread is the only consumer; it
 * writes whenever its buffer fills or the ring runs dry, so a reader tailing the file sees an
 * event within a millisecond or so of its push. JSON is built with jansson, off the data path.
 *
 * The writer buffers lines itself rather than through stdio so that it knows which lines a
 * failed write(2) took with it: a full disk loses events, and every lost one is counted. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "sl_event.h"

#define OUT_BUF_SIZE  (64 * 1024)
#define OUT_BUF_LINES 256

RTE_LOG_REGISTER_DEFAULT(sl_event_logtype, INFO);

struct sl_event_out {
	struct rte_ring *ring;
	char *path;
	int fd;
	int own_fd;
	pthread_t thread;
	int started;
	atomic_int stop;
	atomic_uint_fast64_t written;
	atomic_uint_fast64_t write_failed;
	atomic_int last_errno; /* of the latest failed write, kept after writes succeed again */
	int failing;	       /* the latest write failed: its recovery is logged */
	atomic_int reopen;     /* sl_event_out_reopen asked; the writer thread does it */
	/* Lines formatted and not yet written: their bytes, and where each line ends. */
	char buf[OUT_BUF_SIZE];
	size_t used;
	uint32_t ends[OUT_BUF_LINES];
	unsigned lines;
	uint8_t key[SL_EVENT_KEY_LEN];
	int have_key;
	void (*tap)(void *ctx, const char *line, size_t len);
	void *tap_ctx;
};

static const char *const action_names[] = {
#define SL_X(e, s) s,
    SL_EVENT_ACTIONS(SL_X)
#undef SL_X
};

const char *
sl_event_action_name(enum sl_event_action a)
{
	return (unsigned)a < SL_EVENT_ACTION_COUNT ? action_names[a] : "unknown";
}

static void
fmt_ip(const struct sl_flow_key *k, int side, char *out, size_t len)
{
	inet_ntop(k->ipver == 6 ? AF_INET6 : AF_INET, k->addr[side], out, (socklen_t)len);
}

/* The type an ICMP type pairs with in Community ID (Zeek's list: requests and their replies,
 * router solicitation and advertisement, ...), or -1 for a one-way type such as an error. */
static int
icmp_counterpart(int v6, uint8_t type)
{
	static const uint8_t pairs4[][2] = {{8, 0}, {13, 14}, {15, 16}, {10, 9}, {17, 18}};
	static const uint8_t pairs6[][2] = {{128, 129}, {130, 131}, {133, 134},
					    {135, 136}, {139, 140}, {144, 145}};
	const uint8_t(*p)[2] = v6 ? pairs6 : pairs4;
	size_t n = v6 ? RTE_DIM(pairs6) : RTE_DIM(pairs4);

	for (size_t i = 0; i < n; i++)
		if (type == p[i][0] || type == p[i][1])
			return type == p[i][0] ? p[i][1] : p[i][0];
	return -1;
}

void
sl_event_community_id(const struct sl_flow_key *k, unsigned icmp_side, uint8_t icmp_type,
		      uint8_t icmp_code, char *out, size_t outlen)
{
	/* seed(2) src dst proto pad [sport dport], the lower endpoint first, unless an ICMP type
	 * has no counterpart: that tuple is one-way and hashed as sent. The canonical key already
	 * orders its sides as Community ID does (address, then port). */
	uint8_t buf[2 + 32 + 2 + 4], dig[SHA_DIGEST_LENGTH];
	unsigned alen = k->ipver == 6 ? 16 : 4, n = 0, first = 0;
	uint16_t port[2] = {k->port[0], k->port[1]};
	int ports = k->proto == 6 || k->proto == 17 || k->proto == 132;
	unsigned char b64[64];

	if (sl_pkt_proto_icmp(k->proto)) {
		int peer = icmp_counterpart(k->proto == 58, icmp_type);
		unsigned s = icmp_side & 1;

		ports = 1;
		port[s] = icmp_type;
		port[!s] = peer < 0 ? icmp_code : (uint16_t)peer;
		if (peer < 0)
			first = s;
		else if (!memcmp(k->addr[0], k->addr[1], alen))
			first = port[0] > port[1];
	}
	buf[n++] = 0;
	buf[n++] = 0;
	memcpy(buf + n, k->addr[first], alen);
	n += alen;
	memcpy(buf + n, k->addr[!first], alen);
	n += alen;
	buf[n++] = k->proto;
	buf[n++] = 0;
	if (ports) {
		buf[n++] = (uint8_t)(port[first] >> 8);
		buf[n++] = (uint8_t)port[first];
		buf[n++] = (uint8_t)(port[!first] >> 8);
		buf[n++] = (uint8_t)port[!first];
	}
	SHA1(buf, n, dig);
	EVP_EncodeBlock(b64, dig, SHA_DIGEST_LENGTH);
	snprintf(out, outlen, "1:%s", (const char *)b64);
}

static void
fmt_time(uint64_t ns, char *out, size_t len)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char base[32];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%06llu+0000", base, (unsigned long long)(ns % 1000000000ull) / 1000);
}

/* As Suricata names them (its names are IANA's keywords). */
const char *
sl_event_proto_name(uint8_t p)
{
	return p == 6 ? "TCP" : p == 17 ? "UDP" : p == 1 ? "ICMP" : p == 58 ? "IPv6-ICMP" : "IP";
}

/* Sets o[key] to the string s unless it is empty (EVE leaves unknown fields out). */
static void
set_text(json_t *o, const char *key, const char *s)
{
	if (s[0])
		json_object_set_new(o, key, json_string(s));
}

int
sl_event_format(const struct sl_event *ev, char *buf, size_t len)
{
	const struct sl_flow_key *k = &ev->key;
	int src = ev->src_side, dst = !ev->src_side, icmp = sl_pkt_proto_icmp(k->proto);
	char ts[48], sip[48], dip[48], cid[48];
	json_t *o, *alert, *dlp;
	size_t n;

	fmt_time(ev->ts_ns, ts, sizeof(ts));
	fmt_ip(k, src, sip, sizeof(sip));
	fmt_ip(k, dst, dip, sizeof(dip));
	sl_event_community_id(k, (unsigned)src, ev->icmp_type[src], ev->icmp_code[src], cid,
			      sizeof(cid));

	o = json_object();
	json_object_set_new(o, "timestamp", json_string(ts));
	json_object_set_new(o, "flow_id", json_integer((json_int_t)(ev->flow_id & INT64_MAX)));
	json_object_set_new(o, "community_id", json_string(cid));
	json_object_set_new(o, "event_type",
			    json_string(ev->kind == SL_EVENT_FLOW ? "flow" : "alert"));
	json_object_set_new(o, "src_ip", json_string(sip));
	if (!icmp)
		json_object_set_new(o, "src_port", json_integer(k->port[src]));
	json_object_set_new(o, "dest_ip", json_string(dip));
	if (!icmp)
		json_object_set_new(o, "dest_port", json_integer(k->port[dst]));
	json_object_set_new(o, "proto", json_string(sl_event_proto_name(k->proto)));
	if (icmp) {
		/* EVE's fields for ICMP: the key's "ports" are the echo identifier. */
		json_object_set_new(o, "icmp_type", json_integer(ev->icmp_type[src]));
		json_object_set_new(o, "icmp_code", json_integer(ev->icmp_code[src]));
		if (ev->kind == SL_EVENT_FLOW && ((ev->icmp_sent >> dst) & 1)) {
			json_object_set_new(o, "response_icmp_type",
					    json_integer(ev->icmp_type[dst]));
			json_object_set_new(o, "response_icmp_code",
					    json_integer(ev->icmp_code[dst]));
		}
	}
	/* Suricata says "failed" for TCP and UDP flows no parser took, nothing for ICMP. */
	if (!icmp)
		json_object_set_new(o, "app_proto",
				    json_string(ev->app == SL_EVENT_APP_HTTP   ? "http"
						: ev->app == SL_EVENT_APP_SMTP ? "smtp"
									       : "failed"));
	json_object_set_new(
	    o, "direction",
	    json_string(ev->src_side == ev->client_side ? "to_server" : "to_client"));
	if (k->vlan[0]) {
		json_t *v = json_array();
		json_array_append_new(v, json_integer(k->vlan[0]));
		if (k->vlan[1])
			json_array_append_new(v, json_integer(k->vlan[1]));
		json_object_set_new(o, "vlan", v);
	}
	if (ev->kind == SL_EVENT_ALERT) {
		alert = json_object();
		/* Resetting the connection blocks it, as Suricata's reject does. */
		int blocked =
		    ev->action == SL_EVENT_ACTION_BLOCKED || ev->action == SL_EVENT_ACTION_RESET;

		json_object_set_new(alert, "action", json_string(blocked ? "blocked" : "allowed"));
		json_object_set_new(alert, "gid", json_integer(1));
		json_object_set_new(alert, "signature_id", json_integer(ev->signature_id));
		json_object_set_new(alert, "rev", json_integer(1));
		char sig[96];
		snprintf(sig, sizeof(sig), "SLUICE DLP %s detected", ev->sensor);
		json_object_set_new(alert, "signature", json_string(sig));
		json_object_set_new(alert, "category", json_string(ev->category));
		json_object_set_new(alert, "severity", json_integer(ev->severity));
		json_object_set_new(o, "alert", alert);
	} else {
		int c = ev->client_side;
		json_t *f = json_object();
		char start[48];

		fmt_time(ev->first_ns, start, sizeof(start));
		json_object_set_new(f, "pkts_toserver", json_integer((json_int_t)ev->pkts[c]));
		json_object_set_new(f, "pkts_toclient", json_integer((json_int_t)ev->pkts[!c]));
		json_object_set_new(f, "bytes_toserver", json_integer((json_int_t)ev->bytes[c]));
		json_object_set_new(f, "bytes_toclient", json_integer((json_int_t)ev->bytes[!c]));
		json_object_set_new(f, "start", json_string(start));
		json_object_set_new(f, "end", json_string(ts));
		json_object_set_new(f, "reason", json_string(ev->end_reason));
		json_object_set_new(f, "alerted", json_true());
		json_object_set_new(o, "flow", f);
	}
	if (ev->has_http) {
		const struct sl_event_http *h = &ev->http;
		json_t *ho = json_object();

		set_text(ho, "hostname", h->hostname);
		set_text(ho, "url", h->url);
		set_text(ho, "http_method", h->method);
		if (h->status)
			json_object_set_new(ho, "status", json_integer(h->status));
		set_text(ho, "http_content_type", h->content_type);
		json_object_set_new(ho, "length", json_integer((json_int_t)h->length));
		json_object_set_new(o, "http", ho);
	}
	if (ev->has_smtp) {
		const struct sl_event_smtp *m = &ev->smtp;
		json_t *so = json_object();

		set_text(so, "helo", m->helo);
		set_text(so, "mail_from", m->mail_from);
		if (m->rcpt_to[0]) {
			json_t *rcpt = json_array();

			json_array_append_new(rcpt, json_string(m->rcpt_to));
			json_object_set_new(so, "rcpt_to", rcpt);
		}
		json_object_set_new(o, "smtp", so);
	}
	dlp = json_object();
	json_object_set_new(dlp, "sensor", json_string(ev->sensor));
	json_object_set_new(dlp, "context", json_string(ev->context));
	if (ev->encoded)
		json_object_set_new(dlp, "encoding", json_string("base64"));
	json_object_set_new(dlp, "action", json_string(sl_event_action_name(ev->action)));
	json_object_set_new(dlp, "evidence", json_string(ev->evidence));
	set_text(dlp, "value_hash", ev->value_hash);
	json_object_set_new(dlp, "offset", json_integer((json_int_t)ev->offset));
	json_object_set_new(dlp, "count", json_integer(ev->count));
	json_object_set_new(dlp, "distinct", json_integer(ev->distinct));
	if (ev->action == SL_EVENT_ACTION_BLOCKED && ev->kind == SL_EVENT_FLOW)
		json_object_set_new(dlp, "dropped_packets", json_integer(ev->dropped));
	if (ev->action == SL_EVENT_ACTION_RESET && ev->kind == SL_EVENT_FLOW)
		json_object_set_new(dlp, "resets", json_integer(ev->resets));
	if (ev->incomplete)
		json_object_set_new(dlp, "incomplete", json_true());
	if (ev->anomalies[0]) {
		json_t *a = json_array();
		char tmp[sizeof(ev->anomalies)], *save = NULL;

		memcpy(tmp, ev->anomalies, sizeof(tmp));
		tmp[sizeof(tmp) - 1] = '\0';
		for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(a, json_string(t));
		json_object_set_new(dlp, "anomalies", a);
	}
	json_object_set_new(o, "dlp", dlp);

	n = json_dumpb(o, buf, len > 0 ? len - 1 : 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (n == 0 || n + 1 >= len)
		return -ENOSPC;
	buf[n++] = '\n';
	return (int)n;
}

/* The events file, appended to (at start and when reopened after rotation). */
static int
open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

struct sl_event_out *
sl_event_out_create(const char *path, unsigned ring_size, char *err, size_t errlen)
{
	struct sl_event_out *o = calloc(1, sizeof(*o));
	static atomic_int seq;
	char name[32];

	if (o == NULL || (o->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "events: out of memory");
		goto fail_alloc;
	}
	if (!strcmp(path, "-")) {
		o->fd = STDOUT_FILENO;
	} else {
		o->fd = open_append(path);
		o->own_fd = 1;
	}
	if (o->fd < 0) {
		snprintf(err, errlen, "events: cannot open '%s': %s", path, strerror(errno));
		goto fail_alloc;
	}
	snprintf(name, sizeof(name), "sl_events_%d", atomic_fetch_add(&seq, 1));
	o->ring = rte_ring_create_elem(name, sizeof(struct sl_event), rte_align32pow2(ring_size),
				       SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (o->ring == NULL) {
		snprintf(err, errlen, "events: cannot create a ring of %u records: %s", ring_size,
			 rte_strerror(rte_errno));
		goto fail_ring;
	}
	return o;

fail_ring:
	if (o->own_fd)
		close(o->fd);
fail_alloc:
	if (o)
		free(o->path);
	free(o);
	return NULL;
}

int
sl_event_push(struct sl_event_out *o, const struct sl_event *ev)
{
	return rte_ring_enqueue_elem(o->ring, (void *)(uintptr_t)ev, sizeof(*ev)) == 0 ? 0
										       : -ENOBUFS;
}

/* Writes the buffered lines. A line counts as written once all its bytes are; when write(2)
 * fails, the lines it did not finish are lost and counted, and the first failure (and the
 * recovery after it) is logged once rather than per line. */
static void
flush_lines(struct sl_event_out *o)
{
	size_t done = 0;
	int e = 0;

	while (done < o->used) {
		ssize_t n = write(o->fd, o->buf + done, o->used - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	unsigned ok = 0;
	while (ok < o->lines && o->ends[ok] <= done)
		ok++;
	atomic_fetch_add(&o->written, ok);
	if (e) {
		atomic_fetch_add(&o->write_failed, o->lines - ok);
		atomic_store(&o->last_errno, e);
		if (!o->failing)
			rte_log(RTE_LOG_ERR, sl_event_logtype,
				"sluice: events: cannot write to '%s': %s; events are being lost\n",
				o->path, strerror(e));
		o->failing = 1;
	} else if (o->lines && o->failing) {
		o->failing = 0;
		rte_log(RTE_LOG_WARNING, sl_event_logtype,
			"sluice: events: writing to '%s' again (%" PRIu64 " events lost so far)\n",
			o->path, (uint64_t)atomic_load(&o->write_failed));
	}
	o->used = 0;
	o->lines = 0;
}

/* Formats what the ring holds now into the buffer; returns how many records. */
static unsigned
drain(struct sl_event_out *o)
{
	static __thread struct sl_event batch[32];
	static __thread char line[8192];
	unsigned n = rte_ring_dequeue_burst_elem(o->ring, batch, sizeof(batch[0]), 32, NULL);

	for (unsigned i = 0; i < n; i++) {
		struct sl_event *ev = &batch[i];
		int len;

		if (ev->value_len) {
			if (o->have_key)
				sl_event_value_hash(o->key, ev->value, ev->value_len,
						    ev->value_hash, sizeof(ev->value_hash));
			memset(ev->value, 0, sizeof(ev->value));
			ev->value_len = 0;
		}
		len = sl_event_format(ev, line, sizeof(line));

		if (len <= 0)
			continue;
		if (o->used + (size_t)len > sizeof(o->buf) || o->lines == OUT_BUF_LINES)
			flush_lines(o);
		memcpy(o->buf + o->used, line, (size_t)len);
		o->used += (size_t)len;
		o->ends[o->lines++] = (uint32_t)o->used;
		if (o->tap)
			o->tap(o->tap_ctx, line, (size_t)len);
	}
	return n;
}

static void
drain_all(struct sl_event_out *o)
{
	while (drain(o) > 0)
		;
	flush_lines(o);
}

/* Writes what is buffered to the file open now, then opens the path again (after logrotate
 * moved the file away). If the path cannot be opened, the old file stays in use and it is
 * logged. */
static void
reopen_file(struct sl_event_out *o)
{
	int fd;

	flush_lines(o);
	fd = open_append(o->path);
	if (fd < 0) {
		rte_log(RTE_LOG_ERR, sl_event_logtype,
			"sluice: events: cannot reopen '%s': %s; still writing to the old file\n",
			o->path, strerror(errno));
		return;
	}
	close(o->fd);
	o->fd = fd;
	rte_log(RTE_LOG_WARNING, sl_event_logtype, "sluice: events: reopened '%s'\n", o->path);
}

static void *
writer_main(void *arg)
{
	struct sl_event_out *o = arg;
	const struct timespec nap = {0, 1000000};

	while (!atomic_load(&o->stop)) {
		if (atomic_exchange(&o->reopen, 0) && o->own_fd)
			reopen_file(o);
		if (drain(o) == 0) {
			flush_lines(o);
			nanosleep(&nap, NULL);
		}
	}
	drain_all(o);
	return NULL;
}

void
sl_event_out_set_key(struct sl_event_out *o, const uint8_t key[SL_EVENT_KEY_LEN])
{
	memcpy(o->key, key, SL_EVENT_KEY_LEN);
	o->have_key = 1;
}

void
sl_event_out_set_tap(struct sl_event_out *o, void (*fn)(void *ctx, const char *line, size_t len),
		     void *ctx)
{
	o->tap = fn;
	o->tap_ctx = ctx;
}

int
sl_event_out_start(struct sl_event_out *o)
{
	int rc = pthread_create(&o->thread, NULL, writer_main, o);

	if (rc)
		return -rc;
	pthread_setname_np(o->thread, "sl-events");
	o->started = 1;
	return 0;
}

void
sl_event_out_reopen(struct sl_event_out *o)
{
	atomic_store(&o->reopen, 1);
}

void
sl_event_out_stop(struct sl_event_out *o)
{
	if (o->started) {
		atomic_store(&o->stop, 1);
		pthread_join(o->thread, NULL);
		o->started = 0;
	} else {
		drain_all(o);
	}
}

void
sl_event_out_free(struct sl_event_out *o)
{
	if (o == NULL)
		return;
	sl_event_out_stop(o);
	if (o->own_fd)
		close(o->fd);
	rte_ring_free(o->ring);
	free(o->path);
	free(o);
}

void
sl_event_out_stats(const struct sl_event_out *o, struct sl_event_out_stats *st)
{
	st->written = atomic_load(&o->written);
	st->write_failed = atomic_load(&o->write_failed);
	st->last_errno = atomic_load(&o->last_errno);
}

/* HMAC-SHA256 with the stack-only SHA256_* interface: the EVP API allocates a context per call,
 * and this runs on a worker (once per alert). Deprecated in OpenSSL 3 but stable. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void
sl_event_value_hash(const uint8_t key[SL_EVENT_KEY_LEN], const uint8_t *value, size_t len,
		    char *out, size_t outlen)
{
	uint8_t pad[64], inner[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;
	size_t i, o = 0;

	for (i = 0; i < 64; i++)
		pad[i] = (uint8_t)((i < SL_EVENT_KEY_LEN ? key[i] : 0) ^ 0x36);
	SHA256_Init(&c);
	SHA256_Update(&c, pad, 64);
	SHA256_Update(&c, value, len);
	SHA256_Final(inner, &c);
	for (i = 0; i < 64; i++)
		pad[i] = (uint8_t)((i < SL_EVENT_KEY_LEN ? key[i] : 0) ^ 0x5c);
	SHA256_Init(&c);
	SHA256_Update(&c, pad, 64);
	SHA256_Update(&c, inner, sizeof(inner));
	SHA256_Final(mac, &c);
	for (i = 0; i < 8 && o + 2 < outlen; i++, o += 2)
		snprintf(out + o, outlen - o, "%02x", mac[i]);
	if (outlen)
		out[o < outlen ? o : outlen - 1] = '\0';
}
#pragma GCC diagnostic pop
