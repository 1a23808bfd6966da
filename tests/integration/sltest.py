"""Helpers shared by sluice's integration tests: run the real binary, read its events, check
them against the generator's expectations and the EVE schema, and prove that no raw value
leaked into any output.

Tests are plain functions named test_*; run_tests() runs them and prints "N passed, N failed"."""
import atexit
import base64
import hashlib
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build"))
SLUICE = os.path.join(BUILD, "app", "sluice", "sluice")
GEN = os.path.join(ROOT, "tools", "sluice_gen.py")
SCHEMA = os.path.join(ROOT, "tests", "data", "eve-schema.json")
WORK = tempfile.mkdtemp(prefix="sluice-it-")


def _remove_work():
    """Captures and events of a run can reach hundreds of MB: removed at exit, unless
    SLUICE_KEEP_WORK is set (to look at them after a failure)."""
    if os.environ.get("SLUICE_KEEP_WORK"):
        print(f"work files kept in {WORK}", file=sys.stderr)
    else:
        shutil.rmtree(WORK, ignore_errors=True)


atexit.register(_remove_work)
KEY = os.path.join(WORK, "evidence.key")


def gen(scenario, *args, seed=1):
    """Generates a capture and returns (pcap path, expected events)."""
    base = os.path.join(WORK, f"{scenario}-{seed}-{abs(hash(args)) % 10000}")
    cmd = [sys.executable, GEN, scenario, "--out", base + ".pcap", "--expect", base + ".json",
           "--seed", str(seed), *args]
    subprocess.run(cmd, check=True, capture_output=True)
    with open(base + ".json") as f:
        return base + ".pcap", json.load(f)


class Run:
    """One finished sluice run: exit code, outputs, parsed events."""

    def __init__(self, rc, out, err, events_path):
        self.rc, self.out, self.err = rc, out, err
        self.events_text = open(events_path).read() if os.path.isfile(events_path) else ""
        self.events = [json.loads(l) for l in self.events_text.splitlines() if l.strip()]
        self.alerts = [e for e in self.events if e["event_type"] == "alert"]

    def all_output(self):
        return self.out + self.err + self.events_text


def sluice(*args, pcap=None, events=None, timeout=300):
    """Runs sluice to completion and returns a Run."""
    events = events or tempfile.mktemp(dir=WORK, suffix=".events.json")
    cmd = [SLUICE]
    if pcap:
        cmd += ["--pcap", pcap]
    cmd += ["--events", events, "--set", f"events.key_file={KEY}", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr, events)


def _schema():
    with open(SCHEMA) as f:
        s = json.load(f)
    # sluice's one addition to EVE: the dlp object.
    s["properties"]["dlp"] = {
        "type": "object",
        "required": ["sensor", "context", "action", "evidence", "count"],
        "properties": {
            "sensor": {"type": "string"}, "context": {"type": "string"},
            "action": {"enum": ["allowed", "would_block", "blocked", "reset"]},
            "evidence": {"type": "string"}, "count": {"type": "integer"},
            "encoding": {"enum": ["base64"]},
        },
    }
    return s


def check_schema(run):
    import jsonschema
    validator = jsonschema.Draft7Validator(_schema())
    for e in run.events:
        errors = list(validator.iter_errors(e))
        assert not errors, f"event fails the EVE schema: {errors[0].message}: {e}"


def check_no_leak(run, expected):
    """No planted value appears in any output, in its written form or as bare digits."""
    text = run.all_output()
    digits_only = re.sub(r"[^0-9A-Za-z]", "", text)
    for exp in expected:
        for v in exp.get("values", []):
            assert v not in text, f"raw value leaked into output ({exp['sensor']})"
            bare = re.sub(r"[^0-9A-Za-z]", "", v)
            if len(bare) >= 9:
                assert bare not in digits_only, f"raw value leaked (bare) ({exp['sensor']})"


# Community ID v1, seed 0, written here from its specification (github.com/corelight/
# community-id-spec) to check sluice's against an implementation that is not sluice's: ICMP
# type and code stand for the ports, a type with a counterpart (echo request and reply...) is
# paired with it so both directions agree, a type without one is hashed as sent.
ICMP_COUNTERPART = {
    1: {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17},
    58: {128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135,
         139: 140, 140: 139, 144: 145, 145: 144},
}
PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58}


def community_id(e):
    """The Community ID of an EVE event's flow, from its addresses, protocol and ports (or
    ICMP type and code)."""
    proto = PROTO_NUMBERS[e["proto"]]
    src, dst = (ipaddress.ip_address(e[k]).packed for k in ("src_ip", "dest_ip"))
    one_way = False
    if proto in ICMP_COUNTERPART:
        sport, dport = e["icmp_type"], e["icmp_code"]
        one_way = sport not in ICMP_COUNTERPART[proto]
        dport = dport if one_way else ICMP_COUNTERPART[proto][sport]
    else:
        sport, dport = e["src_port"], e["dest_port"]
    if not one_way and (src, sport) > (dst, dport):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack("!H", 0) + src + dst + struct.pack("!BxHH", proto, sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def _key(e):
    """Flow direction and sensor of an event or expectation (ICMP has no ports: None)."""
    return (e["dlp"]["sensor"] if "dlp" in e else e["sensor"], e["src_ip"], e.get("src_port"),
            e["dest_ip"], e.get("dest_port"))


def check_expected(run, expected, context=True):
    """Exactly one alert per expected (flow, direction, sensor) with the right fields, the
    right final count, and no other alert; every event's Community ID as computed here."""
    assert run.rc == 0, f"sluice exited {run.rc}: {run.err}"
    check_schema(run)
    check_no_leak(run, expected)
    for e in run.events:
        assert e["community_id"] == community_id(e), (community_id(e), e)
    alerts = {}
    for a in run.alerts:
        k = _key(a)
        assert k not in alerts, f"two alerts for one flow direction and sensor: {k}"
        alerts[k] = a
    updates = {_key(e): e for e in run.events if e["event_type"] == "flow"}
    for exp in expected:
        k = _key(exp)
        assert k in alerts, f"missing alert {k}; got {sorted(alerts, key=str)}"
        a = alerts.pop(k)
        assert a["direction"] == exp["direction"], (a["direction"], exp)
        assert a["proto"] == exp.get("proto", "TCP")
        if "icmp_type" in exp:  # ICMP: the sender's type and code, no ports, no app_proto
            assert a["icmp_type"] == exp["icmp_type"] and a["icmp_code"] == 0, a
            assert not {"src_port", "dest_port", "app_proto"} & a.keys(), a
        if "app_proto" in exp:
            assert a["app_proto"] == exp["app_proto"], (a["app_proto"], exp)
        if context and "context" in exp:
            assert a["dlp"]["context"] == exp["context"], (a["dlp"]["context"], exp)
        count = updates[k]["dlp"]["count"] if k in updates else a["dlp"]["count"]
        if "count" in exp:
            assert count == exp["count"], f"count {count} != {exp['count']} for {k}"
        assert a["dlp"]["evidence"], "empty evidence"
        assert a["community_id"].startswith("1:")
    assert not alerts, f"unexpected alerts: {sorted(alerts, key=str)}"


def run_tests(module_globals):
    tests = [(n, f) for n, f in sorted(module_globals.items())
             if n.startswith("test_") and callable(f)]
    only = sys.argv[1:]
    passed = failed = 0
    for name, fn in tests:
        if only and not any(o in name for o in only):
            continue
        try:
            fn()
            print(f"PASS {name}", flush=True)
            passed += 1
        except Exception:
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
