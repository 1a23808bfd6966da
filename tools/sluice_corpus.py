#!/usr/bin/python3
"""sluice_corpus: the false-positive budget of sluice's sensors, measured (issue 4).

Three modes:

    sluice_corpus.py benign   --out FILE.pcap [--size MB] [--seed N]
    sluice_corpus.py labelled --out FILE.pcap --labels FILE.json [--size MB] [--seed N]
    sluice_corpus.py evaluate --sluice PATH [--size MB] [--labelled-size MB] [--seed N]
                              [--config FILE] [--workdir DIR] [--json FILE]

benign writes a capture of ordinary web and application traffic and nothing else: HTTP requests
and responses (JSON APIs, HTML pages) and raw TCP streams (logs, CSV exports), full of prices,
timestamps, order numbers, French and US phone numbers, UUIDs, base64 blobs, and of near misses
built to fail the checks: 13-19-digit identifiers that fail Luhn, NIRs with a wrong key, SSNs
with area 000/666/9xx, group 00 or serial 0000 or a published sample number, IBAN-like strings
with a wrong checksum or length. --size is the TCP payload in MiB (default 100). Every planted
near miss is checked against a Python copy of the validators before it is written.

labelled writes similar traffic where some flow directions carry valid values of one sensor in
one format variant (fr_ssn contiguous / spaces / dots / dashes / key apart / Corsica 2A and 2B;
credit_card Visa 13/16/19, Mastercard 51-55 and 2-series, Amex, Discover, Diners, JCB, UnionPay,
each contiguous / spaces / dashes; us_ssn with dashes or spaces; iban of ten countries grouped
or not), and a labels JSON: one object per (flow direction, sensor) with the endpoints, the
variant, the count of planted values and the values themselves (default --size 20).

evaluate generates both (in --workdir, a temporary directory by default), runs
`sluice --pcap` on each with the given configuration (default: the shipped one) and prints:

  - events on the benign corpus (the budget is 0);
  - per sensor, over the labelled corpus, at the level sluice reports (one alert per flow
    direction and sensor, with the final count of matches):
      TP  a labelled (flow direction, sensor) with an alert whose final count equals the number
          of values planted there (every planted value found, nothing else counted);
      FN  a labelled one without an alert, or with another count (a value missed or extra);
      FP  an alert where nothing was planted for that sensor (benign corpus included);
      precision = TP / (TP + FP), recall = TP / (TP + FN);
  - recall per format variant, and the values planted.
It exits 1 when the benign corpus raised an event or a figure is below 1.0.

Addresses: IPv4 198.18.0.0/15 and IPv6 2001:db8::/32 only. Every value is generated; none
belongs to a person. Standard library only, plus tools/sluice_gen.py (frames, flows, pcap).
"""

import argparse
import base64
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_gen as sg  # noqa: E402

MIB = 1 << 20
SENSORS = ("fr_ssn", "us_ssn", "credit_card", "iban")

# --------------------------------------------------------------------------------------------
# Validators: Python copies of lib/scan/sl_validate.c, used to prove near misses fail and planted
# values pass before they are written.
# --------------------------------------------------------------------------------------------


def digits_of(s):
    return "".join(c for c in s if c.isdigit())


def issuer_ok(d):
    """Same issuer ranges and lengths as issuer_ok() in sl_validate.c."""
    n, p2, p3, p4 = len(d), int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65:
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19
    if p2 == 62:
        return 16 <= n <= 19
    return False


def card_ok(s):
    d = digits_of(s)
    return 13 <= len(d) <= 19 and issuer_ok(d) and sg.luhn_valid(d)


def nir_ok(s):
    v = "".join(c for c in s if c.isalnum())
    if len(v) != 15 or v[0] not in "12" or not v[13:].isdigit():
        return False
    if not (v[:5].isdigit() and v[7:13].isdigit()):
        return False
    month = int(v[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or month >= 50):
        return False
    if not (v[5:7].isdigit() or v[5:7].upper() in ("2A", "2B")):
        return False
    return sg.nir_key(v[:13]) == int(v[13:])


def ssn_ok(s):
    d = digits_of(s)
    if len(d) != 9:
        return False
    area, group, serial = int(d[:3]), d[3:5], d[5:]
    return (0 < area < 900 and area != 666 and group != "00" and serial != "0000"
            and d not in ("078051120", "219099999", "123456789"))


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban_ok(s):
    v = s.replace(" ", "")
    return (IBAN_LENGTHS.get(v[:2]) == len(v) and v[2:4].isdigit()
            and re.fullmatch(r"[A-Z0-9]+", v) is not None and sg.iban_valid(v))


def would_fire(token):
    """True if any validator would accept the token or a group-aligned part of it (the card
    validator takes the longest valid suffix of a run of groups)."""
    if nir_ok(token) or ssn_ok(token) or iban_ok(token) or card_ok(token):
        return True
    groups = re.split(r"[ -]", token)
    for i in range(1, len(groups)):
        if card_ok(" ".join(groups[i:])):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Valid values, by sensor and format variant
# --------------------------------------------------------------------------------------------


def rdigits(rng, n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def group(s, sizes, sep):
    out, i = [], 0
    for n in sizes:
        out.append(s[i:i + n])
        i += n
    if i < len(s):
        out.append(s[i:])
    return sep.join(out)


def nir_variant(rng, variant):
    corsica = variant.startswith("corsica")
    while True:
        v = sg.gen_nir(rng, corsica=0)
        if corsica:
            dept = "2A" if variant.endswith("2a") else "2B"
            v = v[:5] + dept + v[7:13]
            v += "%02d" % sg.nir_key(v)
        if variant in ("contiguous", "corsica_2a", "corsica_2b"):
            return v
        if variant == "corsica_2a_spaces":
            return sg.format_nir(v[:5] + "2A" + v[7:13] + "%02d" % sg.nir_key(v[:5] + "2A"
                                                                            + v[7:13]), " ")
        if variant == "key_apart":
            return v[:13] + " " + v[13:]
        return sg.format_nir(v, {"spaces": " ", "dots": ".", "dashes": "-"}[variant])


NIR_VARIANTS = ("contiguous", "spaces", "dots", "dashes", "key_apart", "corsica_2a",
                "corsica_2b", "corsica_2a_spaces")

# brand -> (prefix choices, lengths)
CARD_BRANDS = {
    "visa13": (("4",), (13,)),
    "visa16": (("4",), (16,)),
    "visa19": (("4",), (19,)),
    "mastercard51_55": (("51", "52", "53", "54", "55"), (16,)),
    "mastercard2": (tuple(str(p) for p in (2221, 2300, 2450, 2599, 2700, 2720)), (16,)),
    "amex": (("34", "37"), (15,)),
    "discover": (("6011", "644", "645", "649", "65"), (16, 19)),
    "diners": (("300", "305", "36", "38", "39"), (14,)),
    "jcb": (("3528", "3550", "3589"), (16,)),
    "unionpay": (("62",), (16, 19)),
}
# How each length is grouped, as people and payment pages write it.
CARD_GROUPS = {13: (4, 4, 4, 1), 14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4),
               19: (4, 4, 4, 4, 3)}
CARD_FORMATS = ("contiguous", "spaces", "dashes")


def card_variant(rng, brand, fmt):
    prefixes, lengths = CARD_BRANDS[brand]
    n = rng.choice(lengths)
    while True:
        p = rng.choice(prefixes)
        d = sg.luhn_complete(p + rdigits(rng, n - 1 - len(p)))
        if card_ok(d) and not nir_ok(d):
            break
    if fmt == "contiguous":
        return d
    return group(d, CARD_GROUPS[n], " " if fmt == "spaces" else "-")


def ssn_variant(rng, variant):
    v = sg.gen_ssn(rng)
    return v if variant == "dashes" else v.replace("-", " ")


# country -> BBAN shape: 'n' digit, 'a' uppercase letter, 'c' either
IBAN_SHAPES = {"FR": "n" * 23, "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "ES": "n" * 20,
               "IT": "a" + "n" * 22, "NL": "aaaa" + "n" * 10, "BE": "n" * 12,
               "CH": "n" * 17, "PL": "n" * 24, "PT": "n" * 21}


def iban_make(rng, cc):
    bban = "".join(rng.choice("0123456789") if k == "n" else
                   rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for k in IBAN_SHAPES[cc])
    check = 98 - int(sg._iban_digits(bban + cc + "00")) % 97
    return "%s%02d%s" % (cc, check, bban)


def iban_variant(rng, variant):
    cc, fmt = variant.split("_")
    v = iban_make(rng, cc)
    return sg.format_iban(v) if fmt == "grouped" else v


VARIANTS = {
    "fr_ssn": [(v, lambda rng, v=v: nir_variant(rng, v)) for v in NIR_VARIANTS],
    "credit_card": [("%s_%s" % (b, f), lambda rng, b=b, f=f: card_variant(rng, b, f))
                    for b in CARD_BRANDS for f in CARD_FORMATS],
    "us_ssn": [(v, lambda rng, v=v: ssn_variant(rng, v)) for v in ("dashes", "spaces")],
    "iban": [("%s_%s" % (c, f), lambda rng, v="%s_%s" % (c, f): iban_variant(rng, v))
             for c in IBAN_SHAPES for f in ("grouped", "contiguous")],
}
VALIDATORS = {"fr_ssn": nir_ok, "credit_card": card_ok, "us_ssn": ssn_ok, "iban": iban_ok}

# --------------------------------------------------------------------------------------------
# Near misses and ordinary numbers
# --------------------------------------------------------------------------------------------


def nm_luhn_id(rng):
    """13-19 digits, often with a card prefix, failing Luhn (so no card, whatever the prefix)
    and, at 15 digits, the NIR key."""
    while True:
        n = rng.randint(13, 19)
        p = rng.choice(("4", "51", "55", "2221", "34", "37", "6011", "65", "36", "3530", "62",
                        "1", "2", "7", "8", "9"))
        d = p + rdigits(rng, n - len(p))
        if sg.luhn_valid(d):
            d = d[:-1] + str((int(d[-1]) + rng.randint(1, 9)) % 10)
        if not nir_ok(d):
            return d


def nm_card_grouped(rng):
    d = nm_luhn_id(rng)
    if len(d) not in CARD_GROUPS:
        d = sg.gen_card_bad_luhn(rng)
    return group(d, CARD_GROUPS[len(d)], rng.choice(" -"))


def nm_nir(rng):
    v = sg.gen_nir_bad_key(rng)
    style = rng.randrange(5)
    if style == 0:
        return v
    if style == 4:
        return v[:13] + " " + v[13:]
    return sg.format_nir(v, " .-"[style - 1])


def nm_ssn(rng):
    area, grp, serial = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
    kind = rng.randrange(6)
    if kind == 0:
        area = 0
    elif kind == 1:
        area = 666
    elif kind == 2:
        area = rng.randint(900, 999)
    elif kind == 3:
        grp = 0
    elif kind == 4:
        serial = 0
    else:
        return rng.choice(("078-05-1120", "219-09-9999", "123-45-6789"))
    return ("%03d-%02d-%04d" if rng.random() < 0.7 else "%03d %02d %04d") % (area, grp, serial)


def nm_iban(rng):
    cc = rng.choice(tuple(IBAN_SHAPES))
    v = iban_make(rng, cc)
    if rng.random() < 0.8:  # wrong check digits
        v = v[:2] + "%02d" % ((int(v[2:4]) + rng.randint(1, 96)) % 100) + v[4:]
    else:  # right check digits, wrong length for the country
        v = v[:-1]
    return sg.format_iban(v) if rng.random() < 0.5 else v


NEAR_MISSES = (nm_luhn_id, nm_card_grouped, nm_nir, nm_ssn, nm_iban)


def near_miss(rng):
    while True:
        t = rng.choice(NEAR_MISSES)(rng)
        if not would_fire(t):
            return t


def phone(rng):
    k = rng.randrange(6)
    if k == 0:
        return "+33 %d %02d %02d %02d %02d" % (rng.randint(1, 9), rng.randrange(100),
                                               rng.randrange(100), rng.randrange(100),
                                               rng.randrange(100))
    if k == 1:
        return "0%d.%02d.%02d.%02d.%02d" % (rng.randint(1, 9), rng.randrange(100),
                                            rng.randrange(100), rng.randrange(100),
                                            rng.randrange(100))
    if k == 2:
        return "0%d %02d %02d %02d %02d" % (rng.randint(6, 7), rng.randrange(100),
                                            rng.randrange(100), rng.randrange(100),
                                            rng.randrange(100))
    if k == 3:
        return "(%03d) 555-%04d" % (rng.randint(201, 989), rng.randrange(10000))
    if k == 4:
        return "+1 %03d-555-%04d" % (rng.randint(201, 989), rng.randrange(10000))
    return "%03d.555.%04d" % (rng.randint(201, 989), rng.randrange(10000))


def price(rng):
    v = rng.randint(1, 999999) / 100
    return rng.choice(("%.2f" % v, "%.2f EUR" % v, "$%s" % format(v, ",.2f"),
                       "%s €" % format(v, ",.2f").replace(",", " ").replace(".", ",")))


def ts(rng):
    t = sg.EPOCH + rng.randint(-10 ** 8, 10 ** 7)
    k = rng.randrange(4)
    if k == 0:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % rng.randrange(1000)
    if k == 1:
        return str(t)
    if k == 2:
        return str(t * 1000 + rng.randrange(1000))  # 13 digits, starts with 1: no issuer
    return time.strftime("%d/%m/%Y %H:%M", time.gmtime(t))


def uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], rng.choice("89ab"), h[17:20],
                                 h[20:])


def order_no(rng):
    return rng.choice(("CMD-%d-%06d", "ORD%d%07d", "INV-%d/%05d")) % (
        rng.randint(2019, 2026), rng.randrange(10 ** 5))


def b64(rng, n):
    return base64.b64encode(rng.randbytes(n)).decode()


WORDS = sg.WORDS
PRODUCTS = ("chaise", "table", "lampe", "casque audio", "clavier", "ecran 27 pouces",
            "sac a dos", "cafetiere", "velo", "montre", "tapis", "imprimante")

# --------------------------------------------------------------------------------------------
# Records and documents
# --------------------------------------------------------------------------------------------


def rec_order_json(rng, extra=()):
    r = {"order": order_no(rng), "created_at": ts(rng), "updated": ts(rng),
         "total": price(rng), "items": rng.randint(1, 12), "phone": phone(rng),
         "request_id": uuid(rng), "tracking": nm_luhn_id(rng), "ref": near_miss(rng),
         "status": rng.choice(("paid", "shipped", "pending", "refunded"))}
    if rng.random() < 0.3:
        r["account_check"] = near_miss(rng)
    if rng.random() < 0.1:
        r["avatar"] = b64(rng, rng.randint(48, 600))
    for k, v in extra:
        r[k] = v
    return json.dumps(r, ensure_ascii=False)


def rec_html_row(rng, extra=()):
    cells = [order_no(rng), rng.choice(PRODUCTS), price(rng), ts(rng), phone(rng),
             near_miss(rng)]
    cells += [v for _, v in extra]
    rng.shuffle(cells)
    return "<tr>" + "".join("<td>%s</td>" % c for c in cells) + "</tr>\n"


def rec_log_line(rng, extra=()):
    parts = ["%s INFO api[%d]: %s %s id=%s dur=%dms" % (
        ts(rng), rng.randint(100, 99999), rng.choice(("GET", "POST", "PUT")),
        rng.choice(("/api/v2/orders", "/api/v1/customers", "/cart", "/checkout")),
        uuid(rng), rng.randint(1, 5000)),
        "client=198.18.%d.%d" % (rng.randrange(256), rng.randint(1, 254)),
        "ref=%s" % near_miss(rng), "phone=\"%s\"" % phone(rng)]
    parts += ["%s=%s" % kv for kv in extra]
    return " ".join(parts) + "\n"


def rec_csv(rng, extra=()):
    cols = [order_no(rng), ts(rng), price(rng).replace(",", ""), phone(rng), near_miss(rng),
            str(rng.randint(1, 99))]
    cols += [v for _, v in extra]
    return ";".join(cols) + "\n"


RECORDS = {"json": rec_order_json, "html": rec_html_row, "log": rec_log_line, "csv": rec_csv}


class Pools:
    """Pre-generated records per kind, so 100 MiB cost no per-byte Python work."""

    def __init__(self, rng, n):
        self.rng = rng
        self.pool = {k: [f(rng) for _ in range(n)] for k, f in RECORDS.items()}
        self.text = sg.Filler(rng, text_size=1 << 19, bin_size=1 << 16)

    def records(self, kind, size, planted=()):
        """Records of `kind` totalling about `size` bytes; each planted (key, value) goes into
        one record of its own built on the spot, at a random place."""
        pool, out, n = self.pool[kind], [], 0
        while n < size:
            r = self.rng.choice(pool)
            out.append(r)
            n += len(r)
        for kv in planted:
            out.insert(self.rng.randrange(len(out) + 1), RECORDS[kind](self.rng, (kv,)))
        return out


def doc_json(pools, size, planted=()):
    recs = pools.records("json", size, planted)
    return ('{"page": %d, "per_page": %d, "data": [%s]}' % (
        pools.rng.randint(1, 500), len(recs), ", ".join(recs))).encode()


def doc_html(pools, size, planted=()):
    rng = pools.rng
    head = ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Commandes"
            "</title></head><body><h1>Mes commandes</h1><p>%s</p>\n<p>Service client : %s, "
            "du lundi au vendredi.</p>\n<table>\n" % (pools.text.text_bytes(300).decode(),
                                                     phone(rng)))
    rows = pools.records("html", size, planted)
    return (head + "".join(rows) + "</table><footer>%s</footer></body></html>\n" %
            pools.text.text_bytes(200).decode()).encode()


def doc_raw(pools, size, planted=()):
    kind = pools.rng.choice(("log", "csv"))
    return "".join(pools.records(kind, size, planted)).encode()


KEYS = {"fr_ssn": ("nir", "numero_securite_sociale", "insee"),
        "credit_card": ("card", "pan", "carte"), "us_ssn": ("ssn", "social"),
        "iban": ("iban", "rib", "account")}

# --------------------------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------------------------


class Writer:
    """Flows into one pcap; labels per (flow direction, sensor)."""

    def __init__(self, path, seed, pool_size):
        self.rng = random.Random(seed)
        self.pcap = sg.PcapWriter(path)
        self.pools = Pools(self.rng, pool_size)
        self.payload = 0
        self.n_flows = 0
        self.labels = []
        self.servers4 = [sg.Host("198.19.%d.%d" % (i // 200, 10 + i % 200), sg.mac_bytes(0x53, i))
                         for i in range(64)]
        self.servers6 = [sg.Host("2001:db8:5::%x" % (0x10 + i), sg.mac_bytes(0x56, i))
                         for i in range(16)]

    def new_flow(self, port):
        i = self.n_flows
        self.n_flows += 1
        v6 = i % 5 == 4
        if v6:
            client = sg.Host("2001:db8:c::%x" % (i + 1), sg.mac_bytes(0xC6, i))
            server = self.rng.choice(self.servers6)
        else:
            client = sg.Host("198.18.%d.%d" % (i // 254 % 256, i % 254 + 1), sg.mac_bytes(0xC4, i))
            server = self.rng.choice(self.servers4)
        # client ports cycle with the flow number: tuples stay unique over 65536 flows per client
        cport = 32768 + (i * 7919) % 28000
        return sg.Flow(self.rng, client, cport, server, port)

    def label(self, flow, to_server, sensor, variant, values, app_proto, context):
        self.labels.append({
            "sensor": sensor, "variant": variant, **flow.endpoints(to_server),
            "direction": "to_server" if to_server else "to_client", "app_proto": app_proto,
            "context": context, "count": len(values), "values": values})

    def plant(self, sensor_variant, n):
        """n distinct valid values of one (sensor, variant), as (key, value) pairs."""
        if sensor_variant is None:
            return [], []
        sensor, (variant, fn) = sensor_variant
        values = []
        while len(values) < n:
            v = fn(self.rng)
            assert VALIDATORS[sensor](v), (sensor, variant, v)
            if v not in values:
                values.append(v)
        return [(self.rng.choice(KEYS[sensor]), v) for v in values], values

    def exchange(self, size, up=None, down=None):
        """One flow: HTTP (POST with a JSON or form body, JSON or HTML response) or a raw TCP
        stream, about `size` bytes; up/down: (sensor, variant) to plant client->server and
        server->client, or None."""
        rng = self.rng
        raw = rng.random() < 0.25
        flow = self.new_flow(rng.choice((4444, 5001, 7070, 9000)) if raw else
                             rng.choice((80, 80, 8080)))
        self.pcap.write_all(flow.handshake(), 30)
        n_up, n_down = rng.randint(1, 3), rng.randint(1, 3)
        kv_up, v_up = self.plant(up, n_up)
        kv_down, v_down = self.plant(down, n_down)
        small = max(300, size // 8)
        if raw:
            req = doc_raw(self.pools, small, kv_up)
            resp = doc_raw(self.pools, size - small, kv_down)
            app, ctx = "failed", "raw"
        else:
            body = doc_json(self.pools, small, kv_up)
            req = sg.http_request("POST", "/api/v2/orders/sync", "shop.example.net", body)
            html = rng.random() < 0.4
            payload = (doc_html if html else doc_json)(self.pools, size - small, kv_down)
            resp = sg.http_response(payload, ctype="text/html; charset=utf-8" if html
                                    else "application/json")
            app, ctx = "http", "body"
        self.pcap.write_all(flow.send(req, True), 40)
        self.pcap.write_all(flow.send(resp, False), 40)
        self.pcap.write_all(flow.close(), 30)
        self.payload += len(req) + len(resp)
        if up:
            self.label(flow, True, up[0], up[1][0], v_up, app, ctx)
        if down:
            self.label(flow, False, down[0], down[1][0], v_down, app, ctx)

    def close(self):
        self.pcap.close()


def flow_sizes(rng, total):
    """Message sizes: mostly a few KiB, some up to 1 MiB, summing to about `total`."""
    n = 0
    while n < total:
        s = int(min(MIB, rng.paretovariate(1.2) * 2500))
        n += s
        yield s


def write_benign(path, size_mb, seed):
    w = Writer(path, seed, pool_size=3000)
    for s in flow_sizes(w.rng, size_mb * MIB):
        w.exchange(s)
    w.close()
    return w


def write_labelled(path, labels_path, size_mb, seed):
    """Every (sensor, variant) appears in several flow directions, both ways, HTTP and raw."""
    w = Writer(path, seed + 1000, pool_size=1000)
    plan = [(s, v) for s in SENSORS for v in VARIANTS[s]] * 6
    w.rng.shuffle(plan)
    sizes = list(flow_sizes(w.rng, size_mb * MIB))
    for i, s in enumerate(sizes):
        up = plan.pop() if plan and w.rng.random() < 0.6 else None
        down = plan.pop() if plan and w.rng.random() < 0.4 else None
        w.exchange(s, up, down)
    while plan:  # the corpus is too small for the plan: more small flows
        w.exchange(2000, plan.pop(), plan.pop() if plan else None)
    w.close()
    with open(labels_path, "w") as f:
        json.dump(w.labels, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return w


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def run_sluice(sluice, pcap, workdir, config=None):
    events = pcap + ".events.json"
    if os.path.exists(events):
        os.unlink(events)  # sluice appends, as Suricata does to eve.json
    cmd = [sluice, "--pcap", pcap, "--events", events, "--set",
           "events.key_file=%s" % os.path.join(workdir, "evidence.key")]
    if config:
        cmd += ["-c", config]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("sluice failed (%d): %s" % (p.returncode, p.stderr))
    evs = [json.loads(l) for l in open(events) if l.strip()]
    return evs, p.stdout + p.stderr + open(events).read()


def key_of(e):
    return (e["dlp"]["sensor"], e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])


def score(labels, events):
    """Per sensor TP/FP/FN at the (flow direction, sensor) level, and recall per variant."""
    alerts = {key_of(e): e for e in events if e["event_type"] == "alert" and "dlp" in e}
    final = {key_of(e): e for e in events if e["event_type"] == "flow" and "dlp" in e}
    res = {s: {"tp": 0, "fp": 0, "fn": 0, "values": 0, "count_mismatch": 0} for s in SENSORS}
    variants = {}
    labelled = set()
    for lab in labels:
        k = (lab["sensor"], lab["src_ip"], lab["src_port"], lab["dest_ip"], lab["dest_port"])
        labelled.add(k)
        r = res[lab["sensor"]]
        r["values"] += lab["count"]
        var = variants.setdefault((lab["sensor"], lab["variant"]), [0, 0])
        var[1] += 1
        a = alerts.get(k)
        count = (final.get(k) or a or {}).get("dlp", {}).get("count")
        if a is not None and count == lab["count"]:
            r["tp"] += 1
            var[0] += 1
        else:
            r["fn"] += 1
            if a is not None:
                r["count_mismatch"] += 1
    for k in alerts:
        if k not in labelled and k[0] in res:
            res[k[0]]["fp"] += 1
    return res, variants


def leaks(text, labels):
    """Planted values found in an output, as written or as bare characters."""
    bare = re.sub(r"[^0-9A-Za-z]", "", text)
    out = 0
    for lab in labels:
        for v in lab["values"]:
            b = re.sub(r"[^0-9A-Za-z]", "", v)
            out += v in text or (len(b) >= 9 and b in bare)
    return out


def evaluate(args):
    workdir = args.workdir or tempfile.mkdtemp(prefix="sluice-corpus-")
    os.makedirs(workdir, exist_ok=True)
    benign = os.path.join(workdir, "benign.pcap")
    labelled = os.path.join(workdir, "labelled.pcap")
    labels_path = os.path.join(workdir, "labels.json")
    t0 = time.time()
    wb = write_benign(benign, args.size, args.seed)
    t1 = time.time()
    wl = write_labelled(labelled, labels_path, args.labelled_size, args.seed)
    t2 = time.time()
    ev_b, _ = run_sluice(args.sluice, benign, workdir, args.config)
    ev_l, out_l = run_sluice(args.sluice, labelled, workdir, args.config)
    t3 = time.time()
    labels = json.load(open(labels_path))
    benign_alerts = [e for e in ev_b if e["event_type"] == "alert"]
    res, variants = score(labels, ev_l)
    for e in benign_alerts:
        if e.get("dlp", {}).get("sensor") in res:
            res[e["dlp"]["sensor"]]["fp"] += 1
    n_leaks = leaks(out_l, labels)

    print("benign corpus:   %.1f MiB of TCP payload, %d flows, %d frames (generated in %.1f s)"
          % (wb.payload / MIB, wb.n_flows, wb.pcap.frames, t1 - t0))
    print("labelled corpus: %.1f MiB of TCP payload, %d flows, %d frames, %d planted values "
          "in %d flow directions (generated in %.1f s)"
          % (wl.payload / MIB, wl.n_flows, wl.pcap.frames, sum(l["count"] for l in labels),
             len(labels), t2 - t1))
    print("sluice runs: %.1f s; events on the benign corpus: %d (budget 0)"
          % (t3 - t2, len(benign_alerts)))
    print()
    print("| sensor      | planted values | flow directions | TP  | FP | FN | precision | recall |")
    print("|-------------|---------------:|----------------:|----:|---:|---:|----------:|-------:|")
    ok = not benign_alerts and n_leaks == 0
    for s in SENSORS:
        r = res[s]
        p = r["tp"] / (r["tp"] + r["fp"]) if r["tp"] + r["fp"] else 1.0
        rc = r["tp"] / (r["tp"] + r["fn"]) if r["tp"] + r["fn"] else 1.0
        ok &= p == 1.0 and rc == 1.0
        print("| %-11s | %14d | %15d | %3d | %2d | %2d | %9.3f | %6.3f |"
              % (s, r["values"], r["tp"] + r["fn"], r["tp"], r["fp"], r["fn"], p, rc))
    print()
    missed = [(s, v, f, n) for (s, v), (f, n) in sorted(variants.items()) if f < n]
    print("variants: %d, all found: %d%s" % (len(variants), len(variants) - len(missed),
                                            "" if not missed else "; missed:"))
    for s, v, f, n in missed:
        print("  %-11s %-28s %d/%d flow directions" % (s, v, f, n))
    print("planted values in sluice's outputs: %d" % n_leaks)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benign_events": len(benign_alerts), "sensors": res,
                       "variants": {"%s/%s" % k: v for k, v in variants.items()},
                       "leaks": n_leaks}, f, indent=1)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("benign", help="benign corpus: no event expected")
    b.add_argument("--out", required=True)
    b.add_argument("--size", type=int, default=100, help="MiB of TCP payload (default 100)")
    b.add_argument("--seed", type=int, default=1)
    lb = sub.add_parser("labelled", help="corpus with planted values and their labels")
    lb.add_argument("--out", required=True)
    lb.add_argument("--labels", required=True)
    lb.add_argument("--size", type=int, default=20, help="MiB of TCP payload (default 20)")
    lb.add_argument("--seed", type=int, default=1)
    ev = sub.add_parser("evaluate", help="generate both, run sluice, print the figures")
    ev.add_argument("--sluice", required=True, help="path of the sluice binary")
    ev.add_argument("--size", type=int, default=100, help="benign MiB (default 100)")
    ev.add_argument("--labelled-size", type=int, default=20, help="labelled MiB (default 20)")
    ev.add_argument("--seed", type=int, default=1)
    ev.add_argument("--config", help="sluice configuration (default: the shipped one)")
    ev.add_argument("--workdir", help="keep the captures and events here")
    ev.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if args.mode == "benign":
        w = write_benign(args.out, args.size, args.seed)
        print("%s: %.1f MiB payload, %d flows, %d frames" % (args.out, w.payload / MIB,
                                                             w.n_flows, w.pcap.frames))
        return 0
    if args.mode == "labelled":
        w = write_labelled(args.out, args.labels, args.size, args.seed)
        print("%s: %.1f MiB payload, %d flows, %d labelled flow directions" % (
            args.out, w.payload / MIB, w.n_flows, len(w.labels)))
        return 0
    return evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
