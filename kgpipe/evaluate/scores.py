"""Scores shared by the harnesses."""
from __future__ import annotations


def prf(tp: int, predicted: int, gold: int) -> dict[str, float | int]:
    """Precision, recall, F1 (0.0 when undefined) with the counts they come from."""
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "tp": tp, "predicted": predicted, "gold": gold}
