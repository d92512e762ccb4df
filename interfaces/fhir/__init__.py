"""FHIR R4 read and search for clinical systems, under /fhir/r4/ (see docs/fhir.md).

resources.py builds each resource from model instances (pure), search.py turns search parameters into querysets
(with clear 400s), views.py serves them through Django REST framework's authentication and role check.

Named interfaces.fhir, not fhir: a top-level `fhir` package would shadow the fhir.resources library.
"""
