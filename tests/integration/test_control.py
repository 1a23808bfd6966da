#!/usr/bin/python3
"""The management plane against a running daemon (issue 6): the real socket, sluicectl, hot
sensor updates while traffic flows, hostile clients, and access control."""
import grp
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sltest import BUILD, KEY, SLUICE, WORK, gen, run_tests  # noqa: E402

CTL = os.path.join(BUILD, "app", "sluicectl", "sluicectl")


class Daemon:
    """sluice replaying a capture in a loop, with its control socket under WORK. Events go to
    /dev/null unless asked: a loop writes them at hundreds of MB/s, and the tests read them over
    the socket."""

    def __init__(self, pcap, *args, events=os.devnull):
        self.sock = os.path.join(WORK, f"ctl-{time.time_ns()}.sock")
        self.events = events
        self.err = open(os.path.join(WORK, f"err-{time.time_ns()}.txt"), "w+")
        self.p = subprocess.Popen([SLUICE, "--pcap", pcap, "--loop", "--socket", self.sock,
                                   "--events", self.events, "--set", f"events.key_file={KEY}",
                                   *args], stdout=subprocess.PIPE, stderr=self.err, text=True)
        for _ in range(400):
            if "ready" in self.stderr():
                break
            assert self.p.poll() is None, self.stderr()
            time.sleep(0.05)
        time.sleep(0.3)

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def ctl(self, *args, check=True):
        p = subprocess.run([CTL, "-s", self.sock, "--json", "-t", "60", *args], capture_output=True,
                           text=True, timeout=90)
        if check:
            assert p.returncode == 0, \
                f"sluicectl {args}: {p.returncode} {p.stderr}; daemon said: {self.stderr()[-2000:]}"
            return json.loads(p.stdout) if p.stdout.strip() else None
        return p

    def request(self, obj):
        """One raw request on a fresh connection; returns the parsed reply."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.sock)
            s.sendall((json.dumps(obj) + "\n").encode())
            return json.loads(s.makefile().readline())

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.out, _ = self.p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()  # never leave a spinning daemon behind
            self.out, _ = self.p.communicate()
            raise
        return self.p.returncode


def stats_totals(d):
    st = d.ctl("stats")
    w = st["workers"]
    return {"rx": sum(p["rx"] for p in st["ports"]),
            "packets": sum(x["packets"] for x in w),
            "ring_drops": sum(x["ring_full_drops"] for x in w),
            "matches": sum(x["matches"] for x in w),
            "sensors": {s["name"]: s["hits"] for s in st["sensors"]}}


PCAP = None


def capture():
    global PCAP
    if PCAP is None:
        PCAP, _ = gen("mixed", "--flows", "60", "--size", "4")
    return PCAP


def test_every_command_through_sluicectl():
    d = Daemon(capture())
    try:
        assert d.ctl("version")["version"]
        st = d.ctl("status")
        assert st["workers"] == 1 and st["ports"][0]["role"] == "mirror", st
        assert {s["name"] for s in d.ctl("sensors")} >= {"fr_ssn", "us_ssn", "credit_card"}
        assert d.ctl("sensors.get", "name=fr_ssn")["validator"] == "nir"
        stats = d.ctl("stats")
        assert stats["workers"][0]["packets"] > 0
        assert stats["events"]["written"] > 0 and stats["events"]["write_failed"] == 0, stats
        assert d.ctl("policies")["mode"] == "monitor"
        assert d.ctl("mode.set", "mode=protect")["mode"] == "protect"
        assert d.ctl("policies.set", "mode=monitor", "rules:=[]")["mode"] == "monitor"
        time.sleep(1)
        tail = d.ctl("events", "n=5")
        assert 0 < len(tail) <= 5 and all("dlp" in e for e in tail), tail
        nir = d.ctl("events", "n=3", "sensor=fr_ssn")
        assert nir and all(e["dlp"]["sensor"] == "fr_ssn" for e in nir)
        flows = d.ctl("flows", "n=3")
        assert 0 < len(flows) <= 3 and flows[0]["bytes_toserver"] + flows[0]["bytes_toclient"] > 0
        assert all(f["proto"] in ("TCP", "UDP") and "src_port" in f for f in flows), flows
        assert d.ctl("config.reload")["sensors"] >= 3
        assert d.ctl("log.level", "level=info")["level"] == "info"
        # events -f streams events as they are written
        p = d.ctl("events", "-f", "-n", "3", check=False)
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        assert p.returncode == 0 and len(lines) == 3, (p.returncode, p.stderr)
        assert all(json.loads(l)["event_type"] in ("alert", "flow") for l in lines)
        # human output renders tables
        human = subprocess.run([CTL, "-s", d.sock, "sensors"], capture_output=True, text=True)
        assert re.search(r"NAME\s+VALIDATOR", human.stdout), human.stdout
        assert d.ctl("shutdown")["stopping"] is True
        assert d.p.wait(timeout=30) == 0
    finally:
        d.stop()


def test_icmp_events_render_without_ports():
    """ICMP events have no ports and no app_proto: `sluicectl events` shows the addresses, the
    protocol and the ICMP type instead of ':0'; `sluicectl flows` the protocol and the echo
    identifier instead of ports."""
    pcap, _ = gen("icmp")
    d = Daemon(pcap)
    try:
        time.sleep(1)
        p = subprocess.run([CTL, "-s", d.sock, "events", "n=20"], capture_output=True,
                           text=True, timeout=30)
        flows = d.ctl("flows", "n=20")
    finally:
        d.stop()
    pings = [f for f in flows if f["proto"] in ("ICMP", "IPv6-ICMP")]
    assert {f["proto"] for f in pings} == {"ICMP", "IPv6-ICMP"}, flows
    assert all("icmp_id" in f and "src_port" not in f for f in pings), pings
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    assert p.returncode == 0 and lines, p.stdout + p.stderr
    for l in lines:
        assert re.search(r" [0-9a-f.:]+ -> [0-9a-f.:]+  (ICMP|IPv6-ICMP) type (0|8|128|129)  raw=",
                         l), l


def test_flows_name_the_application():
    """`sluicectl flows` says smtp for a mail session, as its events do (it said http: the
    session goes through the HTTP parser's MIME stages)."""
    pcap, _ = gen("smtp")
    d = Daemon(pcap)
    try:
        time.sleep(1)
        flows = d.ctl("flows", "n=10")
    finally:
        d.stop()
    assert flows and {f["app_proto"] for f in flows} == {"smtp"}, flows


def test_top_and_dpdk_telemetry():
    d = Daemon(capture())
    try:
        p = subprocess.run([CTL, "-s", d.sock, "-n", "2", "-i", "0.5", "top"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and re.search(r"WORKER\s+PPS", p.stdout), p.stdout + p.stderr
        # the same counters through DPDK's standard telemetry client
        p = subprocess.run(["dpdk-telemetry.py", "-f", f"sluice-{d.p.pid}"],
                           input="/sluice/stats\n/sluice/sensors\n", capture_output=True,
                           text=True, timeout=30)
        replies = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
        stats = [r["/sluice/stats"] for r in replies if "/sluice/stats" in r]
        sensors = [r["/sluice/sensors"] for r in replies if "/sluice/sensors" in r]
        assert stats and sensors, (p.returncode, p.stdout, p.stderr)
        stats, sensors = stats[0], sensors[0]
        assert stats["packets"] > 0 and stats["workers"] == 1, stats
        assert "fr_ssn" in sensors, sensors
    finally:
        d.stop()


def test_errors_and_exit_codes():
    d = Daemon(capture())
    try:
        p = d.ctl("sensors.get", "name=nope", check=False)
        assert p.returncode == 1 and "not_found" in p.stderr
        p = d.ctl("sensors.add", "name=bad", "pattern=(ab", check=False)
        assert p.returncode == 1 and "compile_error" in p.stderr
        p = d.ctl("frobnicate", check=False)
        assert p.returncode == 1 and "unknown_command" in p.stderr
        p = subprocess.run([CTL, "-s", os.path.join(WORK, "nothing.sock"), "status"],
                           capture_output=True, text=True)
        assert p.returncode == 3 and "not running" in p.stderr, p.stderr
    finally:
        d.stop()


def test_events_lost_to_a_full_disk_are_reported():
    d = Daemon(capture(), events="/dev/full")
    try:
        time.sleep(1)
        ev = d.ctl("stats")["events"]
        assert ev["written"] == 0 and ev["write_failed"] > 0, ev
        assert ev["write_error"] == "No space left on device", ev
        assert d.ctl("events", "n=2"), "the tail still shows what could not be written"
        assert "cannot write to '/dev/full'" in d.stderr()
    finally:
        rc = d.stop()
    assert rc == 1, rc
    assert "events could not be written to '/dev/full'" in d.stderr(), d.stderr()


def test_sighup_reopens_the_events_file():
    """logrotate moves the file away and sends SIGHUP: sluice writes to a new file at the path,
    and the moved one ends with whole lines."""
    path = os.path.join(WORK, f"rotate-{time.time_ns()}.json")
    d = Daemon(capture(), "--set", "flow.capacity=64", events=path)
    try:
        time.sleep(0.5)
        os.rename(path, path + ".1")
        d.p.send_signal(signal.SIGHUP)
        for _ in range(100):
            if os.path.exists(path) and os.path.getsize(path) > 0:
                break
            time.sleep(0.05)
        assert os.path.exists(path) and os.path.getsize(path) > 0, d.stderr()
        assert "reopened" in d.stderr(), d.stderr()
        assert d.p.poll() is None
    finally:
        d.stop()
    for f in (path + ".1", path):
        text = open(f).read()
        assert text.endswith("\n") and all(json.loads(l) for l in text.splitlines()), f
        os.unlink(f)


def test_hot_updates_while_traffic_flows():
    """100 sensor changes under traffic: no crash, nothing lost uncounted, matches of the
    sensors in force reported, a sensor added at run time fires on the next flows."""
    d = Daemon(capture())
    try:
        for i in range(100):
            kind = i % 3
            if kind == 0:
                d.ctl("sensors.add", "name=hot", f"pattern=Host: app[.]example[.]net{'' if i % 2 else '$'}",
                      "contexts=header", "contexts=raw")
            elif kind == 1:
                d.ctl("sensors.update", "name=hot", "severity=3")
            else:
                d.ctl("sensors.delete", "name=hot")
        d.ctl("sensors.add", "name=runtime_host", "pattern=app[.]example[.]net",
              "contexts=header")
        deadline = time.time() + 20
        fired = []
        while time.time() < deadline and not fired:
            time.sleep(0.5)
            fired = d.ctl("events", "n=50", "sensor=runtime_host")
        assert fired, "a sensor added at run time never fired"
        t = stats_totals(d)
        assert t["sensors"].get("runtime_host", 0) > 0 and t["sensors"]["fr_ssn"] > 0, t
        st = d.ctl("stats")
        assert st["workers"][0]["ruleset_switches"] >= 100
        assert d.p.poll() is None, "daemon died"
    finally:
        rc = d.stop()
    assert rc == 0, d.stderr()
    # every frame received was inspected or counted as dropped
    m = re.search(r"(\d+) packets.* (\d+) dropped \(workers too slow\)", d.out)
    assert m, d.out
    port = re.search(r"port pcap0: rx (\d+)", d.out)
    assert port and int(port.group(1)) == int(m.group(1)) + int(m.group(2)), d.out


def test_hostile_clients_do_not_disturb():
    d = Daemon(capture())
    try:
        before = stats_totals(d)["packets"]
        idle = socket.socket(socket.AF_UNIX)
        idle.connect(d.sock)  # connects and sends nothing
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(d.sock)
            f = s.makefile()
            s.sendall(b"{not json\n")
            r = json.loads(f.readline())
            assert not r["ok"] and r["error"]["code"] == "bad_json"
            s.sendall(b'{"id": 7, "cmd": "nope"}\n')
            r = json.loads(f.readline())
            assert r["id"] == 7 and r["error"]["code"] == "unknown_command"
            s.sendall(b'{"id": 8, "cmd": "sensors.get", "args": {"name": 42}}\n')
            r = json.loads(f.readline())
            assert r["error"]["code"] == "bad_args"
            s.sendall(b'{"id": 9, "cmd": "events.tail", "args": {"n": "many"}}\n')
            assert json.loads(f.readline())["error"]["code"] == "bad_args"
            s.sendall(b"x" * (10 << 20) + b"\n")
            r = json.loads(f.readline())
            assert r["error"]["code"] == "line_too_long"
            s.sendall(b'{"id": 10, "cmd": "version"}\n')
            assert json.loads(f.readline())["ok"]
        # disconnect before reading a large reply
        for _ in range(5):
            s = socket.socket(socket.AF_UNIX)
            s.connect(d.sock)
            s.sendall(b'{"id": 1, "cmd": "stats"}\n{"id": 2, "cmd": "events.tail", '
                      b'"args": {"n": 1000}}\n')
            s.close()
        # 50 clients at once
        errors = []

        def client(i):
            try:
                r = d.request({"id": i, "cmd": "status"})
                if not r["ok"] or r["id"] != i:
                    errors.append(r)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        idle.close()
        time.sleep(0.5)
        after = stats_totals(d)["packets"]
        assert after > before, "data path stalled"
        assert d.p.poll() is None
    finally:
        d.stop()


def test_user_not_root_nor_in_group_is_refused():
    user = "sluicetest"
    if subprocess.run(["id", user], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                       check=True, capture_output=True)
    try:
        grp_name = "sluicectl"
        if subprocess.run(["getent", "group", grp_name], capture_output=True).returncode != 0:
            subprocess.run(["groupadd", grp_name], check=True, capture_output=True)
        d = Daemon(capture(), "--set", f"control.group={grp_name}")
        try:
            os.chmod(WORK, 0o755)  # the user must reach the socket file to be refused by it
            uid = pwd.getpwnam(user).pw_uid
            p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                                CTL, "-s", d.sock, "status"], capture_output=True, text=True)
            assert p.returncode == 4 and "denied" in p.stderr.lower(), (p.returncode, p.stderr)
            gid = grp.getgrnam(grp_name).gr_gid
            p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}",
                                f"--groups={gid}", CTL, "-s", d.sock, "status"],
                               capture_output=True, text=True)
            assert p.returncode == 0, (p.returncode, p.stderr)
        finally:
            d.stop()
    finally:
        subprocess.run(["userdel", user], capture_output=True)


if __name__ == "__main__":
    run_tests(globals())
