"""The first-party ``github`` connector (GitHub.com and GitHub Enterprise Server)."""
