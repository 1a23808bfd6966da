#!/usr/bin/python3
"""End-to-end tests of the validated sensors (issue 4) with the real binary: near misses stay
silent, every format variant is found, values split across segments are validated, min_count
and near keywords behave as configured, evidence is masked, value hashes correlate, the key file
is private, no planted value leaks into any output, and a small benign/labelled corpus keeps the
false-positive budget (the 100 MiB figures come from `tools/sluice_corpus.py evaluate`)."""
import json
import os
import random
import re
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sltest import (ROOT, SLUICE, WORK, check_expected, check_no_leak, run_tests,  # noqa: E402
                    sluice)

sys.path.insert(0, os.path.join(ROOT, "tools"))
import sluice_corpus as corpus  # noqa: E402
import sluice_gen as sg  # noqa: E402

CONF = os.path.join(ROOT, "config", "sluice.conf")


class Capture:
    """A pcap of TCP flows, each carrying one client->server payload, and the alerts expected
    (one per flow and sensor, as sltest.check_expected wants them)."""

    def __init__(self, name):
        self.path = os.path.join(WORK, name + ".pcap")
        self.pcap = sg.PcapWriter(self.path)
        self.rng = random.Random(name)
        self.expected = []
        self.n = 0

    def flow(self, payload, expect=(), http=False, split_in=None):
        """payload: str or bytes; expect: [(sensor, [values])]; http: POST it as a JSON body;
        split_in: a value whose middle is where the payload is cut into two segments."""
        if isinstance(payload, str):
            payload = payload.encode()
        if http:
            payload = sg.http_request("POST", "/api/v1/import", "crm.example.net", payload)
        self.n += 1
        client = sg.Host("198.18.7.%d" % self.n, sg.mac_bytes(0xC4, self.n))
        server = sg.Host("198.19.7.%d" % self.n, sg.mac_bytes(0x53, self.n))
        flow = sg.Flow(self.rng, client, 40000 + self.n, server, 80 if http else 7070)
        cuts = ()
        if split_in is not None:
            at = payload.index(split_in.encode())
            cuts = (at + len(split_in) // 2,)
        self.pcap.write_all(flow.handshake(), 30)
        self.pcap.write_all(flow.send(payload, True, cuts=cuts), 40)
        self.pcap.write_all(flow.send(b"OK\n", False), 40)
        self.pcap.write_all(flow.close(), 30)
        for sensor, values in expect:
            self.expected.append({
                "sensor": sensor, **flow.endpoints(True), "proto": "TCP",
                "direction": "to_server", "app_proto": "http" if http else "failed",
                "context": "body" if http else "raw", "count": len(values), "values": values})
        return flow

    def close(self):
        self.pcap.close()
        return self.path


def config(name, fr_ssn_extra):
    """The shipped configuration with settings added to the fr_ssn sensor."""
    text = open(CONF, encoding="utf-8").read()
    anchor = 'validator = "nir";'
    assert anchor in text
    path = os.path.join(WORK, name + ".conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(anchor, anchor + " " + fr_ssn_extra, 1))
    return path


def run(cap, *args):
    return sluice(*args, pcap=cap.close())


def expect_silent(run_, planted):
    assert run_.rc == 0, run_.err
    assert run_.alerts == [], [a["dlp"] for a in run_.alerts]
    check_no_leak(run_, [{"sensor": "any", "values": planted}])


def rng(name):
    return random.Random("sensors-" + name)


# ---- Near misses ----


def test_near_misses_raise_nothing():
    r = rng("near")
    misses = [sg.gen_nir_bad_key(r), sg.format_nir(sg.gen_nir_bad_key(r), " "),
              sg.gen_card_bad_luhn(r), "4111 1111 1111 1112", sg.gen_ssn_area000(r),
              "666-12-3456", "123-00-4567", "123-45-0000", "078-05-1120",
              sg.gen_iban_bad_check(r), sg.format_iban(sg.gen_iban_bad_check(r)),
              "4111 1111 1111 1111 123"]  # the head of a longer grouped number
    for m in misses:
        assert not corpus.would_fire(m) or m.endswith(" 123"), m
    cap = Capture("near_misses")
    cap.flow("\n".join("value: %s" % m for m in misses) + "\n")
    cap.flow(json.dumps({"k%d" % i: m for i, m in enumerate(misses)}), http=True)
    expect_silent(run(cap), misses)


# ---- Valid format variants: one test per family ----


def variant_capture(name, sensor, prefixes=None):
    """One raw flow and one HTTP flow per variant of `sensor` (those whose name starts with one
    of `prefixes`), two distinct values each."""
    cap, r = Capture(name), rng(name)
    for variant, fn in corpus.VARIANTS[sensor]:
        if prefixes and not variant.startswith(prefixes):
            continue
        for http in (False, True):
            values = []
            while len(values) < 2:
                v = fn(r)
                if v not in values:
                    values.append(v)
            text = ("%s: %s, again: %s\n" % (corpus.KEYS[sensor][0], values[0], values[1]))
            cap.flow(json.dumps({"note": text}) if http else text, [(sensor, values)], http=http)
    check_expected(run(cap), cap.expected)


def test_fr_ssn_variants():
    """Contiguous, spaces, dots, dashes, key apart, Corsica 2A/2B."""
    variant_capture("fr_ssn_variants", "fr_ssn")


def test_us_ssn_variants():
    variant_capture("us_ssn_variants", "us_ssn")


def test_card_visa_variants():
    """Visa 13 (4-4-4-1), 16, 19; contiguous, spaces, dashes."""
    variant_capture("card_visa", "credit_card", ("visa",))


def test_card_mastercard_variants():
    """Mastercard 51-55 and the 2-series (2221-2720)."""
    variant_capture("card_mastercard", "credit_card", ("mastercard",))


def test_card_other_brand_variants():
    """Amex (4-6-5), Discover, Diners (4-6-4), JCB, UnionPay (16 and 19 digits)."""
    variant_capture("card_others", "credit_card", ("amex", "discover", "diners", "jcb",
                                                   "unionpay"))


def test_iban_variants():
    """Ten countries, grouped by four or contiguous."""
    variant_capture("iban_variants", "iban")


# ---- Segmentation ----


def test_value_split_across_two_segments():
    r = rng("split")
    cap = Capture("split")
    values = {"fr_ssn": sg.format_nir(sg.gen_nir(r), "."), "credit_card": "4111 1111 1111 1111",
              "us_ssn": sg.gen_ssn(r), "iban": sg.format_iban(sg.gen_iban_fr(r))}
    for sensor, v in values.items():
        cap.flow("record %s = %s;\n" % (sensor, v), [(sensor, [v])], split_in=v)
        cap.flow(json.dumps({sensor: v}), [(sensor, [v])], http=True, split_in=v)
    # A near miss split the same way stays silent; so does a card head whose next group
    # arrives in the next segment.
    bad = sg.gen_card_bad_luhn(r)
    cap.flow("card %s\n" % bad, split_in=bad)
    cap.flow("card 4111 1111 1111 1111 123\n", split_in="1111 1111 123")
    check_expected(run(cap), cap.expected)


# ---- min_count ----


def test_min_count_counts_distinct_values():
    conf = config("min3", "min_count = 3;")
    r = rng("min")
    a, b, c = (sg.gen_nir(r) for _ in range(3))
    cap = Capture("min_count")
    cap.flow("two: %s %s\n" % (a, b))
    cap.flow("same thrice: %s, %s, %s\n" % (a, a, a))
    three = cap.flow("three: %s %s %s\n" % (a, b, c))
    res = run(cap, "-c", conf)
    assert res.rc == 0, res.err
    assert len(res.alerts) == 1, [x["dlp"] for x in res.alerts]
    alert = res.alerts[0]
    assert alert["src_ip"] == three.c.host.ip and alert["dlp"]["sensor"] == "fr_ssn"
    assert alert["dlp"]["distinct"] == 3, alert["dlp"]
    check_no_leak(res, [{"sensor": "fr_ssn", "values": [a, b, c]}])


# ---- near / within ----


def test_near_keywords():
    conf = config("near", 'near = [ "nir", "s\u00e9curit\u00e9 sociale" ]; within = 32;')
    r = rng("nearkw")
    v = [sg.gen_nir(r) for _ in range(6)]
    cap = Capture("near")
    cap.flow("NIR : %s\n" % v[0], [("fr_ssn", [v[0]])])                        # before
    cap.flow("%s (S\u00c9CURIT\u00c9 SOCIALE)\n" % v[1], [("fr_ssn", [v[1]])])  # after, UTF-8
    cap.flow("client %s\n" % v[2])                                              # absent
    cap.flow("nir%s%s\n" % ("." * 40, v[3]))                                    # too far before
    cap.flow("%s%snir\n" % (v[4], "." * 40))                                    # too far after
    cap.flow(json.dumps({"nir": v[5]}), [("fr_ssn", [v[5]])], http=True,
             split_in=v[5])                                                     # split
    check_expected(run(cap, "-c", conf), cap.expected)


# ---- Evidence, hashes, key file ----


def test_evidence_is_masked():
    r = rng("mask")
    cards = [corpus.card_variant(r, b, f) for b, f in (("visa16", "spaces"), ("amex", "dashes"),
                                                      ("visa19", "contiguous"))]
    others = [("fr_ssn", sg.gen_nir(r)), ("fr_ssn", sg.format_nir(sg.gen_nir(r), " ")),
              ("us_ssn", sg.gen_ssn(r)), ("iban", sg.format_iban(sg.gen_iban_fr(r)))]
    cap = Capture("mask")
    for c in cards:
        cap.flow("pan %s\n" % c, [("credit_card", [c])])
    for s, v in others:
        cap.flow("%s %s\n" % (s, v), [(s, [v])])
    res = run(cap)
    check_expected(res, cap.expected)
    by_src = {a["src_ip"]: a["dlp"]["evidence"] for a in res.alerts}
    for exp in cap.expected:
        value, ev = exp["values"][0], by_src[exp["src_ip"]]
        shown = [(i, ch) for i, ch in enumerate(ev) if ch.isalnum()]
        assert len(ev) == len(value), (ev, exp["sensor"])
        assert all(value[i] == ch for i, ch in shown), "evidence shows other characters"
        alnum_pos = [i for i, ch in enumerate(value) if ch.isalnum()]
        if exp["sensor"] == "credit_card":
            allowed = set(alnum_pos[:6] + alnum_pos[-4:])
            assert {i for i, _ in shown} <= allowed, (ev, "more than first 6 + last 4")
        else:
            assert len(shown) <= 4 and {i for i, _ in shown} <= set(alnum_pos[-4:]), ev


def test_value_hash_correlates_without_revealing():
    r = rng("hash")
    a, b = sg.gen_nir(r), sg.gen_nir(r)
    cap = Capture("hash")
    cap.flow("x %s\n" % a, [("fr_ssn", [a])])
    cap.flow(json.dumps({"nir": a}), [("fr_ssn", [a])], http=True)
    cap.flow("y %s\n" % sg.format_nir(a, " "), [("fr_ssn", [sg.format_nir(a, " ")])])
    cap.flow("z %s\n" % b, [("fr_ssn", [b])])
    res = run(cap)
    check_expected(res, cap.expected, context=False)
    h = [x["dlp"]["value_hash"] for x in sorted(res.alerts, key=lambda x: x["src_ip"])]
    assert h[0] == h[1] == h[2], h  # same value, two flows (and another layout)
    assert h[3] != h[0], h
    assert all(re.fullmatch(r"[0-9a-f]{8,64}", x) for x in h), h
    assert a not in h[0] and a[:9] not in h[0]


def test_key_file_is_created_private():
    key = os.path.join(WORK, "fresh", "evidence.key")
    os.makedirs(os.path.dirname(key), exist_ok=True)
    cap = Capture("key")
    cap.flow("k %s\n" % sg.gen_nir(rng("key")))
    events = os.path.join(WORK, "key.events.json")
    p = subprocess.run([SLUICE, "--pcap", cap.close(), "--events", events, "--set",
                        "events.key_file=%s" % key], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    mode = stat.S_IMODE(os.stat(key).st_mode)
    assert mode == 0o600, oct(mode)
    assert os.path.getsize(key) >= 16


# ---- Corpora (small; tools/sluice_corpus.py evaluate gives the 100 MiB figures) ----


def test_small_benign_corpus_raises_nothing():
    pcap = os.path.join(WORK, "benign5.pcap")
    corpus.write_benign(pcap, 5, seed=7)
    res = sluice(pcap=pcap)
    assert res.rc == 0, res.err
    assert res.alerts == [], [(a["dlp"]["sensor"], a["dlp"]["evidence"]) for a in res.alerts]


def test_small_labelled_corpus_finds_every_value():
    pcap = os.path.join(WORK, "labelled5.pcap")
    labels_path = os.path.join(WORK, "labelled5.json")
    corpus.write_labelled(pcap, labels_path, 5, seed=7)
    labels = json.load(open(labels_path))
    res = sluice(pcap=pcap)
    assert res.rc == 0, res.err
    scores, variants = corpus.score(labels, res.events)
    for s, r in scores.items():
        assert r["fp"] == 0 and r["fn"] == 0, (s, r)
    assert len(variants) == sum(len(v) for v in corpus.VARIANTS.values())
    check_no_leak(res, labels)


if __name__ == "__main__":
    run_tests(globals())
