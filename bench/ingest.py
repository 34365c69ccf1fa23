"""Beam ingest on 2 worker processes vs a plain single-process loop, over the same dump.

Both sides run the same reader and the same cleaner (bz2, ElementTree,
mwparserfromhell) and write the same Parquet tables. The dump is the real
English Wikipedia sample, written out ``--repeat`` times (page ids offset so
every copy is a distinct page) as a multistream file with its index and 100
pages per stream, as Wikimedia publishes production dumps; this makes the run
long enough that process start-up does not dominate.

    .venv/bin/python bench/ingest.py [--input DUMP.xml.bz2] [--repeat 12] [--workers 2]
"""
from __future__ import annotations

import argparse
import bz2
import re
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kgpipe.config import EMBEDDED_WIKI, Config, IngestConfig
from kgpipe.datasets import resolve_inputs
from kgpipe.ingest.dumps import iter_decompressed, scan_pages
from kgpipe.ingest.inputs import plan_splits
from kgpipe.ingest.process import OUTPUT_TABLES, process_split
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from pipelines.ingest import run_stage
from schemas import arrow_schema

TARGET = 1.6
PAGES_PER_STREAM = 100
SHARED_SAMPLE = (Path(__file__).resolve().parents[2] / "shared" / "data" / "wiki"
                 / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")


def build_multistream(source: Path, repeat: int, folder: Path) -> tuple[Path, int]:
    header: list[bytes] = []
    with open(source, "rb") as fh:
        pages = [chunk.data for chunk in scan_pages(iter_decompressed(fh, "bz2"), 1 << 30, header_sink=header)]
    copies = []
    for k in range(repeat):
        for page in pages:
            page_id = int(re.search(rb"<id>(\d+)</id>", page).group(1)) + k * 1_000_000
            page = re.sub(rb"<id>\d+</id>", f"<id>{page_id}</id>".encode(), page, count=1)
            if k:
                page = page.replace(b"</title>", f" (copy {k})</title>".encode(), 1)
            title = re.search(rb"<title>(.*?)</title>", page).group(1).decode()
            copies.append((page_id, title, page))
    data = folder / "enwiki-bench-multistream.xml.bz2"
    blob = bytearray(bz2.compress(b"".join(header)))
    index_lines = []
    for start in range(0, len(copies), PAGES_PER_STREAM):
        group = copies[start:start + PAGES_PER_STREAM]
        index_lines += [f"{len(blob)}:{page_id}:{title}" for page_id, title, _ in group]
        blob += bz2.compress(b"\n".join(page for _, _, page in group) + b"\n")
    blob += bz2.compress(b"</mediawiki>\n")
    data.write_bytes(bytes(blob))
    (folder / "enwiki-bench-multistream-index.txt.bz2").write_bytes(
        bz2.compress(("\n".join(index_lines) + "\n").encode()))
    return data, len(copies)


def plain_loop(dump: Path, out: Path) -> int:
    """One process: read the dump front to back, clean every page, write the tables."""
    cfg = IngestConfig(shards_per_compressed_file=1)
    split = plan_splits([dump], cfg.model_copy(update={"pages_per_split": 10**9}))[0]
    split = type(split)(path=split.path, kind=split.kind, codec="bz2", site=split.site)  # whole file, no index
    rows: dict[str, list[dict]] = {name: [] for name in OUTPUT_TABLES}
    seen = 0
    for tag, row in process_split(split, cfg):
        if tag == "stats":
            seen = row["seen"]
        else:
            rows[tag].append(row)
    for name in OUTPUT_TABLES:
        pq.write_table(pa.Table.from_pylist(rows[name], schema=arrow_schema(name)), out / f"{name}.parquet")
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate the two sides this many times and keep each side's best time; "
                             "shared machines vary by 30%% from run to run")
    args = parser.parse_args()
    source = args.input or (SHARED_SAMPLE if SHARED_SAMPLE.exists()
                            else resolve_inputs([EMBEDDED_WIKI], Config().cache_dir)[0])
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        dump, pages = build_multistream(source, args.repeat, tmp_path)
        print(f"input: {source.name} x{args.repeat} as multistream: {pages} pages, "
              f"{dump.stat().st_size / 1e6:.1f} MB, {PAGES_PER_STREAM} pages per stream")
        cfg = IngestConfig(direct_running_mode="multi_processing", direct_num_workers=args.workers)
        plain_times, beam_times = [], []
        for round_no in range(args.rounds):
            out = tmp_path / f"plain{round_no}"
            out.mkdir()
            started = time.perf_counter()
            plain_pages = plain_loop(dump, out)
            plain_times.append(time.perf_counter() - started)

            ctx = StageContext(Warehouse(tmp_path / "wh"), f"bench{round_no}", str(tmp_path / "cache"))
            started = time.perf_counter()
            record = run_stage(cfg, ctx, [str(dump)])
            beam_times.append(time.perf_counter() - started)
            beam_pages = record.inputs["per_input"][str(dump)]["pages_seen"]
            if beam_pages != plain_pages or record.outputs["documents"] != pq.read_metadata(
                    out / "documents.parquet").num_rows:
                print("the two sides disagree on what they read: benchmark invalid")
                return 1
            print(f"round {round_no + 1}: plain loop {plain_times[-1]:6.1f} s, "
                  f"Beam {beam_times[-1]:6.1f} s ({record.inputs['splits']} splits)")
    plain_s, beam_s = min(plain_times), min(beam_times)
    print(f"plain loop, 1 process:        {pages} pages in {plain_s:6.1f} s = {pages / plain_s:6.1f} pages/s (best)")
    print(f"Beam DirectRunner, {args.workers} workers: {pages} pages in {beam_s:6.1f} s = "
          f"{pages / beam_s:6.1f} pages/s (best)")
    ratio = plain_s / beam_s
    verdict = "target met" if ratio >= TARGET else "target not met"
    print(f"Beam ingest on {args.workers} workers runs {ratio:.2f}x the pages/s of the single-process loop "
          f"(target {TARGET}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
