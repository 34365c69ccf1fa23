"""Settings of the knowledge-graph-embedding trainer. Torch-free: kgpipe.config builds the train stage's
section (TrainConfig) on it without loading torch."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class KGEConfig(BaseModel):
    """Model, negative sampling, optimisation, evaluation and runtime settings of one KGE run."""

    model_config = ConfigDict(extra="forbid")

    # model
    model: Literal["transe", "distmult", "complex", "rotate"] = "transe"
    dim: int = Field(100, ge=1, description="embedding size (complex models: complex dimensions)")
    p: Literal[1, 2] = Field(2, description="TransE distance norm (1 or 2)")
    gamma: float = Field(12.0, description="score offset of distance models: score = gamma - distance")
    normalize_entities: bool = Field(True, description="TransE: renormalise entity rows to unit L2 after each step")
    # loss and negatives
    loss: Literal["margin", "adversarial"] = "margin"
    margin: float = Field(1.0, ge=0.0, description="margin of the margin ranking loss")
    adversarial_temperature: float = Field(1.0, ge=0.0, description="alpha of self-adversarial sampling")
    num_negs: int = Field(64, ge=1, description="negatives per positive")
    chunk_size: int = Field(256, ge=1, description="positives sharing one set of sampled negatives (1 = independent)")
    sampler: Literal["uniform", "bernoulli"] = "uniform"
    filter_negatives: bool = Field(False, description="leave out sampled negatives that are training triples, "
                                   "as the RotatE code does (it samples again instead): on FB15k-237 about 1.8% "
                                   "of head corruptions are true, and self-adversarial weights favour exactly "
                                   "the negatives the model scores high")
    subsampling: bool = Field(False, description="weight each positive by 1/sqrt(frequency of its (head, relation) "
                              "and (tail, inverse relation)), word2vec's subsampling as in the RotatE code; "
                              "the weights average 1 over the training set")
    # optimisation
    optimizer: Literal["adam", "adagrad"] = "adam"
    lr: float = Field(0.001, gt=0.0)
    relation_lr_scale: float = Field(1.0, gt=0.0, description="the relation table's learning rate is lr times "
                                     "this. The RotatE code stores each phase divided by pi*dim/(gamma+2), "
                                     "which under Adam is this scale at pi*dim/(gamma+2): its phases step that "
                                     "many times further than entity coordinates (about 143 at dim 500, gamma 9)")
    sparse: bool = Field(False, description="lazy row-wise optimizer: only the embedding rows a batch touches are "
                         "read and updated (lazy Adam like torch SparseAdam, or row-wise Adagrad)")
    lr_decay: float = Field(1.0, gt=0.0, le=1.0, description="multiply the learning rate by this after a "
                            "validation that did not improve (reduce on plateau; needs eval_every), or at the "
                            "epochs of lr_decay_at; 1 = never")
    lr_decay_at: list[int] = Field(default_factory=list, description="a fixed schedule instead of reduce on "
                                   "plateau: multiply the learning rate by lr_decay after these epochs (the "
                                   "RotatE code divides it by 10 halfway)")
    batch_size: int = Field(1024, ge=1)
    epochs: int = Field(5, ge=0)
    # evaluation and early stopping
    eval_every: int = Field(0, ge=0, description="validate (filtered MRR) every N epochs; 0 = never")
    patience: int = Field(3, ge=1, description="validations without improvement before stopping")
    valid_max_triples: int | None = Field(None, ge=1, description="validate on the first N valid triples only")
    eval_batch_size: int = Field(512, ge=1, description="queries scored against all entities at once")
    # runtime
    seed: int = 0
    num_threads: int = Field(0, ge=0, description="torch.set_num_threads; 0 leaves torch's default")
    device: str = Field("auto", description="'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:1', ...")
    compile_distances: bool = Field(False, description="torch.compile the distance kernels of TransE-L1 and "
                                    "RotatE (fused: ~1.7x and ~5x faster on CPU); needs a C++ compiler, and "
                                    "the first step compiles for about a minute")
    amp_bf16: bool = Field(False, description="autocast to bfloat16 on CUDA (ignored on CPU)")

    @model_validator(mode="after")
    def _schedule_decays(self) -> KGEConfig:
        if self.lr_decay_at and (self.lr_decay >= 1.0 or min(self.lr_decay_at) < 1):
            raise ValueError("lr_decay_at needs lr_decay < 1 and epochs >= 1")
        return self
