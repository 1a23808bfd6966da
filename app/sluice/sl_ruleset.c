/* sl_ruleset: conf -> compiled sensors + resolved policy (see sl_ruleset.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_ruleset.h"

uint32_t
sl_ruleset_max_streams(const struct sl_conf *conf)
{
	return conf->flow_capacity * 2 + conf->http_flows * 6 + 64;
}

struct sl_ruleset *
sl_ruleset_build(const struct sl_conf *conf, uint64_t generation, unsigned n_workers, char *err,
		 size_t errlen)
{
	struct sl_ruleset *rs = calloc(1, sizeof(*rs));

	if (rs == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rs->generation = generation;
	rs->db = sl_scan_db_build(conf->sensors, conf->n_sensors, err, errlen);
	if (rs->db == NULL) {
		free(rs);
		return NULL;
	}
	rs->policy = conf->policy;
	rs->policy.n_rules = 0;
	for (unsigned i = 0; i < conf->n_rules; i++) {
		const struct sl_conf_rule *cr = &conf->rules[i];
		struct sl_policy_rule *r = &rs->policy.rules[rs->policy.n_rules++];

		r->from = strcmp(cr->from, "any") ? sl_policy_group_find(&rs->policy, cr->from)
						  : SL_POLICY_ANY;
		r->to = strcmp(cr->to, "any") ? sl_policy_group_find(&rs->policy, cr->to)
					      : SL_POLICY_ANY;
		r->action = cr->action;
		r->sensors = cr->n_sensors ? 0 : ~0ull;
		for (unsigned j = 0; j < cr->n_sensors; j++) {
			int idx = -1;

			for (unsigned k = 0; k < sl_scan_db_sensor_count(rs->db); k++)
				if (!strcmp(sl_scan_db_sensor(rs->db, k)->name, cr->sensors[j]))
					idx = (int)k;
			if (idx < 0) {
				snprintf(err, errlen, "rule %u: no sensor '%s'", i, cr->sensors[j]);
				sl_ruleset_free(rs);
				return NULL;
			}
			r->sensors |= 1ull << idx;
		}
		if ((cr->from[0] && strcmp(cr->from, "any") && r->from < 0) ||
		    (cr->to[0] && strcmp(cr->to, "any") && r->to < 0)) {
			snprintf(err, errlen, "rule %u: unknown group", i);
			sl_ruleset_free(rs);
			return NULL;
		}
	}
	if (n_workers > SL_RULESET_MAX_WORKERS) {
		snprintf(err, errlen, "at most %d workers", SL_RULESET_MAX_WORKERS);
		sl_ruleset_free(rs);
		return NULL;
	}
	for (unsigned i = 0; i < n_workers; i++) {
		rs->scan[i] =
		    sl_scan_worker_create(rs->db, sl_ruleset_max_streams(conf), err, errlen);
		if (rs->scan[i] == NULL) {
			sl_ruleset_free(rs);
			return NULL;
		}
		rs->n_workers = i + 1;
	}
	return rs;
}

void
sl_ruleset_free(struct sl_ruleset *rs)
{
	if (rs == NULL)
		return;
	for (unsigned i = 0; i < rs->n_workers; i++)
		sl_scan_worker_free(rs->scan[i]);
	sl_scan_db_free(rs->db);
	free(rs);
}
