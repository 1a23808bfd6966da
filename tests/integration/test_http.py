#!/usr/bin/python3
"""End-to-end tests of HTTP inspection (issue 3): `sluice --pcap` on generated captures whose
values hide in URLs, headers, forms, JSON, chunked, compressed and multipart bodies, pipelined
and keep-alive connections, and in the evasion tricks of public HTTP-evasion research.

Normal scenarios must raise exactly the expected alerts, with the right dlp.context and http
fields. Evasion scenarios (expected entries with "evasion": true) must never let a planted value
through unreported: either its sensor fires (any context, raw included) or the flow carries an
"uninspectable" alert. Nothing may crash, and no raw value may appear in any output."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sltest import check_expected, check_no_leak, check_schema, gen, run_tests, sluice  # noqa

SUMMARY = re.compile(r"\d+ packets, \d+ bytes, \d+ flows, \d+ events")
UNINSPECTED = ("http_unknown_encoding", "http_too_many_encodings", "http_inflate_pool_empty",
               "http_decompress_error", "http_body_cap", "http_ratio_cap", "http_gap")


def key_of(e):
    return (e["sensor"], e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])


def alert_key(a):
    return (a["dlp"]["sensor"], a["src_ip"], a["src_port"], a["dest_ip"], a["dest_port"])


def flow_of(d):
    """Direction-free 5-tuple of an event or an expected entry."""
    return frozenset(((d["src_ip"], d["src_port"]), (d["dest_ip"], d["dest_port"])))


def no_leak(run, expected):
    """check_no_leak, also for the wire forms of the values (percent-encoded, '+' spaces)."""
    check_no_leak(run, expected)
    check_no_leak(run, [{"sensor": e["sensor"], "values": e.get("wire_values", [])}
                        for e in expected])


def url_matches(got, raw):
    """sluice's http.url is the raw request-target with digits and %XX escapes masked: same
    length, no digit, and every character that is neither a digit nor part of an escape kept."""
    assert not re.search(r"\d", got), f"digits left in http.url {got!r}"
    assert len(got) == len(raw), (got, raw)
    escape = set()
    for m in re.finditer(r"%[0-9A-Fa-f]{2}", raw):
        escape.update(range(m.start(), m.end()))
    for i, (g, r) in enumerate(zip(got, raw)):
        if r.isdigit() or i in escape:
            assert g == "*" or (i in escape and g == r and not r.isdigit()), (got, raw)
        else:
            assert g == r, f"http.url {got!r} does not match {raw!r}"


def check_http(alert, exp):
    """The alert's http object against the generator's expectation."""
    want = exp.get("http")
    if want is None:
        return
    h = alert.get("http")
    assert h is not None, f"{exp['sensor']} alert ({alert['dlp']['context']}) has no http object"
    for f in ("hostname", "http_method"):
        assert h.get(f) == want[f], f"http.{f} {h.get(f)!r} != {want[f]!r}"
    assert "url" in h, f"no http.url: {h}"
    url_matches(h["url"], want["url"])
    if "status" in want:
        assert h.get("status") == want["status"], (h.get("status"), want["status"])
    else:
        assert "status" not in h, f"status on a request event: {h}"
    if "http_content_type" in want:
        got, full = h.get("http_content_type", ""), want["http_content_type"]
        # the media type, parameters optional (Suricata logs the type without them)
        assert got.split(";")[0] == full.split(";")[0] and full.startswith(got), (got, full)
    if "length" in want:
        assert h.get("length") == want["length"], (h.get("length"), want["length"])


def check_digits_not_in_url(run, expected):
    for a in run.alerts:
        url = a.get("http", {}).get("url", "")
        for e in expected:
            for v in e["values"]:
                bare = re.sub(r"\D", "", v)
                assert bare not in re.sub(r"\D", "", url) or not bare, "value digits in http.url"


def exact(name, *args):
    """A normal scenario: exactly the expected alerts, contexts, counts and http fields."""
    pcap, expected = gen(name)
    assert expected and not any(e.get("evasion") for e in expected)
    run = sluice(*args, pcap=pcap)
    check_expected(run, expected)
    no_leak(run, expected)
    check_digits_not_in_url(run, expected)
    by_key = {alert_key(a): a for a in run.alerts}
    for exp in expected:
        a = by_key[key_of(exp)]
        assert a["app_proto"] == exp["app_proto"], (a["app_proto"], exp["app_proto"])
        check_http(a, exp)
        if exp["app_proto"] != "http":
            assert "http" not in a, a
    return run, expected


def evasion(name, *args):
    """An evasion scenario: each planted value is reported (sensor alert in any context, or an
    uninspectable alert on its flow); non-evasion entries are checked as in exact()."""
    pcap, expected = gen(name)
    run = sluice(*args, pcap=pcap)
    assert run.rc == 0, f"sluice exited {run.rc}: {run.err}"
    assert SUMMARY.search(run.out), run.out
    check_schema(run)
    no_leak(run, expected)
    check_digits_not_in_url(run, expected)
    alerts, unins = {}, {}
    for a in run.alerts:
        assert a["app_proto"] == "http", a
        if a["dlp"]["sensor"] == "uninspectable":
            f = flow_of(a)
            assert f not in unins, f"two uninspectable alerts on one flow: {a}"
            assert a["dlp"]["evidence"] in UNINSPECTED, a["dlp"]["evidence"]
            unins[f] = a
            continue
        k = alert_key(a)
        assert k not in alerts, f"two alerts for one flow direction and sensor: {k}"
        alerts[k] = a
    for exp in expected:
        k = key_of(exp)
        if exp.get("evasion"):
            assert k in alerts or flow_of(exp) in unins, \
                f"planted {exp['sensor']} value went through unreported: {k}"
        else:
            assert k in alerts, f"missing alert {k}; got {sorted(alerts)}"
            assert alerts[k]["dlp"]["context"] == exp["context"], (alerts[k]["dlp"], exp)
            assert alerts[k]["direction"] == exp["direction"]
            check_http(alerts[k], exp)
        alerts.pop(k, None)
    assert not alerts, f"unexpected alerts: {sorted(alerts)}"
    flows = {flow_of(e) for e in expected}
    assert all(f in flows for f in unins), "uninspectable alert on a flow without a value"
    return run, expected, unins


# --- values in each context ---

def test_url_query():
    run, expected = exact("http_url_query")
    assert {e["dest_port"] for e in expected} == {80, 8081}
    assert all(a["dlp"]["context"] == "url" for a in run.alerts)


def test_cookie_header():
    exact("http_cookie")


def test_form_body():
    exact("http_form")


def test_form_percent_encoded_digits_and_plus():
    exact("http_form_pct")


def test_json_body():
    exact("http_json")


def test_chunked_value_cut_by_chunk_boundary():
    exact("http_chunked_cut")


def test_gzip_request_body():
    exact("http_gzip_req")


def test_zstd_request_body():
    exact("http_zstd_req")


def test_websocket_masked_and_deflated():
    """A NIR in a masked, permessage-deflate message (window carried over from the previous
    message, cut across frames around a ping) and a card in a plain masked message."""
    run, expected = exact("websocket")
    assert len(expected) == 2


def test_smtp_attachments():
    """NIRs in a base64 CSV attachment sent by DATA, a card in a base64 message sent in BDAT
    chunks, a NIR in the base64 text of a multipart/alternative inside a multipart/mixed:
    reported with app_proto smtp, context body."""
    run, expected = exact("smtp")
    assert len(expected) == 3 and all(e["app_proto"] == "smtp" for e in expected)
    assert {a["dest_port"] for a in run.alerts} == {25, 587, 2525}
    for a in run.alerts:  # EVE's smtp object, digits masked as in http.url
        who = "rh" if a["dest_port"] == 2525 else "ops"
        helo = "rh-**.example.net" if who == "rh" else "srv-db-**.example.net"
        assert a["smtp"] == {"helo": helo, "mail_from": f"<{who}@example.net>",
                             "rcpt_to": ["<drop@example.org>"]}, a


def test_undeclared_base64_in_json_and_raw_c2():
    """An implant's base64, declared nowhere: a NIR and a card in the base64 of a JSON field
    (the request cut inside it), a NIR and a card in base64 lines of a raw channel; the base64
    of a NIR's digits inside a longer run, and of plain text, raise nothing."""
    run, expected = exact("c2_base64")
    assert len(expected) == 4
    assert all(a["dlp"].get("encoding") == "base64" for a in run.alerts), run.alerts


def test_brotli_request_bodies():
    run, expected = exact("http_br_req")
    assert len(expected) == 2


def test_deflate_request_body_zlib_and_raw():
    run, expected = exact("http_deflate_req")
    assert len(expected) == 2


def test_gzip_response_body():
    run, _ = exact("http_gzip_resp")
    assert all(a["direction"] == "to_client" for a in run.alerts)


def test_multipart_csv_upload():
    run, expected = exact("http_multipart_csv")
    counts = {e["sensor"]: e["count"] for e in expected}
    assert counts == {"fr_ssn": 4, "us_ssn": 3, "credit_card": 2, "iban": 1}, counts


def test_multipart_base64_and_quoted_printable_parts_decoded():
    """The values are not on the wire as such: only the parts' decoding shows them."""
    run, expected = exact("http_multipart_cte")
    assert {e["sensor"]: e["count"] for e in expected} == {"fr_ssn": 3, "us_ssn": 1}


def test_second_of_two_pipelined_requests():
    exact("http_pipelined")


def test_first_of_two_pipelined_responses_names_its_request():
    exact("http_pipelined_resp")


def test_third_request_of_keepalive_connection():
    exact("http_keepalive3")


# --- any split of the input gives the same events ---

# The scenarios whose state crosses the most token boundaries (each costs two sluice runs).
SPLIT = ("http_url_query", "http_form_pct", "http_chunked_cut", "http_deflate_req",
         "http_gzip_resp", "http_multipart_csv", "http_pipelined")


def summary(run):
    """Alerts and flow-end counts without what legitimately varies (time, flow ids)."""
    drop = ("timestamp", "flow_id", "flow")
    return sorted(json.dumps({k: v for k, v in e.items() if k not in drop}, sort_keys=True)
                  for e in run.events)


def test_one_byte_per_segment_same_events():
    """Every message of the normal scenarios sent one byte per TCP segment (both directions):
    the expected alerts, and exactly the events of the 1460-byte capture."""
    for name in SPLIT:
        whole = sluice(pcap=gen(name)[0])
        pcap, expected = gen(name, "--seg-size", "1")
        split = sluice(pcap=pcap)
        check_expected(split, expected)
        no_leak(split, expected)
        assert summary(split) == summary(whole), f"{name}: events differ when split"


# --- evasions ---

def anomalies_reported(run, name):
    """Every event of a flow that had the framing anomaly `name` names it in dlp.anomalies."""
    flagged = [e for e in run.events if name in e["dlp"].get("anomalies", [])]
    assert flagged, f"no event names the anomaly {name}"


def test_evasion_conflicting_content_lengths():
    run, _, _ = evasion("http_cl_conflict")
    anomalies_reported(run, "http_cl_conflict")


def test_evasion_content_length_and_chunked():
    run, _, _ = evasion("http_cl_te")
    anomalies_reported(run, "http_cl_and_chunked")


def test_evasion_long_chunk_extensions():
    evasion("http_chunk_ext")


def test_evasion_header_folding():
    evasion("http_folding")


def test_evasion_bad_chunk_sizes():
    run, _, _ = evasion("http_bad_chunk")
    anomalies_reported(run, "http_bad_chunk_size")


def test_evasion_gzip_two_members():
    evasion("http_gzip_members")


def test_evasion_gzip_bomb():
    """The NIR before the cap is found; the SSN after it is covered by the ratio cap alert."""
    run, expected, unins = evasion("http_gzip_bomb")
    assert len(unins) == 2, unins
    assert {a["dlp"]["evidence"] for a in unins.values()} <= {"http_ratio_cap", "http_body_cap"}


def test_gzip_bomb_output_cap():
    """Without a ratio cap, the output cap (http.max_body) stops the bomb and says so."""
    run, _, unins = evasion("http_gzip_bomb", "--set", "http.max_ratio=0",
                            "--set", "http.max_body=1048576")
    assert len(unins) == 2 and all(a["dlp"]["evidence"] == "http_body_cap"
                                   for a in unins.values()), unins


def test_gzip_bomb_without_caps_is_inspected_fully():
    """Caps off: the whole 24 MiB is inflated and scanned, the SSN behind the padding is found,
    and nothing is uninspectable."""
    pcap, expected = gen("http_gzip_bomb")
    run = sluice("--set", "http.max_ratio=0", pcap=pcap)
    for e in expected:
        e.pop("evasion", None)
    check_expected(run, expected)


def test_uninspectable_pass_raises_no_event():
    run = sluice("--set", "http.on_uninspectable=pass", pcap=gen("http_gzip_bomb")[0])
    assert run.rc == 0, run.err
    sensors = sorted(a["dlp"]["sensor"] for a in run.alerts)
    assert sensors == ["fr_ssn", "fr_ssn"], sensors


def test_uninspectable_deny_in_mirror_mode_would_block():
    run = sluice("--set", "http.on_uninspectable=deny", pcap=gen("http_gzip_bomb")[0])
    assert run.rc == 0, run.err
    un = [a for a in run.alerts if a["dlp"]["sensor"] == "uninspectable"]
    assert len(un) == 2 and all(a["dlp"]["action"] == "would_block" for a in un), un


# --- the process ---

def test_exit_code_and_summary():
    pcap, _ = gen("http_keepalive3")
    run = sluice(pcap=pcap)
    assert run.rc == 0, run.err
    m = SUMMARY.search(run.out)
    assert m, run.out
    assert re.search(r"\b1 flows\b", run.out), run.out


if __name__ == "__main__":
    run_tests(globals())
