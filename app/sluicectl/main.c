/* sluicectl: command-line client of sluice's control socket. Thin: argv becomes one JSON
 * request, the reply becomes a table (or raw JSON with --json). Everything the daemon can do is
 * reachable by its command name; the words below are shortcuts. */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_ctl.h"
#include "sluicectl.h"

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

/* Shortcut words: the daemon command they send, and the one sent with -f (NULL: no follow). */
static const struct sl_cli_alias {
	const char *word;
	const char *cmd;
	const char *follow;
} aliases[] = {
    {"events", "events.tail", "events.follow"},
    {"sensors", "sensors.list", NULL},
    {"policies", "policies.list", NULL},
    {"flows", "flows.top", NULL},
};

static void
usage(FILE *out)
{
	fputs(
	    "Usage: sluicectl [OPTIONS] COMMAND [KEY=VALUE...]\n"
	    "\n"
	    "Talks to a running sluice through its control socket.\n"
	    "\n"
	    "Commands:\n"
	    "  status             uptime, mode, ports and their roles, workers\n"
	    "  stats              counters per port, worker and sensor\n"
	    "  top                per-second rates (pps, Gbit/s, matches, drops), refreshed like\n"
	    "                     top(1); q or Ctrl-C quits\n"
	    "  version            the daemon's version\n"
	    "  sensors            sensors.list\n"
	    "  policies           policies.list\n"
	    "  flows              flows.top, e.g. sluicectl flows limit=10\n"
	    "  events             events.tail, e.g. sluicectl events n=20 sensor=fr_ssn\n"
	    "  events -f          events.follow: streams new events until Ctrl-C\n"
	    "  help               every daemon command with its arguments\n"
	    "  CMD                any daemon command by name, e.g.\n"
	    "                       sluicectl sensors.get name=fr_ssn\n"
	    "                       sluicectl sensors.add name=x pattern='\\d{4}' validator=none\n"
	    "\n"
	    "Arguments:\n"
	    "  KEY=VALUE          VALUE is JSON if it parses as a JSON number, true, false, array\n"
	    "                     or object, otherwise a string: n=5, on=true, ids=[1,2],\n"
	    "                     name=fr_ssn\n"
	    "  KEY:=JSON          VALUE is always JSON: name:='\"1234\"' (a string), x:=null\n"
	    "  KEY=A KEY=B        a repeated key makes an array: [\"A\", \"B\"]\n"
	    "\n"
	    "Options:\n"
	    "  -s, --socket PATH  control socket (default: $SLUICE_SOCKET, "
	    "else " SL_CTL_DEFAULT_PATH ")\n"
	    "  -j, --json         print the raw JSON result; streams print one JSON line per "
	    "event\n"
	    "  -t, --timeout S    seconds to wait for each reply (default 5; 0 = no limit)\n"
	    "  -f, --follow       with events: stream new events\n"
	    "  -n, --iterations N top: stop after N refreshes; events -f: after N events\n"
	    "  -i, --interval S   top: seconds between refreshes (default 1)\n"
	    "  -h, --help         this help\n"
	    "  -V, --version      sluicectl's own version\n"
	    "\n"
	    "Exit status:\n",
	    out);
#define SL_X(e, n, doc) fprintf(out, "  %d  %s\n", n, doc);
	SL_CLI_EXITS(SL_X)
#undef SL_X
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "sluicectl: <message>" and the --help hint; returns the usage exit code. */
static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sluicectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'sluicectl --help'.\n", stderr);
	return SL_CLI_EXIT_USAGE;
}

static void
on_signal(int sig)
{
	(void)sig;
	sl_cli_interrupted = 1;
}

/* A KEY=VALUE word's value: JSON when it is a JSON number, boolean, array or object (or always,
 * for KEY:=), else the text as a string. Returns a new reference, NULL if raw JSON is invalid. */
static json_t *
arg_value(const char *text, bool raw)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

	if (raw)
		return v;
	if (v && (json_is_number(v) || json_is_boolean(v) || json_is_array(v) || json_is_object(v)))
		return v;
	json_decref(v);
	return json_string(text);
}

/* Adds KEY=VALUE words to args. Returns 0 or an exit code after printing the error. */
static int
parse_args(json_t *args, json_t *repeated, char **words, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		char *eq = strchr(words[i], '=');
		bool raw;
		json_t *v, *old;
		char *key;

		if (!eq || eq == words[i])
			return usage_error("'%s' is not KEY=VALUE", words[i]);
		raw = eq[-1] == ':' && eq - 1 > words[i];
		key = strndup(words[i], (size_t)(eq - words[i]) - raw);
		v = arg_value(eq + 1, raw);
		if (!v) {
			free(key);
			return usage_error("'%s': the value after := must be valid JSON", words[i]);
		}
		old = json_object_get(args, key);
		if (!old) {
			json_object_set_new(args, key, v);
		} else {
			/* Second occurrence: start an array; later ones append to it. */
			if (!json_object_get(repeated, key)) {
				json_t *a = json_pack("[O]", old);

				json_object_set_new(args, key, a);
				json_object_set_new(repeated, key, json_true());
				old = a;
			}
			json_array_append_new(old, v);
		}
		free(key);
	}
	return SL_CLI_EXIT_OK;
}

static double
seconds(const char *s, bool *ok)
{
	char *end;
	double d = strtod(s, &end);

	*ok = end != s && !*end && d >= 0 && d < 86400;
	return d;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"follow", no_argument, NULL, 'f'},
	    {"iterations", required_argument, NULL, 'n'},
	    {"interval", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = getenv("SLUICE_SOCKET"), *word, *cmd;
	char *end;
	double timeout = 5, interval = 1;
	bool json = false, follow = false, ok;
	int iterations = 0, opt, rc;
	struct sl_cli_conn conn;
	json_t *args, *repeated, *result = NULL;
	struct sigaction sa;
	size_t i;

	if (!path || !*path)
		path = SL_CTL_DEFAULT_PATH;
	/* Options may come before or after COMMAND (GNU permutation): KEY=VALUE never starts
	 * with '-', so it stays an operand. */
	while ((opt = getopt_long(argc, argv, "s:jt:fn:i:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			timeout = seconds(optarg, &ok);
			if (!ok)
				return usage_error("bad --timeout '%s' (seconds)", optarg);
			break;
		case 'f':
			follow = true;
			break;
		case 'n':
			iterations = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || iterations <= 0)
				return usage_error("bad --iterations '%s' (a positive count)",
						   optarg);
			break;
		case 'i':
			interval = seconds(optarg, &ok);
			if (!ok || interval < 0.1)
				return usage_error("bad --interval '%s' (seconds, at least 0.1)",
						   optarg);
			break;
		case 'h':
			usage(stdout);
			return SL_CLI_EXIT_OK;
		case 'V':
			printf("sluicectl %s\n", SL_VERSION);
			return SL_CLI_EXIT_OK;
		default:
			fputs("Try 'sluicectl --help'.\n", stderr);
			return SL_CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return SL_CLI_EXIT_USAGE;
	}
	word = argv[optind++];
	cmd = word;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(word, aliases[i].word))
			cmd = follow ? aliases[i].follow : aliases[i].cmd;
	if (follow && (!cmd || (cmd == word && !strstr(word, ".follow"))))
		return usage_error("-f applies to events, not '%s'", word);

	args = json_object();
	repeated = json_object();
	rc = parse_args(args, repeated, argv + optind, argc - optind);
	json_decref(repeated);
	if (rc != SL_CLI_EXIT_OK) {
		json_decref(args);
		return rc;
	}
	if (!strcmp(word, "top") && json_object_size(args) > 0) {
		json_decref(args);
		return usage_error("%s takes no KEY=VALUE arguments", word);
	}

	/* No SA_RESTART: a blocking poll must return so the loops see the flag and restore the
	 * terminal. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = sl_cli_connect(&conn, path, timeout > 0 ? (int)(timeout * 1000) : -1);
	if (rc != SL_CLI_EXIT_OK) {
		json_decref(args);
		return rc;
	}
	if (!strcmp(word, "top")) {
		rc = sl_cli_top(&conn, iterations, interval, json);
	} else if (strstr(cmd, ".follow")) {
		rc = sl_cli_follow(&conn, cmd, args, iterations, json);
	} else {
		rc = sl_cli_call(&conn, cmd, json_object_size(args) ? args : NULL, &result);
		if (rc == SL_CLI_EXIT_OK && result) {
			if (json) {
				json_dumpf(
				    result, stdout,
				    JSON_ENCODE_ANY | JSON_REAL_PRECISION(9) |
					(isatty(STDOUT_FILENO) ? JSON_INDENT(2) : JSON_COMPACT));
				putchar('\n');
			} else {
				sl_cli_render(stdout, result);
			}
		}
	}
	json_decref(result);
	json_decref(args);
	sl_cli_close(&conn);
	if (fflush(stdout) != 0)
		return SL_CLI_EXIT_FAILED;
	return rc;
}
