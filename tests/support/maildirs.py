"""A Maildir tree made by Dovecot's conventions, for import and export tests.

LF line ends on disk (Dovecot keeps Maildir files so), ``time.MusecPpidQn.host,S=size,
W=vsize:2,FLAGS`` names, the mtime as the internal date, ``dovecot-keywords``,
``dovecot-uidlist``, Maildir++ ``.Sub.Folder`` directories named in modified UTF-7, and
a version 2 ``subscriptions`` file. What it wrote is returned, to compare with.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

# mailbox name -> (directory, subscribed); the names in modified UTF-7 are RFC 3501's
# own examples ("台北") and a German one ("Entwürfe" as Dovecot writes it)
FOLDERS = {
    "INBOX": ("", True),
    "Sent": (".Sent", True),
    "Archive": (".Archive", False),
    "Archive/2024": (".Archive.2024", True),
    "Entwürfe": (".Entw&APw-rfe", True),
    "Lists/台北": (".Lists.&U,BTFw-", True),
    "Lists": (".Lists", False),
}
KEYWORDS = ["$Forwarded", "Junk", "$Label1", "NonJunk"]
LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


@dataclass
class Made:
    root: Path
    # mailbox -> sorted [(bytes, flags, mtime)] as the messages were written, in UID order per folder
    messages: dict[str, list[tuple[bytes, frozenset[str], int]]] = field(default_factory=dict)
    subscribed: set[str] = field(default_factory=set)
    big: int = 0

    @property
    def count(self) -> int:
        return sum(len(m) for m in self.messages.values())


def message_bytes(rng: random.Random, pool: str, n: int, size: int) -> bytes:
    head = (f"Return-Path: <sender{n}@example.net>\nFrom: Sender {n} <sender{n}@example.net>\n"
            f"To: bob@example.org\nSubject: message {n} =?utf-8?q?gr=C3=BC=C3=9Fe?=\n"
            f"Message-ID: <{n}.{rng.getrandbits(32)}@example.net>\n"
            "Date: Tue, 8 Dec 2026 00:00:00 +0000\n\n")
    body = []
    length = 0
    while length < size:
        kind = rng.random()
        if kind < 0.03:
            line = "From the desk of nobody"  # mbox would quote these; Maildir keeps them
        elif kind < 0.05:
            line = ">From quoted already"
        elif kind < 0.07:
            line = "bare\rcarriage return inside a line"
        elif kind < 0.12:
            line = ""
        else:
            start = rng.randrange(0, len(pool) - 80)
            line = pool[start:start + rng.randint(1, 76)]
        body.append(line)
        length += len(line) + 1
    data = (head + "\n".join(body) + "\n").encode()
    if n % 997 == 5:
        data = data[:-1]  # no line end at the very end
    return data


def make_maildir(root: Path, count: int, *, seed: int = 20, big: int = 2) -> Made:
    """``count`` messages spread over :data:`FOLDERS`, ``big`` of them over 1 MiB."""
    rng = random.Random(seed)
    pool = "".join(rng.choices("abcdefghij klmnopqrstuvwxyz.,", k=1 << 20))  # text to cut lines from
    made = Made(root, big=big)
    names = list(FOLDERS)
    weights = [40, 15, 10, 10, 5, 5, 0]  # "Lists" holds nothing: a parent only
    per_folder: dict[str, list[tuple[str, bytes, frozenset[str], int, bool]]] = {n: [] for n in names}
    big_at = set(rng.sample(range(count), big)) if count >= big else set()
    previous: tuple[bytes, str] | None = None
    for n in range(count):
        folder = rng.choices(names, weights)[0]
        size = rng.randint(1_100_000, 2_000_000) if n in big_at else int(rng.lognormvariate(7.5, 1.0))
        data = message_bytes(rng, pool, n, size)
        if previous is not None and n % 1000 == 999:
            data, folder = previous  # the same bytes twice in one folder: both are kept
        previous = (data, folder)
        letters = "".join(sorted(rng.sample("DFRST", rng.randint(0, 3))))
        keyword_letters = "".join(sorted(rng.sample("abcd", rng.choice([0, 0, 0, 1, 2]))))
        new = rng.random() < 0.1  # in new/: no flags yet
        if new:
            letters = keyword_letters = ""
        flags = frozenset({LETTERS[c] for c in letters} | {KEYWORDS[ord(c) - 97] for c in keyword_letters})
        mtime = 1_600_000_000 + rng.randint(0, 100_000_000)
        per_folder[folder].append((letters + keyword_letters, data, flags, mtime, new))
    for name, (dirname, subscribed) in FOLDERS.items():
        path = root / dirname if dirname else root
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        (path / "dovecot-keywords").write_text("".join(f"{i} {k}\n" for i, k in enumerate(KEYWORDS)))
        if subscribed:
            made.subscribed.add(name)
        uidlist = [f"3 V1600000000 N{len(per_folder[name]) + 1} G0123456789abcdef"]
        written = []
        order = list(range(len(per_folder[name])))
        rng.shuffle(order)  # file names sort otherwise than the UIDs: the uidlist decides
        for uid, i in enumerate(order, start=1):
            info, data, flags, mtime, new = per_folder[name][i]
            base = f"{mtime}.M{rng.randint(0, 999999)}P{1000 + uid}Q{uid}.mail.example.org"
            vsize = len(data.replace(b"\n", b"\r\n"))
            filename = f"{base},S={len(data)},W={vsize}" + ("" if new else f":2,{info}")
            file = path / ("new" if new else "cur") / filename
            file.write_bytes(data)
            os.utime(file, (mtime, mtime))
            uidlist.append(f"{uid} W{vsize} :{filename}")
            written.append((data, flags, mtime))
        (path / "dovecot-uidlist").write_text("\n".join(uidlist) + "\n")
        made.messages[name] = written
    lines = ["\t".join(name.split("/")) for name in made.subscribed]
    # names in the file as Dovecot stores them: modified UTF-7 levels
    encoded = {"Entwürfe": "Entw&APw-rfe", "Lists\t台北": "Lists\t&U,BTFw-"}
    (root / "subscriptions").write_text("V\t2\n\n" + "".join(encoded.get(x, x) + "\n" for x in sorted(lines)))
    return made


def read_maildir(root: Path) -> dict[str, list[tuple[bytes, frozenset[str], int]]]:
    """Each folder's messages as (bytes, flags, mtime), read back with the names and
    keywords files of :data:`FOLDERS`' directories (cur/ and new/ both)."""
    out: dict[str, list[tuple[bytes, frozenset[str], int]]] = {}
    for name, (dirname, _) in FOLDERS.items():
        path = root / dirname if dirname else root
        if not path.is_dir():
            continue
        keywords = {}
        if (path / "dovecot-keywords").exists():
            for line in (path / "dovecot-keywords").read_text().splitlines():
                number, _, word = line.partition(" ")
                keywords[chr(97 + int(number))] = word
        found = []
        for sub in ("cur", "new"):
            for file in (path / sub).iterdir():
                _, _, info = file.name.partition(":2,")
                flags = frozenset(LETTERS[c] if c in LETTERS else keywords[c] for c in info)
                found.append((file.read_bytes(), flags, int(file.stat().st_mtime)))
        out[name] = found
    return out
