"""kgpipe.embed: learning a synthetic graph, filtered ranking vs brute force, resume equality, real data."""
from __future__ import annotations

import json
import random
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from kgpipe.embed.api import train_and_evaluate
from kgpipe.embed.config import KGEConfig
from kgpipe.embed.data import KnownTriples, from_labeled, load_dataset, parse_triples
from kgpipe.embed.evaluate import metrics_from_ranks, rank_triples
from kgpipe.embed.models import KGEModel, build_model
from kgpipe.embed.train import Trainer, subsampling_weights, true_corruptions
from tests.conftest import SHARED_DATA, need_shared

FB15K237 = SHARED_DATA / "kg" / "FB15k-237.tar.gz"
WN18RR = SHARED_DATA / "kg" / "WN18RR.tar.gz"


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: fast and stable on a shared 2-core box, and bit-reproducible."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def triangle_graph(m: int = 60, held: int = 10, seed: int = 0):
    """m disjoint triangles a_i -f-> b_i -g-> c_i and a_i -h-> c_i (h = f then g). Test and valid take one
    edge from distinct triangles, so every held-out edge follows from its triangle's two other edges
    plus what the relation learned elsewhere: a translation/rotation model must rank it first."""
    rng = random.Random(seed)
    tri = [[(f"a{i:03d}", "f", f"b{i:03d}"), (f"b{i:03d}", "g", f"c{i:03d}"), (f"a{i:03d}", "h", f"c{i:03d}")]
           for i in range(m)]
    order = list(range(m))
    rng.shuffle(order)
    test = [tri[i].pop(rng.randrange(3)) for i in order[:held]]
    valid = [tri[i].pop(rng.randrange(3)) for i in order[held:2 * held]]
    return from_labeled({"train": [t for ts in tri for t in ts], "valid": valid, "test": test})


@pytest.mark.parametrize("model, extra", [
    ("transe", dict(p=2, dim=8, epochs=50, normalize_entities=False, gamma=0.0, loss="margin", margin=1.0)),
    ("rotate", dict(dim=16, epochs=100, gamma=6.0, loss="adversarial", adversarial_temperature=1.0)),
    ("rotate", dict(dim=16, epochs=100, gamma=6.0, loss="adversarial", adversarial_temperature=1.0,
                    filter_negatives=True)),
])
def test_learns_synthetic_graph(model, extra):
    data = triangle_graph()
    cfg = KGEConfig(model=model, num_negs=16, chunk_size=8, batch_size=32, lr=0.05, sampler="bernoulli",
                    seed=0, eval_every=10, patience=5, num_threads=1, device="cpu", **extra)
    out = train_and_evaluate(data, cfg)
    assert out["test_num_ranks"] == 2 * len(data.test) == 20
    assert out["test_mrr"] > 0.9, {k: v for k, v in out.items() if k != "settings"}
    assert out["device"] == "cpu" and out["epochs_run"] >= 10
    json.dumps(out)   # JSON-able


def test_subsampling_weights_follow_pair_frequencies():
    # (0, r0) heads three facts, so those three weigh less than the lone (4, r1, 5)
    train = torch.tensor([[0, 0, 1], [0, 0, 2], [0, 0, 3], [4, 1, 5], [6, 1, 3]])
    weights = subsampling_weights(train, num_relations=2)
    pairs = [(h, r) for h, r, _ in train.tolist()] + [(t, -r - 1) for _, r, t in train.tolist()]
    raw = [(pairs.count((h, r)) + pairs.count((t, -r - 1)) + 8) ** -0.5 for h, r, t in train.tolist()]
    expected = torch.tensor(raw) / (sum(raw) / len(raw))
    assert torch.allclose(weights, expected.float())
    assert weights.mean().item() == pytest.approx(1.0)
    assert weights[0] == weights[1] == weights[2] < weights[3] == weights[4]


@pytest.mark.parametrize("loss", ["margin", "adversarial"])
def test_a_weighted_step_scales_each_positives_loss(loss):
    data = triangle_graph(m=20, held=3)
    cfg = KGEConfig(model="transe", dim=8, num_negs=4, chunk_size=4, batch_size=8, loss=loss, device="cpu", seed=0)
    batch = data.train[:6]
    weights = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.25, 0.75])
    # a fresh trainer per call: same seed, same negatives; each loss is per positive, so weight 2 doubles it
    plain, ones, doubled, weighted = (Trainer(cfg, data).step(batch, weights=w)
                                      for w in (None, torch.ones(6), torch.full((6,), 2.0), weights))
    assert ones == pytest.approx(plain) and doubled == pytest.approx(2 * plain)
    assert weighted != pytest.approx(plain)


def test_true_corruptions_are_exactly_the_training_triples_a_negative_recreates():
    data = triangle_graph(m=6, held=1)
    known = {tuple(x) for x in data.train.tolist()}
    gen = torch.Generator().manual_seed(0)
    batch = data.train[torch.randperm(len(data.train), generator=gen)[:12]]
    head = torch.rand(12, generator=gen) < 0.5
    chunk_negs = torch.randint(data.num_entities, (3, 40), generator=gen)     # chunks of 5, 5 and 2 positives
    chunk_negs[:, 0] = torch.where(head, batch[:, 0], batch[:, 2])[[0, 5, 10]]   # a chunk's first positive
    got = true_corruptions(batch, head, chunk_negs, 5, KnownTriples(data.train, data.num_entities,
                                                                    data.num_relations))
    want = [[((n, r, t) if hd else (h, r, n)) in known for n in chunk_negs[i // 5].tolist()]
            for i, ((h, r, t), hd) in enumerate(zip(batch.tolist(), head.tolist()))]
    assert got.tolist() == want and got[[0, 5, 10], 0].all() and not got.all()


@pytest.mark.parametrize("loss", ["margin", "adversarial"])
def test_a_filtered_negative_counts_as_if_it_had_not_been_sampled(loss):
    trainer = Trainer(KGEConfig(model="transe", dim=4, loss=loss, device="cpu"), triangle_graph(m=6, held=1))
    gen = torch.Generator().manual_seed(1)
    pos, neg = torch.randn(3, generator=gen), torch.randn(3, 6, generator=gen)
    keep = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 1, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1]], dtype=torch.bool)
    filtered = trainer._loss(pos, neg, keep=keep)
    one_by_one = sum(trainer._loss(pos[i:i + 1], neg[i:i + 1, keep[i]]) for i in range(3))
    assert float(filtered) == pytest.approx(float(one_by_one))
    assert float(filtered) != pytest.approx(float(trainer._loss(pos, neg)))


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_distances_equal_eager_scores_and_gradients():
    torch.manual_seed(0)
    for cfg in (KGEConfig(model="transe", p=1, dim=12, gamma=6.0), KGEConfig(model="rotate", dim=6, gamma=6.0)):
        eager = build_model(cfg, 30, 4)
        fused = build_model(cfg.model_copy(update={"compile_distances": True}), 30, 4)
        fused.load_state_dict(eager.state_dict())
        h, r, t = torch.randint(30, (2, 5)), torch.randint(4, (2, 5)), torch.randint(30, (2, 7))
        grads = []
        for model in (eager, fused):
            model.zero_grad()
            chunked = model.score_t(h, r, t)            # (2 chunks, 5 queries, 7 candidates), as in training
            everything = model.score_h(r[0], h[0])      # (5 queries, all 30 entities), as in evaluation
            (chunked.sum() + everything.sum()).backward()
            grads.append((chunked.detach(), everything.detach(), model.entity.weight.grad.clone()))
        for a, b in zip(*grads):
            assert torch.allclose(a, b, atol=1e-4), cfg.model


@pytest.mark.parametrize("sparse", [True, False])
def test_learning_rate_decays_after_a_validation_without_improvement(monkeypatch, sparse):
    data = triangle_graph(m=20, held=3)
    cfg = KGEConfig(model="transe", dim=8, lr=0.01, lr_decay=0.5, eval_every=1, patience=2, epochs=5,
                    sparse=sparse, device="cpu")
    trainer = Trainer(cfg, data)
    mrrs = iter([0.5, 0.4, 0.6, 0.3, 0.2])
    monkeypatch.setattr(trainer, "validate", lambda: {"mrr": next(mrrs)})
    history = trainer.fit()
    # epochs 2 and 4 did not improve: halved each time; epoch 5 is the second bad one in a row: stop
    assert [round(rec.get("lr", 0), 6) for rec in history] == [0, 0.005, 0, 0.0025, 0]
    assert trainer.lr == pytest.approx(0.0025) and trainer.stopped and trainer.best_epoch == 3


def test_a_fixed_schedule_decays_at_its_epochs_only(monkeypatch):
    data = triangle_graph(m=20, held=3)
    cfg = KGEConfig(model="transe", dim=8, lr=0.01, lr_decay=0.1, lr_decay_at=[2, 4], eval_every=1, patience=5,
                    epochs=5, sparse=True, device="cpu")
    trainer = Trainer(cfg, data)
    mrrs = iter([0.5, 0.4, 0.3, 0.6, 0.2])   # flat validations do not decay it as well
    monkeypatch.setattr(trainer, "validate", lambda: {"mrr": next(mrrs)})
    history = trainer.fit()
    assert [round(rec.get("lr", 0), 6) for rec in history] == [0, 0.001, 0, 0.0001, 0]
    assert trainer.lr == pytest.approx(0.0001) and not trainer.stopped
    with pytest.raises(ValueError, match="lr_decay_at needs lr_decay < 1"):
        KGEConfig(lr_decay_at=[10])


class TableModel(KGEModel):
    """Fixed score tables: tail[h, r, :] scores (h, r, ?); head[r, t, :] scores (?, r, t)."""

    def __init__(self, tail: torch.Tensor, head: torch.Tensor):
        super().__init__(tail.shape[0], tail.shape[1], 1)
        self.tail, self.head = tail, head

    def score_t(self, h, r, cands=None):
        return self.tail[h, r].clone()

    def score_h(self, r, t, cands=None):
        return self.head[r, t].clone()


def brute_force_rank(scores: list[float], target: int, known: set[int]) -> float:
    true = scores[target]
    others = [s for i, s in enumerate(scores) if i != target and i not in known]
    better = sum(s > true for s in others)
    equal = sum(s == true for s in others)
    return 1 + better + equal / 2  # mean of optimistic (1 + better) and pessimistic (1 + better + equal)


def test_filtered_ranks_match_brute_force_with_ties():
    gen = torch.Generator().manual_seed(3)
    ne, nr = 13, 3
    tail = torch.randint(0, 4, (ne, nr, ne), generator=gen).float()   # few distinct values: many ties
    head = torch.randint(0, 4, (nr, ne, ne), generator=gen).float()
    trip = torch.stack([torch.randint(0, ne, (60,), generator=gen),
                        torch.randint(0, nr, (60,), generator=gen),
                        torch.randint(0, ne, (60,), generator=gen)], 1)
    trip = torch.unique(trip, dim=0)
    test = trip[:25]
    known = KnownTriples(trip, ne, nr)
    ranks = rank_triples(TableModel(tail, head), test, known, batch_size=7)   # several batches
    s = set(map(tuple, trip.tolist()))
    expected_t, expected_h = [], []
    for h, r, t in test.tolist():
        kt = {x for x in range(ne) if (h, r, x) in s}
        kh = {x for x in range(ne) if (x, r, t) in s}
        expected_t.append(brute_force_rank(tail[h, r].tolist(), t, kt))
        expected_h.append(brute_force_rank(head[r, t].tolist(), h, kh))
    assert ranks.tolist() == expected_t + expected_h
    assert any(r != int(r) for r in ranks.tolist()), "the case should contain ties"
    m = metrics_from_ranks(ranks)
    ref = expected_t + expected_h
    assert m["mrr"] == pytest.approx(sum(1 / r for r in ref) / len(ref))
    assert m["hits@3"] == pytest.approx(sum(r <= 3 for r in ref) / len(ref))
    assert m["num_ranks"] == 2 * len(test)


@pytest.mark.parametrize("model", ["transe", "distmult", "complex", "rotate"])
def test_batched_scores_agree_with_aligned_scores(model):
    torch.manual_seed(0)
    m = build_model(KGEConfig(model=model, dim=6, p=2), 9, 4)
    h, r, t = torch.tensor([0, 3, 8]), torch.tensor([1, 0, 3]), torch.tensor([2, 2, 5])
    ref_t = torch.stack([m.score_hrt(h, r, torch.full_like(h, e)) for e in range(9)], 1)
    ref_h = torch.stack([m.score_hrt(torch.full_like(t, e), r, t) for e in range(9)], 1)
    assert torch.allclose(m.score_t(h, r), ref_t, atol=1e-4)
    assert torch.allclose(m.score_h(r, t), ref_h, atol=1e-4)
    cands = torch.tensor([[1, 4], [0, 0], [8, 7]])                   # one candidate set per chunk of 1
    assert torch.allclose(m.score_t(h.view(3, 1), r.view(3, 1), cands).squeeze(1),
                          ref_t.gather(1, cands), atol=1e-4)


def test_transe_l1_scores():
    torch.manual_seed(0)
    m = build_model(KGEConfig(model="transe", dim=5, p=1, gamma=0.0), 6, 2)
    h, r = torch.tensor([1, 2]), torch.tensor([0, 1])
    expected = -(m.entity(h)[:, None] + m.relation(r)[:, None] - m.entity.weight[None]).abs().sum(-1)
    assert torch.allclose(m.score_t(h, r), expected, atol=1e-5)


@pytest.mark.parametrize("extra", [dict(model="transe", loss="margin", sampler="uniform", optimizer="adam"),
                                   dict(model="rotate", loss="adversarial", sampler="bernoulli",
                                        optimizer="adagrad"),
                                   dict(model="transe", loss="margin", sampler="uniform", optimizer="adam",
                                        sparse=True),
                                   dict(model="complex", loss="adversarial", sampler="bernoulli",
                                        optimizer="adagrad", sparse=True)])
def test_resume_equals_uninterrupted(tmp_path, extra):
    data = triangle_graph(m=20, held=3)
    cfg = KGEConfig(dim=8, num_negs=5, chunk_size=4, batch_size=16, epochs=4, seed=7, eval_every=1,
                    patience=10, num_threads=1, device="cpu", **extra)
    straight = Trainer(cfg, data)
    straight.fit(4)

    first = Trainer(cfg, data)
    first.fit(2)
    first.save_checkpoint(tmp_path / "ckpt.pt")
    torch.manual_seed(999); np.random.seed(999); random.seed(999)   # disturb all global RNGs
    resumed = Trainer(cfg, data)
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    assert resumed.epoch == 2
    resumed.fit(4)

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa, sb = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys() and len(sa) > 0
    for k in sa:
        for name, v in sa[k].items():
            assert torch.equal(v, sb[k][name]), (k, name)
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in resumed.history]


def test_checkpointed_run_continues_with_more_epochs(tmp_path):
    data = triangle_graph(m=20, held=3)
    settings = dict(dim=8, num_negs=5, chunk_size=4, batch_size=16, seed=3, eval_every=1, patience=10,
                    num_threads=1, device="cpu", lr_decay=0.5)
    straight = train_and_evaluate(data, KGEConfig(epochs=4, **settings))
    ckpt = tmp_path / "run.pt"
    first = train_and_evaluate(data, KGEConfig(epochs=2, **settings), checkpoint=ckpt)
    assert first["epochs_run"] == 2 and ckpt.exists()
    # a stopped run is continued under a new epoch budget, on another thread count
    more = train_and_evaluate(data, KGEConfig(epochs=4, **{**settings, "num_threads": 2}), checkpoint=ckpt)
    assert more["epochs_run"] == 4
    assert more["history"] == straight["history"]
    for key in ("test_mrr", "test_hits@1", "best_epoch", "valid_mrr"):
        assert more[key] == straight[key], key
    with pytest.raises(ValueError, match=r"dim=8 \(now 16\)"):   # what is learned cannot change mid-run
        train_and_evaluate(data, KGEConfig(epochs=6, **{**settings, "dim": 16}), checkpoint=ckpt)


def test_a_resumed_run_takes_a_new_decay_schedule_from_its_epoch_on(tmp_path):
    data = triangle_graph(m=20, held=3)
    settings = dict(dim=8, num_negs=5, chunk_size=4, batch_size=16, seed=3, eval_every=1, patience=10,
                    num_threads=1, device="cpu", lr=0.01, lr_decay=0.1)
    planned = train_and_evaluate(data, KGEConfig(epochs=4, lr_decay_at=[3], **settings))
    ckpt = tmp_path / "run.pt"
    train_and_evaluate(data, KGEConfig(epochs=2, **settings), checkpoint=ckpt)
    # the first two epochs had no fixed decays, so plateau decays were on; the decay at 3 is added now
    later = train_and_evaluate(data, KGEConfig(epochs=4, lr_decay_at=[1, 3], **settings), checkpoint=ckpt)
    assert [h.get("lr") for h in later["history"]] == [None, None, pytest.approx(0.001), None]
    assert later["history"] == planned["history"]   # as if planned from the start: no plateau decay came first
    assert later["test_mrr"] == planned["test_mrr"]


def test_a_checkpoint_from_before_a_setting_existed_compares_at_its_default(tmp_path):
    data = triangle_graph(m=20, held=3)
    settings = dict(dim=8, num_negs=5, chunk_size=4, batch_size=16, num_threads=1, device="cpu")
    ckpt = tmp_path / "run.pt"
    train_and_evaluate(data, KGEConfig(epochs=1, **settings), checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=False)
    del state["cfg"]["relation_lr_scale"]            # as written before the setting was added
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match=r"relation_lr_scale=1.0 \(now 2.0\)"):
        train_and_evaluate(data, KGEConfig(epochs=2, relation_lr_scale=2.0, **settings), checkpoint=ckpt)
    assert train_and_evaluate(data, KGEConfig(epochs=2, **settings), checkpoint=ckpt)["epochs_run"] == 2


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
@pytest.mark.parametrize("sparse", [True, False], ids=["row-wise", "dense"])
def test_the_relation_table_steps_at_its_scaled_rate(optimizer, sparse):
    """The first step of Adam or Adagrad moves each coordinate by lr * g / |g|, so the largest move in a
    table is its rate: relation phases move relation_lr_scale times as far as entity coordinates."""
    data = triangle_graph(m=20, held=3)
    cfg = KGEConfig(model="rotate", dim=8, num_negs=4, chunk_size=4, batch_size=16, loss="adversarial", lr=1e-4,
                    relation_lr_scale=50.0, optimizer=optimizer, sparse=sparse, device="cpu")
    trainer = Trainer(cfg, data)
    tables = (trainer.model.entity.weight, trainer.model.relation.weight)
    before = [w.detach().clone() for w in tables]
    trainer.step(data.train[:16])
    moved = [float((w.detach() - b).abs().max()) for w, b in zip(tables, before)]
    assert moved == [pytest.approx(1e-4, rel=1e-3), pytest.approx(5e-3, rel=1e-3)]


def test_checkpoints_are_written_at_most_once_a_minute_and_at_the_end(tmp_path, monkeypatch):
    from kgpipe.embed import api
    saved = []
    monkeypatch.setattr(Trainer, "save_checkpoint", lambda self, path: saved.append(self.epoch))
    cfg = KGEConfig(dim=8, num_negs=5, chunk_size=4, batch_size=16, epochs=3, num_threads=1, device="cpu")
    train_and_evaluate(triangle_graph(m=20, held=3), cfg, checkpoint=tmp_path / "run.pt")
    assert saved == [3]                                 # fast epochs: only the last state
    monkeypatch.setattr(api, "CHECKPOINT_SECONDS", 0.0)
    saved.clear()
    train_and_evaluate(triangle_graph(m=20, held=3), cfg, checkpoint=tmp_path / "other.pt")
    assert saved == [1, 2, 3]                           # every epoch once due, the end not twice


def test_parse_and_load_folder_and_tarball(tmp_path):
    assert parse_triples("a\tr\tb\r\nc\tr\td\r\n\r\n") == [("a", "r", "b"), ("c", "r", "d")]
    with pytest.raises(ValueError):
        parse_triples("a\tb\n")
    folder = tmp_path / "kg"
    folder.mkdir()
    (folder / "train.txt").write_bytes(b"00000002\tr1\t00000010\r\n00000010\tr0\t00000002\r\n")
    (folder / "valid.txt").write_bytes(b"00000002\tr0\t00000003\n")
    (folder / "test.txt").write_bytes(b"")
    tar = tmp_path / "kg.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        for name in ("train.txt", "valid.txt", "test.txt"):
            tf.add(folder / name, arcname=f"kg/{name}")
    for src in (folder, tar):
        d = load_dataset(src)
        assert d.entities == ["00000002", "00000003", "00000010"]   # strings, zero padding kept
        assert d.relations == ["r0", "r1"]
        assert d.train.tolist() == [[0, 1, 2], [2, 0, 0]] and d.train.dtype == torch.int64
        assert d.valid.tolist() == [[0, 0, 1]] and d.test.shape == (0, 3)


def _check_real(path: Path, counts, n_ent, n_rel):
    d = load_dataset(need_shared(path))
    assert (len(d.train), len(d.valid), len(d.test)) == counts
    assert (d.num_entities, d.num_relations) == (n_ent, n_rel)
    assert not any("\r" in x for x in d.entities[:50] + d.relations)
    return d


def test_load_fb15k237():
    d = _check_real(FB15K237, (272_115, 17_535, 20_466), 14_541, 237)
    assert all(e.startswith("/m/") for e in d.entities)


def test_load_wn18rr():
    d = _check_real(WN18RR, (86_835, 3_034, 3_134), 40_943, 11)
    assert all(len(e) == 8 and e.isdigit() for e in d.entities)
    assert "_hypernym" in d.relations


def test_share_of_a_global_batch_scales_the_loss_and_an_empty_share_changes_nothing():
    """What the distributed path relies on: a process's loss is its share of the global mean, and a
    process whose share is empty still steps (the exchange needs it) without moving anything."""
    data = triangle_graph(m=20, held=3)
    cfg = KGEConfig(dim=8, num_negs=5, chunk_size=4, batch_size=16, seed=1, num_threads=1, device="cpu",
                    sparse=True)
    whole, share = Trainer(cfg, data), Trainer(cfg, data)
    batch = data.train[:8]
    assert share.step(batch, global_size=16) == pytest.approx(whole.step(batch) / 2)
    before = {k: v.clone() for k, v in whole.model.state_dict().items()}
    assert whole.step(data.train[:0], global_size=16) == 0.0
    for k, v in whole.model.state_dict().items():
        assert torch.equal(before[k], v), k


def test_partitions_buckets_and_visiting_order():
    from kgpipe.embed.partition import (
        Partitioning,
        bucket_order,
        bucket_triples,
        local_rows,
    )
    p = Partitioning(10, 3)
    assert p.bounds().tolist() == [0, 3, 6, 10]
    triples = np.array([[0, 0, 9], [4, 1, 5], [9, 0, 0], [2, 1, 1], [7, 0, 3]])
    b = bucket_triples(triples, p)
    assert b.get(0, 2).tolist() == [[0, 0, 9]] and b.get(1, 1).tolist() == [[4, 1, 5]]
    assert b.get(2, 0).tolist() == [[9, 0, 0]] and b.get(0, 0).tolist() == [[2, 1, 1]]
    assert b.get(2, 1).tolist() == [[7, 0, 3]] and b.get(1, 2).tolist() == []
    # in memory: [partition 0 (3 rows) ; partition 2 (4 rows)]; row 9 is the 4th of partition 2
    local, n = local_rows(b.get(0, 2), 0, 2, p)
    assert local.tolist() == [[0, 0, 6]] and n == 7
    local, n = local_rows(b.get(1, 1), 1, 1, p)
    assert local.tolist() == [[1, 1, 2]] and n == 3
    assert bucket_order(3) == [(0, 0), (1, 0), (1, 1), (0, 1), (2, 1), (2, 0), (2, 2), (0, 2), (1, 2)]
    for parts in range(1, 7):
        order = bucket_order(parts)
        assert sorted(order) == [(i, j) for i in range(parts) for j in range(parts)]
        assert all(set(a) & set(b) for a, b in zip(order, order[1:]))   # one partition swapped per switch
    with pytest.raises(ValueError):
        Partitioning(3, 4)


@pytest.mark.parametrize("fused", [True, False], ids=["fused-kernel", "fallback"])
@pytest.mark.parametrize("kind, reference", [("adam", torch.optim.Adam), ("adagrad", torch.optim.Adagrad)])
def test_row_optimizer_equals_torch_optimizer_when_every_row_is_touched(kind, reference, fused):
    """Lazy row-wise updates are the ordinary ones for the rows a step touches; with all rows
    touched every step they must follow torch's optimizer (same bias correction, same epsilon)."""
    from kgpipe.embed.rowopt import RowOptimizer
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(6, 4, generator=gen)
    ours, theirs = start.clone(), torch.nn.Parameter(start.clone())
    opt = RowOptimizer([ours], kind, lr=0.05)
    if not fused:
        opt.fused = None
    elif opt.fused is None:
        pytest.skip("this torch build has no fused CPU kernel")
    ref = reference([theirs], lr=0.05)
    rows = torch.arange(6)
    for _ in range(5):
        grad = torch.randn(6, 4, generator=gen)
        order = torch.randperm(6, generator=gen)      # rows in any order
        opt.step([(0, rows[order], grad[order])])
        theirs.grad = grad.clone()
        ref.step()
    assert torch.allclose(ours, theirs.detach(), atol=1e-6)
    # untouched rows do not move; a projection applies to the written rows only
    before = ours.clone()
    opt.step([(0, torch.tensor([1, 4]), torch.ones(2, 4), None)],
             project={0: lambda w: torch.nn.functional.normalize(w, dim=-1)})
    assert torch.equal(ours[[0, 2, 3, 5]], before[[0, 2, 3, 5]])
    assert torch.allclose(ours[[1, 4]].norm(dim=-1), torch.ones(2))
