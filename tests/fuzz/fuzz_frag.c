/* libFuzzer target for sl_pkt_fragment and sl_frag: the input is a sequence of frames, each
 * prefixed by a 2-byte length, fed to one small table (so eviction and expiry are reached).
 * Besides ASan catching any access outside a frame or a slot, every fragment decode must keep
 * its offsets inside the frame, and every datagram that comes back whole must be exactly as
 * long as its headers say and decode with sl_pkt_parse without reading past its end.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I lib/pkt -I lib/frag \
 *        $(pkg-config --cflags libdpdk) tests/fuzz/fuzz_frag.c lib/frag/sl_frag.c \
 *        lib/pkt/sl_pkt.c -o /tmp/fuzz_frag */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sl_frag.h"
#include "sl_pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sl_frag_table *t;
	uint64_t now = 0;

	if (t == NULL)
		t = sl_frag_create(3, 1000);
	while (size >= 2) {
		size_t len = (size_t)(data[0] | data[1] << 8) % 2048;
		struct sl_pkt_frag fr;
		struct sl_frag_datagram dg;
		uint8_t *frame;

		data += 2, size -= 2;
		if (len > size)
			len = size;
		frame = malloc(len ? len : 1); /* exact size: ASan sees any read past it */
		memcpy(frame, data, len);
		data += len, size -= len;
		now += 100;
		if (sl_pkt_fragment(frame, len, &fr) == SL_PKT_ERR_IP_FRAGMENT) {
			check(fr.data_off + (size_t)fr.data_len <= len);
			check(fr.l3_off + (size_t)fr.hdr_len <= fr.data_off);
			if (sl_frag_add(t, frame, &fr, now, &dg) == SL_FRAG_DONE) {
				uint8_t *whole = malloc(dg.len);
				struct sl_pkt_info pi;

				memcpy(whole, dg.frame, dg.len);
				if (sl_pkt_parse(whole, dg.len, &pi) == SL_PKT_OK)
					check(pi.payload_off + (size_t)pi.payload_len <= dg.len);
				free(whole);
			}
		}
		free(frame);
	}
	sl_frag_expire(t, now + 5000);
	check(sl_frag_pending(t) == 0);
	return 0;
}
