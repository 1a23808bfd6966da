/* sl_frag: IP fragment reassembly (see sl_frag.h).
 *
 * A slot holds one datagram: its key, a bitmap of the 8-byte blocks received (fragment offsets
 * count in 8-byte units, and every fragment but the last carries a multiple of 8 bytes), the
 * first fragment's headers and the data at its offset. Slots are found through a chained hash
 * on the key and kept in arrival order on a list, whose head is the oldest: the one to expire or
 * evict. Everything lives in one allocation made at creation. */
#include <stdlib.h>
#include <string.h>

#include "sl_frag.h"

#define MAX_DATA   65535u		/* an IP datagram's data can be no longer */
#define HDR_ROOM   256u			/* link-layer and IP headers kept from the first fragment */
#define BLOCKS	   ((MAX_DATA + 7) / 8) /* 8-byte blocks of the largest datagram */
#define BMAP_WORDS ((BLOCKS + 63) / 64)
#define NIL	   UINT32_MAX

struct frag_key {
	uint8_t src[16], dst[16];
	uint32_t id;
	uint16_t vlan[2];
	uint8_t ipver, proto;
	uint8_t pad[2];
};

struct slot {
	struct frag_key key;
	uint64_t born_ns;
	uint32_t hash_next, prev, next; /* hash chain; age list (NIL ends) */
	uint32_t total;			/* data length once the last fragment is in, else 0 */
	uint32_t max_end;		/* end of the furthest fragment received */
	uint32_t conflicts;		/* overlaps that disagreed with the kept bytes */
	uint32_t blocks;		/* blocks received */
	uint16_t hdr_len;		/* bytes of headers kept (0: first fragment not in yet) */
	uint16_t l3_off, nh_off;	/* within the kept headers */
	uint8_t used, have_last;
	uint64_t bmap[BMAP_WORDS];
	uint8_t *buf; /* HDR_ROOM bytes of headers, then the data */
};

struct sl_frag_table {
	struct slot *slots;
	uint32_t *heads; /* hash buckets */
	uint32_t mask;
	uint32_t used;
	uint32_t free; /* free list through hash_next */
	uint32_t oldest, newest;
	uint64_t timeout_ns;
	struct sl_frag_stats st;
	uint8_t *arena;
};

static uint32_t
buckets_for(unsigned n)
{
	uint32_t b = 16;

	while (b < 2 * n)
		b <<= 1;
	return b;
}

struct sl_frag_table *
sl_frag_create(unsigned max_datagrams, uint64_t timeout_ns)
{
	struct sl_frag_table *t = calloc(1, sizeof(*t));

	if (t == NULL || max_datagrams == 0)
		goto fail;
	t->mask = buckets_for(max_datagrams) - 1;
	t->timeout_ns = timeout_ns;
	t->slots = calloc(max_datagrams, sizeof(*t->slots));
	t->heads = malloc((t->mask + 1) * sizeof(*t->heads));
	t->arena = malloc((size_t)max_datagrams * (HDR_ROOM + MAX_DATA));
	if (t->slots == NULL || t->heads == NULL || t->arena == NULL)
		goto fail;
	memset(t->heads, 0xff, (t->mask + 1) * sizeof(*t->heads));
	for (uint32_t i = 0; i < max_datagrams; i++) {
		t->slots[i].buf = t->arena + (size_t)i * (HDR_ROOM + MAX_DATA);
		t->slots[i].hash_next = i + 1 < max_datagrams ? i + 1 : NIL;
	}
	t->free = 0;
	t->oldest = t->newest = NIL;
	return t;

fail:
	sl_frag_free(t);
	return NULL;
}

void
sl_frag_free(struct sl_frag_table *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t->heads);
	free(t->arena);
	free(t);
}

/* FNV-1a: fragments are the rare path, and the key is 44 bytes. */
static uint32_t
key_hash(const struct frag_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void
make_key(const uint8_t *frame, const struct sl_pkt_frag *f, struct frag_key *k)
{
	const uint8_t *ip = frame + f->l3_off;

	memset(k, 0, sizeof(*k));
	if (f->ipver == 4) {
		memcpy(k->src, ip + 12, 4);
		memcpy(k->dst, ip + 16, 4);
	} else {
		memcpy(k->src, ip + 8, 16);
		memcpy(k->dst, ip + 24, 16);
	}
	k->id = f->id;
	k->vlan[0] = f->vlan[0];
	k->vlan[1] = f->vlan[1];
	k->ipver = f->ipver;
	k->proto = f->proto;
}

/* Unlinks slot i from its hash chain and the age list and frees it. */
static void
release(struct sl_frag_table *t, uint32_t i)
{
	struct slot *s = &t->slots[i];
	uint32_t *pp = &t->heads[key_hash(&s->key) & t->mask];

	while (*pp != i)
		pp = &t->slots[*pp].hash_next;
	*pp = s->hash_next;
	if (s->prev != NIL)
		t->slots[s->prev].next = s->next;
	else
		t->oldest = s->next;
	if (s->next != NIL)
		t->slots[s->next].prev = s->prev;
	else
		t->newest = s->prev;
	s->used = 0;
	s->hash_next = t->free;
	t->free = i;
	t->used--;
}

void
sl_frag_expire(struct sl_frag_table *t, uint64_t now_ns)
{
	while (t->oldest != NIL && now_ns > t->slots[t->oldest].born_ns + t->timeout_ns) {
		release(t, t->oldest);
		t->st.expired++;
	}
}

/* The slot of key k, created (evicting the oldest when full) if absent. */
static uint32_t
lookup(struct sl_frag_table *t, const struct frag_key *k, uint64_t now_ns)
{
	uint32_t b = key_hash(k) & t->mask, i;
	struct slot *s;

	for (i = t->heads[b]; i != NIL; i = t->slots[i].hash_next)
		if (!memcmp(&t->slots[i].key, k, sizeof(*k)))
			return i;
	if (t->free == NIL) {
		release(t, t->oldest);
		t->st.evicted++;
	}
	i = t->free;
	s = &t->slots[i];
	t->free = s->hash_next;
	s->key = *k;
	s->born_ns = now_ns;
	s->total = s->blocks = s->max_end = s->conflicts = 0;
	s->hdr_len = 0;
	s->used = 1;
	s->have_last = 0;
	memset(s->bmap, 0, sizeof(s->bmap));
	s->hash_next = t->heads[b];
	t->heads[b] = i;
	s->prev = t->newest;
	s->next = NIL;
	if (t->newest != NIL)
		t->slots[t->newest].next = i;
	else
		t->oldest = i;
	t->newest = i;
	t->used++;
	return i;
}

/* Copies data[0..len) to offset off of slot s, block by block: a block already received is kept
 * (first copy wins) and compared. Returns how many kept blocks disagreed. */
static unsigned
place(struct slot *s, const uint8_t *data, uint32_t off, uint32_t len)
{
	uint8_t *dst = s->buf + HDR_ROOM;
	unsigned conflicts = 0;

	for (uint32_t pos = 0; pos < len; pos += 8) {
		uint32_t blk = (off + pos) / 8, n = len - pos < 8 ? len - pos : 8;
		uint64_t bit = 1ull << (blk % 64);

		if (s->bmap[blk / 64] & bit) {
			conflicts += memcmp(dst + off + pos, data + pos, n) != 0;
			continue;
		}
		memcpy(dst + off + pos, data + pos, n);
		s->bmap[blk / 64] |= bit;
		s->blocks++;
	}
	return conflicts;
}

static uint16_t
ipv4_checksum(const uint8_t *ip, unsigned hlen)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i < hlen; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Rewrites the kept headers as an unfragmented datagram of s->total bytes of data; returns the
 * frame's start. */
static const uint8_t *
finish(struct slot *s)
{
	uint8_t *frame = s->buf + HDR_ROOM - s->hdr_len, *ip = frame + s->l3_off;
	unsigned l3_hdr = s->hdr_len - s->l3_off;

	if (s->key.ipver == 4) {
		put16(ip + 2, l3_hdr + s->total);
		put16(ip + 6, 0);
		put16(ip + 10, 0);
		put16(ip + 10, ipv4_checksum(ip, l3_hdr));
	} else {
		put16(ip + 4, l3_hdr - 40 + s->total);
		frame[s->nh_off] = s->key.proto;
	}
	return frame;
}

enum sl_frag_result
sl_frag_add(struct sl_frag_table *t, const uint8_t *frame, const struct sl_pkt_frag *f,
	    uint64_t now_ns, struct sl_frag_datagram *out)
{
	uint32_t end = f->offset + f->data_len, hdr = (uint32_t)f->l3_off + f->hdr_len;
	struct frag_key k;
	struct slot *s;
	uint32_t i;

	t->st.fragments++;
	sl_frag_expire(t, now_ns);
	/* Every fragment but the last carries whole blocks; none reaches past what IP can say. */
	if ((f->more && (f->data_len == 0 || f->data_len % 8)) || hdr > HDR_ROOM) {
		t->st.malformed++;
		return SL_FRAG_REFUSED;
	}
	if (end + f->hdr_len - (f->ipver == 6 ? 40 : 0) > MAX_DATA) {
		t->st.too_big++;
		return SL_FRAG_REFUSED;
	}
	make_key(frame, f, &k);
	i = lookup(t, &k, now_ns);
	s = &t->slots[i];
	/* Once the end is known, nothing may lie past it, and it may not move. */
	if ((s->have_last && (end > s->total || (!f->more && end != s->total))) ||
	    (!f->more && s->max_end > end)) {
		t->st.malformed++;
		return SL_FRAG_REFUSED;
	}
	if (!f->more) {
		s->have_last = 1;
		s->total = end;
	}
	if (end > s->max_end)
		s->max_end = end;
	if (f->offset == 0 && s->hdr_len == 0) {
		memcpy(s->buf + HDR_ROOM - hdr, frame, hdr);
		s->hdr_len = (uint16_t)hdr;
		s->l3_off = f->l3_off;
		s->nh_off = f->nh_off;
	}
	unsigned conflicts = place(s, frame + f->data_off, f->offset, f->data_len);
	s->conflicts += conflicts;
	t->st.overlap_conflicts += conflicts;
	if (!s->have_last || s->hdr_len == 0 || s->blocks != (s->total + 7) / 8)
		return SL_FRAG_HELD;
	out->frame = finish(s);
	out->len = s->hdr_len + s->total;
	out->overlap_conflicts = s->conflicts;
	release(t, i);
	t->st.reassembled++;
	return SL_FRAG_DONE;
}

unsigned
sl_frag_pending(const struct sl_frag_table *t)
{
	return t->used;
}

void
sl_frag_stats_get(const struct sl_frag_table *t, struct sl_frag_stats *st)
{
	*st = t->st;
}
