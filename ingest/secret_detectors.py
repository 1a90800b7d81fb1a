"""The detect-secrets plugins behind each redaction kind, built once and imported on first use.

detect-secrets 1.5 has no Google API key plugin and matches only classic `ghp_`-style GitHub tokens;
two small plugins on its own RegexBasedDetector fill those gaps, so every kind goes through the
library's plugin interface.
"""

from __future__ import annotations

import functools
import re
from typing import Any


@functools.cache
def load_detectors() -> dict[str, tuple[Any, ...]]:
    """kind -> plugins. Imported on first use: detect-secrets pulls in `requests` (~100 ms), which
    a repository without a single trigger never pays."""
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.keyword import KeywordDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector

    class GoogleApiKeyDetector(RegexBasedDetector):
        """Google API keys: "AIza" and 35 URL-safe characters (absent from detect-secrets 1.5)."""

        secret_type = "Google API Key"
        denylist = (re.compile(r"AIza[0-9A-Za-z_\-]{35}"),)

    class GitHubFineGrainedTokenDetector(RegexBasedDetector):
        """GitHub fine-grained PATs, `github_pat_` + 82 characters (detect-secrets 1.5 knows ghp_ only)."""

        secret_type = "GitHub Fine-grained Token"
        denylist = (re.compile(r"github_pat_[0-9A-Za-z_]{60,}"),)

    return {
        "private-key": (PrivateKeyDetector(),),
        "aws-access-key": (AWSKeyDetector(),),
        "github-token": (GitHubTokenDetector(), GitHubFineGrainedTokenDetector()),
        "gitlab-token": (GitLabTokenDetector(),),
        "slack-token": (SlackDetector(),),
        "stripe-key": (StripeDetector(),),
        "google-api-key": (GoogleApiKeyDetector(),),
        "jwt": (JwtTokenDetector(),),
        "openai-key": (OpenAIDetector(),),
        "pypi-token": (PypiTokenDetector(),),
        "sendgrid-key": (SendGridDetector(),),
        "npm-token": (NpmDetector(),),
        "azure-storage-key": (AzureStorageKeyDetector(),),
        "square-oauth-secret": (SquareOAuthDetector(),),
        "basic-auth": (BasicAuthDetector(),),
        "password": (KeywordDetector(),),
    }
