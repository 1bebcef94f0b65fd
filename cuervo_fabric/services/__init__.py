"""Use cases. Services import the domain and the ports only; bootstrap hands them adapters."""
