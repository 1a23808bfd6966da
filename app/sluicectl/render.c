/* Human rendering of JSON results: the daemon returns data, sluicectl decides how it reads.
 *
 * An array of objects becomes a table (columns = union of keys in first-seen order, numbers
 * right-aligned), an object becomes "key: value" lines with nested objects indented, an array of
 * EVE events becomes one line per event. Strings are printed with control characters replaced,
 * because event fields (hostnames, URLs) come from the network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluicectl.h"

/* Display width of a UTF-8 string: code points, which is right for the text tables hold. */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* Copies s with control characters replaced by '?'. Returns a malloc'd string. */
static char *
sanitize(const char *s)
{
	char *o = strdup(s ? s : ""), *p;

	for (p = o; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return o;
}

const char *
sl_cli_number(json_t *v, char *buf, size_t len)
{
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	} else {
		double d = json_real_value(v);
		char *e;

		snprintf(buf, len, "%.2f", d);
		e = buf + strlen(buf);
		while (e > buf && e[-1] == '0') /* 2.50 -> 2.5, 3.00 -> 3 */
			*--e = '\0';
		if (e > buf && e[-1] == '.')
			*--e = '\0';
	}
	return buf;
}

/* A scalar (or compact JSON for a nested value) as a malloc'd display string. */
static char *
cell(json_t *v)
{
	char num[64], *s, *r;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return sanitize(json_string_value(v));
	case JSON_INTEGER:
	case JSON_REAL:
		return strdup(sl_cli_number(v, num, sizeof(num)));
	case JSON_TRUE:
		return strdup("yes");
	case JSON_FALSE:
		return strdup("no");
	case JSON_NULL:
		return strdup("-");
	case JSON_ARRAY:
		if (json_array_size(v) == 0)
			return strdup("-");
		/* fall through */
	default:
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		r = sanitize(s);
		free(s);
		return r;
	}
}

void
sl_cli_print_text(FILE *out, const char *text)
{
	char *s = sanitize(text);

	fprintf(out, "%s\n", s ? s : "");
	free(s);
}

static bool
numeric(const char *s)
{
	if (*s == '-' && s[1])
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if ((*s < '0' || *s > '9') && *s != '.')
			return false;
	return true;
}

void
sl_cli_table(FILE *out, int indent, const char *const *header, size_t ncols,
	     const char *const *cells, size_t nrows)
{
	size_t *w = calloc(ncols, sizeof(*w));
	bool *right = calloc(ncols, sizeof(*right));
	size_t r, k;

	if (!w || !right)
		goto out;
	for (k = 0; k < ncols; k++) {
		w[k] = width(header[k]);
		right[k] = nrows > 0;
		for (r = 0; r < nrows; r++) {
			const char *s = cells[r * ncols + k];
			size_t cw = width(s);

			if (cw > w[k])
				w[k] = cw;
			if (strcmp(s, "-") && !numeric(s))
				right[k] = false;
		}
	}
	for (r = 0; r <= nrows; r++) {
		fprintf(out, "%*s", indent, "");
		for (k = 0; k < ncols; k++) {
			const char *s = r == 0 ? header[k] : cells[(r - 1) * ncols + k];
			size_t pad = w[k] - width(s);
			bool last = k + 1 == ncols;

			if (right[k])
				fprintf(out, "%*s%s", (int)pad, "", s);
			else
				fprintf(out, "%s%*s", s, last ? 0 : (int)pad, "");
			if (!last)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
out:
	free(w);
	free(right);
}

static bool
is_event(json_t *v)
{
	return json_is_object(v) && json_object_get(v, "event_type");
}

/* An array of objects as a table. Header: keys upper-cased, '_' as ' '. */
static void
object_table(FILE *out, int indent, json_t *arr)
{
	json_t *cols = json_array(), *row, *v;
	size_t ncols, nrows = json_array_size(arr), r, k;
	const char **header, **cells;
	char **owned;
	const char *key;

	json_array_foreach(arr, r, row)
	{
		json_object_foreach(row, key, v)
		{
			bool seen = false;

			for (k = 0; k < json_array_size(cols); k++)
				if (!strcmp(json_string_value(json_array_get(cols, k)), key))
					seen = true;
			if (!seen)
				json_array_append_new(cols, json_string(key));
		}
	}
	ncols = json_array_size(cols);
	header = calloc(ncols ? ncols : 1, sizeof(*header));
	owned = calloc(ncols * (nrows + 1) + 1, sizeof(*owned));
	cells = (const char **)owned + ncols;
	for (k = 0; k < ncols; k++) {
		char *h = strdup(json_string_value(json_array_get(cols, k))), *p;

		for (p = h; *p; p++)
			*p = *p == '_' ? ' ' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		owned[k] = h;
		header[k] = h;
	}
	for (r = 0; r < nrows; r++)
		for (k = 0; k < ncols; k++) {
			json_t *x = json_object_get(json_array_get(arr, r),
						    json_string_value(json_array_get(cols, k)));

			owned[ncols + r * ncols + k] = x ? cell(x) : strdup("-");
		}
	sl_cli_table(out, indent, header, ncols, cells, nrows);
	for (k = 0; k < ncols * (nrows + 1); k++)
		free(owned[k]);
	free(owned);
	free(header);
	json_decref(cols);
}

#define WIDE_COLUMNS 14 /* more keys than this: one column per object instead of per key */

/* Counts the distinct keys of an array of objects. */
static size_t
key_count(json_t *arr)
{
	json_t *seen = json_object(), *row, *v;
	const char *key;
	size_t r, n;

	json_array_foreach(arr, r, row)
	{
		json_object_foreach(row, key, v)
		{
			json_object_set(seen, key, json_null());
		}
	}
	n = json_object_size(seen);
	json_decref(seen);
	return n;
}

/* Objects with many keys (per-worker counters) as a transposed table: one row per key, one
 * column per object, headed by its "id" or "name". */
static void
transposed_table(FILE *out, int indent, json_t *arr)
{
	size_t nobj = json_array_size(arr), r, k, nkeys = 0;
	json_t *keys = json_array(), *row, *v;
	const char *key;

	json_array_foreach(arr, r, row)
	{
		json_object_foreach(row, key, v)
		{
			bool seen = false;

			for (k = 0; k < json_array_size(keys); k++)
				seen |= !strcmp(json_string_value(json_array_get(keys, k)), key);
			if (!seen)
				json_array_append_new(keys, json_string(key));
		}
	}
	nkeys = json_array_size(keys);
	const char **header = calloc(nobj + 1, sizeof(*header));
	char **owned = calloc((nobj + 1) * (nkeys + 1) + 1, sizeof(*owned));
	const char **cells = calloc((nobj + 1) * nkeys + 1, sizeof(*cells));

	header[0] = "";
	for (r = 0; r < nobj; r++) {
		json_t *o = json_array_get(arr, r), *id = json_object_get(o, "id");
		char buf[64];

		if (id == NULL)
			id = json_object_get(o, "name");
		if (id)
			owned[r] = cell(id);
		else {
			snprintf(buf, sizeof(buf), "#%zu", r);
			owned[r] = strdup(buf);
		}
		header[r + 1] = owned[r];
	}
	for (k = 0; k < nkeys; k++) {
		const char *name = json_string_value(json_array_get(keys, k));

		cells[k * (nobj + 1)] = name;
		for (r = 0; r < nobj; r++) {
			json_t *x = json_object_get(json_array_get(arr, r), name);
			char *c = x ? cell(x) : strdup("-");

			owned[nobj + k * nobj + r] = c;
			cells[k * (nobj + 1) + r + 1] = c;
		}
	}
	sl_cli_table(out, indent, header, nobj + 1, cells, nkeys);
	for (k = 0; k < nobj + nkeys * nobj; k++)
		free(owned[k]);
	free(owned);
	free(cells);
	free(header);
	json_decref(keys);
}

static bool
all_objects(json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (!json_is_object(v))
			return false;
	}
	return json_array_size(arr) > 0;
}

static bool
all_scalars(json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (json_is_object(v) || json_is_array(v))
			return false;
	}
	return true;
}

static void render_at(FILE *out, int indent, json_t *v);

static void
render_array(FILE *out, int indent, json_t *arr)
{
	size_t i;
	json_t *v;

	if (json_array_size(arr) == 0) {
		fprintf(out, "%*s(none)\n", indent, "");
	} else if (is_event(json_array_get(arr, 0))) {
		json_array_foreach(arr, i, v)
		{
			fprintf(out, "%*s", indent, "");
			sl_cli_render_event(out, v);
		}
	} else if (all_objects(arr) && key_count(arr) > WIDE_COLUMNS) {
		transposed_table(out, indent, arr);
	} else if (all_objects(arr)) {
		object_table(out, indent, arr);
	} else {
		json_array_foreach(arr, i, v)
		{
			if (json_is_object(v) || json_is_array(v)) {
				fprintf(out, "%*s-\n", indent, "");
				render_at(out, indent + 2, v);
			} else {
				char *s = cell(v);

				fprintf(out, "%*s%s\n", indent, "", s);
				free(s);
			}
		}
	}
}

/* An array of scalars as one "a, b, c" string (malloc'd). */
static char *
join_scalars(json_t *arr)
{
	char *s = NULL;
	size_t len = 0, i;
	FILE *m = open_memstream(&s, &len);
	json_t *x;

	if (!m)
		return NULL;
	json_array_foreach(arr, i, x)
	{
		char *c = cell(x);

		fprintf(m, "%s%s", i ? ", " : "", c ? c : "");
		free(c);
	}
	fclose(m);
	return s;
}

/* "key: value" lines, values aligned; nested objects and tables go below their key. */
static void
render_object(FILE *out, int indent, json_t *obj)
{
	size_t kw = 0;
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		if (width(key) > kw)
			kw = width(key);
	}
	json_object_foreach(obj, key, v)
	{
		char *k = sanitize(key);

		if ((json_is_object(v) && json_object_size(v) > 0) ||
		    (json_is_array(v) && json_array_size(v) > 0 && !all_scalars(v))) {
			fprintf(out, "%*s%s:\n", indent, "", k);
			render_at(out, indent + 2, v);
		} else {
			char *s;

			if (json_is_array(v) && json_array_size(v) > 0)
				s = join_scalars(v);
			else
				s = cell(v);
			fprintf(out, "%*s%s:%*s %s\n", indent, "", k, (int)(kw - width(key)), "",
				s ? s : "");
			free(s);
		}
		free(k);
	}
}

static void
render_at(FILE *out, int indent, json_t *v)
{
	if (json_is_object(v)) {
		if (is_event(v)) {
			fprintf(out, "%*s", indent, "");
			sl_cli_render_event(out, v);
		} else {
			render_object(out, indent, v);
		}
	} else if (json_is_array(v)) {
		render_array(out, indent, v);
	} else {
		char *s = cell(v);

		fprintf(out, "%*s%s\n", indent, "", s);
		free(s);
	}
}

void
sl_cli_render(FILE *out, json_t *result)
{
	if (json_is_object(result) && json_object_size(result) == 0)
		fputs("ok\n", out);
	else
		render_at(out, 0, result);
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static long long
num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

void
sl_cli_render_event(FILE *out, json_t *ev)
{
	json_t *dlp = json_object_get(ev, "dlp"), *alert = json_object_get(ev, "alert");
	json_t *http = json_object_get(ev, "http");
	const char *action = str(dlp, "action");
	char line[1024], *s;
	size_t n;

	if (!json_is_object(ev) || !json_object_get(ev, "event_type")) {
		s = cell(ev); /* not an EVE event: compact JSON */
		fprintf(out, "%s\n", s);
		free(s);
		return;
	}
	if (!*action)
		action = str(alert, "action");
	if (json_object_get(ev, "src_port"))
		n = (size_t)snprintf(
		    line, sizeof(line), "%s  %-11s %-12s %s:%lld -> %s:%lld  %s",
		    str(ev, "timestamp"), action, str(dlp, "sensor"), str(ev, "src_ip"),
		    num(ev, "src_port"), str(ev, "dest_ip"), num(ev, "dest_port"),
		    *str(ev, "app_proto") ? str(ev, "app_proto") : str(ev, "proto"));
	else /* ICMP: no ports, no app_proto, a type */
		n = (size_t)snprintf(line, sizeof(line), "%s  %-11s %-12s %s -> %s  %s type %lld",
				     str(ev, "timestamp"), action, str(dlp, "sensor"),
				     str(ev, "src_ip"), str(ev, "dest_ip"), str(ev, "proto"),
				     num(ev, "icmp_type"));
	if (http && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s %s%s",
				      str(http, "http_method"), str(http, "hostname"),
				      str(http, "url"));
	if (dlp && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, "  %s=%s",
				      *str(dlp, "context") ? str(dlp, "context") : "value",
				      str(dlp, "evidence"));
	if (json_integer_value(json_object_get(dlp, "count")) > 1 && n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, " x%lld",
			 (long long)json_integer_value(json_object_get(dlp, "count")));
	s = sanitize(line);
	fprintf(out, "%s\n", s);
	free(s);
}
