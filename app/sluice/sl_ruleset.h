/* sl_ruleset: what the workers enforce, as one immutable object: the compiled sensors and the
 * policy whose rules refer to them by index. Built off the data path (start-up, control
 * thread); a worker reads the current pointer between bursts, so a change is one pointer swap. */
#ifndef SL_RULESET_H
#define SL_RULESET_H

#include <stddef.h>
#include <stdint.h>

#include "sl_conf.h"
#include "sl_policy.h"
#include "sl_scan.h"

#define SL_RULESET_MAX_WORKERS 64

struct sl_ruleset {
	struct sl_scan_db *db;
	struct sl_policy policy;
	uint64_t generation;
	/* Hyperscan scratch and stream-state pool of each worker for this database, made here so
	 * that a worker switching rulesets never allocates. */
	struct sl_scan_worker *scan[SL_RULESET_MAX_WORKERS];
	unsigned n_workers;
};

/* Compiles conf's sensors, resolves its rules and prepares scan state for n_workers workers.
 * Returns NULL with the reason in err. */
struct sl_ruleset *sl_ruleset_build(const struct sl_conf *conf, uint64_t generation,
				    unsigned n_workers, char *err, size_t errlen);

/* Streams a worker may have open at once: two per flow, three per HTTP side. */
uint32_t sl_ruleset_max_streams(const struct sl_conf *conf);
void sl_ruleset_free(struct sl_ruleset *rs);

#endif /* SL_RULESET_H */
