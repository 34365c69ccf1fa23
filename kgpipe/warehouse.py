"""The warehouse: a folder of Parquet tables that readers never see half-written.

Each table name (``warehouse/documents``) is a symbolic link to an immutable
version folder under ``warehouse/_versions/<table>/<version>``. A stage writes
a new version under ``_staging``, checks it, moves it into ``_versions`` and
swaps the link with one ``rename(2)``, which POSIX makes atomic: a reader sees
the old table or the new one, never a mix. Older versions are kept for a while
so that readers that opened them keep working. (Object stores have no atomic
rename; there, point readers at the version folder named in the run manifest.)
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from kgpipe.manifest import StageRecord
from schemas import arrow_schema
from schemas.tables import logical_type


class SchemaMismatch(Exception):
    pass


class Warehouse:
    def __init__(self, root: str | os.PathLike, keep_versions: int = 2):
        self.root = Path(root)
        self.keep_versions = keep_versions

    def table_path(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return self.table_path(name).exists()

    def staging_dir(self, run_id: str) -> Path:
        path = self.root / "_staging" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def discard_staging(self, run_id: str) -> None:
        shutil.rmtree(self.root / "_staging" / run_id, ignore_errors=True)
        try:
            (self.root / "_staging").rmdir()
        except OSError:
            pass  # another run is staging

    def dataset(self, name: str) -> ds.Dataset:
        return ds.dataset(self.table_path(name), format="parquet", schema=arrow_schema(name))

    def read(self, name: str, columns: list[str] | None = None):
        return self.dataset(name).to_table(columns=columns)

    def count(self, name: str) -> int:
        return self.dataset(name).count_rows()

    @staticmethod
    def check_schema(name: str, folder: Path) -> int:
        """Every Parquet file of a staged table must carry exactly the declared columns and types,
        and no nulls where the schema forbids them; returns the row count.

        Types are compared as the engines see them (see ``schemas.logical_type``); a writer that
        cannot declare a column non-null (Spark) is held to it through the files' null counts.
        """
        expected = arrow_schema(name)
        want = [(f.name, logical_type(f.type)) for f in expected]
        required = [f.name for f in expected if not f.nullable]
        rows = 0
        files = sorted(folder.glob("*.parquet"))
        if not files:
            raise SchemaMismatch(f"{name}: no Parquet files in {folder}")
        for path in files:
            meta = pq.read_metadata(path)
            actual = meta.schema.to_arrow_schema()
            got = [(f.name, logical_type(f.type)) for f in actual]
            if got != want:
                raise SchemaMismatch(f"{name}: {path.name} has columns {got}, expected {want}")
            version = (actual.metadata or {}).get(b"kgpipe.version")
            if version is not None and version != expected.metadata[b"kgpipe.version"]:
                raise SchemaMismatch(f"{name}: {path.name} is version {version.decode()}, "
                                     f"expected {expected.metadata[b'kgpipe.version'].decode()}")
            # leaf columns of required top-level scalars (nested values carry their own null counts)
            leaves = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
            for group in range(meta.num_row_groups):
                row_group = meta.row_group(group)
                for column in required:
                    leaf = leaves.get(column)
                    stats = row_group.column(leaf).statistics if leaf is not None else None
                    if stats is not None and stats.has_null_count and stats.null_count:
                        raise SchemaMismatch(f"{name}: {path.name} has {stats.null_count} nulls in "
                                             f"non-null column {column}")
            rows += meta.num_rows
        return rows

    def carry_rejects(self, stage: str, staged: Path) -> int:
        """``rejects`` is shared by all stages; each stage replaces only its own rows. Copy the
        current version's rows of the other stages into the staged folder (streamed in batches)."""
        if not self.exists("rejects"):
            return 0
        scanner = self.dataset("rejects").scanner(filter=pc.field("stage") != stage)
        carried = 0
        with pq.ParquetWriter(staged / "carried-from-other-stages.parquet", arrow_schema("rejects")) as writer:
            for batch in scanner.to_batches():
                writer.write_batch(batch)
                carried += batch.num_rows
        return carried

    def commit(self, name: str, staged: Path, version: str) -> Path:
        """Publish a staged folder as the current version of ``name`` (atomic link swap)."""
        versions = self.root / "_versions" / name
        versions.mkdir(parents=True, exist_ok=True)
        final = versions / version
        k = 1
        while final.exists():
            # the name is taken: by the live version when several stages of one run commit the
            # same table (every stage commits its rows of rejects), or by one readers may still
            # have open. Never replace a version folder in place: a reader of it would see it
            # vanish or change under it. A fresh name; the old one is pruned like any version.
            k += 1
            final = versions / f"{version}.{k}"
        os.replace(staged, final)
        link = self.table_path(name)
        if link.exists() and not link.is_symlink():
            raise FileExistsError(f"{link} is a real folder, not a kgpipe table link; move it away first")
        # what this commit replaces, so that a rerun after a killed run can undo the commits of the
        # stage that did not finish (``rollback``); "" when the table is new
        previous = os.readlink(link) if link.is_symlink() else ""
        (versions / f".{final.name}.replaced").write_text(previous, encoding="utf-8")
        tmp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        os.symlink(os.path.relpath(final, self.root), tmp)
        os.replace(tmp, link)
        self._prune(versions, keep=final)
        return final

    def current_version(self, name: str) -> str | None:
        """The version folder's name the table link points at, or None where there is no table."""
        link = self.table_path(name)
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def tables(self) -> list[str]:
        """Names of the committed tables (the links in the root)."""
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_symlink() and (self.root / "_versions" / p.name).is_dir()) if self.root.is_dir() else []

    def rollback(self, name: str, version: str) -> str | None:
        """Undo the commit of ``version`` of ``name`` (a stage that was killed after committing some
        of its tables): the link goes back to the version it replaced, or away when the table was
        new. Returns the version now current; nothing changes unless ``version`` is current. Raises
        ``FileNotFoundError`` where the replaced version was already pruned (``keep_versions=0``)."""
        if self.current_version(name) != version:
            return self.current_version(name)
        versions = self.root / "_versions" / name
        record = versions / f".{version}.replaced"
        previous = record.read_text(encoding="utf-8") if record.exists() else None
        if previous is None:
            raise FileNotFoundError(f"{name}: no record of the version that {version} replaced")
        link = self.table_path(name)
        if not previous:
            link.unlink()
            return None
        if not (self.root / previous).is_dir():
            raise FileNotFoundError(f"{name}: the version {version} replaced ({previous}) was pruned "
                                    f"(keep_versions={self.keep_versions})")
        tmp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        os.symlink(previous, tmp)
        os.replace(tmp, link)
        return Path(previous).name

    def _prune(self, versions: Path, keep: Path) -> None:
        older = sorted((p for p in versions.iterdir() if p != keep and p.is_dir()), key=lambda p: p.stat().st_mtime)
        for path in older[: max(0, len(older) - self.keep_versions)]:
            shutil.rmtree(path, ignore_errors=True)
        for record in versions.glob(".*.replaced"):
            if not (versions / record.name[1:-len(".replaced")]).is_dir():
                record.unlink(missing_ok=True)

    def purge_old_versions(self, name: str) -> list[str]:
        """Delete every version of ``name`` but the current one (``kgpipe forget``: an erasure must not leave
        the text in a version kept for readers); returns the versions deleted. A stage interrupted later can no
        longer be rolled back past the current version."""
        versions, current = self.root / "_versions" / name, self.current_version(name)
        deleted = []
        for path in sorted(versions.iterdir()) if versions.is_dir() else ():
            if path.is_dir() and path.name != current:
                shutil.rmtree(path, ignore_errors=True)
                deleted.append(path.name)
        for record in versions.glob(".*.replaced") if versions.is_dir() else ():
            if record.name != f".{current}.replaced":
                record.unlink(missing_ok=True)
        return deleted

    def request_rebuild(self, stage: str, reason: str) -> Path:
        """Ask the next run of ``stage`` for a full rebuild instead of an incremental one (``kgpipe forget``:
        resolve must recompute what the removed documents supported); the stage clears it once committed."""
        return self.write_json_atomic(f"_rebuild/{stage}.json", {"stage": stage, "reason": reason,
                                                                 "requested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                               time.gmtime())})

    def rebuild_requested(self, stage: str) -> str | None:
        """The reason a full rebuild of ``stage`` was asked for, or None."""
        path = self.root / "_rebuild" / f"{stage}.json"
        return json.loads(path.read_text(encoding="utf-8")).get("reason", "") if path.exists() else None

    def clear_rebuild(self, stage: str) -> None:
        (self.root / "_rebuild" / f"{stage}.json").unlink(missing_ok=True)

    def write_json_atomic(self, relative: str, payload: dict) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        # insertion order is meaningful (stages in the order they ran)
        tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)
        return path


class StageRun:
    """One stage's write into the warehouse, the same steps in every stage::

        with StageRun(warehouse, "extract", run_id) as run:
            frame.write.parquet(str(run.path("mentions")))       # staged under _staging/<run_id>/<stage>
            run.carry_rejects()                                  # the other stages' rows of rejects
            counts = run.check("mentions", "rejects")            # schema, non-null columns; row counts
            run.commit("mentions", "rejects")                    # atomic link swaps, versions recorded
            return run.record(inputs={...}, outputs=counts, rejects=n)

    Leaving the block discards the staging folder, whether the stage committed or failed; a table is
    committed only after every table of the stage passed its check.
    """

    def __init__(self, warehouse: Warehouse, stage: str, run_id: str):
        self.warehouse, self.stage, self.run_id = warehouse, stage, run_id
        self.started = time.monotonic()
        self.versions: dict[str, str] = {}

    def __enter__(self) -> StageRun:
        return self

    def __exit__(self, *exc_info) -> None:
        self.warehouse.discard_staging(self.run_id)

    @property
    def staging(self) -> Path:
        """The stage's staging folder (created on first use)."""
        return self.warehouse.staging_dir(self.run_id) / self.stage

    def path(self, table: str) -> Path:
        return self.staging / table

    def carry_rejects(self) -> int:
        return self.warehouse.carry_rejects(self.stage, self.path("rejects"))

    def check(self, *tables: str) -> dict[str, int]:
        return {name: self.warehouse.check_schema(name, self.path(name)) for name in tables}

    def commit(self, *tables: str) -> dict[str, str]:
        for name in tables:
            self.versions[name] = str(self.warehouse.commit(name, self.path(name), self.run_id))
        return self.versions

    def record(self, inputs: dict[str, Any], outputs: dict[str, int], rejects: int,
               details: dict[str, Any] | None = None, status: str = "committed") -> StageRecord:
        return StageRecord(name=self.stage, seconds=round(time.monotonic() - self.started, 3), inputs=inputs,
                           outputs=outputs, rejects=rejects, status=status, versions=dict(self.versions),
                           details=details or {})

