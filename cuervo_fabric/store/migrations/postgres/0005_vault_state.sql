-- The vault's key fence: which master key seals credentials now, and which keys a rotation retired.
--
-- `vault rotate-key` re-wraps every data key under a new master key and, in the same transaction,
-- records the new key as current and the old one as retired (holding this row's lock, FOR UPDATE).
-- A credential write (login, token refresh) first locks the row FOR SHARE and is refused when its
-- record is sealed with a retired key: a process that loaded the old key before the rotation would
-- otherwise store a credential nobody can open any more. The writer then reloads its key and
-- seals again. Writers do not block each other; a rotation waits for them and they for it.
--
-- Platform-wide, not tenant-owned (no tenant_id, no policy), like connector_registry: cuervo_app
-- may read both tables but only the owner writes them (the adapter takes the locks as the owner:
-- FOR SHARE needs UPDATE privilege).
-- One row (id = 1); current_key_id is NULL until the first credential is written. A store that
-- already holds credentials sealed with a single key starts with that key as current.
CREATE TABLE vault_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    current_key_id TEXT
);
INSERT INTO vault_state (id, current_key_id)
    SELECT 1, CASE WHEN count(DISTINCT encryption_key_id) = 1 THEN min(encryption_key_id) END
    FROM connector_credentials;
REVOKE INSERT, UPDATE, DELETE ON vault_state FROM cuervo_app;
CREATE TABLE vault_retired_keys (
    key_id     TEXT PRIMARY KEY,
    retired_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
REVOKE INSERT, UPDATE, DELETE ON vault_retired_keys FROM cuervo_app;
