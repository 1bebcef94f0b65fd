-- Credential refresh locks: a lease per instance, so one process (or replica) at a time refreshes
-- a token. Refresh tokens rotate: two refreshes at once would spend the same refresh token twice
-- and the provider would revoke the grant. A crashed holder's lease simply expires.
-- Rows are gateway state (gw_*), purged on uninstall.
CREATE TABLE gw_refresh_locks (
    tenant_id    TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    holder       TEXT NOT NULL,
    locked_until DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, instance_id)
);
ALTER TABLE gw_refresh_locks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gw_refresh_locks
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));
