#!/usr/bin/env bash
# Package the project's code once for spark-submit --py-files: a zip of the importable packages.
#   infra/spark/package.sh [OUT=dist/kgpipe-pyfiles.zip]
# Third-party libraries (spaCy and its model, pyarrow) come from the executors' Python
# environment (an image or a conda/venv pack), as usual on clusters.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-dist/kgpipe-pyfiles.zip}
mkdir -p "$(dirname "$out")"
rm -f "$out"
python=${PYTHON:-$(command -v python3)}
"$python" - "$out" <<'PY'
import sys, zipfile, pathlib
out = pathlib.Path(sys.argv[1])
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
    for package in ("kgpipe", "schemas", "pipelines", "jobs"):
        for path in sorted(pathlib.Path(package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.as_posix())
print(out)
PY
