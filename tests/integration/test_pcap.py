#!/usr/bin/python3
"""End-to-end tests of `sluice --pcap`: generated captures in, EVE events out (issue 2)."""
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sltest import (BUILD, ROOT, WORK, check_expected, check_no_leak, check_schema,  # noqa
                    gen, run_tests, sluice, SLUICE)


def scenario(name, *args, **kw):
    pcap, expected = gen(name, *args)
    run = sluice(pcap=pcap)
    check_expected(run, expected, **kw)
    return run, expected


def test_one_segment():
    run, expected = scenario("one_segment")
    assert len(expected) >= 1
    assert re.search(r"\d+ packets, \d+ bytes, \d+ flows, \d+ events", run.out), run.out


def test_split_across_two_segments():
    scenario("split2")


def test_one_byte_per_segment():
    scenario("byte_per_segment")


def test_reversed_segment_order():
    scenario("reversed")


def test_duplicated_segments():
    scenario("duplicated")


def test_midstream_pickup():
    scenario("midstream")


def test_value_5mb_into_flow():
    scenario("deep")


def test_vlan():
    run, _ = scenario("vlan")
    assert all(a.get("vlan") == [100] for a in run.alerts)


def test_qinq():
    run, _ = scenario("qinq")
    assert all(a.get("vlan") == [200, 300] for a in run.alerts)


def test_ipv6():
    run, _ = scenario("ipv6")
    assert all(":" in a["src_ip"] for a in run.alerts)


def test_ip_fragments_reassembled():
    run, expected = scenario("ip_fragments")
    assert len(expected) >= 4


def test_http_on_non_standard_port():
    scenario("http_port")


def test_udp_datagrams():
    """Syslog, a beacon answered over IPv6, VLAN flows whose datagrams come whole and in IP
    fragments: UDP events; a value cut across two datagrams and DNS raise nothing. Two workers
    give the same events: a flow's fragments reach the worker its whole datagrams do."""
    run, expected = scenario("udp")
    assert {e["proto"] for e in expected} == {"UDP"} and len(expected) == 5
    pcap, _ = gen("udp")
    check_expected(sluice("--workers", "2", pcap=pcap), expected)


def test_icmp_ping_tunnels():
    """Ping tunnels: echo requests carrying a NIR and a card and a reply carrying a NIR (IPv4),
    `ping -p` with a NIR over IPv6 (replies echoing it, count 6 each way), a fragmented 3 KB echo
    request in a VLAN: ICMP events with the sender's icmp_type, no ports, the Community ID of the
    specification (checked by check_expected), one per session both ways. Clean pings, a value
    cut across two messages and a port unreachable quoting a NIR raise nothing; the error is
    counted undecodable (icmp_other). Two workers give the same events (both directions of a
    session on one worker); with inspection.icmp off, nothing."""
    pcap, expected = gen("icmp")
    run = sluice(pcap=pcap)
    check_expected(run, expected)
    assert {e["proto"] for e in expected} == {"ICMP", "IPv6-ICMP"} and len(expected) == 6
    assert re.search(r"\b1 undecodable packets", run.out), run.out
    assert re.search(r"1 datagrams reassembled", run.out), run.out
    ids = {}
    for e in run.events:
        ids.setdefault(frozenset((e["src_ip"], e["dest_ip"])), set()).add(e["community_id"])
    assert len(ids) == 3 and all(len(v) == 1 for v in ids.values()), ids
    check_expected(sluice("--workers", "2", pcap=pcap), expected)
    off = sluice("--set", "inspection.icmp=false", pcap=pcap)
    assert off.rc == 0 and off.alerts == [], off.alerts


def test_raw_tcp_c2_channel():
    run, expected = scenario("c2_raw")
    assert {e["sensor"] for e in expected} >= {"fr_ssn"}
    assert all(a["app_proto"] == "failed" for a in run.alerts)


def test_response_direction():
    run, _ = scenario("response")
    assert all(a["direction"] == "to_client" for a in run.alerts)


def test_negatives_raise_nothing():
    run, expected = scenario("negatives")
    assert expected == [] and run.alerts == [], run.alerts


def test_depth_setting_limits_inspection():
    pcap, expected = gen("deep")
    run = sluice("--set", "inspection.depth=1048576", pcap=pcap)
    assert run.rc == 0 and run.alerts == [], run.alerts


def test_mixed_flows_two_workers_same_result():
    """Both directions of every flow reach the same worker: with two workers the flow count
    and the events are exactly those of one worker."""
    pcap, expected = gen("mixed", "--flows", "300", "--size", "20")
    one = sluice(pcap=pcap)
    two = sluice("--workers", "2", pcap=pcap)
    check_expected(one, expected, context=False)
    check_expected(two, expected, context=False)
    flows = [int(re.search(r"(\d+) flows", r.out).group(1)) for r in (one, two)]
    assert flows[0] == flows[1], f"flow counts differ: 1 worker {flows[0]}, 2 workers {flows[1]}"


def test_event_times_are_the_capture_times():
    """Reading a capture, events carry the time the traffic was captured, as Suricata's do: the
    frames are moved to 2025-03-01 12:00 UTC, one every 10 ms, and every event time (alerts at
    the frame that completed the match, flow records at the flow's last frame) must fall among
    the frames' times, to the microsecond."""
    import calendar
    import datetime
    import struct
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from sluice_gen import PcapWriter

    src, expected = gen("mixed", "--flows", "20", "--size", "1", seed=7)
    dst = os.path.join(WORK, "moved-in-time.pcap")
    base = calendar.timegm((2025, 3, 1, 12, 0, 0))
    w = PcapWriter(dst, start=base)  # the generator's own classic-pcap writer
    times = []
    with open(src, "rb") as f:
        f.read(24)  # the generator writes classic little-endian pcap: skip its file header
        while len(rec := f.read(16)) == 16:
            w.write(f.read(struct.unpack("<IIII", rec)[2]), gap_us=10_000)
            times.append(w.t_us)
    w.close()
    run = sluice(pcap=dst)
    check_expected(run, expected, context=False)
    seen = set(times)
    for e in run.events:
        t = datetime.datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        assert round(t * 1e6) in seen, (e["timestamp"], e["event_type"])
    starts = [e["flow"]["start"] for e in run.events if e["event_type"] == "flow"]
    assert starts and all(s.startswith("2025-03-01T12:") for s in starts), starts


def test_benchmark_prints_rates_and_ratios():
    """The README's benchmark command runs and prints what the Performance table quotes: the
    pipeline's rate, the scan limit and their ratio, the raw-only comparison, and packets per
    second for frames with nothing to scan. Rates are not asserted (timed tests are not)."""
    bench = os.path.join(BUILD, "tools", "sl_bench")
    pcap, _ = gen("mixed", "--flows", "40", "--size", "2")
    p = subprocess.run([bench, "--seconds", "0.2", "--compare-raw", pcap],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for pat in (r"pipeline +[0-9.]+ Gbit/s wire +[0-9.]+ Gbit/s payload +[0-9.]+ Mpps",
                r"hyperscan +[0-9.]+ Gbit/s payload \(scan limit",
                r"ratio pipeline/scan-limit = [0-9.]+", r"ratio with-HTTP/raw-only = [0-9.]+",
                r"ratio raw-only/scan-limit = [0-9.]+", r"per pass: .* [1-9][0-9]* alerts"):
        assert re.search(pat, p.stdout), (pat, p.stdout)
    small, _ = gen("small", "--packets", "20000")
    p = subprocess.run([bench, "--seconds", "0.2", "--label", "small64", small],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and re.search(r"small64: pipeline .* [0-9.]+ Mpps", p.stdout), \
        p.stdout + p.stderr
    assert "scan limit" not in p.stdout, p.stdout  # nothing to scan: no ratio to print


def relink(src, dst, linktype, header):
    """Copies the Ethernet capture src to dst with link type `linktype`, each frame's Ethernet
    header replaced by header(frame) (the way tcpdump -i any, a tunnel or loopback write)."""
    data = open(src, "rb").read()
    out = [data[:20] + struct.pack("<I", linktype)]
    off = 24
    while off + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + caplen]
        new = header(frame) + frame[14:]
        out.append(struct.pack("<IIII", sec, usec, len(new), len(new)) + new)
        off += 16 + caplen
    open(dst, "wb").write(b"".join(out))


def test_linux_cooked_raw_ip_and_loopback_captures():
    """`tcpdump -i any` (Linux cooked v1 and v2), raw IP and BSD loopback captures give the
    events of the same packets captured on Ethernet; a link type without IP is refused."""
    sll = lambda f: struct.pack("!HHH8s", 4, 1, 6, f[6:12] + b"\0\0") + f[12:14]
    sll2 = lambda f: f[12:14] + struct.pack("!HIHBB8s", 0, 2, 1, 4, 6, f[6:12] + b"\0\0")
    null = lambda f: struct.pack("<I", 2 if f[12:14] == b"\x08\x00" else 24)
    for name in ("one_segment", "ipv6", "c2_raw"):
        pcap, expected = gen(name)
        for linktype, header in ((113, sll), (276, sll2), (101, lambda f: b""), (0, null)):
            other = f"{pcap}.{linktype}.pcap"
            relink(pcap, other, linktype, header)
            run = sluice(pcap=other)
            assert run.rc == 0, (name, linktype, run.err)
            check_expected(run, expected)
            assert not [f for f in os.listdir(os.environ.get("TMPDIR", "/tmp"))
                        if f.startswith("sluice-capture-")], "the rewritten copy is left behind"
    relink(pcap, pcap + ".wifi", 105, lambda f: b"")
    run = sluice(pcap=pcap + ".wifi")
    assert run.rc != 0 and "link type IEEE802_11" in run.err, run.err


def test_bad_config_is_refused():
    bad = os.path.join(WORK, "bad.conf")
    open(bad, "w").write("flow = { capacity = ; };\n")
    p = subprocess.run([SLUICE, "-c", bad, "--pcap", "/dev/null"], capture_output=True, text=True)
    assert p.returncode != 0 and f"{bad}:1:" in p.stderr, p.stderr


def test_bad_regex_is_refused_with_sensor_name():
    bad = os.path.join(WORK, "badre.conf")
    open(bad, "w").write('sensors = ( { name = "broken_one"; patterns = ["(ab"]; } );\n')
    pcap, _ = gen("one_segment")
    p = subprocess.run([SLUICE, "-c", bad, "--pcap", pcap], capture_output=True, text=True)
    assert p.returncode != 0 and "broken_one" in p.stderr, p.stderr


def test_unreadable_capture_is_refused():
    for path in ("/nonexistent.pcap", os.path.join(WORK, "garbage.pcap")):
        if "garbage" in path:
            open(path, "wb").write(b"this is not a capture file at all" * 10)
        p = subprocess.run([SLUICE, "--pcap", path], capture_output=True, text=True)
        assert p.returncode != 0 and "cannot read capture" in p.stderr, p.stderr


def test_events_lost_to_a_full_disk_are_reported():
    """Alerts that cannot be written (/dev/full: no space left) are counted, said, and fail the
    run: a script reading an empty events file must not conclude that nothing matched."""
    pcap, expected = gen("mixed", "--flows", "30", "--size", "1")
    run = sluice(pcap=pcap, events="/dev/full")
    assert run.rc == 1, (run.rc, run.err)
    m = re.search(r"(\d+) events could not be written to '/dev/full': No space left on device",
                  run.err)
    assert m and int(m.group(1)) >= len(expected), run.err
    m = re.search(r"(\d+) events \((\d+) lost to a full ring, (\d+) to failed writes\)", run.out)
    assert m and m.group(3) == m.group(1) != "0", run.out
    assert "cannot write to '/dev/full'" in run.err, run.err  # said when it starts, not only at exit


def test_unknown_option_is_refused():
    p = subprocess.run([SLUICE, "--frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr


if __name__ == "__main__":
    run_tests(globals())
