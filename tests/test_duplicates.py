"""Near-duplicate documents: syndicated copies of real news stories found by MinHash/LSH at ingest
(documents.duplicate_of, the duplicate share per input in the manifest), and a duplicate group counted
once by resolve.

Expectations come from the exact Jaccard similarity of the stories' word 5-gram sets, computed here on
its own (not with the code under test); the copies are built so that every pair is far (at least 0.1)
from the thresholds used, well beyond MinHash's error at 128 permutations (about 0.04).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path

import pytest

from kgpipe.config import IngestConfig, NearDuplicateConfig
from kgpipe.datasets import NEWS_SAMPLE
from kgpipe.ingest.duplicates import Sketch, Sketcher, candidate_pairs, representatives, shingles
from kgpipe.manifest import new_run_id
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from tests.graphfactory import mention, triple, write_table

STORIES = [json.loads(line) for line in NEWS_SAMPLE.read_text(encoding="utf-8").splitlines()]
COOK, CURIE = STORIES[0], STORIES[1]          # Tim Cook and Apple; the Marie Curie exhibition
BOILERPLATE = "Distributed by Newswire."


def _copy(story: dict, native_id: str, source: str, published: str, title: str, text: str | None = None) -> dict:
    return {**story, "id": native_id, "source": source, "url": f"https://{source}.example.com/{native_id}",
            "published": published, "title": title, "text": story["text"] if text is None else text}


def _edit(text: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert old in text
        text = text.replace(old, new, 1)
    return text


#: the Cook story as three other sites ran it, all later than the original (09:30)
SAME_TEXT = _copy(COOK, "w-1", "wire", "2024-03-12T11:00:00Z", "Apple's chief speaks to investors")
WITH_LINE = _copy(COOK, "w-2", "daily", "2024-03-12T13:00:00Z", "Cook in Cupertino",
                  COOK["text"] + "\n\n" + BOILERPLATE)
REWORDED = _copy(COOK, "w-3", "courier", "2024-03-13T08:00:00Z", "Tim Cook meets investors",
                 _edit(COOK["text"], ("spoke to", "addressed"), ("headquartered", "based")) + "\n\n" + BOILERPLATE)
#: the Curie story: a wire service ran it before the museum's paper did, so the wire copy is the original
CURIE_FIRST = _copy(CURIE, "w-4", "wire", "2024-04-02T06:00:00Z", "Curie exhibition opens")
#: another writer's story of the same fact: independent evidence, not a copy
INDEPENDENT = {"id": "ind-1", "source": "tribune", "url": "https://tribune.example.com/ind-1",
               "published": "2024-03-20T10:00:00Z", "title": "Apple at fifty",
               "text": "Analysts in New York looked back at the history of Apple this week. Tim Cook "
                       "succeeded Steve Jobs as the head of the company, which makes the iPhone."}
FEED = STORIES + [SAME_TEXT, WITH_LINE, REWORDED, CURIE_FIRST, INDEPENDENT]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _jaccard(a: str, b: str, n: int = 5) -> float:
    grams = [{tuple(w[i:i + n]) for i in range(len(w) - n + 1)} for w in (_words(a), _words(b))]
    return len(grams[0] & grams[1]) / len(grams[0] | grams[1])


def _published(story: dict) -> datetime:
    return datetime.fromisoformat(story["published"].replace("Z", "+00:00"))


def _expected_marks(threshold: float) -> dict[str, str]:
    """native_id -> native_id of its group's earliest story, from exact Jaccard similarities."""
    group = {s["id"]: s["id"] for s in FEED}

    def find(x):
        while group[x] != x:
            x = group[x]
        return x

    for a, b in combinations(FEED, 2):
        j = _jaccard(a["text"], b["text"])
        assert abs(j - threshold) >= 0.1, (a["id"], b["id"], j)     # the test's own margin
        if j >= threshold:
            group[find(a["id"])] = find(b["id"])
    members: dict[str, list[dict]] = {}
    for s in FEED:
        members.setdefault(find(s["id"]), []).append(s)
    marks = {}
    for stories in members.values():
        first = min(stories, key=_published)["id"]
        marks.update({s["id"]: first for s in stories if s["id"] != first})
    return marks


def test_the_copies_are_what_the_test_says():
    assert _jaccard(COOK["text"], SAME_TEXT["text"]) == 1.0
    assert 0.85 <= _jaccard(COOK["text"], WITH_LINE["text"]) < 1.0
    assert 0.5 <= _jaccard(COOK["text"], REWORDED["text"]) <= 0.7
    assert max(_jaccard(COOK["text"], s["text"]) for s in STORIES[1:] + [INDEPENDENT]) < 0.1


def test_shingles_ignore_case_punctuation_and_spacing():
    assert shingles("Tim Cook, the CEO,\n\nof  Apple.", 3) == shingles("tim cook the ceo of apple", 3)
    assert shingles("Only three words", 5) == {b"only three words"}
    assert shingles("  ...  ", 5) == set()


def _sketch(doc_id: str, day: int | None) -> Sketch:
    ts = None if day is None else datetime(2024, 1, day, tzinfo=timezone.utc)
    return Sketch(doc_id, "in", ts, b"", ())


def test_groups_join_chains_and_pick_the_earliest_then_the_smallest_id():
    a, b, c, d, e, f = (_sketch("a", 3), _sketch("b", 1), _sketch("c", 2), _sketch("d", None),
                        _sketch("f", 5), _sketch("e", 5))
    marks = representatives([(a, c), (c, b), (d, a), (f, e)])   # a-c-b-d is one group through the chain
    assert {k: v.doc_id for k, v in marks.items()} == {"a": "b", "c": "b", "d": "b", "f": "e"}


def test_estimated_similarity_decides_within_a_bucket():
    sketcher = Sketcher(NearDuplicateConfig())
    rows = [{"doc_id": s["id"], "text": s["text"], "source_timestamp": _published(s)}
            for s in (COOK, WITH_LINE, REWORDED)]
    found = {(a.doc_id, b.doc_id) for a, b in candidate_pairs([sketcher.sketch(r, "in") for r in rows], 0.8)}
    assert found == {("kg-0001", "w-2")}


@pytest.fixture(scope="module")
def feed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("feed") / "syndicated.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in FEED), encoding="utf-8")
    return path


def _ingest(feed: Path, root: Path, cfg, **near):
    from pipelines.ingest import run_stage
    settings = cfg.model_copy(update={"near_duplicates": NearDuplicateConfig(**near)})
    warehouse = Warehouse(root, keep_versions=5)
    record = run_stage(settings, StageContext(warehouse, new_run_id(), str(root / "_cache")), [str(feed)])
    docs = warehouse.read("documents", ["doc_id", "native_id", "duplicate_of"]).to_pylist()
    native = {d["doc_id"]: d["native_id"] for d in docs}
    marks = {d["native_id"]: native[d["duplicate_of"]] for d in docs if d["duplicate_of"] is not None}
    return warehouse, record, marks, {d["native_id"]: d["doc_id"] for d in docs}


@pytest.fixture(scope="module")
def ingested(feed, tmp_path_factory):
    # the conftest's in-process settings (its cfg fixture is per test)
    cfg = IngestConfig(direct_running_mode="in_memory", direct_num_workers=1, excerpt_chars=200)
    return _ingest(feed, tmp_path_factory.mktemp("dup-wh"), cfg)


def test_copies_point_at_their_groups_earliest_story(ingested):
    _, record, marks, _ = ingested
    expected = _expected_marks(0.8)
    assert marks == expected
    assert marks["w-1"] == marks["w-2"] == "kg-0001" and marks["kg-0002"] == "w-4"   # what that means here
    assert "w-3" not in marks and "ind-1" not in marks                 # reworded: 0.5-0.7 < 0.8
    [row] = record.inputs["per_input"].values()
    assert row["near_duplicates"] == len(expected) == 3
    assert row["duplicate_share"] == pytest.approx(3 / len(FEED), abs=1e-4)


def test_a_lower_threshold_also_marks_the_reworded_copy(feed, tmp_path, cfg):
    _, record, marks, _ = _ingest(feed, tmp_path / "wh", cfg, threshold=0.4)
    assert marks == _expected_marks(0.4)
    assert marks["w-3"] == "kg-0001" and "ind-1" not in marks
    assert next(iter(record.inputs["per_input"].values()))["near_duplicates"] == 4


def test_disabled_marks_nothing(feed, tmp_path, cfg):
    _, record, marks, _ = _ingest(feed, tmp_path / "wh", cfg, enabled=False)
    assert marks == {} and next(iter(record.inputs["per_input"].values()))["near_duplicates"] == 0


def _cook_fact(doc_id: str, text: str, confidence: float) -> tuple[list[dict], dict]:
    """Mentions where the text names Tim Cook and Steve Jobs, and the fact 'Cook succeed Steve Jobs' of the
    second sentence ('Cook became CEO of Apple in 2011, succeeding Steve Jobs.' in the Cook story)."""
    second = text.index(". ") + 2
    tim = mention(doc_id, "Tim Cook", "PERSON", text.index("Tim Cook"), sentence=0 if text.index("Tim Cook") < second
                  else 1)
    cook = tim if tim["sentence_index"] == 1 else mention(doc_id, "Cook", "PERSON", text.index("Cook", second),
                                                          sentence=1)
    jobs = mention(doc_id, "Steve Jobs", "PERSON", text.index("Steve Jobs", second), sentence=1)
    return list({m["mention_id"]: m for m in (tim, cook, jobs)}.values()), triple(cook, "succeed", jobs,
                                                                                  confidence=confidence)


@pytest.mark.usefixtures("spark")
def test_resolve_counts_a_duplicate_group_once(spark, ingested):
    """The original and two copies state the fact: one source. Another writer's story: a second one."""
    from jobs.resolve import run_stage
    from kgpipe.config import ResolveConfig

    warehouse, _, marks, ids = ingested
    assert marks["w-1"] == marks["w-2"] == "kg-0001"
    by_id = {s["id"]: s for s in FEED}
    mentions, triples = [], []
    for native, confidence in (("kg-0001", 0.6), ("w-1", 0.6), ("w-2", 0.9), ("ind-1", 0.5)):
        found, fact = _cook_fact(ids[native], by_id[native]["text"], confidence)
        mentions += found
        triples.append(fact)
    for name, rows in (("mentions", mentions), ("triples_raw", triples), ("links", []), ("redirects", [])):
        write_table(warehouse, name, rows)
    run_stage(ResolveConfig(), StageContext(warehouse, new_run_id(), str(warehouse.root / "_cache")), spark=spark)
    [edge] = [e for e in warehouse.read("edges").to_pylist() if e["predicate"] == "succeed"]
    assert edge["support_count"] == 2 and edge["evidence_count"] == 2         # not 4
    assert {e["doc_id"] for e in edge["evidence"]} == {ids["kg-0001"], ids["ind-1"]}
    # the group speaks through its representative (equal evidence): 0.6, not the copy's 0.9
    assert edge["confidence"] == pytest.approx(1 - (1 - 0.6) * (1 - 0.5))
    # every sighting still dates the fact: the last copy ran on 12 March, the other story on 20 March
    assert edge["first_seen"] == _published(COOK) and edge["last_seen"] == _published(INDEPENDENT)


def test_bbc_corpus_marks_agree_with_exact_jaccard(tmp_path, cfg):
    """The BBC news corpus (2,225 real articles) holds re-published stories. Exact Jaccard over every pair
    that shares a shingle (an inverted index, written here) is the reference: pairs at 0.9 or more must be
    in one group, and no copy may be under 0.7 from its representative (between the two, MinHash decides)."""
    import tarfile

    from tests.conftest import BBC, need_shared
    with tarfile.open(need_shared(BBC)) as tar:
        tar.extractall(tmp_path, filter="data")
    warehouse, record, _, _ = _ingest(tmp_path / "bbc", tmp_path / "wh", cfg)
    docs = warehouse.read("documents", ["doc_id", "text", "duplicate_of"]).to_pylist()
    grams = {d["doc_id"]: {tuple(w[i:i + 5]) for w in [_words(d["text"])] for i in range(len(w) - 4)}
             for d in docs}
    holders: dict[tuple, list[str]] = {}
    for doc_id, gs in grams.items():
        for g in gs:
            holders.setdefault(g, []).append(doc_id)
    shared: dict[tuple[str, str], int] = {}
    for ids in holders.values():
        for pair in combinations(sorted(ids), 2):
            shared[pair] = shared.get(pair, 0) + 1
    jaccard = {(a, b): n / (len(grams[a]) + len(grams[b]) - n) for (a, b), n in shared.items()}
    group = {d["doc_id"]: d["duplicate_of"] or d["doc_id"] for d in docs}
    close = [pair for pair, j in jaccard.items() if j >= 0.9]
    assert len(close) > 100                                        # the corpus does hold copies
    assert all(group[a] == group[b] for a, b in close)
    marked = {d["doc_id"]: d["duplicate_of"] for d in docs if d["duplicate_of"]}
    assert all(jaccard.get(tuple(sorted(pair)), 0.0) >= 0.7 for pair in marked.items())
    [row] = record.inputs["per_input"].values()
    assert row["near_duplicates"] == len(marked) and row["duplicate_share"] == pytest.approx(len(marked) / len(docs),
                                                                                              abs=1e-4)
