-- The vault's key fence: which master key seals credentials now, and which keys a rotation retired.
--
-- `vault rotate-key` re-wraps every data key under a new master key and, in the same transaction,
-- records the new key as current and the old one as retired. A credential write (login, token
-- refresh) checks the record under the same write lock (BEGIN IMMEDIATE) and is refused when it is
-- sealed with a retired key: a process that loaded the old key before the rotation would otherwise
-- store a credential nobody can open any more. The writer then reloads its key and seals again.
-- At most one row (id = 1), written by the first credential write or rotation (the write lock,
-- not a row lock, is the fence here, so an empty store stays empty). A store that already holds
-- credentials sealed with a single key starts with that key as current.
CREATE TABLE vault_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    current_key_id TEXT
);
INSERT INTO vault_state (id, current_key_id)
    SELECT 1, min(encryption_key_id) FROM connector_credentials
    HAVING count(DISTINCT encryption_key_id) = 1;
CREATE TABLE vault_retired_keys (
    key_id     TEXT PRIMARY KEY,
    retired_at TEXT NOT NULL
);
