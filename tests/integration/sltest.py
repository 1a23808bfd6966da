"""Helpers shared by sluice's integration tests: run the real binary, read its events, check
them against the generator's expectations and the EVE schema, and prove that no raw value
leaked into any output.

Tests are plain functions named test_*; run_tests() runs them and prints "N passed, N failed"."""
import atexit
import json
import os
import re
import shutil
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


def _key(e):
    return (e["dlp"]["sensor"], e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])


def check_expected(run, expected, context=True):
    """Exactly one alert per expected (flow, direction, sensor) with the right fields, the
    right final count, and no other alert."""
    assert run.rc == 0, f"sluice exited {run.rc}: {run.err}"
    check_schema(run)
    check_no_leak(run, expected)
    alerts = {}
    for a in run.alerts:
        k = _key(a)
        assert k not in alerts, f"two alerts for one flow direction and sensor: {k}"
        alerts[k] = a
    updates = {_key(e): e for e in run.events if e["event_type"] == "flow"}
    for exp in expected:
        k = (exp["sensor"], exp["src_ip"], exp["src_port"], exp["dest_ip"], exp["dest_port"])
        assert k in alerts, f"missing alert {k}; got {sorted(alerts)}"
        a = alerts.pop(k)
        assert a["direction"] == exp["direction"], (a["direction"], exp)
        assert a["proto"] == exp.get("proto", "TCP")
        if "app_proto" in exp:
            assert a["app_proto"] == exp["app_proto"], (a["app_proto"], exp)
        if context and "context" in exp:
            assert a["dlp"]["context"] == exp["context"], (a["dlp"]["context"], exp)
        count = updates[k]["dlp"]["count"] if k in updates else a["dlp"]["count"]
        if "count" in exp:
            assert count == exp["count"], f"count {count} != {exp['count']} for {k}"
        assert a["dlp"]["evidence"], "empty evidence"
        assert a["community_id"].startswith("1:")
    assert not alerts, f"unexpected alerts: {sorted(alerts)}"


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
