"""Knowledge-graph embeddings in plain PyTorch (no Spark/Beam): TransE, DistMult, ComplEx, RotatE.

The train stage's core (``jobs/train.py`` is its shell). Entry point for a dataset:
``kgpipe.embed.api.train_and_evaluate(dataset_path, KGEConfig(...)) -> dict``. The pieces:

* ``config`` (``KGEConfig``, torch-free: ``kgpipe.config`` builds the train section on it), ``data``
  (datasets, id maps, the known-triples index), ``models``, ``train`` (``Trainer``), ``rowopt`` (lazy
  row-wise optimizers), ``evaluate`` (filtered ranking);
* ``graph`` (edges table -> id maps and splits, torch-free), ``distributed`` (one process or many
  through torch.distributed, torchrun, Spark's TorchDistributor), ``collective``, and ``partition``
  (the plan for graphs larger than memory).
"""
