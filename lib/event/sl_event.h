/* sl_event: security events, from fixed-size records on a worker to EVE JSON lines in a file.
 *
 * Workers fill a struct sl_event (no pointers, no raw matched value: evidence is already masked)
 * and push it to a multi-producer ring; the push never blocks and never allocates: when the ring
 * is full the record is refused and the caller counts it as lost. One writer thread, never a
 * worker, pops records, renders them as Suricata EVE JSON lines with one extra top-level object,
 * `dlp`, and writes them to the events file. */
#ifndef SL_EVENT_H
#define SL_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sl_pkt.h"

enum sl_event_kind {
	SL_EVENT_ALERT = 0, /* first confirmed match of a sensor in a flow direction */
	SL_EVENT_FLOW,	    /* flow end: final counts of a sensor that matched more than once */
};

#define SL_EVENT_ACTIONS(X)                                                                        \
	X(ALLOWED, "allowed")                                                                      \
	X(WOULD_BLOCK, "would_block")                                                              \
	X(BLOCKED, "blocked")                                                                      \
	X(RESET, "reset") /* mirror: both ends reset through an injection port */

enum sl_event_action {
#define SL_X(e, s) SL_EVENT_ACTION_##e,
	SL_EVENT_ACTIONS(SL_X)
#undef SL_X
	    SL_EVENT_ACTION_COUNT
};

enum sl_event_app {
	SL_EVENT_APP_RAW = 0, /* not HTTP: scanned as a raw stream ("failed" in EVE terms) */
	SL_EVENT_APP_HTTP,
	SL_EVENT_APP_SMTP,
};

struct sl_event_http {
	char hostname[96];
	char url[256]; /* any matched value already masked */
	char method[16];
	char content_type[96];
	uint16_t status; /* 0 = none */
	uint64_t length;
};

/* EVE's smtp object: the envelope of the message (digits masked, as in http.url). */
struct sl_event_smtp {
	char helo[64];
	char mail_from[96];
	char rcpt_to[96]; /* the first recipient */
};

struct sl_event {
	uint64_t ts_ns; /* wall clock, ns since the epoch */
	uint64_t flow_id;
	struct sl_flow_key key;
	uint8_t src_side;    /* key side that sent the matched bytes */
	uint8_t client_side; /* key side that opened the flow */
	uint8_t kind;	     /* enum sl_event_kind */
	uint8_t action;	     /* enum sl_event_action */
	uint8_t app;	     /* enum sl_event_app */
	uint8_t severity;
	uint8_t has_http;
	uint8_t has_smtp;
	uint8_t incomplete; /* content was not fully inspected (caps hit) */
	uint32_t signature_id;
	uint32_t count;	   /* matches of this sensor in this flow direction so far */
	uint32_t distinct; /* distinct values among them */
	uint64_t offset;   /* stream offset of the first matched value */
	char sensor[32];
	char category[64];
	char context[8];
	uint8_t encoded;     /* the value was in base64 the sender did not declare: dlp.encoding */
	char evidence[48];   /* masked */
	char value_hash[20]; /* keyed hash of the value, hex, for correlation */
	/* The matched value, normalised (alphanumerics, case-folded), in transit only: the writer
	 * thread turns it into value_hash and wipes it; it is never rendered. Keeping the HMAC
	 * off the worker is worth a few microseconds per alert. */
	uint8_t value[64];
	uint8_t value_len;
	/* ICMP flows (key.proto 1 or 58), whose key holds the echo identifier, not ports: the type
	 * and code of the message each key side sent last, bit s of icmp_sent set once side s
	 * sent one. EVE renders the sender's as icmp_type/icmp_code, and in flow records the
	 * other side's as response_icmp_type/response_icmp_code. */
	uint8_t icmp_type[2], icmp_code[2];
	uint8_t icmp_sent;
	uint64_t pkts[2], bytes[2]; /* per key side, for SL_EVENT_FLOW */
	uint32_t dropped;	    /* packets dropped after the flow was blocked */
	uint32_t resets;	    /* times both ends were reset (action reset) */
	uint64_t first_ns;
	char end_reason[12];
	char anomalies[128]; /* protocol anomalies of the flow, comma-separated names */
	struct sl_event_http http;
	struct sl_event_smtp smtp;
};

const char *sl_event_action_name(enum sl_event_action a);

/* Renders one record as a JSON line (with '\n') into buf. Returns its length, or -ENOSPC. */
int sl_event_format(const struct sl_event *ev, char *buf, size_t len);

#define SL_EVENT_KEY_LEN 32

/* Keyed hash (HMAC-SHA256, first 64 bits, hex) of a matched value, so the same value can be
 * correlated across events without being revealed. Allocation-free: callable on a worker. */
void sl_event_value_hash(const uint8_t key[SL_EVENT_KEY_LEN], const uint8_t *value, size_t len,
			 char *out, size_t outlen);

/* An IP protocol's name as EVE writes it in `proto` ("TCP", "UDP", "ICMP", "IPv6-ICMP",
 * else "IP"). */
const char *sl_event_proto_name(uint8_t proto);

/* Community ID v1 (seed 0) of the flow, "1:<base64>" into out (at least 32 bytes). ICMP and
 * ICMPv6 have no ports: as the specification says, the type and code of a message sent by key
 * side `icmp_side` stand for them, and a type with a counterpart (echo request and reply, ...)
 * stands for both ends, so that both directions of an exchange get one ID. Protocols other than
 * TCP, UDP, SCTP and ICMP are hashed without ports. TCP and UDP ignore the last three inputs. */
void sl_event_community_id(const struct sl_flow_key *key, unsigned icmp_side, uint8_t icmp_type,
			   uint8_t icmp_code, char *out, size_t outlen);

struct sl_event_out;

/* Opens the events file (append; "-" = stdout) and the ring of ring_size records. Returns NULL
 * with a message in err on failure. Needs the EAL (rte_ring). */
struct sl_event_out *sl_event_out_create(const char *path, unsigned ring_size, char *err,
					 size_t errlen);

/* Key of value_hash (SL_EVENT_KEY_LEN bytes); without one, value_hash is left out. */
void sl_event_out_set_key(struct sl_event_out *o, const uint8_t key[SL_EVENT_KEY_LEN]);

/* Starts the writer thread. Returns 0 or a negative errno. */
int sl_event_out_start(struct sl_event_out *o);

/* Pushes one record; never blocks. Returns 0, or -ENOBUFS when the ring is full (the caller
 * counts the event as lost). Safe from several workers at once. */
int sl_event_push(struct sl_event_out *o, const struct sl_event *ev);

/* Calls fn(ctx, line, len) from the writer thread for every line written (the management
 * plane's in-memory tail and followers). Set before sl_event_out_start. */
void sl_event_out_set_tap(struct sl_event_out *o,
			  void (*fn)(void *ctx, const char *line, size_t len), void *ctx);

/* Asks the writer thread to open the events file's path again (log rotation: the file was
 * moved away), after writing what it holds to the old one. A lock-free store: callable from a
 * signal handler. No effect on stdout. */
void sl_event_out_reopen(struct sl_event_out *o);

/* Writes everything still queued and stops the writer thread; events pushed afterwards stay
 * queued until the next stop or free. */
void sl_event_out_stop(struct sl_event_out *o);

/* Writes everything still queued, stops the writer thread, closes the file, frees o. */
void sl_event_out_free(struct sl_event_out *o);

struct sl_event_out_stats {
	uint64_t written;      /* lines wholly written to the file */
	uint64_t write_failed; /* lines lost to a failed write (full disk, I/O error) */
	int last_errno;	       /* of the latest failed write (kept after recovery), or 0 */
};

/* Safe from any thread while the writer runs. */
void sl_event_out_stats(const struct sl_event_out *o, struct sl_event_out_stats *st);

#endif /* SL_EVENT_H */
