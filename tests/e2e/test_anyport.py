"""test_anyport.py — any-port capture end to end, inside network namespaces this test creates.

Two namespaces joined by a veth pair: the sinkhole side runs sinkd with one
raw any-port listener (one worker, so one socket) and an HTTP listener on
port 80, and gets the nftables rules `sinkd firewall print` writes; the
client side connects to 50 random ports of the sinkhole address. Nothing is
changed outside the two namespaces, and both are deleted at the end, also
when the test fails. Needs root, ip and nft; skipped otherwise.
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

TAG = f"{os.getpid() % 100000}"
NS_SRV = f"sinkd-srv-{TAG}"
NS_CLI = f"sinkd-cli-{TAG}"
VETH_SRV, VETH_CLI = f"skr{TAG}s", f"skr{TAG}c"
NET = 10 + os.getpid() % 200
SRV_IP, CLI_IP = f"10.231.{NET}.1", f"10.231.{NET}.2"
SRV_IP6, CLI_IP6 = f"fd00:231:{NET}::1", f"fd00:231:{NET}::2"
RAW_PORT = 10000  # inside our own namespace nothing else listens

CLIENT = r'''
import json, socket, sys
host = sys.argv[1]
ports = [int(p) for p in sys.argv[2].split(",")]
http_port = int(sys.argv[3])
out = {"raw": {}, "http": None}


def exchange(port, data, shut):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    s.close()
    return got.decode("latin-1")


for p in ports:
    out["raw"][p] = exchange(p, b"probe-%d\x00\x01\x02" % p, True)
udp = [int(p) for p in sys.argv[4].split(",")] if len(sys.argv) > 4 else []
for p in udp:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"udp-probe-%d" % p, (host, p))
    u.close()
out["http"] = exchange(http_port, b"GET /anyport/check.php?id=7 HTTP/1.1\r\n"
                       b"Host: cnc.example\r\nConnection: close\r\n\r\n", False)
print(json.dumps(out))
'''


def sh(*args, check=True, input=None, timeout=30):
    p = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}: {p.stderr.strip()[:500]}")
    return p


def netns_down():
    for ns in (NS_SRV, NS_CLI):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def netns_up():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"):
        raise h.Skip("needs root, ip and nft")
    netns_down()
    if subprocess.run(["ip", "netns", "add", NS_SRV], capture_output=True).returncode != 0:
        raise h.Skip("cannot create network namespaces here")
    sh("ip", "netns", "add", NS_CLI)
    sh("ip", "link", "add", VETH_SRV, "netns", NS_SRV, "type", "veth", "peer", "name", VETH_CLI,
       "netns", NS_CLI)
    for ns, dev, ip, ip6 in ((NS_SRV, VETH_SRV, SRV_IP, SRV_IP6),
                             (NS_CLI, VETH_CLI, CLI_IP, CLI_IP6)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "addr", "add", f"{ip6}/64", "dev", dev, "nodad")
        sh("ip", "-n", ns, "link", "set", dev, "up")


class NsSinkd(h.Sinkd):
    """sinkd started inside NS_SRV; ready when its log says so."""

    def start(self, timeout=h.START_TIMEOUT):
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", NS_SRV, h.SINKD, "serve", "-c", self.config_path],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=self.dir)
        finally:
            err.close()
        h._running.append(self)
        self.pid = self.proc.pid
        h.wait_until(lambda: self.proc.poll() is not None or " ready:" in self.log_text(),
                     timeout=timeout, what="sinkd ready in the namespace")
        if self.proc.poll() is not None:
            raise h.SinkdError(f"sinkd exited {self.proc.poll()}\n{self.log_tail()}")
        return self


def run_anyport(redirect):
    netns_up()
    try:
        if redirect == "tproxy":
            # TPROXY delivers marked packets through a local route (the script prints these).
            sh("ip", "-n", NS_SRV, "rule", "add", "fwmark", "0x5d", "lookup", "100")
            sh("ip", "-n", NS_SRV, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
        yaml_text = f"""
sensor: {{ id: e2e }}
log: {{ dir: "$log_dir", fsync: interval, fsync_interval_ms: 20 }}
workers: 1
listen:
  - {{ proto: http, addr: "{SRV_IP}:80", name: web }}
  - proto: raw
    name: anyport
    addr: "0.0.0.0:{RAW_PORT}"
    ports: all
    seized: [ "{SRV_IP}" ]
    redirect: {redirect}
    raw: {{ timeout_ms: 2000 }}
families:
  - name: probe
    match: {{ proto: raw, payload: {{ prefix: "probe-" }}, dst_port: "1024-65535" }}
  - name: lowprobe
    match: {{ proto: raw, payload: {{ prefix: "probe-" }} }}
"""
        with NsSinkd(yaml_text=yaml_text, start=False) as d:
            rc, script, err = h.sinkd_cmd("firewall", "print", "-c", d.config_path)
            assert rc == 0, f"firewall print exited {rc}: {err}"
            rule = f"ip daddr {SRV_IP} tcp dport {{ 1-65535 }} tcp dport != {{ 80 }}"
            rule += f" redirect to :{RAW_PORT}" if redirect == "nat" else \
                f" tproxy ip to :{RAW_PORT} meta mark set 0x5d accept"
            assert rule in script, script
            sh("ip", "netns", "exec", NS_SRV, "nft", "-f", "-", input=script)
            d.start()
            # Only the two configured sockets listen in the namespace.
            ss = sh("ip", "netns", "exec", NS_SRV, "ss", "-Htln").stdout
            listening = sorted(line.split()[3] for line in ss.splitlines() if line.strip())
            assert listening == sorted([f"{SRV_IP}:80", f"0.0.0.0:{RAW_PORT}"]), listening

            rnd = random.Random(os.getpid())
            ports = rnd.sample([p for p in range(1, 65536) if p not in (80, RAW_PORT)], 51)
            raw_ports, http_port = ports[:50], ports[50]
            # TPROXY diverts UDP too: datagrams to 10 random ports, each with its own port.
            udp_ports = rnd.sample(range(1, 65536), 10) if redirect == "tproxy" else []
            args = [SRV_IP, ",".join(map(str, raw_ports)), str(http_port)]
            if udp_ports:
                args.append(",".join(map(str, udp_ports)))
            p = sh("ip", "netns", "exec", NS_CLI, sys.executable, "-c", CLIENT, *args,
                   timeout=120)
            got = json.loads(p.stdout)
            assert got["http"].startswith("HTTP/1.1 404"), got["http"][:200]

            evs = d.wait_events(51 + len(udp_ports), timeout=30)
            udp = [e for e in evs if e["proto"] == "UDP"]
            assert sorted(e["dest_port"] for e in udp) == sorted(udp_ports), udp
            for e in udp:
                assert e["payload_printable"] == f"udp-probe-{e['dest_port']}", e
                assert e["dest_ip"] == SRV_IP and e["sinkhole"]["listener"] == "anyport", e
            evs = [e for e in evs if e["proto"] == "TCP"]
            raw = [e for e in evs if e["event_type"] == "sinkhole_raw"]
            http = [e for e in evs if e["event_type"] == "http"]
            assert len(raw) == 50 and len(http) == 1, [e["event_type"] for e in evs]
            by_port = {e["dest_port"]: e for e in raw}
            assert sorted(by_port) == sorted(raw_ports), "destination ports differ"
            for port, e in by_port.items():
                want = b"probe-%d\x00\x01\x02" % port
                assert e["dest_ip"] == SRV_IP and e["src_ip"] == CLI_IP, e
                assert e["sinkhole"]["listener"] == "anyport", e
                assert e["payload_printable"] == want.decode().replace("\x00", ".").replace(
                    "\x01", ".").replace("\x02", "."), e
                assert e["raw"]["length"] == len(want) and e["raw"]["guess"] == "unknown", e
                fam = "probe" if port >= 1024 else "lowprobe"
                assert e["sinkhole"]["family"] == fam, (port, e["sinkhole"])
            e = http[0]
            assert e["dest_port"] == http_port and e["dest_ip"] == SRV_IP, e
            assert e["sinkhole"]["listener"] == "anyport", e
            assert e["http"]["url"] == "/anyport/check.php?id=7", e
            assert e["http"]["hostname"] == "cnc.example", e

            # HTTP to port 80 still reaches the HTTP listener itself.
            p = sh("ip", "netns", "exec", NS_CLI, sys.executable, "-c", CLIENT, SRV_IP, "81", "80")
            evs = d.wait_events(53 + len(udp_ports), timeout=30)
            web = [e for e in evs if e["sinkhole"].get("listener") == "web"]
            assert len(web) == 1 and web[0]["dest_port"] == 80, web

            top = h.sinkd_cmd("top", "--once", "--rows", "100", d.log_dir)
            assert top[0] == 0 and "raw:unknown" in top[1] and "tcp/80 " in top[1], top
        assert d.returncode == 0, d.returncode
    finally:
        netns_down()


CLIENT6 = r'''
import socket, sys
host = sys.argv[1]
for p in [int(x) for x in sys.argv[2].split(",")]:
    s = socket.create_connection((host, p), timeout=5)
    s.sendall(b"v6-probe-%d" % p)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
'''


def run_anyport_v6(redirect):
    """IPv6: the original destination through IP6T_SO_ORIGINAL_DST (nat) or the local address (tproxy)."""
    netns_up()
    try:
        if redirect == "tproxy":
            sh("ip", "-n", NS_SRV, "-6", "rule", "add", "fwmark", "0x5d", "lookup", "100")
            sh("ip", "-n", NS_SRV, "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100")
        yaml_text = f"""
log: {{ dir: "$log_dir", fsync: interval, fsync_interval_ms: 20 }}
workers: 1
listen:
  - {{ proto: raw, name: any6, addr: "[::]:{RAW_PORT}", ports: all, seized: [ "{SRV_IP6}" ],
      redirect: {redirect}, raw: {{ timeout_ms: 2000, transport: tcp }} }}
"""
        with NsSinkd(yaml_text=yaml_text, start=False) as d:
            rc, script, err = h.sinkd_cmd("firewall", "print", "-c", d.config_path)
            assert rc == 0 and f"ip6 daddr {SRV_IP6} tcp dport {{ 1-65535 }}" in script, script
            sh("ip", "netns", "exec", NS_SRV, "nft", "-f", "-", input=script)
            d.start()
            ports = random.Random(os.getpid() + 6).sample(range(1, 65536), 10)
            sh("ip", "netns", "exec", NS_CLI, sys.executable, "-c", CLIENT6, SRV_IP6,
               ",".join(map(str, ports)), timeout=60)
            evs = d.wait_events(10, timeout=30)
            assert sorted(e["dest_port"] for e in evs) == sorted(ports), evs
            for e in evs:
                assert e["dest_ip"] == u.suricata_ip(SRV_IP6), e["dest_ip"]
                assert e["src_ip"] == u.suricata_ip(CLI_IP6), e["src_ip"]
                assert e["payload_printable"] == f"v6-probe-{e['dest_port']}", e
        assert d.returncode == 0, d.returncode
    finally:
        netns_down()


def test_redirect_every_port_lands_in_one_socket():
    run_anyport("nat")


def test_tproxy_every_port_lands_in_one_socket():
    run_anyport("tproxy")


def test_redirect_ipv6():
    run_anyport_v6("nat")


def test_tproxy_ipv6():
    run_anyport_v6("tproxy")


if __name__ == "__main__":
    h.run([test_redirect_every_port_lands_in_one_socket, test_tproxy_every_port_lands_in_one_socket,
           test_redirect_ipv6, test_tproxy_ipv6])
