-- Credential refresh locks: a lease per instance, so one process at a time refreshes a token.
-- Refresh tokens rotate: two processes refreshing at once would spend the same refresh token twice
-- and the provider would revoke the grant. A lease (not a held transaction) survives nothing: a
-- crashed holder's lease simply expires. Rows are gateway state (gw_*), purged on uninstall.
CREATE TABLE gw_refresh_locks (
    tenant_id    TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    holder       TEXT NOT NULL,
    locked_until REAL NOT NULL,
    PRIMARY KEY (tenant_id, instance_id)
);
