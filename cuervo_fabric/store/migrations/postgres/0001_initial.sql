-- The seed's schema, for PostgreSQL. Run as the schema's owner by PostgresStore, in one
-- transaction, under an advisory lock, in the schema first on search_path.
--
-- Differences from the seed, on purpose:
-- * ids, tenant ids and installed_by are TEXT: the domain makes ids (uuid4 hex, referenced by
--   prefix on the CLI) and tenants are names such as "default" or "acme", not UUIDs.
-- * connector_instances.connector_id has no foreign key to the registry, as in SQLite: an
--   instance must survive its connector package being uninstalled from the machine.
-- * the policies read current_setting('app.current_tenant', true): with no tenant set the
--   setting is NULL or '' and a query sees no row instead of failing.
-- * every tenant-owned table gets the policy (the seed forgot webhook_deliveries and
--   integration_events), with WITH CHECK so a tenant cannot write rows of another tenant.
--
-- Later migrations that add a tenant-owned table must add the same two statements:
--   ALTER TABLE t ENABLE ROW LEVEL SECURITY;
--   CREATE POLICY tenant_isolation ON t USING (tenant_id = current_setting('app.current_tenant', true))
--       WITH CHECK (tenant_id = current_setting('app.current_tenant', true));
-- Grants need nothing: the default privileges below give cuervo_app DML on every new table.

-- The non-owner role that tenant-scoped work runs as (SET LOCAL ROLE cuervo_app). Roles are
-- cluster-wide, so another database (or a process migrating another schema) may create it first.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cuervo_app') THEN
        BEGIN
            CREATE ROLE cuervo_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    -- A superuser may SET ROLE to anything; any other owner needs the membership.
    IF NOT pg_has_role(current_user, 'cuervo_app', 'MEMBER') THEN
        EXECUTE format('GRANT cuervo_app TO %I', current_user);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO cuervo_app', current_schema());
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cuervo_app',
        current_schema()
    );
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO cuervo_app',
        current_schema()
    );
END
$$;

-- Available connectors (platform-managed; tenants may read it, only the owner writes it)
CREATE TABLE connector_registry (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    description          TEXT,
    category             TEXT NOT NULL,
    vendor               TEXT NOT NULL,
    latest_version       TEXT NOT NULL,
    icon_url             TEXT,
    documentation_url    TEXT,
    config_schema        JSONB NOT NULL,
    capabilities         JSONB NOT NULL,
    required_permissions JSONB NOT NULL,
    is_first_party       BOOLEAN NOT NULL DEFAULT false,
    status               TEXT NOT NULL DEFAULT 'active',
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
REVOKE INSERT, UPDATE, DELETE ON connector_registry FROM cuervo_app;

-- Installed connector instances (per tenant)
CREATE TABLE connector_instances (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL,
    connector_id          TEXT NOT NULL,
    display_name          TEXT NOT NULL,
    version               TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'installed',
    status_reason         TEXT,
    config                JSONB NOT NULL DEFAULT '{}',
    auth_type             TEXT NOT NULL,
    granted_capabilities  JSONB NOT NULL DEFAULT '[]',
    denied_capabilities   JSONB NOT NULL DEFAULT '[]',
    data_scope            JSONB NOT NULL DEFAULT '{}',
    rate_limits           JSONB NOT NULL DEFAULT '{}',
    features              JSONB NOT NULL DEFAULT '{"syncEnabled":false,"webhooksEnabled":false}',
    -- Health tracking
    last_health_check_at  TIMESTAMPTZ,
    last_health_status    TEXT,
    last_error_at         TIMESTAMPTZ,
    last_error            TEXT,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    -- Circuit breaker state
    circuit_state         TEXT NOT NULL DEFAULT 'closed',
    circuit_opened_at     TIMESTAMPTZ,
    circuit_next_retry_at TIMESTAMPTZ,
    -- Lifecycle
    installed_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    installed_by          TEXT NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity_at      TIMESTAMPTZ,
    -- Usage
    total_requests        BIGINT NOT NULL DEFAULT 0,
    total_errors          BIGINT NOT NULL DEFAULT 0,
    total_latency_ms      BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT valid_status CHECK (status IN (
        'installed','authenticating','active','paused',
        'error','degraded','uninstalling','uninstalled'
    ))
);
CREATE INDEX idx_instances_tenant ON connector_instances(tenant_id, connector_id);
-- A name is unique among a tenant's live instances; uninstalled rows free it.
CREATE UNIQUE INDEX ux_instances_tenant_name
    ON connector_instances(tenant_id, display_name) WHERE status <> 'uninstalled';
ALTER TABLE connector_instances ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON connector_instances
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Connector credentials (encrypted: AES-256-GCM payload plus its wrapped data key)
CREATE TABLE connector_credentials (
    id                TEXT PRIMARY KEY,
    instance_id       TEXT NOT NULL REFERENCES connector_instances(id) ON DELETE CASCADE,
    tenant_id         TEXT NOT NULL,
    credential_type   TEXT NOT NULL,
    encrypted_data    BYTEA NOT NULL,
    wrapped_key       BYTEA NOT NULL,
    encryption_key_id TEXT NOT NULL,
    expires_at        TIMESTAMPTZ,
    refreshed_at      TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    metadata          JSONB NOT NULL DEFAULT '{}',
    CONSTRAINT valid_credential_type CHECK (credential_type IN (
        'oauth2_token','api_key','bearer_token','basic_auth','service_account','mtls_cert','none'
    )),
    UNIQUE (tenant_id, instance_id)
);
CREATE INDEX idx_credentials_instance ON connector_credentials(instance_id);
ALTER TABLE connector_credentials ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON connector_credentials
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Webhook subscriptions (outgoing)
CREATE TABLE webhook_subscriptions (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    url              TEXT NOT NULL,
    events           JSONB NOT NULL,
    secret_hash      TEXT NOT NULL,
    active           BOOLEAN NOT NULL DEFAULT true,
    custom_headers   JSONB DEFAULT '{}',
    retry_policy     JSONB NOT NULL DEFAULT '{"maxRetries":3}',
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_delivery_at TIMESTAMPTZ,
    total_deliveries BIGINT NOT NULL DEFAULT 0,
    total_failures   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX idx_webhook_subscriptions_tenant ON webhook_subscriptions(tenant_id);
ALTER TABLE webhook_subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_subscriptions
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Webhook delivery log
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    url             TEXT NOT NULL,
    request_headers JSONB,
    request_body    TEXT,
    response_status INTEGER,
    response_body   TEXT,
    duration_ms     INTEGER,
    attempt         INTEGER NOT NULL DEFAULT 1,
    success         BOOLEAN NOT NULL,
    error           TEXT,
    delivered_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_webhook_deliveries_sub ON webhook_deliveries(subscription_id, delivered_at DESC);
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Integration events log
CREATE TABLE integration_events (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    type              TEXT NOT NULL,
    source            TEXT NOT NULL,
    data              JSONB NOT NULL,
    correlation_id    TEXT,
    connector_id      TEXT NOT NULL,
    connector_version TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_integration_events_type ON integration_events(tenant_id, type, created_at DESC);
CREATE INDEX idx_integration_events_source ON integration_events(source, created_at DESC);
ALTER TABLE integration_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON integration_events
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));
