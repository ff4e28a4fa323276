"""How fast `docker-credential-ecrd get` answers, next to `docker-credential-ecr-login get`.

docker runs the credential helper once per pull (per registry), so its start-up is the
cost users feel. ecrd's helper reads the tokens file a refresh keeps; ecr-login (Debian's
amazon-ecr-credential-helper) calls ECR GetAuthorizationToken itself, then caches the token
in ~/.ecr/cache.json.

ecr-login 0.6.0 honours neither AWS_ENDPOINT_URL nor AWS_ENDPOINT_URL_ECR, so to reach the
project's ECR emulator it runs in a private mount namespace whose /etc/hosts sends
api.ecr.REGION.amazonaws.com to 127.0.0.1, where a TLS proxy (certificate from a throwaway
CA given through AWS_CA_BUNDLE) forwards to the emulator. That needs root, unshare and
openssl; without them only ecrd's helper is measured.

- warm: ecr-login with its cache filled (no AWS call); ecrd's helper always is.
- cold: ecr-login with AWS_ECR_DISABLE_CACHE=1, one GetAuthorizationToken per run over
  loopback (no network latency: a real ECR call adds a round trip to the region).

Usage: .venv/bin/python bench/credential_helper.py [--runs 50]
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ecrd.emulator.server import Emulator
from ecrd.secret import Credentials, Secret
from ecrd.state import StateStore

REGISTRY_ID = "123456789012"
REGION = "us-west-2"
HOST = f"{REGISTRY_ID}.dkr.ecr.{REGION}.amazonaws.com"
API = f"api.ecr.{REGION}.amazonaws.com"
INSIDE = "--inside-namespace"


def measure(command: list[str], *, env: dict[str, str], runs: int) -> list[float]:
    """Wall-clock milliseconds of ``runs`` runs of ``command`` with the host on stdin."""
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            command, input=HOST.encode(), env=env, capture_output=True, check=False
        )
        times.append((time.perf_counter() - start) * 1000)
        if done.returncode != 0 or b'"Secret"' not in done.stdout:
            msg = f"{' '.join(command)} failed: {done.stdout.decode()[:200]}"
            raise RuntimeError(msg)
    return times


def report(label: str, times: list[float]) -> None:
    p95 = statistics.quantiles(times, n=20)[18] if len(times) > 1 else times[0]
    print(f"{label:<62} median {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms")


def ecrd_helper(root: Path, emulator: Emulator, runs: int) -> None:
    state = root / "state"
    store = StateStore(state)
    now = datetime.now(timezone.utc)
    with store.transaction():
        store.write_tokens(
            tokens={
                HOST: Credentials(
                    username="AWS",
                    password=Secret(emulator.password_for(REGISTRY_ID)),
                    expires_at=now + timedelta(hours=12),
                )
            },
            hosts=[HOST],
            now=now,
        )
    env = {**os.environ, "STATE_DIRECTORY": str(state)}
    program = Path(sys.executable).parent / "docker-credential-ecrd"
    if program.exists():
        report(
            "docker-credential-ecrd get (as installed)",
            measure([str(program), "get"], env=env, runs=runs),
        )
    else:
        print(f"{program} is not installed: run `.venv/bin/python -m pip install -e .`")
    # The module in a package whose __init__ is empty: what a lazy ecrd.__version__ would
    # give (today's ecrd/__init__.py looks the version up with importlib.metadata, which
    # costs more than the helper itself).
    shim = root / "shim" / "ecrd"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("")
    (shim / "docker_credential_ecrd.py").symlink_to(
        Path(__file__).resolve().parent.parent / "ecrd" / "docker_credential_ecrd.py"
    )
    alone = (
        f"import sys; sys.path.insert(0, {str(shim.parent)!r}); "
        "from ecrd.docker_credential_ecrd import main; sys.exit(main(['get']))"
    )
    report(
        "docker-credential-ecrd get, with a lazy ecrd.__version__",
        measure([sys.executable, "-c", alone], env=env, runs=runs),
    )
    report(
        "python -c pass (interpreter start-up, for scale)",
        measure([sys.executable, "-c", "print('\"Secret\"')"], env=env, runs=runs),
    )


class _Proxy(http.server.BaseHTTPRequestHandler):
    """TLS in front of the emulator: POST / is forwarded as it came."""

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    target = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        connection = http.client.HTTPConnection(self.target, timeout=10)
        connection.request("POST", self.path, body, dict(self.headers.items()))
        answer = connection.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002
        return


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for the ECR API host it signs: (ca, cert, key)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "leaf.csr"
    ext = directory / "ext.cnf"
    ext.write_text(f"subjectAltName=DNS:{API}\nextendedKeyUsage=serverAuth\n")
    new_key = ["-newkey", "rsa:2048", "-nodes", "-keyout"]
    _openssl("req", "-x509", *new_key, ca_key, "-out", ca, "-days", "1", "-subj", "/CN=bench CA")
    _openssl("req", *new_key, key, "-out", csr, "-subj", f"/CN={API}")
    signing: list[str | Path] = [
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        ext,
    ]
    _openssl("x509", "-req", "-in", csr, *signing, "-out", cert)
    return ca, cert, key


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], capture_output=True, check=True)


def ecr_login(root: Path, emulator: Emulator, runs: int) -> None:
    ca, cert, key = _certificates(root)
    hosts = root / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + f"\n127.0.0.1 {API}\n")
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)
    _Proxy.target = emulator.url.removeprefix("http://")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 443), _Proxy)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = root / "ecr-home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "AKIDECRDBENCH000",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CA_BUNDLE": str(ca),
    }
    try:
        program = ["docker-credential-ecr-login", "get"]
        first = measure(program, env=env, runs=1)
        report(
            "docker-credential-ecr-login get, warm (cached token)",
            measure(program, env=env, runs=runs),
        )
        cold = measure(program, env={**env, "AWS_ECR_DISABLE_CACHE": "1"}, runs=runs)
        report("docker-credential-ecr-login get, cold (GetAuthorizationToken)", cold)
        print(f"  (its very first run, fetching and writing ~/.ecr/cache.json: {first[0]:.1f} ms)")
        print(f"  emulator calls: {len(emulator.calls())}")
    finally:
        server.shutdown()


def why_not_ecr_login() -> str | None:
    if shutil.which("docker-credential-ecr-login") is None:
        return "docker-credential-ecr-login is not installed (apt-get install amazon-ecr-credential-helper)"
    if os.geteuid() != 0:
        return "not root: the namespace, the bind mount of /etc/hosts and port 443 need root"
    for tool in ("unshare", "openssl", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50, help="runs per measurement")
    parser.add_argument(INSIDE, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    reason = why_not_ecr_login()
    if reason is None and not args.inside_namespace:
        # Start again in a private mount namespace, before any thread exists.
        command = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            __file__,
            "--runs",
            str(args.runs),
            INSIDE,
        ]
        os.execvp("unshare", command)  # noqa: S606
    print(f"{args.runs} runs each, loopback, on {os.uname().nodename}")
    with tempfile.TemporaryDirectory() as tmp, Emulator(stable_passwords=True) as emulator:
        root = Path(tmp)
        ecrd_helper(root, emulator, args.runs)
        if reason is None:
            ecr_login(root, emulator, args.runs)
        else:
            print(f"docker-credential-ecr-login not measured: {reason}")


if __name__ == "__main__":
    main()
