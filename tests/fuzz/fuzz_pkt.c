/* libFuzzer target for sl_pkt_parse: any byte string is a frame. Besides ASan catching reads past
 * `size`, every decode that claims success is checked against the contract (offsets ordered and
 * inside the frame, canonical key, zero padding) and its mirror direction must yield the same key
 * and the same dispatch hash (sl_pkt_dispatch_hash), as must a fragment's.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address -I lib/pkt $(pkg-config --cflags libdpdk) \
 *        tests/fuzz/fuzz_pkt.c lib/pkt/sl_pkt.c -o /tmp/fuzz_pkt */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sl_pkt.h"

#define FUZZ_FRAME_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* Swaps source and destination addresses and ports in a decoded frame, in place. An ICMP
 * echo's identifier stands for both ports: only the addresses move. */
static void
mirror(uint8_t *f, const struct sl_pkt_info *pi)
{
	size_t alen = pi->key.ipver == 4 ? 4 : 16;
	size_t src = pi->l3_off + (pi->key.ipver == 4 ? 12 : 8);
	uint8_t tmp[16];

	memcpy(tmp, f + src, alen);
	memcpy(f + src, f + src + alen, alen);
	memcpy(f + src + alen, tmp, alen);
	if (pi->key.proto != 6 && pi->key.proto != 17)
		return;
	memcpy(tmp, f + pi->l4_off, 2);
	memcpy(f + pi->l4_off, f + pi->l4_off + 2, 2);
	memcpy(f + pi->l4_off + 2, tmp, 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t copy[FUZZ_FRAME_MAX];
	struct sl_pkt_info pi, pm;
	struct sl_pkt_frag fr;
	enum sl_pkt_error e;
	uint32_t dh = sl_pkt_dispatch_hash(data, size);
	int c;

	e = sl_pkt_parse(data, size, &pi);
	check((unsigned int)e < SL_PKT_ERR_COUNT);
	check(sl_pkt_error_name(e) != NULL);
	if (e == SL_PKT_ERR_IP_FRAGMENT && size <= sizeof(copy) &&
	    sl_pkt_fragment(data, size, &fr) == SL_PKT_ERR_IP_FRAGMENT) {
		/* a fragment goes where its mirror does: its addresses decide */
		memset(&pm, 0, sizeof(pm));
		pm.l3_off = fr.l3_off;
		pm.key.ipver = fr.ipver;
		memcpy(copy, data, size);
		mirror(copy, &pm);
		check(sl_pkt_dispatch_hash(copy, size) == dh);
	}
	if (e != SL_PKT_OK && e != SL_PKT_ERR_OTHER_L4 && e != SL_PKT_ERR_ICMP_OTHER)
		return 0;

	check(pi.l3_off >= 14 && pi.l3_off < pi.l4_off && pi.l4_off <= pi.payload_off);
	check((size_t)pi.payload_off + pi.payload_len <= size);
	check(pi.dir <= 1);
	check(pi.key.ipver == 4 || pi.key.ipver == 6);
	check(pi.key.pad[0] == 0 && pi.key.pad[1] == 0);
	c = memcmp(pi.key.addr[0], pi.key.addr[1], 16);
	check(c < 0 || (c == 0 && pi.key.port[0] <= pi.key.port[1]));
	(void)sl_pkt_key_hash(&pi.key);

	/* Only TCP/UDP and echo have ports to swap; the L3 checks do not depend on addresses. */
	if (e != SL_PKT_OK || size > sizeof(copy))
		return 0;
	memcpy(copy, data, size);
	mirror(copy, &pi);
	check(sl_pkt_parse(copy, size, &pm) == SL_PKT_OK);
	check(memcmp(&pi.key, &pm.key, sizeof(pi.key)) == 0);
	check(sl_pkt_key_hash(&pi.key) == sl_pkt_key_hash(&pm.key));
	check(sl_pkt_dispatch_hash(copy, size) == dh);
	check(c == 0 && pi.key.port[0] == pi.key.port[1] ? pm.dir == 0 : pm.dir != pi.dir);
	return 0;
}
