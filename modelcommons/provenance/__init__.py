"""Provenance: signed revisions and bills of materials.

``keys`` holds the public keys users and organisations register, ``signatures`` signs
a revision's files with the OpenSSF ``model-signing`` library and verifies the
signatures found in revisions against those keys, ``checks`` adds the release-plan
check ``signed``, and ``sbom`` describes a revision as a CycloneDX 1.6 ML-BOM.

May import: ``governance``, ``scanning``, ``storage``, ``accounts``, ``audit``, ``db``,
``validation``.
"""
