/* sl_ctl: the management socket. Newline-delimited JSON over a Unix stream socket, served by one
 * control thread (never a worker lcore), with no DPDK dependency.
 *
 * Protocol. One request per line, one reply per request, in request order:
 *
 *   {"id": <scalar>, "cmd": "sensors.get", "args": {"name": "fr_ssn"}}       ("args" optional)
 *   {"id": <same>, "ok": true, "result": <any JSON>}
 *   {"id": <same>, "ok": false, "error": {"code": "not_found", "message": "..."}}
 *
 * A request that cannot be read far enough to find its id gets "id": null. A line longer than
 * max_line gets one line_too_long reply as soon as the limit is crossed; the rest of that line is
 * discarded up to the next newline and the connection keeps serving: the server never holds more
 * than max_line bytes of input per client. After a handler calls sl_ctl_client_subscribe(), lines
 * published on the topic follow on the same connection, verbatim, one per line. They must not
 * have a top-level "ok" member (EVE events have none): that is how a client tells them from
 * replies, which a subscriber may still request.
 *
 * Commands live in one static table supplied by the application (as in HAProxy's cli.c); each
 * handler is a thin wrapper around an action function that tests call directly. A built-in "help"
 * lists the table.
 *
 * Access. The socket file is mode 0660, owned by the daemon's user, group = the configured group.
 * That gate is checked by the kernel at connect() with the caller's credentials; the server then
 * checks SO_PEERCRED itself (root, the daemon's own uid, or a member of the group by primary gid
 * or by the peer process's supplementary groups, SO_PEERGROUPS; getgrouplist() on kernels without
 * it) and refuses anyone else with one access_denied reply, then closes. The mode is defence in
 * depth; the credential check is the rule.
 *
 * Resources. Per client: input at most max_line bytes (allocated only while a partial line is
 * pending, so an idle client costs one small struct and a file descriptor); output at most
 * max_output bytes. A client is not read from while it has unsent output, and dispatching pauses
 * once 64 KiB of replies are waiting on a full socket (the rest of that read, at most 64 KiB,
 * waits too): a client that pipelines requests without reading stalls itself instead of growing
 * the server. A reply that does not fit max_output becomes a reply_too_large error; a subscriber
 * whose published lines do not fit is dropped and counted (clients_dropped_slow).
 *
 * Threads. Everything runs on the thread that calls sl_ctl_server_run(), including handlers,
 * except sl_ctl_publish() and sl_ctl_server_stop(), which any non-worker thread may call (they
 * take a mutex and wake the control thread through an eventfd). */
#ifndef SL_CTL_H
#define SL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define SL_CTL_DEFAULT_PATH	   "/run/sluice/sluice.sock"
#define SL_CTL_MAX_LINE_DEFAULT	   (1u << 20) /* 1 MiB */
#define SL_CTL_MAX_OUTPUT_DEFAULT  (4u << 20)
#define SL_CTL_MAX_CLIENTS_DEFAULT 128
#define SL_CTL_MAX_QUEUE_DEFAULT   (4u << 20) /* bytes of published lines not yet delivered */
#define SL_CTL_MAX_TOPICS	   4	      /* subscriptions per client */
#define SL_CTL_TOPIC_LEN	   32

/* Error codes on the wire. Protocol-level ones are produced by the server; the rest are shared by
 * handlers so that the daemon and sluicectl agree. A handler may still use its own code string. */
#define SL_CTL_ERRORS(X)                                                                           \
	X(BAD_JSON, "bad_json")	      /* the line is not JSON */                                   \
	X(BAD_REQUEST, "bad_request") /* JSON, but not a request object */                         \
	X(UNKNOWN_COMMAND, "unknown_command")                                                      \
	X(LINE_TOO_LONG, "line_too_long")                                                          \
	X(ACCESS_DENIED, "access_denied")                                                          \
	X(TOO_MANY_CLIENTS, "too_many_clients")                                                    \
	X(REPLY_TOO_LARGE, "reply_too_large") /* a reply does not fit max_output */                \
	X(BAD_ARGS, "bad_args")		      /* missing, unknown or mistyped argument */          \
	X(NOT_FOUND, "not_found")                                                                  \
	X(EXISTS, "exists")                                                                        \
	X(UNSUPPORTED, "unsupported")                                                              \
	X(INTERNAL, "internal")

/* clang-format cannot tell that the X-macro expansion ends with a comma. */
/* clang-format off */
enum sl_ctl_errcode {
#define SL_X(e, s) SL_CTL_E_##e,
	SL_CTL_ERRORS(SL_X)
#undef SL_X
	SL_CTL_E_COUNT
};
/* clang-format on */

/* Server counters: name in the struct, key in JSON. Gauges are marked. */
#define SL_CTL_STATS(X)                                                                            \
	X(clients)     /* gauge: connected clients */                                              \
	X(subscribers) /* gauge: clients with at least one subscription */                         \
	X(clients_accepted)                                                                        \
	X(clients_denied)	/* refused by the credential check */                              \
	X(clients_rejected)	/* refused because max_clients were connected */                   \
	X(clients_dropped_slow) /* output above max_output */                                      \
	X(requests)                                                                                \
	X(errors) /* error replies, protocol and handler */                                        \
	X(lines_too_long)                                                                          \
	X(published)	/* lines delivered to subscribers (one per subscriber) */                  \
	X(publish_lost) /* lines refused because the publish queue was full */

struct sl_ctl_stats {
#define SL_X(f) uint64_t f;
	SL_CTL_STATS(SL_X)
#undef SL_X
};

struct sl_ctl_server;
struct sl_ctl_client;

/* What a failing handler reports. code points to a string that outlives the reply (a literal or
 * sl_ctl_error_name()); message is human text. */
struct sl_ctl_error {
	const char *code;
	char message[256];
};

/* A command handler. Runs on the control thread. Returns 0 with *result set (the server takes the
 * reference; NULL means JSON null), or -1 with err filled (sl_ctl_fail()). args is always an
 * object (empty when the request had none); it is borrowed. */
typedef int (*sl_ctl_handler_fn)(void *app_ctx, struct sl_ctl_client *c, json_t *args,
				 json_t **result, struct sl_ctl_error *err);

struct sl_ctl_cmd {
	const char *name; /* "sensors.add" */
	sl_ctl_handler_fn fn;
	const char *help;      /* one line */
	const char *args_help; /* "name=STR pattern=REGEX [validator=NAME]", or NULL */
};

struct sl_ctl_params {
	const char *path; /* socket path; NULL = no socket (tests and fuzzers use memory clients) */
	const char *group;	       /* group allowed besides root and the owner; NULL = none */
	const struct sl_ctl_cmd *cmds; /* the application's table, kept by reference */
	size_t ncmds;
	void *app_ctx;	      /* passed to every handler */
	size_t max_line;      /* 0 = SL_CTL_MAX_LINE_DEFAULT */
	size_t max_output;    /* 0 = SL_CTL_MAX_OUTPUT_DEFAULT */
	unsigned max_clients; /* 0 = SL_CTL_MAX_CLIENTS_DEFAULT */
	size_t max_queue;     /* 0 = SL_CTL_MAX_QUEUE_DEFAULT */
};

/* Name on the wire of an error code. */
const char *sl_ctl_error_name(enum sl_ctl_errcode code);

/* Creates the server: resolves the group, creates the socket's parent directory (0755) if
 * missing, removes a stale socket file (one nobody listens on) but refuses if a server answers
 * on it, binds, sets mode 0660 and the group, listens. Returns NULL with a message in err. */
struct sl_ctl_server *sl_ctl_server_create(const struct sl_ctl_params *p, char *err, size_t errlen);

/* One iteration of the control loop: waits up to timeout_ms (-1 = forever) for activity, then
 * accepts, reads, dispatches, writes and delivers published lines. Returns the number of events
 * handled (0 on timeout), or -ESHUTDOWN once sl_ctl_server_stop() was called. The control thread
 * loops on it: while (sl_ctl_server_run(s, 100) >= 0) { ...timers... } */
int sl_ctl_server_run(struct sl_ctl_server *s, int timeout_ms);

/* Makes the current or next sl_ctl_server_run() return -ESHUTDOWN. Any thread; a handler may
 * call it (its reply is still sent). */
void sl_ctl_server_stop(struct sl_ctl_server *s);

/* Closes every client and the socket, removes the socket file if it is still ours, frees s. */
void sl_ctl_server_free(struct sl_ctl_server *s);

/* A descriptor that becomes readable when sl_ctl_server_run() has work, for applications that
 * multiplex the control socket with other descriptors. */
int sl_ctl_server_fd(const struct sl_ctl_server *s);

/* Counters (control thread). */
void sl_ctl_server_stats(const struct sl_ctl_server *s, struct sl_ctl_stats *out);

/* The counters as a new JSON object keyed by the SL_CTL_STATS names. */
json_t *sl_ctl_server_stats_json(const struct sl_ctl_server *s);

/* Queues one JSON line (no embedded newline; a trailing one is optional) for every client
 * subscribed to topic. Any non-worker thread may call it, including handlers on the control
 * thread; lines are delivered by the control thread, in publish order, during the next
 * sl_ctl_server_run(). Costs one atomic load when nobody is subscribed. Returns 0 (queued, or
 * nobody listens), -EINVAL (embedded newline or topic too long), -ENOBUFS (queue full: counted
 * in publish_lost) or -ENOMEM. */
int sl_ctl_publish(struct sl_ctl_server *s, const char *topic, const char *json_line);

/* Client (control thread, typically from a handler). */

/* Subscribes c to topic: published lines follow the handler's reply. Returns 0 (also when
 * already subscribed), -EINVAL (topic empty or longer than SL_CTL_TOPIC_LEN - 1) or -ENOSPC. */
int sl_ctl_client_subscribe(struct sl_ctl_client *c, const char *topic);

/* Returns 0, or -ENOENT if c was not subscribed to topic. */
int sl_ctl_client_unsubscribe(struct sl_ctl_client *c, const char *topic);

/* Peer credentials as seen at accept (uid 0 / pid 0 for memory clients). */
uid_t sl_ctl_client_uid(const struct sl_ctl_client *c);
pid_t sl_ctl_client_pid(const struct sl_ctl_client *c);
struct sl_ctl_server *sl_ctl_client_server(const struct sl_ctl_client *c);

/* The access rule, separate from sockets so it can be tested: returns true if a peer with this
 * uid, primary gid and supplementary groups may use a server run by owner whose configured group
 * is group (ignored unless have_group). */
bool sl_ctl_access_allowed(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, uid_t owner,
			   bool have_group, gid_t group);

/* Handler helpers. Each returns -1 after filling err with a bad_args message that names the
 * argument ("argument 'n' must be an integer"), so a handler can `return -1` on a negative
 * result. Otherwise they return 1 when the argument is present (and *out is set), 0 when it is
 * absent and not required (*out untouched). Strings and arrays are borrowed from args. */
int sl_ctl_arg_string(json_t *args, const char *key, bool required, const char **out,
		      struct sl_ctl_error *err);
int sl_ctl_arg_int(json_t *args, const char *key, bool required, int64_t min, int64_t max,
		   int64_t *out, struct sl_ctl_error *err);
int sl_ctl_arg_bool(json_t *args, const char *key, bool required, bool *out,
		    struct sl_ctl_error *err);
int sl_ctl_arg_array(json_t *args, const char *key, bool required, json_t **out,
		     struct sl_ctl_error *err);
int sl_ctl_arg_object(json_t *args, const char *key, bool required, json_t **out,
		      struct sl_ctl_error *err);

/* Returns 0 if every key of args is in the NULL-terminated list known, else -1 with
 * "unknown argument 'x' (expected: a, b)": catches typos that would otherwise be ignored. */
int sl_ctl_args_only(json_t *args, const char *const *known, struct sl_ctl_error *err);

/* Fill err and return -1: sl_ctl_fail(err, SL_CTL_E_NOT_FOUND, "no sensor '%s'", name). */
int sl_ctl_fail(struct sl_ctl_error *err, enum sl_ctl_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with an application-specific code string such as "compile_error" (kept by reference). */
int sl_ctl_fail_code(struct sl_ctl_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Memory clients: the full protocol (framing, limits, dispatch, subscriptions) without a socket,
 * for unit tests and fuzzers. Control thread only. */

/* A client with uid 0 whose replies accumulate in memory. NULL on allocation failure. */
struct sl_ctl_client *sl_ctl_client_mem(struct sl_ctl_server *s);

/* Feeds bytes as if received; complete lines are dispatched now. eof = the peer closed its
 * writing side (an unterminated last line is then dispatched). Returns 0, or -EPIPE once the
 * client has been dropped (output cap). */
int sl_ctl_client_feed(struct sl_ctl_client *c, const void *data, size_t len, bool eof);

/* Output not yet consumed: returns a pointer and sets *len. */
const char *sl_ctl_client_output(const struct sl_ctl_client *c, size_t *len);

/* Marks n bytes of output as consumed. */
void sl_ctl_client_consume(struct sl_ctl_client *c, size_t n);

/* Disconnects and frees a memory client; its owner must call it, even after the server was freed
 * (which only detached the client). */
void sl_ctl_client_close(struct sl_ctl_client *c);

#endif /* SL_CTL_H */
