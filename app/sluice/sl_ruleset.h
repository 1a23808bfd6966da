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

struct sl_ruleset {
	struct sl_scan_db *db;
	struct sl_policy policy;
	uint64_t generation;
};

/* Compiles conf's sensors and resolves its rules. Returns NULL with the reason in err. */
struct sl_ruleset *sl_ruleset_build(const struct sl_conf *conf, uint64_t generation, char *err,
				    size_t errlen);
void sl_ruleset_free(struct sl_ruleset *rs);

#endif /* SL_RULESET_H */
