"""Hypothesis strategies: registry hosts, ECR-like passwords, netrc files, docker configs."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hypothesis import strategies as st

if TYPE_CHECKING:
    from collections.abc import Sequence

REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2", "cn-north-1")

registry_ids = st.integers(0, 10**12 - 1).map("{:012d}".format)


@st.composite
def ecr_hosts(draw: st.DrawFn) -> str:
    """A private ECR registry host, in one of the forms ECR uses."""
    registry_id = draw(registry_ids)
    region = draw(st.sampled_from(REGIONS))
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    form = draw(st.sampled_from(["dkr.ecr", "dkr.ecr-fips", "dual"]))
    if form == "dual":
        return f"{registry_id}.dkr-ecr.{region}.on.aws"
    return f"{registry_id}.{form}.{region}.{suffix}"


_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
labels = st.text(_LOWER, min_size=1, max_size=8)
plain_hosts = st.lists(labels, min_size=2, max_size=4).map(".".join)

# Hosts as written in image names: ECR hosts, other names, an optional port.
hosts = st.one_of(
    ecr_hosts(),
    plain_hosts,
    st.tuples(st.one_of(plain_hosts, st.just("127.0.0.1")), st.integers(1, 65535)).map(
        lambda hp: f"{hp[0]}:{hp[1]}"
    ),
)


@st.composite
def ecr_passwords(draw: st.DrawFn) -> str:
    """A password as ECR hands them out: 2 KB and more of base64."""
    size = draw(st.integers(1536, 2400))
    seed = draw(st.integers(0, 2**32))
    return base64.b64encode(random.Random(seed).randbytes(size)).decode()  # noqa: S311


def netrc_name(host: str) -> str:
    """The netrc machine name of a host in these strategies: the host without its port."""
    return host.rsplit(":", 1)[0] if ":" in host else host


@st.composite
def netrc_hosts(draw: st.DrawFn, *, min_size: int = 0, max_size: int = 4) -> list[str]:
    """Registry hosts whose netrc names differ, whatever the case."""
    return draw(
        st.lists(
            hosts, min_size=min_size, max_size=max_size, unique_by=lambda h: netrc_name(h).lower()
        )
    )


# ---- netrc files ---------------------------------------------------------------------

BlockKind = Literal["machine", "managed", "default", "macdef", "comment", "blank"]


@dataclass(frozen=True)
class NetrcBlock:
    """Whole lines of a netrc file: an entry, a macro, a comment or a blank line."""

    kind: BlockKind
    text: str
    host: str = ""
    login: str = ""
    account: str = ""
    password: str = ""


@dataclass(frozen=True)
class NetrcFile:
    """A generated netrc file, made of blocks; ``managed`` blocks hold ecrd's hosts."""

    blocks: tuple[NetrcBlock, ...]
    newline: str = "\n"

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks).replace("\n", self.newline)

    def unmanaged_text(self) -> str:
        """The file without its entries for managed hosts."""
        kept = "".join(b.text for b in self.blocks if b.kind != "managed")
        return kept.replace("\n", self.newline)

    def machines(self) -> dict[str, tuple[str, str, str]]:
        """Python netrc's view of the unmanaged entries: host -> (login, account, password).

        ``default`` is there under its own name, as Python's ``netrc.hosts`` has it.
        """
        found: dict[str, tuple[str, str, str]] = {}
        for block in self.blocks:
            if block.kind in ("machine", "default"):
                found[block.host] = (block.login, block.account, block.password)
        return found


# Values that are no keyword: they end in a character no keyword ends in.
words = st.tuples(
    st.text(_LOWER + "ABCXYZ_.@/:+=-", max_size=10), st.sampled_from("0123456789_.@=-")
).map("".join)
separators = st.sampled_from([" ", "  ", "\t", "\n", "\n\t", "\n  "])


@st.composite
def _values(draw: st.DrawFn) -> tuple[str, str]:
    """A login or password: the value and how it is written (maybe quoted, with spaces)."""
    if draw(st.booleans()):
        value = draw(words)
        return value, value
    value = " ".join(draw(st.lists(words, min_size=1, max_size=3)))
    return value, f'"{value}"'


@st.composite
def _machine(draw: st.DrawFn, host: str) -> NetrcBlock:
    login, login_text = draw(_values())
    password, password_text = draw(_values())
    fields = [f"login{draw(separators)}{login_text}", f"password{draw(separators)}{password_text}"]
    account = draw(st.one_of(st.just(""), words))
    if account:
        fields.insert(1, f"account{draw(separators)}{account}")
    if draw(st.booleans()):
        fields.reverse()
    text = f"machine{draw(separators)}{host}"
    for item in fields:
        text += draw(separators) + item
    if draw(st.booleans()):
        text += " # " + " ".join(draw(st.lists(words, max_size=3)))
    return NetrcBlock(
        "machine", text + "\n", host=host, login=login, account=account, password=password
    )


@st.composite
def _managed(draw: st.DrawFn, host: str) -> NetrcBlock:
    """An older entry for a managed host, in any layout, maybe in another case."""
    name = draw(st.sampled_from([host, host.upper(), host.capitalize()]))
    password = draw(words)
    sep = draw(separators)
    text = f"machine{sep}{name}{draw(separators)}login AWS{draw(separators)}password{sep}{password}"
    text += draw(st.sampled_from(["", " ", "\t "])) + "\n"
    return NetrcBlock("managed", text, host=name, login="AWS", password=password)


_macro_lines = st.one_of(
    st.just("cd /pub"),
    words.map(lambda w: f"machine {w} login {w} password {w}"),
    st.just("# not a comment, a macro line"),
)
_comments = st.lists(words, max_size=4).map(
    lambda ws: NetrcBlock("comment", "# " + " ".join(ws) + "\n")
)


@st.composite
def _macdef(draw: st.DrawFn) -> NetrcBlock:
    """A macro: its body lines look like entries and comments, and must not be read as such."""
    body = draw(st.lists(_macro_lines, max_size=3))
    name = draw(words)
    return NetrcBlock("macdef", f"macdef {name}\n" + "".join(f"{line}\n" for line in body) + "\n")


@st.composite
def netrc_files(draw: st.DrawFn, *, managed: Sequence[str] = ()) -> NetrcFile:
    """A netrc file Python's ``netrc``, curl and requests all read the same.

    ``managed`` names (without ports) get 0 to 2 older entries anywhere, ``default`` too.
    Comment lines never follow a blank line, a quoted word or a managed entry: Python's
    ``netrc`` reads a comment reached across an unread line end as keywords (ecrd's removal
    takes care of that case, tested on its own).
    """
    taken = {m.lower() for m in managed}
    drawn = draw(st.lists(plain_hosts, max_size=4, unique_by=str.lower))
    others = [host for host in drawn if host.lower() not in taken]
    blocks: list[NetrcBlock] = [draw(_machine(host)) for host in others]
    blocks += [draw(_managed(name)) for name in managed for _ in range(draw(st.integers(0, 2)))]
    blocks += [draw(_macdef()) for _ in range(draw(st.integers(0, 2)))]
    blocks += [NetrcBlock("blank", "\n")] * draw(st.integers(0, 3))
    blocks += draw(st.lists(_comments, max_size=3))
    if draw(st.booleans()):
        login, password = draw(words), draw(words)
        text = f"default login {login} password {password}\n"
        blocks.append(NetrcBlock("default", text, host="default", login=login, password=password))
    ordered = draw(st.permutations(blocks))
    kept: list[NetrcBlock] = []
    for block in ordered:
        after = kept[-1] if kept else None
        if (
            block.kind == "comment"
            and after
            and (after.kind in ("blank", "managed") or after.text.endswith('"\n'))
        ):
            continue
        kept.append(block)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return NetrcFile(blocks=tuple(kept), newline=newline)


# ---- docker config.json --------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
auth_entries = st.fixed_dictionaries(
    {},
    optional={
        "auth": st.text(max_size=20),
        "email": st.emails(),
        "identitytoken": st.text(max_size=20),
        "registrytoken": st.text(max_size=20),
    },
)


@st.composite
def docker_configs(draw: st.DrawFn, *, managed: Sequence[str] = ()) -> dict[str, object]:
    """A docker config document: docker's own keys, unknown keys, in any order.

    ``managed`` hosts may have an older entry (with extra keys, as ``docker login`` leaves
    them); other hosts' entries are anything docker accepts.
    """
    document: dict[str, object] = {}
    keys = {
        "credHelpers": st.dictionaries(
            hosts, st.sampled_from(["", "ecr-login", "pass"]), max_size=2
        ),
        "proxies": st.fixed_dictionaries(
            {"default": st.fixed_dictionaries({"httpProxy": st.just("http://proxy:3128")})}
        ),
        "HttpHeaders": st.dictionaries(
            st.sampled_from(["User-Agent", "X-Meta"]), st.text(max_size=10), max_size=2
        ),
        "psFormat": st.text(max_size=10),
        "currentContext": st.text(max_size=10),
        "auths": st.just(None),  # filled below
    }
    chosen = draw(st.lists(st.sampled_from(sorted(keys)), unique=True))
    extra = draw(
        st.dictionaries(
            st.text(max_size=10).filter(lambda k: k not in keys), json_values, max_size=3
        )
    )
    for key in chosen:
        document[key] = draw(keys[key])
    document.update(extra)
    order = draw(st.permutations(list(document)))
    document = {key: document[key] for key in order}
    if "auths" in document:
        taken = set(managed)
        others = draw(
            st.dictionaries(hosts.filter(lambda h: h not in taken), auth_entries, max_size=4)
        )
        olds = {h: draw(auth_entries) for h in managed if draw(st.booleans())}
        entries = {**others, **olds}
        order = draw(st.permutations(list(entries)))
        document["auths"] = {host: entries[host] for host in order}
    return document
