"""The first-party ``gitlab`` connector (GitLab.com and self-managed GitLab)."""
