"""The gitlab connector passes the SDK's standard conformance suite (github's runs in tests/sdk)."""

from __future__ import annotations

from cuervo_fabric_gitlab.connector import GitLabConnector

from cuervo_fabric.testing import connector_test_class

TestGitLabConformance = connector_test_class(GitLabConnector, credential={"key": "glpat-conformance"})
