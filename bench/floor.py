"""The least a Python program does for ecrd's job: the floor ecrd is measured against.

Imports boto3, creates one ECR client per group, makes one GetAuthorizationToken call per
group, decodes the tokens, and writes each output once, atomically (a temporary file beside
it, fsync, rename): docker's config.json (merged into the existing document, as the job
requires) and a netrc. No configuration language, no state, no logging, no checks.

Usage: python bench/floor.py SPEC.json, where SPEC is written by bench/run.py:
{"groups": [{"region": R, "endpoint_url": U, "registry_ids": [ID, ...],
             "hosts": {HOST: ID, ...}}, ...],
 "docker": PATH, "netrc": PATH}
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile

import boto3

# ECR takes at most 10 registry ids in one call.
_MAX_IDS = 10


def write_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)  # noqa: PTH120
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".floor-")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, path)  # noqa: PTH104


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:  # noqa: PTH123
        spec = json.load(file)
    session = boto3.session.Session()
    passwords: dict[str, str] = {}
    for group in spec["groups"]:
        client = session.client(
            "ecr", region_name=group["region"], endpoint_url=group["endpoint_url"]
        )
        answer = client.get_authorization_token(registryIds=group["registry_ids"][:_MAX_IDS])
        by_id: dict[str, str] = {}
        for data in answer["authorizationData"]:
            token = base64.b64decode(data["authorizationToken"]).decode()
            registry_id = data["proxyEndpoint"].split("//", 1)[1].split(".", 1)[0]
            by_id[registry_id] = token.partition(":")[2]
        # One token serves every registry of the group in its region.
        first = next(iter(by_id.values()))
        for host, registry_id in group["hosts"].items():
            passwords[host] = by_id.get(registry_id, first)
    try:
        with open(spec["docker"], "rb") as file:  # noqa: PTH123
            document = json.loads(file.read())
    except FileNotFoundError:
        document = {}
    auths = document.setdefault("auths", {})
    for host, password in passwords.items():
        auths[host] = {"auth": base64.b64encode(f"AWS:{password}".encode()).decode()}
    write_atomically(spec["docker"], json.dumps(document, indent="\t").encode())
    netrc = "".join(
        f"machine {host.split(':', 1)[0]}\nlogin AWS\npassword {password}\n"
        for host, password in passwords.items()
    )
    write_atomically(spec["netrc"], netrc.encode())


if __name__ == "__main__":
    main()
