"""Knowledge-graph embeddings in plain PyTorch (no Spark/Beam): TransE, DistMult, ComplEx, RotatE.

Entry point: ``train_and_evaluate(dataset_path, KGEConfig(...)) -> dict``.
"""
from .api import train_and_evaluate
from .config import KGEConfig
from .data import KGDataset, KnownTriples, load_dataset
from .evaluate import evaluate, filtered_ranks, rank_triples
from .models import ComplEx, DistMult, KGEModel, RotatE, TransE, build_model
from .train import Trainer

__all__ = ["train_and_evaluate", "KGEConfig", "KGDataset", "KnownTriples", "load_dataset", "evaluate",
           "filtered_ranks", "rank_triples", "ComplEx", "DistMult", "KGEModel", "RotatE", "TransE",
           "build_model", "Trainer"]
