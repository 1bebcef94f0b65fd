"""The first-party connectors pass the standard conformance suite, run through the real pipeline."""

from __future__ import annotations

from cuervo_fabric_github.connector import GitHubConnector
from cuervo_fabric_gitlab.connector import GitLabConnector
from cuervo_fabric_http.connector import HttpConnector

from cuervo_fabric.testing import connector_test_class

TestHttpConformance = connector_test_class(HttpConnector)
TestGitHubConformance = connector_test_class(GitHubConnector, credential="ghp_conformance")
TestGitLabConformance = connector_test_class(GitLabConnector, credential="glpat-conformance")
