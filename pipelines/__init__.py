"""Apache Beam pipelines (composite PTransforms plus a thin run())."""
