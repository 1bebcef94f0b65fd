"""The credential vault: AES-256-GCM envelope encryption and the master-key ladder."""
