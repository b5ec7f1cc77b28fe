"""test_replay_oracle.py — replay oracle: what the live sensor recorded equals what replaying its capture yields.

The live daemon serves five loopback listeners (plain HTTP, HTTP behind the
PROXY protocol, DNS over UDP and TCP, TLS, SMTP) while tcpdump captures them.
curl (GET, POST, keep-alive with several URLs, HTTPS with SNI), `sinkd
loadgen` (keep-alive on the plain listener, one request per connection with
PROXY v2 headers on the other), dig (UDP, TCP, EDNS), openssl s_client and
swaks send traffic. Then:
  - `sinkd replay` of the capture, with the same config, yields the same
    events, field by field (source, request, family, status, transaction id,
    body digest, flags, the whole dns, smtp and email objects), as the live log;
  - the TLS ClientHellos give the same fingerprints (SNI, JA3, JA4, JA4_r,
    ALPN); the handshake itself cannot complete again from a capture (see
    docs/replay.md), so the replayed outcome is alert:20 and the HTTP inside
    is not seen;
  - tshark agrees: its HTTP requests on the plain listener (by URI), the
    PROXY v2 sources it decodes on the other (tshark 4.0 stops at the header),
    its DNS queries (by name, UDP and TCP) and its JA3 hashes.
"""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

DNS = {"a": ["192.0.2.10"], "aaaa": ["2001:db8::10"],
       "zones": [{"family": "rustock", "tag": "cc", "names": ["rustock-cc.test"]}]}
DIG = [["www.rustock-cc.test", "A"], ["rustock-cc.test", "AAAA"], ["rustock-cc.test", "NS"],
       ["not-seized.example", "A"], ["x.rustock-cc.test", "TXT", "+tcp"],
       ["rustock-cc.test", "SOA", "+tcp", "+keepopen"], ["www.rustock-cc.test", "A", "+dnssec"]]

# Two curl handshakes with a request each (tls + http events), one openssl s_client (tls).
TLS_EVENTS = 5

FAMILIES = [
    {"name": "rustock", "tag": "login", "match": {"method": "POST", "path": "/login.php"}},
    {"name": "generic", "match": {"path": {"prefix": "/gate"}}},
    {"name": "curl", "match": {"user_agent": {"prefix": "curl/"}}},
]


def key(e):
    """What must agree between the live event and the replayed one."""
    http = e.get("http", {})
    s = e.get("sinkhole", {})
    dns = json.dumps([e.get("dns"), e.get("smtp"), e.get("email")], sort_keys=True)
    return (e["event_type"], e["proto"], e["src_ip"], e["src_port"], e["dest_port"],
            e.get("tx_id"), http.get("http_method"), http.get("url"), http.get("hostname"),
            http.get("http_user_agent"), http.get("status"), s.get("family"), s.get("tag"),
            s.get("body_length"), s.get("body_sha256"), tuple(s.get("flags", [])),
            s.get("peer_ip"), s.get("listener"), dns)


# Only the dissectors the check needs: with all of them, a client's ephemeral port that
# happens to be some protocol's registered port (34980 is EtherCAT's) sends tshark astray.
TSHARK = ["tshark", "-n", "--disable-protocol", "ALL", "--enable-protocol",
          "frame,eth,sll,ip,ipv6,tcp,udp,http,dns,proxy", "-o", "tcp.try_heuristic_first:TRUE"]


def require(tool):
    if not shutil.which(tool):
        raise h.Skip(f"{tool} not installed")


def test_oracle():
    require("tcpdump")
    require("tshark")
    require("curl")
    require("dig")
    require("openssl")
    require("swaks")
    with h.Sinkd(listen=[{"name": "plain", "proto": "http"},
                         {"name": "proxied", "proto": "http", "proxy_protocol": True},
                         {"name": "dns", "proto": "dns"}, {"name": "tls", "proto": "tls"},
                         {"name": "mx", "proto": "smtp"}],
                 families=FAMILIES, config={"dns": DNS}) as d:
        p1, p2, p3, p4 = d.port("plain"), d.port("proxied"), d.port("dns"), d.port("tls")
        p5 = d.port("mx")
        cap = os.path.join(d.dir, "oracle.pcap")
        tcpdump = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "32768", "-n", "-s", "0",
             "-w", cap,
             f"tcp port {p1} or tcp port {p2} or port {p3} or tcp port {p4} or tcp port {p5}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # tcpdump says "listening on lo" once the capture runs.
            line = tcpdump.stderr.readline().decode(errors="replace")
            assert "listening" in line, line
            base = f"http://127.0.0.1:{p1}"
            curls = [
                ["curl", "-s", "-o", "/dev/null", f"{base}/gate.php?id=1"],
                ["curl", "-s", "-o", "/dev/null", "-A", "curl/7 oracle", "-d", "a=1&b=2",
                 f"{base}/login.php"],
                ["curl", "-s", "-o", "/dev/null", "-H", "Host: cnc.example", f"{base}/x",
                 f"{base}/y", f"{base}/gate/z"],
            ]
            for c in curls:
                subprocess.run(c, check=True, timeout=30)
            for name in ("seized-a.test", "b.seized-b.test"):
                subprocess.run(["curl", "-sk", "-o", "/dev/null", "--resolve",
                                f"{name}:{p4}:127.0.0.1", f"https://{name}:{p4}/gate.php"],
                               check=True, timeout=30)
            subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{p4}", "-servername",
                            "s-client.test", "-tls1_2"], input=b"", capture_output=True,
                           timeout=30)
            subprocess.run(["swaks", "--server", f"127.0.0.1:{p5}", "--to", "victim@example.org",
                            "--from", "spam@evil.test", "--header", "Subject: oracle",
                            "--body", "buy now"], check=True, capture_output=True, timeout=60)
            for q in DIG:  # UDP, and TCP for +tcp
                subprocess.run(["dig", "@127.0.0.1", "-p", str(p3), *q], check=True,
                               capture_output=True, timeout=30)
            for args in (["--target", f"127.0.0.1:{p1}", "--count", "300", "--mode",
                          "keepalive", "--requests-per-conn", "20", "--concurrency", "4", "--rate", "400"],
                         ["--target", f"127.0.0.1:{p2}", "--count", "200", "--mode", "close",
                          "--proxy-v2", "--concurrency", "4", "--profile", "generic", "--rate", "400"]):
                rc, out, err = h.sinkd_cmd("loadgen", *args, "--duration", "60", "--quiet",
                                           timeout=120)
                assert rc == 0, err
            live = d.wait_events(506 + len(DIG) + TLS_EVENTS, timeout=60)
            time.sleep(1.5)  # the last FINs into the capture
        finally:
            tcpdump.send_signal(signal.SIGINT)
            try:
                tcpdump.wait(timeout=20)
            except subprocess.TimeoutExpired:
                tcpdump.kill()
                tcpdump.wait()
            tail = tcpdump.stderr.read().decode(errors="replace")
        # A capture that lost packets cannot be an oracle: the test says so instead.
        assert re.search(r"^0 packets dropped by kernel", tail, re.M), tail
        d.stop()
        assert d.returncode == 0
        live = d.events()
        assert len(live) == 506 + len(DIG) + TLS_EVENTS, len(live)

        rc, out, err = h.sinkd_cmd("replay", "-c", d.config_path, "--no-progress", "--summary",
                                   "json", cap, timeout=120)
        assert rc == 0, err
        replayed = [json.loads(x) for x in out.splitlines() if x.strip()]
        summary = json.loads([x for x in err.splitlines() if x.startswith("{")][-1])
        # TLS apart (below): everything else must be equal, event for event.
        live_tls = [e for e in live if e["sinkhole"].get("listener") == "tls"]
        rep_tls = [e for e in replayed if e["sinkhole"].get("listener") == "tls"]
        lc = collections.Counter(key(e) for e in live if e not in live_tls)
        rcnt = collections.Counter(key(e) for e in replayed if e not in rep_tls)
        missing, extra = lc - rcnt, rcnt - lc
        assert not missing and not extra, (
            f"live {len(live)}, replayed {len(replayed)}\nonly live: {list(missing)[:5]}\n"
            f"only replayed: {list(extra)[:5]}\nsummary: {summary}")
        assert summary["gaps"] == 0 and summary["flows_unmatched"] == 0, summary
        # Replayed timestamps come from the capture: within a second of the live ones.
        lt = {key(e): e["timestamp"] for e in live}
        for e in replayed:
            if e in rep_tls:
                continue
            a = time.mktime(time.strptime(lt[key(e)][:19], "%Y-%m-%dT%H:%M:%S"))
            b = time.mktime(time.strptime(e["timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
            assert abs(a - b) <= 1, (lt[key(e)], e["timestamp"])

        # TLS: a capture cannot complete the handshake again (the session keys were the
        # live server's), but the ClientHello, and so every fingerprint, is replayed exactly.
        def hello(e):  # (the negotiated version is not the hello's: left out)
            t = e.get("tls", {})
            return (e["src_port"], t.get("sni"), json.dumps(t.get("ja3")), t.get("ja4"),
                    t.get("ja4_r"), json.dumps(t.get("client_alpns")))
        live_hellos = collections.Counter(hello(e) for e in live_tls if e["event_type"] == "tls")
        rep_hellos = collections.Counter(hello(e) for e in rep_tls)
        assert len(live_tls) == TLS_EVENTS and sum(live_hellos.values()) == 3, live_tls
        assert rep_hellos == live_hellos, (rep_hellos, live_hellos)
        assert all(e["tls"]["handshake"] == "alert:20" for e in rep_tls), rep_tls
        t = subprocess.run([*TSHARK, "-r", cap, "-d", f"tcp.port=={p4},tls", "--enable-protocol",
                            "tls", "-Y", "tls.handshake.type == 1", "-T", "fields", "-e",
                            "tcp.srcport", "-e", "tls.handshake.ja3"],
                           capture_output=True, text=True, timeout=300)
        assert t.returncode == 0, t.stderr
        theirs = sorted(tuple(x.split("\t")) for x in t.stdout.splitlines() if x)
        mine = sorted((str(e["src_port"]), e["tls"]["ja3"]["hash"]) for e in rep_tls)
        assert theirs == mine, (theirs, mine)

        # tshark's own count of HTTP requests on the plain listener.
        t = subprocess.run([*TSHARK, "-r", cap, "-d", f"tcp.port=={p1},http", "-Y",
                            f"http.request && tcp.dstport=={p1}", "-T", "fields", "-e",
                            "http.request.uri"], capture_output=True, text=True, timeout=300)
        assert t.returncode == 0, t.stderr
        uris = collections.Counter(t.stdout.split())
        mine = collections.Counter(e["http"]["url"] for e in replayed
                                   if e["sinkhole"].get("listener") == "plain")
        assert sum(uris.values()) == 305 and uris == mine, (sum(uris.values()), uris - mine,
                                                             mine - uris)
        # On the PROXY listener tshark 4.0 decodes the v2 headers but not the HTTP after
        # them: its announced sources must be exactly ours (one request per connection).
        t = subprocess.run([*TSHARK, "-r", cap, "-Y", f"proxy.v2.magic && tcp.dstport=={p2}",
                            "-T", "fields", "-e", "proxy.src.ipv4", "-e", "proxy.srcport"],
                           capture_output=True, text=True, timeout=300)
        assert t.returncode == 0, t.stderr
        srcs = collections.Counter(tuple(x.split("\t")) for x in t.stdout.splitlines() if x)
        mine = collections.Counter((e["src_ip"], str(e["src_port"])) for e in replayed
                                   if e["sinkhole"].get("listener") == "proxied")
        assert sum(srcs.values()) == 200 and srcs == mine, (sum(srcs.values()), srcs - mine)
        # tshark's DNS queries (UDP and TCP) and their names.
        t = subprocess.run([*TSHARK, "-r", cap, "-d", f"tcp.port=={p3},dns", "-d",
                            f"udp.port=={p3},dns", "-Y", "dns.flags.response == 0", "-T",
                            "fields", "-e", "dns.qry.name"], capture_output=True, text=True,
                           timeout=300)
        assert t.returncode == 0, t.stderr
        names = collections.Counter(t.stdout.split())
        dns_events = [e for e in replayed if e["event_type"] == "dns"]
        assert len(dns_events) == len(DIG), dns_events
        for q in DIG:
            assert names[q[0]] >= 1, (q, names)
        assert sum(names.values()) == len(DIG), names
        assert sum(1 for e in dns_events if e["proto"] == "TCP") == 2, dns_events

if __name__ == "__main__":
    h.run([test_oracle], per_test_timeout=400)
