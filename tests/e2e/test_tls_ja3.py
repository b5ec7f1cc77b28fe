"""test_tls_ja3.py — JA3 from sinkd against tshark's independent JA3, for real clients on loopback.

A capture (tshark on lo, filtered to the listener's port) runs while curl,
openssl s_client (TLS 1.0, 1.2 and 1.3, several cipher and group settings),
Python's ssl module and headless Chromium connect to a `proto: tls`
listener. tshark 4.0 computes `tls.handshake.ja3` and `ja3_full` for every
ClientHello in the capture; sinkd must have recorded the same JA3 hash and
string for the connection with the same client port, and every client must
have been recorded.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

OPENSSL_RUNS = [
    ["-tls1_3"],
    ["-tls1_3", "-groups", "P-256"],
    ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", "-groups", "X25519:P-384"],
    ["-tls1_2"],
    ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"],
    ["-tls1_2", "-curves", "P-384:P-256", "-noservername"],
    ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
    ["-alpn", "h2,http/1.1", "-servername", "alpn.ja3.test"],
]


class Capture:
    """tshark on the loopback interface, started and stopped by its PID."""

    def __init__(self, port, path):
        self.path = path
        self.err = open(path + ".err", "wb")
        self.proc = subprocess.Popen(
            ["tshark", "-i", "lo", "-f", f"tcp port {port}", "-w", path, "-q"],
            stdout=subprocess.DEVNULL, stderr=self.err)
        # tshark says "Capturing on" once the capture is really running.
        h.wait_until(lambda: b"Capturing on" in open(path + ".err", "rb").read()
                     or self.proc.poll() is not None, timeout=30, what="tshark start")
        if self.proc.poll() is not None:
            raise h.Skip("tshark cannot capture on lo: "
                         + open(path + ".err", "rb").read().decode(errors="replace")[:300])
        time.sleep(1.0)  # "Capturing on" comes a little before the first packet is kept

    def stop(self):
        if self.proc.poll() is None:
            time.sleep(0.5)  # let the last packets reach the capture
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def tshark_ja3(pcap, port):
    """{client port: (ja3 hash, ja3 string)} for every ClientHello in the capture."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-d", f"tcp.port=={port},tls", "-Y", "tls.handshake.type == 1",
         "-T", "fields", "-e", "tcp.srcport", "-e", "tls.handshake.ja3",
         "-e", "tls.handshake.ja3_full"],
        capture_output=True, text=True, timeout=120, check=True).stdout
    res = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1]:
            res[int(parts[0])] = (parts[1], parts[2])
    return res


def run_clients(port):
    """Connects every client; returns how many ran (a missing optional client is skipped)."""
    ran = []
    rc, _, err = u.curl("-sk", "--resolve", f"curl.ja3.test:{port}:127.0.0.1",
                        f"https://curl.ja3.test:{port}/c")
    assert rc == 0, err
    ran.append("curl")
    rc, _, err = u.curl("-sk", "--tlsv1.2", "--tls-max", "1.2", f"https://127.0.0.1:{port}/c12")
    assert rc == 0, err
    ran.append("curl-1.2")
    for args in OPENSSL_RUNS:
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                           input=b"", capture_output=True, timeout=30)
        assert b"CONNECTED" in p.stdout, (args, p.stderr[-500:])
        ran.append("openssl " + " ".join(args))
    for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ver
        ctx.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="python.ja3.test") as t:
                t.sendall(b"GET /py HTTP/1.1\r\nHost: python.ja3.test\r\nConnection: close\r\n\r\n")
                assert t.recv(100).startswith(b"HTTP/1.1 ")
        ran.append(f"python {ver}")
    chromium = shutil.which("chromium")
    if chromium:
        prof = tempfile.mkdtemp(prefix="sinkd-chromium.")
        try:
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--ignore-certificate-errors",
                            "--no-first-run", f"--user-data-dir={prof}", "--dump-dom",
                            f"https://127.0.0.1:{port}/chromium"],
                           capture_output=True, timeout=90)
        finally:
            shutil.rmtree(prof, ignore_errors=True)
        ran.append("chromium")
    return ran


def test_ja3_matches_tshark():
    if not shutil.which("tshark"):
        raise h.Skip("tshark not installed")
    with h.Sinkd(listen=[{"name": "tls", "proto": "tls"}]) as d:
        port = d.port("tls")
        tmp = tempfile.mkdtemp(prefix="sinkd-ja3.")
        pcap = os.path.join(tmp, "lo.pcap")
        cap = Capture(port, pcap)
        try:
            ran = run_clients(port)
        finally:
            cap.stop()
        truth = tshark_ja3(pcap, port)
        evs = d.wait_events(len(truth))
        got = {}
        for ev in evs:
            if ev["event_type"] == "tls":
                got[ev["src_port"]] = ev
        # Both ways: every hello tshark saw was recorded, every recorded hello was seen.
        assert set(got) == set(truth), (ran, sorted(got), sorted(truth))
        assert len(truth) >= len(ran), (ran, truth)
        for cport, (ja3, full) in truth.items():
            ev = got.get(cport)
            assert ev is not None, f"no TLS event for client port {cport} (tshark ja3 {ja3})"
            t = ev["tls"]
            assert t["ja3"]["hash"] == ja3, (cport, t["ja3"], ja3)
            assert t["ja3"]["string"] == full, (cport, t["ja3"]["string"], full)
            assert t["handshake"] == "completed", ev
            assert len(t["ja4"]) == 36 and t["ja4"][0] == "t", t
        distinct = {v[0] for v in truth.values()}
        # The clients differ: a constant or empty JA3 could not pass this.
        assert len(distinct) >= 8, distinct
        print(f"  {len(truth)} ClientHellos from {len(ran)} clients, {len(distinct)} distinct JA3,"
              " all equal to tshark's")
        shutil.rmtree(tmp, ignore_errors=True)
        u.stop_clean(d)


if __name__ == "__main__":
    h.run([test_ja3_matches_tshark], per_test_timeout=400)
