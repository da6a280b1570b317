"""Export writes, one module per entity: exports (configuration), runs (execution), dry runs."""
