"""Shared by the `deepslide serve` tests: start the server on a free loopback port (it prints the
URL on its first line), GET a path without any client-side normalisation (so `..` reaches the
server as written), and stop it with SIGTERM, checking it exits cleanly (serving(), stop_and_report)."""
import contextlib
import http.client
import os
import select
import signal
import subprocess
import sys
import urllib.parse

import cli_harness

DEEPSLIDE = os.environ.get("DEEPSLIDE", "build/deepslide")


class Server:
    def __init__(self, *args, timeout=20):
        self.proc = subprocess.Popen([DEEPSLIDE, "serve", "--port", "0", *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if "http://" not in line:
            self.proc.kill()
            raise RuntimeError(f"deepslide serve did not start: {line!r} {self.proc.stderr.read()[-800:]}")
        self.url = line.split(" at ", 1)[1].split()[0]
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port

    def get(self, path, method="GET", headers=None):
        """(status, headers dict with lower-case names, body bytes) for `path` sent as is."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            c.putrequest(method, path, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            c.endheaders()
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; the exit code (0 for a clean stop) and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9, self.proc.stderr.read()
        return self.proc.returncode, self.proc.stderr.read()


def stop_and_report(srv, ok_message):
    """Stops the server (a failure unless it exits 0), prints the failures and exits 1, or prints ok."""
    code, err = srv.stop()
    cli_harness.check(code == 0, f"serve exit {code} after SIGTERM: {err[-500:]}")
    if cli_harness.failures:
        print("\n".join(cli_harness.failures))
        sys.exit(1)
    print(ok_message)


@contextlib.contextmanager
def serving(*args, ok_message):
    """A Server for the with-block; afterwards stop_and_report, or on a skip or an error just a stop."""
    srv = Server(*args)
    try:
        yield srv
    except BaseException:
        srv.stop()
        raise
    stop_and_report(srv, ok_message)
