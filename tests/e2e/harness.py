"""harness.py — a small stdlib-only library for sinkd's end-to-end tests.

Environment (set by tests/meson.build):
  SINKD      path to the sinkd binary under test
  SINKD_SRC  the repository root (examples/, tests/vectors/ ...)
  SINKD_KEEP=1 keeps every temp dir (by default only a failed test's is kept)

Typical use:

    import harness as h

    def test_answers():
        with h.Sinkd(listen=[{"name": "web", "proto": "http"}]) as d:
            status, headers, body = h.http_request(d.port("web"), "GET", "/x")
            assert status == 404, status
            d.wait_events(1)
        assert d.returncode == 0

    h.run([test_answers])

The daemon stays in the test's process group, so meson's timeout kill takes
it down too; every started daemon is also stopped by its PID at exit.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import time
import traceback

SINKD = os.environ.get("SINKD", "")
SINKD_SRC = os.environ.get("SINKD_SRC") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Sanitizer builds start slowly and stop slowly; the timeouts leave room.
START_TIMEOUT = float(os.environ.get("SINKD_START_TIMEOUT", "15"))
STOP_TIMEOUT = float(os.environ.get("SINKD_STOP_TIMEOUT", "20"))

EXIT_SKIP = 77


class Skip(Exception):
    """Raise in a test to report it skipped (a prerequisite is missing)."""


class SinkdError(AssertionError):
    """The daemon did something a test did not expect (failed to start, ...)."""


# ---------------------------------------------------------------------------
# running the binary


def sinkd_cmd(*args, timeout=30, input=None, cwd=None, env=None):
    """Runs `sinkd ARGS...` to completion; returns (exit code, stdout, stderr) as text."""
    p = subprocess.run([SINKD, *map(str, args)], input=input, capture_output=True,
                       timeout=timeout, cwd=cwd or SINKD_SRC, env=env, text=True,
                       errors="replace")
    return p.returncode, p.stdout, p.stderr


def require_binary(path=None, what="sinkd"):
    """Exits 77 (meson: skipped) when a binary the tests need is missing."""
    path = SINKD if path is None else path
    if not path or not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if path and os.sep not in path and shutil.which(path):
            return
        print(f"SKIP: {what} not found ({path or 'SINKD unset'})", flush=True)
        sys.exit(EXIT_SKIP)


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (free when asked; a tiny race is accepted)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_listening(port):
    """True if some socket LISTENs on this TCP port (from /proc/net/tcp{,6}).

    Readiness is checked this way rather than by connecting, so that probing
    never shows up in the daemon's counters or log as an empty connection.
    Falls back to a connect where /proc is not available.
    """
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                found_table = True
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A" and \
                            int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False if found_table else port_open(port)


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns something true; returns it, or raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# a minimal YAML writer (block style; every string double-quoted, which YAML
# reads with JSON's escapes), so configs stay readable and line numbers useful


def _scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    return json.dumps(str(v))


def to_yaml(obj, indent=0):
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:\n{to_yaml(v, indent + 1)}")
            elif isinstance(v, (dict, list)):
                lines.append(f"{pad}{k}: {'{}' if isinstance(v, dict) else '[]'}\n")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}\n")
    elif isinstance(obj, list):
        if not obj:
            return pad + "[]\n"
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = to_yaml(v, indent + 1)
                # "- " takes the place of the first line's indentation.
                lines.append(f"{pad}- {inner[len(pad) + 2:]}")
            else:
                lines.append(f"{pad}- {_scalar(v) if not isinstance(v, (dict, list)) else '{}'}\n")
    else:
        lines.append(pad + _scalar(obj) + "\n")
    return "".join(lines)


# ---------------------------------------------------------------------------
# the daemon

_running = []
_created = []  # every instance of the current test, for clean-up after it passes


def _stop_all():
    for d in list(_running):
        try:
            d.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_all)


class Sinkd:
    """One `sinkd serve` in a fresh temp dir, with its own config and loopback ports.

    Either give the config as a dict (merged over sane test defaults):
        Sinkd(listen=[{"name": "web", "proto": "http"}], families=[...],
              config={"log": {"fsync": "none"}})
    where a listener without "addr" gets 127.0.0.1:<free port>; or as YAML
    text with string.Template placeholders:
        Sinkd(yaml_text="...addr: \"127.0.0.1:$port0\"...", nports=1)
    $dir (the temp dir), $log_dir and $port0..$portN are substituted.

    Attributes: dir, log_dir, config_path, stderr_path, pid, returncode.
    """

    def __init__(self, listen=None, families=None, config=None, yaml_text=None, nports=0,
                 start=True, args=(), env=None):
        require_binary()
        self.dir = tempfile.mkdtemp(prefix="sinkd-e2e.", dir="/tmp")
        self.log_dir = os.path.join(self.dir, "log")
        self.config_path = os.path.join(self.dir, "sinkd.yaml")
        self.stderr_path = os.path.join(self.dir, "sinkd.stderr")
        self.stdout_path = os.path.join(self.dir, "sinkd.stdout")
        self.pid_file = os.path.join(self.dir, "sinkd.pid")
        self.proc = None
        self.returncode = None
        self.ports = {}  # listener name -> port
        self.args = list(args)
        self.env = env
        self._failed = False
        _created.append(self)

        if yaml_text is not None:
            ports = free_ports(nports)
            subst = {"dir": self.dir, "log_dir": self.log_dir}
            for i, p in enumerate(ports):
                subst[f"port{i}"] = p
                self.ports[f"port{i}"] = p
            text = string.Template(yaml_text).substitute(subst)
        else:
            text = to_yaml(self._build_config(listen, families, config))
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(text)
        if start:
            self.start()

    def _build_config(self, listen, families, config):
        listen = [dict(x) for x in (listen or [{"name": "http", "proto": "http"}])]
        need = [x for x in listen if "addr" not in x]
        for x, port in zip(need, free_ports(len(need))):
            x["addr"] = f"127.0.0.1:{port}"
        for i, x in enumerate(listen):
            name = x.setdefault("name", f"l{i}")
            self.ports[name] = int(x["addr"].rsplit(":", 1)[1])
        cfg = {
            "sensor": {"id": "e2e"},
            "log": {"dir": self.log_dir, "fsync": "interval", "fsync_interval_ms": 20},
            "log_level": "debug",
            "workers": 2,
            "pid_file": self.pid_file,
            "listen": listen,
        }
        if families is not None:
            cfg["families"] = families
        for k, v in (config or {}).items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = {**cfg[k], **v}
            else:
                cfg[k] = v
        return cfg

    # -- lifecycle ----------------------------------------------------------

    def start(self, timeout=START_TIMEOUT):
        """Starts the daemon and waits until every listener accepts connections."""
        self.returncode = None
        err = open(self.stderr_path, "ab")
        out = open(self.stdout_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [SINKD, "serve", "-c", self.config_path, *self.args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.dir, env=self.env)
        finally:
            err.close()
            out.close()
        _running.append(self)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self._reap(rc)
                raise SinkdError(f"sinkd exited with {rc} during start-up (dir kept: {self.dir})\n"
                                 f"{self.log_tail()}")
            if all(port_listening(p) for p in self.ports.values()):
                return self
            if time.monotonic() >= deadline:
                self.kill9()
                raise SinkdError(f"sinkd not listening after {timeout}s (dir kept: {self.dir})\n"
                                 f"{self.log_tail()}")
            time.sleep(0.05)

    def _reap(self, rc):
        self.returncode = rc
        if self in _running:
            _running.remove(self)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if not self.running():
            raise SinkdError(f"sinkd is not running (exit {self.proc.poll() if self.proc else None})")
        os.kill(self.proc.pid, sig)

    def reload(self):
        """SIGHUP: reload the family rules."""
        self.signal(signal.SIGHUP)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait; SIGKILL after timeout. Returns the exit code (negative: killed by signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._reap(self.proc.returncode)
                raise SinkdError(f"sinkd ignored SIGTERM for {timeout}s; killed\n{self.log_tail()}")
        self._reap(self.proc.returncode)
        return self.returncode

    def kill9(self):
        """SIGKILL, as a crash would; returns the exit code (-9)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reap(self.proc.returncode)
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the daemon to exit on its own; returns the exit code."""
        self.proc.wait(timeout=timeout)
        self._reap(self.proc.returncode)
        return self.returncode

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.running():
                self.stop()
        finally:
            if exc_type is not None:
                self._failed = True
                print(f"  (kept {self.dir}; daemon log tail:)\n{self.log_tail(30)}", flush=True)
            self.cleanup()
        return False

    def cleanup(self):
        if self._failed or os.environ.get("SINKD_KEEP") == "1":
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- looking inside -----------------------------------------------------

    def port(self, name=None):
        """Port of a listener (by name; the only/first one if no name)."""
        if name is None:
            return next(iter(self.ports.values()))
        return self.ports[name]

    def log_text(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_lines(self, level=None):
        """The daemon's own log as (level, message) pairs; lines must read `sinkd[PID]: LEVEL: msg`."""
        out = []
        for line in self.log_text().splitlines():
            if not line.startswith("sinkd["):
                continue
            try:
                _, rest = line.split("]: ", 1)
                lvl, msg = rest.split(": ", 1)
            except ValueError:
                continue
            if level is None or lvl.lower() == level.lower():
                out.append((lvl, msg))
        return out

    def log_tail(self, n=20):
        lines = self.log_text().splitlines()
        return "\n".join("  | " + x for x in lines[-n:]) or "  | (daemon wrote nothing to stderr)"

    def events(self, timeout=30):
        """`sinkd log cat DIR` parsed: a list of dicts, one per event."""
        rc, out, err = sinkd_cmd("log", "cat", self.log_dir, timeout=timeout)
        if rc != 0:
            raise SinkdError(f"sinkd log cat exited {rc}: {err.strip()}")
        evs = []
        for i, line in enumerate(out.splitlines(), 1):
            if not line.strip():
                continue
            try:
                evs.append(json.loads(line))
            except ValueError as e:
                raise SinkdError(f"log cat line {i} is not JSON ({e}): {line[:200]}") from None
        return evs

    def wait_events(self, n, timeout=10.0):
        """Waits until the log holds at least n events; returns them."""
        last = []

        def enough():
            last[:] = self.events()
            return len(last) >= n

        try:
            wait_until(enough, timeout=timeout, interval=0.1, what=f"{n} events")
        except AssertionError:
            raise AssertionError(f"expected {n} events, log has {len(last)} after {timeout}s") from None
        return list(last)

    def stats(self, path=None):
        """The counters JSON the daemon rewrites every second (default <log dir>/stats.json)."""
        with open(path or os.path.join(self.log_dir, "stats.json"), encoding="utf-8") as f:
            return json.load(f)

    def verify(self, *extra):
        """`sinkd verify DIR`: returns (exit code, stdout + stderr)."""
        rc, out, err = sinkd_cmd("verify", *extra, self.log_dir)
        return rc, out + err


# ---------------------------------------------------------------------------
# raw clients


def connect(port, host="127.0.0.1", timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_all(sock, timeout=5.0, limit=1 << 20):
    """Reads until the peer closes, timeout, or limit bytes. Never raises on timeout/reset."""
    sock.settimeout(timeout)
    chunks, n = [], 0
    deadline = time.monotonic() + timeout
    while n < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            break
        chunks.append(b)
        n += len(b)
    return b"".join(chunks)


def recv_until(sock, marker, timeout=5.0, limit=1 << 20):
    """Reads until marker appears (returns everything read so far), close, or timeout."""
    buf = b""
    deadline = time.monotonic() + timeout
    while marker not in buf and len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            break
        buf += b
    return buf


def send_recv(port, data, timeout=5.0, shut_wr=False, host="127.0.0.1"):
    """Connects, sends bytes, (optionally half-closes), returns all bytes until close/timeout."""
    with connect(port, host, timeout) as s:
        s.sendall(data)
        if shut_wr:
            s.shutdown(socket.SHUT_WR)
        return recv_all(s, timeout)


def is_closed(sock, timeout=2.0):
    """True if the peer closed (or reset) the connection within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def http_bytes(method="GET", path="/", host="example.com", headers=None, body=b"",
               version="HTTP/1.1"):
    """Builds a request; Content-Length added when there is a body (unless given)."""
    if isinstance(body, str):
        body = body.encode()
    hs = [("Host", host)] if host is not None else []
    hs += list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in hs):
        hs.append(("Content-Length", str(len(body))))
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode("latin-1") + body


def parse_response(raw):
    """(status, {lower-case header: value}, body) of the first response in raw bytes."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"incomplete HTTP response: {raw[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise AssertionError(f"bad status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", len(rest)))
    return int(parts[1]), headers, rest[:n]


def http_request(port, method="GET", path="/", host="example.com", headers=None, body=b"",
                 timeout=5.0, prefix=b""):
    """One request on a fresh connection (prefix: e.g. a PROXY header); returns parse_response()."""
    with connect(port, timeout=timeout) as s:
        s.sendall(prefix + http_bytes(method, path, host, headers, body))
        raw = recv_until(s, b"\r\n\r\n", timeout)
        if b"\r\n\r\n" not in raw:
            raise AssertionError(f"no HTTP response within {timeout}s: {raw[:200]!r}")
        status, hdrs, got = parse_response(raw)
        want = int(hdrs.get("content-length", "0"))
        while len(got) < want:
            more = recv_all(s, timeout, want - len(got))
            if not more:
                break
            got += more
            raw += more
        return parse_response(raw)


PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(src, dst, sport, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def proxy_v2(src, dst, sport, dport, command=1, tlvs=b""):
    """A PROXY v2 header (command 1 = PROXY, 0 = LOCAL) for TCP over IPv4 or IPv6."""
    if ":" in src:
        fam = 0x21
        addrs = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    else:
        fam = 0x11
        addrs = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
    payload = addrs + struct.pack("!HH", sport, dport) + tlvs
    return PROXY_V2_SIG + bytes([0x20 | command, fam]) + struct.pack("!H", len(payload)) + payload


# ---------------------------------------------------------------------------
# the runner


class _TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise _TestTimeout()


def run(tests, per_test_timeout=120):
    """Runs test functions in order; prints PASS/FAIL/SKIP lines; exits 0, 1, or 77.

    A test fails by raising (assert); raises Skip to be skipped. Exit 77 when
    the sinkd binary is missing or every test skipped.
    """
    require_binary()
    passed = failed = skipped = 0
    old = signal.signal(signal.SIGALRM, _alarm)
    # meson's timeout sends SIGTERM: exit through atexit so daemons are stopped by PID.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    for t in tests:
        name = getattr(t, "__name__", str(t))
        signal.alarm(per_test_timeout)
        try:
            t()
        except Skip as e:
            skipped += 1
            print(f"SKIP {name}: {e}", flush=True)
        except _TestTimeout:
            failed += 1
            print(f"FAIL {name}: timed out after {per_test_timeout}s", flush=True)
        except AssertionError as e:
            failed += 1
            msg = str(e)
            if not msg:
                fs = traceback.extract_tb(e.__traceback__)[-1]
                msg = f"{os.path.basename(fs.filename)}:{fs.lineno}: {fs.line}"
            print(f"FAIL {name}: {msg}", flush=True)
        except Exception as e:  # noqa: BLE001 - report any error as a failure
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(limit=4, file=sys.stdout)
        else:
            passed += 1
            print(f"PASS {name}", flush=True)
            for d in _created:
                d.cleanup()
        finally:
            signal.alarm(0)
            _stop_all()
            _created.clear()
    signal.signal(signal.SIGALRM, old)
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    if failed:
        sys.exit(1)
    if skipped and not passed:
        sys.exit(EXIT_SKIP)
    sys.exit(0)
