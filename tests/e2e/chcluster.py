"""chcluster.py — ClickHouse servers (Debian's clickhouse-server 18.16) on loopback for tests and benches.

Cluster(n) starts n servers, each with its own config, data and log folders
under one mktemp directory, on free loopback ports, and names them a cluster
of n one-replica shards ("sinkd_test") in every server's remote_servers.
Servers are stopped by PID (stop(i), close(), and at exit, also when a test
fails); start(i) brings one back on the same ports and data. Readiness is
/ping answering "Ok.", waited for with a bounded timeout (18.16 starts in
about 0.2-1 s here; a busy machine gets up to START_TIMEOUT).
"""

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import harness as h

SERVER = "/usr/sbin/clickhouse-server"
CLUSTER = "sinkd_test"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

_live = []


def available():
    return os.access(SERVER, os.X_OK)


def _stop_live():
    for c in list(_live):
        c.close()


atexit.register(_stop_live)

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog>
    <size>100M</size><count>1</count><console>0</console></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <remote_servers><{cluster}>{shards}</{cluster}></remote_servers>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage>
    <max_threads>2</max_threads></default></profiles>
  <users><default><password></password>
    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


class Cluster:
    def __init__(self, n=2):
        if not available():
            raise h.Skip(f"{SERVER} not installed (scripts/setup installs clickhouse-server)")
        self.dir = tempfile.mkdtemp(prefix="sinkd-ch.")
        self.n = n
        ports = h.free_ports(3 * n)
        self.http = ports[0:n]
        self.tcp = ports[n:2 * n]
        self.inter = ports[2 * n:3 * n]
        self.procs = [None] * n
        shards = "".join(f"<shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>"
                         for p in self.tcp)
        for i in range(n):
            d = os.path.join(self.dir, f"s{i}")
            os.makedirs(d)
            with open(os.path.join(d, "config.xml"), "w", encoding="utf-8") as f:
                f.write(CONFIG.format(d=d, http=self.http[i], tcp=self.tcp[i],
                                      inter=self.inter[i], cluster=CLUSTER, shards=shards))
            with open(os.path.join(d, "users.xml"), "w", encoding="utf-8") as f:
                f.write(USERS)
        _live.append(self)
        try:
            for i in range(n):
                self.start(i, wait=False)
            for i in range(n):
                self.wait_ready(i)
        except BaseException:
            self.close()
            raise

    def url(self, i=0, db="sinkd"):
        return f"clickhouse://127.0.0.1:{self.http[i]}/{db}"

    def start(self, i, wait=True):
        d = os.path.join(self.dir, f"s{i}")
        out = open(os.path.join(d, "stdout.log"), "ab")
        self.procs[i] = subprocess.Popen([SERVER, f"--config-file={d}/config.xml"], cwd=d,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        out.close()
        if wait:
            self.wait_ready(i)

    def ping(self, i):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http[i]}/ping", timeout=2) as r:
                return r.read() == b"Ok.\n"
        except (OSError, urllib.error.URLError):
            return False

    def wait_ready(self, i, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.ping(i):
            p = self.procs[i]
            if p.poll() is not None:
                raise AssertionError(f"clickhouse-server {i} exited {p.returncode}: "
                                     f"{self.log_tail(i)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"clickhouse-server {i}: no /ping after {timeout}s: "
                                     f"{self.log_tail(i)}")
            time.sleep(0.05)

    def log_tail(self, i, n=2000):
        out = ""
        for name in ("error.log", "stdout.log"):
            try:
                with open(os.path.join(self.dir, f"s{i}", name), errors="replace") as f:
                    out += f.read()[-n:]
            except OSError:
                pass
        return out

    def stop(self, i, sig=signal.SIGTERM):
        p = self.procs[i]
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def query(self, sql, i=0, data=None, timeout=60):
        url = f"http://127.0.0.1:{self.http[i]}/?" + urllib.parse.urlencode({"query": sql})
        req = urllib.request.Request(url, data=data if data is not None else b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"clickhouse: {sql[:200]}: {e.read().decode(errors='replace')[:500]}")

    def apply_schema(self, db="sinkd"):
        args = ["clickhouse", "schema", "--cluster", CLUSTER]
        for i in range(self.n):
            args += ["--apply", self.url(i, db)]
        rc, out, err = h.sinkd_cmd(*args, timeout=60)
        assert rc == 0, f"schema: {rc} {out} {err}"

    def close(self):
        for i in range(self.n):
            self.stop(i)
        if self in _live:
            _live.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)
