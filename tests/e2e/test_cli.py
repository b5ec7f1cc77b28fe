"""test_cli.py — the sinkd command line: help, usage errors, config check, verify, loadgen's loopback guard.

Pure CLI tests: no daemon is started. Exit codes follow src/tools/commands.h:
0 success, 1 failure or a check that found a fault, 2 usage error.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

COMMANDS = ["serve", "verify", "log", "loadgen", "config", "firewall", "top", "lookup", "index",
            "report", "web", "token"]
def cli(*args, timeout=30, env=None):
    """Runs sinkd; fails the test on a crash or a sanitizer report. Returns (rc, out, err)."""
    return u.cli(*args, timeout=timeout, env=env)


def tmpdir():
    d = tempfile.mkdtemp(prefix="sinkd-cli.", dir="/tmp")
    return d


# --- help and usage ---------------------------------------------------------


def test_top_help():
    rc, out, err = cli("--help")
    assert rc == 0, f"--help exited {rc}"
    assert "usage" in out.lower(), f"--help prints no usage on stdout: {out[:300]!r}"
    for c in COMMANDS:
        assert c in out, f"--help does not list '{c}'"


def test_version():
    rc, out, _ = cli("--version")
    assert rc == 0, f"--version exited {rc}"
    assert out.startswith("sinkd "), f"--version printed {out!r}"


def test_command_help():
    for c in COMMANDS:
        rc, out, err = cli(c, "--help")
        text = (out + err).lower()
        assert rc == 0, f"sinkd {c} --help exited {rc}: {err.strip()[:300]}"
        assert "usage" in text, f"sinkd {c} --help shows no usage: {text[:300]!r}"
        assert c in text, f"sinkd {c} --help does not name '{c}'"


def test_nested_help():
    for args in (["log", "cat", "--help"], ["log", "stats", "--help"],
                 ["config", "check", "--help"]):
        rc, out, err = cli(*args)
        text = (out + err).lower()
        assert rc == 0, f"sinkd {' '.join(args)} exited {rc}: {err.strip()[:300]}"
        assert "usage" in text, f"sinkd {' '.join(args)} shows no usage"


def test_no_command_is_usage_error():
    rc, out, err = cli()
    assert rc == 2, f"sinkd with no command exited {rc}, want 2"
    assert "usage" in err.lower(), "no usage on stderr"


def test_unknown_command():
    rc, out, err = cli("frobnicate")
    assert rc == 2, f"unknown command exited {rc}, want 2"
    assert "frobnicate" in err, f"error does not name the command: {err.strip()!r}"


def test_unknown_option_is_usage_error():
    for args in (["verify", "--no-such-option", "/tmp"],
                 ["loadgen", "--target", "127.0.0.1:9", "--no-such-option"],
                 ["serve", "--no-such-option"]):
        rc, _, err = cli(*args)
        assert rc == 2, f"sinkd {' '.join(args)} exited {rc}, want 2"
        assert err.strip(), f"sinkd {' '.join(args)}: no message on stderr"


def test_missing_subcommand_or_argument():
    # Not bare `serve` (it may default to /etc/sinkd/sinkd.yaml and start for real),
    # nor bare `loadgen` (it may default to a loopback target and run).
    for args in (["log"], ["log", "bogus", "/tmp"], ["config"], ["config", "check"],
                 ["verify"]):
        rc, _, err = cli(*args)
        assert rc == 2, f"sinkd {' '.join(args)} exited {rc}, want 2 (usage error)"
        assert err.strip(), f"sinkd {' '.join(args)}: no message on stderr"


# --- config check -------------------------------------------------------------


def test_config_check_example():
    path = os.path.join(h.SINKD_SRC, "examples", "rustock.yaml")
    assert os.path.isfile(path), f"{path} is missing"
    rc, out, err = cli("config", "check", path)
    assert rc == 0, f"config check examples/rustock.yaml exited {rc}: {err.strip()[:500]}"


def _write(text):
    d = tmpdir()
    p = os.path.join(d, "broken.yaml")
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)
    return d, p


def _names_line(msg, line):
    return re.search(rf"(\bline\s*{line}\b|:{line}(\b|:))", msg) is not None


def test_config_check_syntax_error_names_line():
    # Line 5 is indented one space: libyaml reports "did not find expected key" there.
    d, p = _write("sensor:\n  id: x\nlog:\n  dir: /tmp/x\n bad: indentation\n"
                  "listen:\n  - { proto: http, addr: \"127.0.0.1:8080\" }\n")
    try:
        rc, out, err = cli("config", "check", p)
        msg = out + err
        assert rc == 1, f"broken YAML: exit {rc}, want 1: {msg.strip()[:300]}"
        assert "broken.yaml" in msg, f"message does not name the file: {msg.strip()[:300]!r}"
        assert _names_line(msg, 5), f"message does not name line 5: {msg.strip()[:300]!r}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_config_check_unknown_key_names_line():
    # A typo must be an error, not a silently ignored key (config.h).
    d, p = _write("sensor:\n  id: x\nlsiten:\n  - { proto: http, addr: \"127.0.0.1:8080\" }\n")
    try:
        rc, out, err = cli("config", "check", p)
        msg = out + err
        assert rc == 1, f"unknown key: exit {rc}, want 1: {msg.strip()[:300]}"
        assert "lsiten" in msg, f"message does not name the key: {msg.strip()[:300]!r}"
        assert _names_line(msg, 3), f"message does not name line 3: {msg.strip()[:300]!r}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_config_check_missing_file():
    rc, out, err = cli("config", "check", "/nonexistent/sinkd.yaml")
    assert rc == 1, f"missing config: exit {rc}, want 1"
    assert "/nonexistent/sinkd.yaml" in out + err, "message does not name the file"


def test_serve_missing_config():
    rc, out, err = cli("serve", "-c", "/nonexistent/sinkd.yaml", timeout=30)
    assert rc == 1, f"serve with a missing config: exit {rc}, want 1"
    assert "/nonexistent/sinkd.yaml" in err, f"stderr does not name the file: {err.strip()[:300]!r}"


# --- verify / log on missing and empty directories -----------------------------


def test_verify_missing_dir():
    rc, out, err = cli("verify", "/nonexistent/sinkd-log")
    assert rc != 0, "verify of a missing directory succeeded"
    assert rc in (1, 2), f"verify of a missing directory exited {rc}"
    assert "/nonexistent/sinkd-log" in out + err, f"message does not name the path: {err!r}"


def test_verify_empty_dir():
    d = tmpdir()
    try:
        rc, out, err = cli("verify", d)
        assert rc in (0, 1), f"verify of an empty directory exited {rc}: {err.strip()[:300]}"
        assert (out + err).strip(), "verify of an empty directory printed nothing"
        rc, out, err = cli("verify", "--json", d)
        assert rc in (0, 1), f"verify --json of an empty directory exited {rc}"
        try:
            json.loads(out)
        except ValueError:
            raise AssertionError(f"verify --json did not print JSON: {out[:300]!r}") from None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_log_missing_dir():
    for sub in ("cat", "stats"):
        rc, out, err = cli("log", sub, "/nonexistent/sinkd-log")
        assert rc in (1, 2), f"log {sub} of a missing directory exited {rc}"
        assert err.strip(), f"log {sub} of a missing directory: no message"


def test_log_empty_dir():
    d = tmpdir()
    try:
        rc, out, err = cli("log", "cat", d)
        assert rc in (0, 1), f"log cat of an empty directory exited {rc}"
        if rc == 0:
            assert not out.strip(), f"log cat of an empty directory printed {out[:200]!r}"
        rc, out, err = cli("log", "stats", d)
        assert rc in (0, 1), f"log stats of an empty directory exited {rc}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- loadgen refuses anything but loopback, before opening a socket -----------

NON_LOOPBACK = ["192.0.2.1:80", "10.0.0.1:80", "[::ffff:10.0.0.1]:80", "[2001:db8::1]:80",
                "example.com:80"]


def _strace_works():
    if not shutil.which("strace"):
        return False
    try:
        return subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _inet_syscalls(trace):
    """socket() of any family but AF_UNIX, and connect() to an inet address, from an strace log."""
    bad = []
    for line in trace.splitlines():
        if re.search(r"\bsocket\((?!AF_UNIX)", line) or \
           re.search(r"\bconnect\(\d+, \{sa_family=AF_INET6?", line) or \
           re.search(r"\b(sendto|sendmsg|sendmmsg)\(", line):
            bad.append(line.strip())
    return bad


def _netns_prefix():
    """`unshare -n`: an empty network namespace, so even a broken guard cannot reach the network."""
    if not shutil.which("unshare"):
        return []
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["unshare", "-n"] if ok.returncode == 0 else []


def test_loadgen_refuses_non_loopback():
    netns = _netns_prefix()
    use_strace = _strace_works()
    if not use_strace:
        print("  note: strace unavailable; checking exit status only, not the absence of sockets",
              flush=True)
    # LeakSanitizer cannot run under ptrace; leaks are checked by the other tests.
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    for target in NON_LOOPBACK:
        args = ["loadgen", "--target", target, "--count", "1", "--duration", "1"]
        if use_strace:
            d = tmpdir()
            trace_path = os.path.join(d, "trace")
            try:
                p = subprocess.run([*netns, "strace", "-f", "-qq", "-e",
                                    "trace=socket,connect,sendto,sendmsg,sendmmsg",
                                    "-o", trace_path, h.SINKD, *args],
                                   capture_output=True, text=True, timeout=30, env=env,
                                   errors="replace")
                with open(trace_path, encoding="utf-8", errors="replace") as f:
                    trace = f.read()
            finally:
                shutil.rmtree(d, ignore_errors=True)
            rc, err = p.returncode, p.stderr
            bad = _inet_syscalls(trace)
            assert not bad, f"loadgen --target {target} opened a socket before refusing:\n  " + \
                "\n  ".join(bad[:5])
        else:
            p = subprocess.run([*netns, h.SINKD, *args], capture_output=True, text=True,
                               timeout=30, env=env, errors="replace")
            rc, err = p.returncode, p.stderr
        u.check_cli(f"loadgen --target {target}", rc, err)
        assert rc == 2, f"loadgen --target {target}: exit {rc}, want 2"
        assert err.strip(), f"loadgen --target {target}: refused without a message"


if __name__ == "__main__":
    h.run([
        test_top_help,
        test_version,
        test_command_help,
        test_nested_help,
        test_no_command_is_usage_error,
        test_unknown_command,
        test_unknown_option_is_usage_error,
        test_missing_subcommand_or_argument,
        test_config_check_example,
        test_config_check_syntax_error_names_line,
        test_config_check_unknown_key_names_line,
        test_config_check_missing_file,
        test_serve_missing_config,
        test_verify_missing_dir,
        test_verify_empty_dir,
        test_log_missing_dir,
        test_log_empty_dir,
        test_loadgen_refuses_non_loopback,
    ])
