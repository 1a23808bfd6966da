/* sluicectl internals: the connection to the daemon, the human renderers, and the two commands
 * that are more than one request (top, events -f). main.c only parses argv and dispatches. */
#ifndef SLUICECTL_H
#define SLUICECTL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes: documented in --help, relied on by scripts. */
#define SL_CLI_EXITS(X)                                                                            \
	X(OK, 0, "success")                                                                        \
	X(FAILED, 1, "the command failed (the daemon replied with an error)")                      \
	X(USAGE, 2, "usage error")                                                                 \
	X(NOT_RUNNING, 3, "sluice is not running (no socket, or nothing listening on it)")         \
	X(DENIED, 4, "access denied (not root and not in the control group)")                      \
	X(PROTOCOL, 5, "protocol error, or no reply before the timeout")

enum sl_cli_exit {
#define SL_X(e, n, doc) SL_CLI_EXIT_##e = n,
	SL_CLI_EXITS(SL_X)
#undef SL_X
};

/* Set by SIGINT/SIGTERM: long-running commands end cleanly with exit 0. */
extern volatile sig_atomic_t sl_cli_interrupted;

struct sl_cli_conn {
	int fd;
	const char *path;
	int timeout_ms; /* per reply; -1 = forever */
	char *buf;	/* received, not yet returned as lines */
	size_t len, cap;
	long long next_id;
};

/* Connects to the daemon's socket. Returns SL_CLI_EXIT_OK, or prints why not ("sluice is not
 * running (no socket at PATH)") and returns the exit code to use. */
int sl_cli_connect(struct sl_cli_conn *c, const char *path, int timeout_ms);

void sl_cli_close(struct sl_cli_conn *c);

/* Reads one line (without '\n', malloc'd into *line). Returns 1, 0 on EOF, -ETIMEDOUT, -EINTR
 * (a signal arrived), -EMSGSIZE (a line over 64 MiB) or another negative errno. */
int sl_cli_read_line(struct sl_cli_conn *c, int timeout_ms, char **line);

/* Sends one request (args borrowed; NULL = none) and waits for its reply. Returns
 * SL_CLI_EXIT_OK with *result set (a new reference), or prints "sluicectl: <code>: <message>"
 * and returns the exit code: FAILED for an error reply, DENIED for access_denied, PROTOCOL for a
 * timeout, a closed connection or a malformed reply. */
int sl_cli_call(struct sl_cli_conn *c, const char *cmd, json_t *args, json_t **result);

/* Human rendering of a result: aligned tables for arrays of objects, "key: value" lines for
 * objects (nested ones indented), event lines for EVE events. Control characters are shown as
 * '?', since events carry bytes from the network to the operator's terminal. */
void sl_cli_render(FILE *out, json_t *result);

/* text and a newline, control characters shown as '?'. */
void sl_cli_print_text(FILE *out, const char *text);

/* One event as one human line (anything else as compact JSON). */
void sl_cli_render_event(FILE *out, json_t *ev);

/* Formats a number for humans into buf (integers exact, others with at most 2 decimals). */
const char *sl_cli_number(json_t *v, char *buf, size_t len);

/* Table of rows (arrays of cell strings, borrowed) under header, indented by indent spaces.
 * Columns whose cells all look numeric are right-aligned. */
void sl_cli_table(FILE *out, int indent, const char *const *header, size_t ncols,
		  const char *const *cells, size_t nrows);

/* `sluicectl top`: refreshes the stats command every interval seconds with per-second rates
 * until q, Ctrl-C, or iterations frames (0 = no limit). */
int sl_cli_top(struct sl_cli_conn *c, int iterations, double interval, bool json);

/* `sluicectl events -f`: sends cmd (events.follow) with args and prints each streamed event
 * until Ctrl-C, the daemon closing the connection, or count events (0 = no limit). */
int sl_cli_follow(struct sl_cli_conn *c, const char *cmd, json_t *args, int count, bool json);

#endif /* SLUICECTL_H */
