"""Tests of the client's suite that no self-hosted hub can pass, and why.

Tests marked ``production`` (they read huggingface.co's own repositories) or
``inference`` (hosted inference providers) are left out by ``-m``; the plugin records
them with their marker's reason. The rules here cover the rest: each names tests
(``tests/`` left off; see ``nodeids.covers``) and says why, and may apply only to client versions
whose source has a given line, so that a client that stops needing huggingface.co for
them gets them run again. Every test left out is counted in the report, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    reason: str
    tests: tuple[str, ...]
    #: Applies only if this file of the client's checkout contains ``needle``.
    file: str = ""
    needle: str = ""

    def applies(self, src: Path) -> bool:
        if not self.file:
            return True
        path = src / self.file
        return path.is_file() and self.needle in path.read_text(encoding="utf-8")


_VALIDATE = "test_repocard.py::"

RULES: list[Rule] = [
    Rule(
        reason=(
            "lists the Inference Endpoints catalog at endpoints.huggingface.co, a Hugging Face"
            " service the client calls whatever the hub's endpoint"
        ),
        tests=("test_hf_api.py::TestHfApiInferenceCatalog::test_list_inference_catalog",),
    ),
    Rule(
        reason=(
            "the client posts `RepoCard.validate` to https://huggingface.co/api/validate-yaml"
            " whatever its endpoint (this client version hard-codes the URL; huggingface_hub"
            " 2.4 uses the endpoint), so these need huggingface.co itself"
        ),
        file="src/huggingface_hub/repocard.py",
        needle='"https://huggingface.co/api/validate-yaml"',
        tests=tuple(
            _VALIDATE + name
            for name in (
                "TestRepocardMetadataUpdate::test_update_dataset_name",
                "TestRepocardMetadataUpdate::test_update_existing_result_with_overwrite",
                "TestRepocardMetadataUpdate::test_update_verify_token",
                "TestRepocardMetadataUpdate::test_metadata_update_upstream",
                "TestRepocardMetadataUpdate::test_update_existing_field_without_overwrite",
                "TestRepocardMetadataUpdate::test_update_new_result_existing_dataset",
                "TestRepocardMetadataUpdate::test_update_new_result_new_dataset",
                "TestRepocardMetadataUpdate::test_update_metadata_on_empty_text_content",
                "TestRepocardMetadataUpdate::test_update_with_existing_name",
                "TestRepocardMetadataUpdate::test_update_without_existing_name",
                "TestRepocardMetadataUpdate::test_update_with_both_verified_and_unverified_metric",
                "TestMetadataUpdateOnMissingCard::test_metadata_update_missing_readme_on_model",
                "TestMetadataUpdateOnMissingCard::test_metadata_update_missing_readme_on_dataset",
                "TestMetadataUpdateOnMissingCard::test_metadata_update_missing_readme_on_space",
                "TestRepoCard::test_validate_repocard",
                "TestRepoCard::test_push_to_hub",
                "TestRepoCard::test_push_and_create_pr",
            )
        ),
    ),
]


def active(src: Path) -> list[tuple[str, str]]:
    """``(test name, reason)`` pairs for the plugin, for this client checkout."""
    return [
        (f"tests/{test}", rule.reason) for rule in RULES if rule.applies(src) for test in rule.tests
    ]
