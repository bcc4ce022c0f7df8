"""The model registry: registered models, immutable versions with lineage and inherited
classification, aliases with history, approvals, and governed loading (``models:/NAME@ALIAS``).

``service.RegistryService`` is the one implementation; the native API, the MLflow
model-registry API and the CLI all call it.
"""
