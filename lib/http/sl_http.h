/* sl_http: allocation-free incremental HTTP/1.x parser that turns a TCP direction into the bytes
 * the application at the other end will really see, each labelled with a scan context.
 *
 * One struct sl_http_conn per TCP connection holds both directions; the worker feeds each
 * direction's in-order bytes (any split, down to one byte) with sl_http_feed. A direction's role
 * (requests or responses) is taken from its first line. Responses are matched to requests in
 * order through a small FIFO of pending request methods in the conn (HEAD and CONNECT change
 * response framing). Bytes leave through callbacks: URL (request target, percent-decoded),
 * HEADER (header lines "Name: value\n", reason phrase, chunk extensions, trailers, multipart part
 * headers), BODY (after de-chunking, up to two gzip/deflate/zstd/br layers, form-urlencoded
 * decoding; multipart parts one unit each) and RAW.
 *
 * It also follows an SMTP client (sl_http_conn_smtp): the messages mail carries are RFC 5322
 * messages, header lines then a MIME body, which the HTTP message stages already parse; only
 * the session's framing around them (commands, DATA's dot-stuffing, BDAT chunks) is SMTP's.
 *
 * Invariants:
 *  - every input byte is either HTTP syntax the parser accepted (method, version, CRLFs, chunk
 *    sizes, multipart delimiters) or is passed to on_data in some context. When the parser cannot
 *    follow (garbage, ambiguous framing, caps, a TCP hole) it reports an anomaly, closes the open
 *    units, and the rest of the direction goes to on_data as RAW, starting with the bytes of the
 *    rejected token. Decoding caps (output, ratio) stop inspection of one body only, with an
 *    anomaly that sl_http_anomaly_uninspected() flags; the policy decision is the caller's.
 *  - results do not depend on how the input is split, except the point where an inflate ratio
 *    cap triggers for inputs within a few hundred bytes of the threshold (see max_ratio), and
 *    around a corrupt or cut-short gzip/deflate/br body: the decoder's last output before the
 *    error and where it stops reading depend on how it was fed (the error is reported in every
 *    split).
 *    Feeding it in fixed steps would mend that, at the price of holding back up to a step of
 *    compressed bytes, which a sender trickling its body could get past an inline deny.
 *  - no allocation after sl_http_pool_create; bounded work per input byte; single-threaded (one
 *    pool per worker). Decompression states are ISA-L igzip states, zstd decoders in fixed
 *    workspaces and brotli decoders allocating from fixed arenas, taken from the pool only
 *    while a compressed body is being decoded.
 * Multipart parts sent with Content-Transfer-Encoding base64 or quoted-printable are decoded
 * (a character outside base64 is reported, http_bad_base64, and the rest of the part is passed
 * as sent; a malformed quoted-printable escape is passed as sent, as RFC 2045 advises).
 * zstd (RFC 8878) is decoded with windows up to 8 MiB, the limit RFC 9659 sets for HTTP; a frame
 * asking for more is a decompression error (reported, passed undecoded). brotli (RFC 7932) is
 * decoded with every window it allows (up to 16 MiB; not the large-window extension).
 * After a 101 answering a request with Upgrade: websocket, both directions are WebSocket frames
 * (RFC 6455): payloads unmasked, each data message one BODY unit across its frames, each control
 * frame's payload one RAW unit; permessage-deflate (RFC 7692) messages inflated, the window kept
 * from message to message. Other upgrades are tunnelled: RAW.
 * A part that is itself multipart (mail's multipart/alternative inside multipart/mixed) is
 * followed to SL_HTTP_MIME_DEPTH levels below the body's own, its parts decoded alike; the
 * boundaries of those levels live in a MIME stack taken from the pool (max_mime) only while such
 * a body is read. A delimiter of any open level ends the parts inside it (an unclosed inner
 * multipart: http_mime_unclosed); a nesting deeper than that, or no free stack, leaves the part's
 * content as sent (http_mime_not_decoded). Where one level's boundary is a prefix of another's
 * the shorter wins, as RFC 2046 5.1.1 requires of the sender.
 * Not supported: HTTP/2, HTTP/0.9, Content-Encoding compress (reported, passed undecoded). */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "sl_scan.h" /* enum sl_scan_context only */

#define SL_HTTP_ZSTD_WINDOW_LOG 23  /* 8 MiB: RFC 9659's limit for Content-Encoding zstd */
#define SL_HTTP_METHOD_LEN	16  /* longest method + NUL; longer is a bad request line */
#define SL_HTTP_URL_LEN		256 /* raw request-target copy in sl_http_msg, NUL included */
#define SL_HTTP_HOST_LEN	64
#define SL_HTTP_CTYPE_LEN	64
#define SL_HTTP_BOUNDARY_MAX	70 /* RFC 2046 */
#define SL_HTTP_MIME_DEPTH	4  /* multipart levels followed inside the body's own */
#define SL_HTTP_MAX_LAYERS	2  /* content codings decoded per body */
#define SL_HTTP_PIPELINE	16 /* requests awaiting their response, per connection */
#define SL_HTTP_DETECT_MIN	16 /* see sl_http_detect */

/* Anomalies: enum value, counter/JSON name, 1 if the content was not fully inspected. */
#define SL_HTTP_ANOMALIES(X)                                                                       \
	X(BAD_REQUEST_LINE, "http_bad_request_line", 0)                                            \
	X(BAD_STATUS_LINE, "http_bad_status_line", 0)                                              \
	X(BAD_HEADER, "http_bad_header", 0)                                                        \
	X(HEADER_TOO_LONG, "http_header_too_long", 0)                                              \
	X(TOO_MANY_HEADERS, "http_too_many_headers", 0)                                            \
	X(FOLDED_HEADER, "http_folded_header", 0)                                                  \
	X(CL_AND_CHUNKED, "http_cl_and_chunked", 0)                                                \
	X(CL_CONFLICT, "http_cl_conflict", 0)                                                      \
	X(BAD_CONTENT_LENGTH, "http_bad_content_length", 0)                                        \
	X(BAD_TRANSFER_ENCODING, "http_bad_transfer_encoding", 0)                                  \
	X(BAD_CHUNK_SIZE, "http_bad_chunk_size", 0)                                                \
	X(BAD_CHUNK_END, "http_bad_chunk_end", 0)                                                  \
	X(UNKNOWN_ENCODING, "http_unknown_encoding", 1)                                            \
	X(TOO_MANY_ENCODINGS, "http_too_many_encodings", 1)                                        \
	X(INFLATE_POOL_EMPTY, "http_inflate_pool_empty", 1)                                        \
	X(DECOMPRESS_ERROR, "http_decompress_error", 1)                                            \
	X(BODY_CAP, "http_body_cap", 1)                                                            \
	X(RATIO_CAP, "http_ratio_cap", 1)                                                          \
	X(MULTIPART_NO_BOUNDARY, "http_multipart_no_boundary", 0)                                  \
	X(UNSOLICITED_RESPONSE, "http_response_without_request", 0)                                \
	X(PIPELINE_OVERFLOW, "http_pipeline_overflow", 0)                                          \
	X(GAP, "http_gap", 1)                                                                      \
	X(BAD_BASE64, "http_bad_base64", 0)                                                        \
	X(TRUNCATED, "http_truncated", 0)                                                          \
	X(WS_BAD_FRAME, "http_ws_bad_frame", 1)                                                    \
	X(MIME_UNCLOSED, "http_mime_unclosed", 0)                                                  \
	X(MIME_NOT_DECODED, "http_mime_not_decoded", 1)

enum sl_http_anomaly {
#define SL_X(e, s, u) SL_HTTP_AN_##e,
	SL_HTTP_ANOMALIES(SL_X)
#undef SL_X
	    SL_HTTP_AN_COUNT
};

const char *sl_http_anomaly_name(enum sl_http_anomaly a);
/* Returns 1 if `a` means some content was not decoded or not scanned (on_uninspectable). */
int sl_http_anomaly_uninspected(enum sl_http_anomaly a);

/* Returns 1 if data starts with an HTTP/1.x request line (method token SP request-target SP
 * "HTTP/1.") or status line ("HTTP/1.x SP 3DIGIT"), 0 as soon as a byte rules that out, -1 if
 * all len bytes are a valid prefix. A long request-target keeps the answer at -1: a caller that
 * cannot wait for more bytes may take -1 with len >= SL_HTTP_DETECT_MIN as HTTP (a method, a
 * space and the start of a target), which is safe because the parser falls back to RAW without
 * losing bytes if it is wrong. Detection is by content only, on any port. */
int sl_http_detect(const uint8_t *data, size_t len);

/* Returns 1 if data starts with an SMTP client's greeting ("EHLO " or "HELO ", any case), else
 * 0. */
int sl_http_detect_smtp(const uint8_t *data, size_t len);

struct sl_http_params {
	uint32_t max_inflate;  /* decompression states per worker (each ~87 KiB); 2 per body max */
	uint32_t max_zstd;     /* zstd decoders per worker (each ~8.1 MiB); 0: zstd is an unknown
				* coding, reported and passed undecoded */
	uint32_t max_br;       /* brotli decoders per worker (each a 20 MiB arena); 0: br is an
				* unknown coding */
	uint32_t max_mime;     /* MIME stacks per worker (each ~600 bytes), one per body with a
				* nested multipart being read; 0: nested parts are left as sent */
	uint32_t max_line;     /* bytes per start line, header line or chunk-size line */
	uint32_t max_headers;  /* header (or trailer) lines per message */
	uint64_t max_body_out; /* decoded bytes per compressed body; 0 = no cap */
	uint32_t max_ratio;    /* decoded:compressed per body, checked every 64 KiB of output
				* against compressed bytes consumed; 0 = no cap */
};

/* A message whose headers are complete; pointers valid during on_message only. */
struct sl_http_msg {
	uint8_t is_request;
	uint8_t url_truncated; /* url holds the first SL_HTTP_URL_LEN - 1 bytes only */
	uint8_t chunked;
	uint8_t n_encodings; /* content + transfer codings other than chunked */
	uint16_t status;     /* responses */
	uint32_t index;	     /* n-th request, or n-th final response (answers the n-th request) */
	int64_t content_length; /* -1 if absent */
	const char *method;	/* request's method; for a response, the method it answers or "" */
	const char *url;	/* raw request-target; "" for a response */
	const char *host;
	const char *content_type;
};

struct sl_http_callbacks {
	/* Scannable bytes of context c; consecutive calls with the same c continue one unit. */
	void (*on_data)(void *ctx, enum sl_scan_context c, const uint8_t *data, size_t len);
	/* The current unit of context c ended (URL, header block, body or part, RAW at eof). */
	void (*on_unit_end)(void *ctx, enum sl_scan_context c);
	void (*on_message)(void *ctx, const struct sl_http_msg *m);
	void (*on_anomaly)(void *ctx, enum sl_http_anomaly a);
};

/* Per-direction parser state; opaque to callers, fixed size, lives in struct sl_http_conn. */
struct sl_http_layer {
	uint8_t kind;  /* gzip, deflate or zstd */
	uint8_t phase; /* wrapper detection, running, done, failed */
	uint8_t first; /* deflate: first byte, held until the second tells zlib from raw */
	uint8_t have_first;
	uint32_t slot; /* pool state index + 1; 0 = none */
	/* zstd: the decoder's hint for its next input (sl_http.c: zstd_take), and the current
	 * frame's first bytes, passed on undecoded if its header is refused (not zstd, a window
	 * over 8 MiB) */
	uint32_t zhint;
	uint8_t zflush; /* zstd: decoded bytes wait in the decoder: the next call takes no input */
	uint8_t zhdr_len;
	uint8_t zhdr[18]; /* ZSTD_FRAMEHEADERSIZE_MAX */
};

struct sl_http_dir {
	uint8_t state;
	uint8_t role; /* 0 unknown, 1 requests, 2 responses */
	uint8_t open; /* bit per scan context with a unit open */
	uint8_t sub;  /* position inside the current token */
	uint8_t hold_len;
	uint8_t name_len;
	uint8_t hdr_kind;
	uint8_t val_len;
	uint8_t flags;
	uint8_t pct, pct_hi, in_query;
	uint8_t n_enc, n_layers, ctype_kind, boundary_len;
	uint8_t mp_state, mp_match, mp_virtual, body_stop;
	uint8_t mp_cte;	  /* the current part's Content-Transfer-Encoding (sl_http.c: enum cte) */
	uint8_t cte_n;	  /* characters its decoder holds: base64 0-3, quoted-printable 0-2 */
	uint8_t ph_len;	  /* bytes of the current part header line kept in ph */
	uint8_t mp_depth; /* multipart levels open inside the body's own (0: only its own) */
	uint8_t mp_cand;  /* levels whose delimiter the bytes held in mp_match may still be */
	uint8_t mp_hit;	  /* the level whose delimiter was matched whole */
	uint8_t mp_pad;	  /* blanks read after it (transport padding) */
	uint8_t ph_ct;	  /* part header: Content-Type being kept (sl_http.c: enum part_ct) */
	uint16_t mime;	  /* the body's MIME stack in the pool, index + 1; 0: none */
	uint8_t cte_q[4]; /* base64: their 6-bit values; quoted-printable: '=' and what follows */
	char ph[64];	  /* the start of the current part header line */
	uint16_t status;
	uint16_t url_len;
	uint32_t line_len;
	uint32_t n_headers;
	uint32_t msg_index;
	uint64_t content_length;
	uint64_t remaining; /* body or chunk bytes left; chunk size being read */
	uint64_t body_in, body_out, consumed, next_mark;
	uint8_t enc[4];
	struct sl_http_layer layer[SL_HTTP_MAX_LAYERS];
	/* WebSocket, after a 101 to an Upgrade: websocket request (sl_http.c: ws_*) */
	uint8_t ws;	    /* WS_* flags */
	uint8_t ws_hdr_len; /* bytes of the frame header read into ws_hdr */
	uint8_t ws_op;	    /* the frame's opcode, | WSF_FIN, | WSF_MASKED */
	uint8_t ws_msg;	    /* the data message open: enum ws_msg */
	uint8_t ws_mpos;    /* payload bytes of the frame read, mod 4 (mask position) */
	uint8_t ws_key[4];  /* the frame's masking key */
	uint8_t ws_hdr[14];
	uint64_t ws_left; /* payload bytes left in the frame */
	/* SMTP client (sl_http_conn_smtp): the session around the messages (sl_http.c: smtp_*) */
	uint8_t smtp;	    /* enum smtp_state; 0: not SMTP */
	uint8_t smtp_dot;   /* DATA: where the last byte left the dot-stuffed framing */
	uint8_t smtp_last;  /* BDAT: the chunk being read is the last */
	uint8_t smtp_len;   /* bytes of the command line kept in env.line */
	uint8_t smtp_msg;   /* a message is open (between DATA or the first BDAT and its end) */
	uint8_t msg_cte;    /* SMTP: the message's own Content-Transfer-Encoding */
	uint64_t smtp_left; /* BDAT: bytes left in the chunk */
	char hold[24];
	char name[32]; /* longer than every name classify_header knows, so none is cut to one */
	char val[160];
	char method[SL_HTTP_METHOD_LEN];
	union {
		char url[SL_HTTP_URL_LEN]; /* HTTP requests */
		struct {		   /* SMTP clients, which have no URL */
			char line[80];	   /* the start of the command line being read */
			char helo[48];	   /* the envelope (sl_http_smtp_envelope) */
			char from[64];
			char rcpt[64]; /* the first recipient */
		} env; /* line[0] is url[0], which a message start clears: read between lines only
			*/
	};
	char host[SL_HTTP_HOST_LEN];
	char ctype[SL_HTTP_CTYPE_LEN];
	char boundary[SL_HTTP_BOUNDARY_MAX];
};

struct sl_http_conn {
	struct sl_http_dir dir[2];
	char pending[SL_HTTP_PIPELINE][SL_HTTP_METHOD_LEN]; /* methods awaiting a response */
	uint8_t pend_head, pend_count;
};

struct sl_http_pool;

/* Allocates the per-worker pool (all decompression states and buffers). Returns NULL on bad
 * parameters (max_line or max_headers 0) or out of memory. */
struct sl_http_pool *sl_http_pool_create(const struct sl_http_params *p);
void sl_http_pool_free(struct sl_http_pool *pool);
/* Decompression states currently in use (for stats and leak checks). */
uint32_t sl_http_pool_in_use(const struct sl_http_pool *pool);

/* Initial state of a connection (equivalent to all-zero). */
void sl_http_conn_init(struct sl_http_conn *c);
/* Makes direction dir of c an SMTP client (before its first byte): command lines go out as
 * RAW units; each message, after DATA (dot-stuffed, up to the lone ".") or in BDAT chunks
 * (RFC 3030), is parsed as an RFC 5322 message: header lines as HEADER, the body as BODY through
 * the MIME stages (multipart parts, base64 and quoted-printable, also for a single-part message)
 * and reported through on_message when its headers end. After STARTTLS, or a hole, the rest of
 * the direction is RAW. */
void sl_http_conn_smtp(struct sl_http_conn *c, unsigned dir);

/* The envelope an SMTP client direction gave for the message it is sending (or sent last):
 * the EHLO/HELO name, the MAIL FROM and first RCPT TO paths, brackets included, as sent;
 * strings empty when not seen, cut to their buffers. Valid until the next feed. */
struct sl_http_smtp_envelope {
	const char *helo, *mail_from, *rcpt_to;
};
void sl_http_smtp_envelope(const struct sl_http_conn *c, unsigned dir,
			   struct sl_http_smtp_envelope *out);
/* Feeds len in-order bytes of direction dir (0 or 1, the caller's orientation). data == NULL
 * means a hole of len bytes: the direction cannot be followed any more (GAP anomaly, then RAW).
 * Callbacks run before it returns; they must not feed the same conn. */
void sl_http_feed(struct sl_http_pool *pool, struct sl_http_conn *c, unsigned dir,
		  const uint8_t *data, size_t len, const struct sl_http_callbacks *cb, void *ctx);
/* End of direction dir (FIN, RST or flow expiry): completes a read-until-close body, reports
 * TRUNCATED for any other unfinished message, closes open units, and returns its
 * decompression states. Later feeds of dir are passed as RAW. */
void sl_http_eof(struct sl_http_pool *pool, struct sl_http_conn *c, unsigned dir,
		 const struct sl_http_callbacks *cb, void *ctx);
/* Returns every decompression state of c to the pool without callbacks (flow freed). */
void sl_http_conn_release(struct sl_http_pool *pool, struct sl_http_conn *c);

#endif /* SL_HTTP_H */
