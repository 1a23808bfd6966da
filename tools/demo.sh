#!/bin/sh
# Installs what is missing, builds, generates a sample capture (HTTP and raw-TCP flows with
# generated personal data) and runs sluice's main job on it: inspect, report, print the alerts.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh >/dev/null
mkdir -p out
/usr/bin/python3 tools/sluice_gen.py mixed --flows 200 --size 20 --seed 7 \
	--out out/sample.pcap --expect out/sample.expected.json >/dev/null
rm -f out/sample.events.json
./build/app/sluice/sluice --pcap out/sample.pcap --events out/sample.events.json \
	--set events.key_file=out/evidence.key
echo
echo "first alerts (masked evidence; the full EVE lines are in out/sample.events.json):"
/usr/bin/python3 - <<'PY'
import json
n = 0
for line in open("out/sample.events.json"):
    e = json.loads(line)
    if e["event_type"] != "alert":
        continue
    d = e["dlp"]
    print(f'  {e["src_ip"]}:{e["src_port"]} -> {e["dest_ip"]}:{e["dest_port"]} '
          f'{e["app_proto"]:6} {d["sensor"]:12} {d["context"]:6} {d["evidence"]:24} {d["action"]}')
    n += 1
    if n == 12:
        break
PY
