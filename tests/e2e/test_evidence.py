"""test_evidence.py — signed chain heads from the live daemon, `sinkd verify --key`, and evidence bundles.

A signed log is made by the real daemon (curl-like HTTP requests on loopback,
small segments so there are several). The bundle is exported, verified, then
tampered with in every way the manifest and the log guard against: each one
must be caught, and a bundle checked against another key must fail.
"""

import datetime
import hashlib
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util as u  # noqa: E402
import harness as h  # noqa: E402

def cli(*args, timeout=60):
    return u.cli(*args, timeout=timeout)


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


class Fixture:
    """One signed log made by the daemon, its key pair and a second, unrelated key."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sinkd-evidence.", dir="/tmp")
        self.key = os.path.join(self.dir, "signing.key")
        self.other = os.path.join(self.dir, "other.key")
        rc, out, err = cli("key", "generate", self.key)
        assert rc == 0, err
        assert "fingerprint" in out
        self.fp = out.split("fingerprint")[1].split()[0]
        rc, _, err = cli("key", "generate", self.other)
        assert rc == 0, err
        assert oct(os.stat(self.key).st_mode & 0o777) == "0o600"
        # Never overwrites a key without --force.
        rc, _, err = cli("key", "generate", self.key)
        assert rc == 1 and "exists" in err, err

        # fsync: answered, one client at a time: one event per batch, so the
        # 4 KiB segments rotate every few events, whatever the load.
        with h.Sinkd(config={"log": {"segment_bytes": 4096, "signing_key": self.key,
                                     "fsync": "answered"}}) as d:
            for i in range(60):
                st, _, _ = h.http_request(d.port(), "GET", f"/check/{i}",
                                          headers={"User-Agent": "x" * 40})
                assert st == 404
            d.wait_events(60)
            d.stop()
            assert d.returncode == 0
            self.log = os.path.join(self.dir, "log")
            shutil.copytree(d.log_dir, self.log)
        names = os.listdir(self.log)
        assert "signed-heads" in names, names
        assert f"signing-{self.fp}.pub" in names, names
        assert sum(n.endswith(".seg") for n in names) >= 3, names

    def bundle(self, name="bundle"):
        out = os.path.join(self.dir, name)
        shutil.rmtree(out, ignore_errors=True)
        day = today()
        rc, so, se = cli("evidence", "export", "--from", day, "--to", day, "--out", out,
                         "--log", self.log)
        assert rc == 0, so + se
        return out


def rewrite_manifest(bundle, path, data=None, drop=False):
    """Rewrites file `path` (relative) and updates its manifest line, as a careful forger would."""
    full = os.path.join(bundle, path)
    if data is not None:
        with open(full, "wb") as f:
            f.write(data)
    mpath = os.path.join(bundle, "manifest.txt")
    lines = open(mpath, encoding="utf-8").read().splitlines()
    out = []
    for line in lines:
        w = line.split(" ")
        if w[0] == "file" and w[3] == path:
            if drop:
                continue
            blob = open(full, "rb").read()
            line = f"file {hashlib.sha256(blob).hexdigest()} {len(blob)} {path}"
        out.append(line)
    with open(mpath, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


FIX = None


def fixture():
    global FIX
    if FIX is None:
        FIX = Fixture()
    return FIX


def expect_fault(args, want):
    rc, out, err = cli(*args)
    assert rc == 1, f"{args}: rc {rc}\n{out}{err}"
    assert want in out + err, f"{args}: want {want!r} in\n{out}{err}"


def test_live_log_is_signed():
    f = fixture()
    rc, out, err = cli("verify", f.log)
    assert rc == 0, out + err
    assert "signed heads:" in out and f.fp in out, out
    rc, out, err = cli("verify", "--key", f.key + ".pub", f.log)
    assert rc == 0, out + err
    expect_fault(["verify", "--key", f.other + ".pub", f.log], "not among the trusted keys")
    rc, out, _ = cli("verify", "--json", f.log)
    assert rc == 0 and '"last_signed"' in out, out


def test_bundle_verifies():
    f = fixture()
    b = f.bundle()
    names = sorted(os.listdir(os.path.join(b, "log")))
    assert "signed-heads" in names and any(n.endswith(".seg") for n in names), names
    rc, out, err = cli("evidence", "verify", b)
    assert rc == 0, out + err
    assert f.fp in out and "every file matches" in out, out
    # Elsewhere, with nothing else: move it and check again.
    moved = os.path.join(f.dir, "elsewhere")
    shutil.move(b, moved)
    rc, out, err = cli("evidence", "verify", "--key", f.key + ".pub", moved)
    assert rc == 0, out + err


def test_bundle_other_key_fails():
    f = fixture()
    b = f.bundle("b-otherkey")
    expect_fault(["evidence", "verify", "--key", f.other + ".pub", b], "not among the trusted keys")
    # The bundle's own key file swapped for another key, manifest updated to match.
    keyfile = f"log/signing-{f.fp}.pub"
    rewrite_manifest(b, keyfile, open(f.other + ".pub", "rb").read())
    expect_fault(["evidence", "verify", b], "not among the trusted keys")


def test_bundle_tampering():
    f = fixture()
    segs = lambda b: sorted(n for n in os.listdir(os.path.join(b, "log")) if n.endswith(".seg"))

    # An edited byte: the manifest hash catches it...
    b = f.bundle("b-edit")
    seg = "log/" + segs(b)[1]
    data = bytearray(open(os.path.join(b, seg), "rb").read())
    data[200] ^= 0x01
    with open(os.path.join(b, seg), "wb") as fh:
        fh.write(data)
    expect_fault(["evidence", "verify", b], "SHA-256 differs")
    # ...and with the manifest updated too, the record CRC does, at its position.
    rewrite_manifest(b, seg)
    rc, out, err = cli("evidence", "verify", b)
    assert rc == 1 and "FAULT in segment 2" in out and "CRC" in out, out + err

    # The last segment cut back to its header (at a frame boundary, manifest updated):
    # only the signed heads can tell.
    b = f.bundle("b-trunc")
    last = "log/" + segs(b)[-1]
    blob = open(os.path.join(b, last), "rb").read()
    rewrite_manifest(b, last, blob[:136])
    expect_fault(["evidence", "verify", b], "removed from the end")

    # A segment removed (with its manifest line): the manifest's range no longer holds.
    b = f.bundle("b-remove")
    mid = "log/" + segs(b)[1]
    os.unlink(os.path.join(b, mid))
    expect_fault(["evidence", "verify", b], "unreadable")
    rewrite_manifest(b, mid, drop=True)
    expect_fault(["evidence", "verify", b], "missing")

    # A file added to log/ (an inserted segment) that the manifest does not list.
    b = f.bundle("b-insert")
    s = segs(b)
    extra = "%016d.seg" % (int(s[-1][:16]) + 1)
    shutil.copy(os.path.join(b, "log", s[0]), os.path.join(b, "log", extra))
    expect_fault(["evidence", "verify", b], "not listed in the manifest")
    # Listed too: the chain catches it.
    with open(os.path.join(b, "manifest.txt"), "a", encoding="utf-8") as fh:
        blob = open(os.path.join(b, "log", extra), "rb").read()
        fh.write(f"file {hashlib.sha256(blob).hexdigest()} {len(blob)} log/{extra}\n")
    expect_fault(["evidence", "verify", b], "FAULT")

    # Segments swapped (renamed, manifest names swapped accordingly).
    b = f.bundle("b-swap")
    s = segs(b)
    p1, p2 = os.path.join(b, "log", s[0]), os.path.join(b, "log", s[1])
    os.rename(p1, p1 + ".t")
    os.rename(p2, p1)
    os.rename(p1 + ".t", p2)
    rewrite_manifest(b, "log/" + s[0])
    rewrite_manifest(b, "log/" + s[1])
    expect_fault(["evidence", "verify", b], "moved or swapped")

    # The signed heads removed altogether.
    b = f.bundle("b-noheads")
    rewrite_manifest(b, "log/signed-heads", b"")
    expect_fault(["evidence", "verify", b], "no signed head")

    # A manifest that is not one.
    b = f.bundle("b-manifest")
    with open(os.path.join(b, "manifest.txt"), "w", encoding="utf-8") as fh:
        fh.write("hello\n")
    expect_fault(["evidence", "verify", b], "not a sinkd evidence manifest")
    # A path that escapes the bundle is refused, not followed.
    with open(os.path.join(b, "manifest.txt"), "w", encoding="utf-8") as fh:
        fh.write("sinkd-evidence 1\nfile " + "0" * 64 + " 1 log/../../etc/passwd\n")
    expect_fault(["evidence", "verify", b], "malformed file line")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_date_range_partial_bundle():
    """A log spanning three days (segment creation times rewritten, header CRCs fixed):
    exporting the middle day gives a bundle that starts after segment 1, anchored by
    the signed head of the previous segment's close, and verifies on its own."""
    f = fixture()
    log = os.path.join(f.dir, "days")
    shutil.rmtree(log, ignore_errors=True)
    shutil.copytree(f.log, log)
    segs = sorted(n for n in os.listdir(log) if n.endswith(".seg"))
    assert len(segs) >= 4, segs
    day = 86400 * 1_000_000
    base = 1_764_288_000 * 1_000_000  # 2025-11-28 00:00 UTC
    # Segment 1 created on day 1, segments 2..k on day 2 (the first at midnight: a
    # segment holds what was committed until its successor was created), the last
    # at midnight of day 3.
    k = len(segs) - 1
    for i, name in enumerate(segs):
        if i == 0:
            t = base
        elif i < k:
            t = base + day + (i - 1) * 1_000_000
        else:
            t = base + 2 * day
        p = os.path.join(log, name)
        hdr = bytearray(open(p, "rb").read(136))
        hdr[24:32] = t.to_bytes(8, "big")
        hdr[132:136] = crc32c(bytes(hdr[:132])).to_bytes(4, "big")
        with open(p, "r+b") as fh:
            fh.write(hdr)
    rc, out, err = cli("verify", log)
    assert rc == 0, out + err
    b = os.path.join(f.dir, "b-day2")
    shutil.rmtree(b, ignore_errors=True)
    rc, out, err = cli("evidence", "export", "--from", "2025-11-29", "--to", "2025-11-29",
                       "--out", b, "--log", log)
    assert rc == 0, out + err
    got = sorted(n for n in os.listdir(os.path.join(b, "log")) if n.endswith(".seg"))
    assert got == segs[1:k], (got, segs)
    manifest = open(os.path.join(b, "manifest.txt"), encoding="utf-8").read()
    assert f"segments 2 {k}\n" in manifest, manifest
    rc, out, err = cli("evidence", "verify", "--key", f.key + ".pub", b)
    assert rc == 0 and "range: segments 2-" in out, out + err
    # Without the anchoring signed head (the close of segment 1), it is refused.
    heads = os.path.join(b, "log", "signed-heads")
    blob = open(heads, "rb").read()
    first = int.from_bytes(open(os.path.join(b, "log", got[0]), "rb").read(136)[16:24], "big")
    kept = b"".join(blob[i:i + 228] for i in range(0, len(blob), 228)
                    if int.from_bytes(blob[i + 16:i + 24], "big") != first)
    rewrite_manifest(b, "log/signed-heads", kept)
    expect_fault(["evidence", "verify", b], "no signed head vouches")


def test_export_errors():
    f = fixture()
    out = os.path.join(f.dir, "never")
    rc, _, err = cli("evidence", "export", "--from", "2001-01-01", "--to", "2001-01-02",
                     "--out", out, "--log", f.log)
    assert rc == 1 and "no segment" in err, err
    rc, _, err = cli("evidence", "export", "--from", "2026-02-30", "--to", "2026-03-01",
                     "--out", out, "--log", f.log)
    assert rc == 2, err
    b = f.bundle("b-exists")
    day = today()
    rc, _, err = cli("evidence", "export", "--from", day, "--to", day, "--out", b, "--log", f.log)
    assert rc == 1 and "not empty" in err, err
    rc, _, err = cli("evidence", "frobnicate")
    assert rc == 2
    rc, out, _ = cli("evidence", "--help")
    assert rc == 0 and "export" in out
    rc, out, _ = cli("key", "--help")
    assert rc == 0 and "generate" in out


def cleanup():
    if FIX is not None:
        shutil.rmtree(FIX.dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        h.run([test_live_log_is_signed, test_bundle_verifies, test_bundle_other_key_fails,
               test_bundle_tampering, test_date_range_partial_bundle, test_export_errors])
    finally:
        cleanup()
