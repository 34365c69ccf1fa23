"""Input detection and splitting: what each worker reads.

Work is handed to workers as small :class:`InputSplit` references (a file plus
a byte range, a multistream offset range, a shard number or a list of files);
the workers read and parse the bytes themselves. Shipping references instead
of page texts is what lets the pipeline scale with workers.
"""
from __future__ import annotations

import bz2
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from kgpipe.config import IngestConfig
from kgpipe.ingest.dumps import (
    InputError,
    SiteInfo,
    iter_decompressed,
    parse_siteinfo,
    scan_pages,
)
from kgpipe.ingest.warc import is_warc, one_record_per_member, record_starts

WIKI, NEWS_JSONL, NEWS_DIR, WARC = "wiki", "news_jsonl", "news_dir", "warc"
#: an input that could not be opened or read from its start: its split is one reject row
UNREADABLE = "unreadable"
_SNIFF_BYTES = 256 * 1024
SPLITS_PER_WORKER = 4


@dataclass(frozen=True)
class InputSplit:
    path: str
    kind: str
    codec: str = "none"
    start: int = 0
    end: int | None = None
    shard: int = 0
    num_shards: int = 1
    site: SiteInfo | None = None
    expected: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()
    streams: tuple[int, ...] = ()
    error: str | None = None
    #: a gzip WARC with one record per member: the split owns the members that start in [start, end)
    members: bool = False

    def describe(self) -> str:
        if self.files:
            return f"{self.path} [{len(self.files)} files from {self.files[0]}]"
        if self.num_shards > 1:
            return f"{self.path} [shard {self.shard + 1}/{self.num_shards}]"
        return f"{self.path} [{self.start}:{'' if self.end is None else self.end}]"


def codec_of(head: bytes) -> str:
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return "none"


def _sniff(path: Path, codec: str) -> bytes:
    """First bytes of the (decompressed) content; a file unreadable from the start fails here."""
    out = bytearray()
    try:
        with open(path, "rb") as fh:
            for chunk in iter_decompressed(fh, codec, limit=_SNIFF_BYTES if codec == "none" else None):
                out += chunk
                if len(out) >= _SNIFF_BYTES:
                    break
    except InputError as exc:
        if not out:
            raise InputError(f"cannot read {path}: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return bytes(out)


_INDEX_LINE = re.compile(rb"^\d+:\d+:")


def detect(path: Path) -> tuple[str, str]:
    """(kind, codec) of an input, by content first and name second."""
    if path.is_dir():
        if not any(f.is_file() for f in path.rglob("*")):
            raise InputError(f"cannot read {path}: the folder holds no files")
        return NEWS_DIR, "none"
    if not path.exists():
        raise InputError(f"cannot read {path}: no such file or directory")
    try:
        with open(path, "rb") as fh:
            codec = codec_of(fh.read(4))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    head = _sniff(path, codec).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise InputError(f"cannot read {path}: it is empty")
    if is_warc(head[:12]):   # first: a crawled page in the first record may hold any text, "<mediawiki" too
        return WARC, codec
    if b"<mediawiki" in head[:8192] or head.startswith(b"<?xml"):
        return WIKI, codec
    if head.startswith(b"{") or re.search(r"\.(jsonl|ndjson|json)(\.gz|\.bz2)?$", path.name):
        return NEWS_JSONL, codec
    if _INDEX_LINE.match(head):
        return "multistream_index", codec
    raise InputError(f"cannot read {path}: not a MediaWiki XML dump, WARC file, JSONL news file or folder of articles")


_INDEX_SUFFIX = re.compile(r"-index\.(txt|xml)\.bz2$")


def find_index(path: Path) -> Path | None:
    """The multistream index that Wikimedia publishes beside a ``*multistream.xml.bz2``."""
    if "multistream" not in path.name or not path.name.endswith(".xml.bz2"):
        return None
    for suffix in ("-index.txt.bz2", "-index.xml.bz2"):
        candidate = path.with_name(path.name[:-len(".xml.bz2")] + suffix)
        if candidate.exists():
            return candidate
    return None


def read_index(index: Path) -> list[tuple[int, str, str]]:
    """``offset:page_id:title`` lines (titles may contain ':', so split twice)."""
    entries = []
    try:
        with bz2.open(index, "rt", encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\r\n")
                if not line:
                    continue
                offset, page_id, title = line.split(":", 2)
                entries.append((int(offset), page_id, title))
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read multistream index {index}: {exc}") from None
    if not entries:
        raise InputError(f"cannot read multistream index {index}: it is empty")
    return entries


def read_header(path: Path, codec: str, end: int | None = None) -> SiteInfo:
    """Site information from the bytes before the first page (for multistream: the first stream)."""
    header: list[bytes] = []
    with open(path, "rb") as fh:
        for _ in scan_pages(iter_decompressed(fh, codec, end), max_page_bytes=1, header_sink=header):
            break
    try:
        return parse_siteinfo(b"".join(header), path.name)
    except InputError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def _byte_ranges(size: int, split_bytes: int) -> list[tuple[int, int | None]]:
    starts = list(range(0, max(size, 1), split_bytes))
    return [(s, starts[i + 1] if i + 1 < len(starts) else None) for i, s in enumerate(starts)]


def plan_splits(inputs: list[str | os.PathLike], cfg: IngestConfig) -> list[InputSplit]:
    """Detect every input and cut it into splits. An input that cannot be read from its start raises
    :class:`InputError` naming it under ``on_unreadable_input: fail``; under ``reject`` it becomes one
    :data:`UNREADABLE` split while the others go on, unless no input can be read at all."""
    paths = [Path(p) for p in inputs]
    kinds: dict[Path, tuple[str, str] | InputError] = {}
    for path in paths:
        try:
            kinds[path] = detect(path)
        except InputError as exc:
            kinds[path] = exc
    explicit_indexes = {p for p, kind in kinds.items() if isinstance(kind, tuple) and kind[0] == "multistream_index"}
    splits: list[InputSplit] = []
    for path in paths:
        kind = kinds[path]
        try:
            if isinstance(kind, InputError):
                raise kind
            splits += _input_splits(path, *kind, explicit_indexes, cfg)
        except InputError as exc:
            if cfg.on_unreadable_input == "fail":
                raise
            splits.append(InputSplit(str(path), UNREADABLE, error=str(exc)))
    if splits and all(split.kind == UNREADABLE for split in splits):
        raise InputError("; ".join(split.error for split in splits))
    return splits


def _input_splits(path: Path, kind: str, codec: str, explicit_indexes: set[Path],
                  cfg: IngestConfig) -> list[InputSplit]:
    key = str(path)
    if kind == "multistream_index":
        return []
    if kind == NEWS_DIR:
        files = sorted(str(f.relative_to(path)) for f in path.rglob("*") if f.is_file())
        groups = [tuple(files[i:i + cfg.files_per_split]) for i in range(0, len(files), cfg.files_per_split)]
        return [InputSplit(key, kind, files=group) for group in groups] or [InputSplit(key, kind)]
    if kind == NEWS_JSONL:
        if codec == "none":
            return [InputSplit(key, kind, start=s, end=e)
                    for s, e in _byte_ranges(path.stat().st_size, cfg.split_bytes)]
        return [InputSplit(key, kind, codec)]
    if kind == WARC:
        return _warc_splits(path, codec, cfg)
    index = find_index(path) or next((i for i in explicit_indexes
                                      if _INDEX_SUFFIX.sub(".xml.bz2", i.name) == path.name), None)
    if codec == "bz2" and index is not None:
        return _multistream_splits(path, index, cfg)
    site = read_header(path, codec)
    if codec == "none":
        return [InputSplit(key, kind, codec, start=s, end=e, site=site)
                for s, e in _byte_ranges(path.stat().st_size, cfg.split_bytes)]
    return _shards(InputSplit(key, kind, codec, site=site), cfg)


def _shards(split: InputSplit, cfg: IngestConfig) -> list[InputSplit]:
    """A file compressed as one stream: every shard reads it all and keeps every n-th record."""
    shards = cfg.shards_per_compressed_file or cfg.direct_num_workers
    return [replace(split, shard=i, num_shards=shards) for i in range(shards)]


def _warc_splits(path: Path, codec: str, cfg: IngestConfig) -> list[InputSplit]:
    """Uncompressed: record-aligned ranges of about ``split_bytes``; gzip with a record per member: byte
    ranges, a worker finds its first member itself; any other compression: shards of the one stream."""
    key = str(path)
    if codec == "none":
        bounds: list[int] = []
        for start in record_starts(key) or [0]:
            if not bounds or start - bounds[-1] >= cfg.split_bytes:
                bounds.append(start)
        return [InputSplit(key, WARC, codec, start=s, end=e) for s, e in zip(bounds, bounds[1:] + [None])]
    if codec == "gzip" and one_record_per_member(key, cfg.max_page_bytes):
        return [InputSplit(key, WARC, codec, start=s, end=e, members=True)
                for s, e in _byte_ranges(path.stat().st_size, cfg.split_bytes)]
    return _shards(InputSplit(key, WARC, codec), cfg)


def _multistream_splits(path: Path, index: Path, cfg: IngestConfig) -> list[InputSplit]:
    entries = read_index(index)
    by_offset: dict[int, list[tuple[str, str]]] = {}
    for offset, page_id, title in entries:
        by_offset.setdefault(offset, []).append((page_id, title))
    offsets = sorted(by_offset)
    site = read_header(path, "bz2", end=offsets[0])
    # at least SPLITS_PER_WORKER splits per worker, so that uneven pages even out across workers
    per_split = min(cfg.pages_per_split, max(1, len(entries) // (SPLITS_PER_WORKER * cfg.direct_num_workers)))
    groups: list[list[int]] = [[]]
    count = 0
    for offset in offsets:
        size = len(by_offset[offset])
        if groups[-1] and count + size > per_split:
            groups.append([])
            count = 0
        groups[-1].append(offset)
        count += size
    splits = []
    for i, group in enumerate(groups):
        end = groups[i + 1][0] if i + 1 < len(groups) else None
        expected = tuple(entry for offset in group for entry in by_offset[offset])
        splits.append(InputSplit(str(path), WIKI, "bz2", start=group[0], end=end, site=site,
                                 expected=expected, streams=tuple(group)))
    return splits
