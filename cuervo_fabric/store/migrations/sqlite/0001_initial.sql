-- The seed's schema, for SQLite. JSON columns hold JSON text; times are ISO-8601 UTC text,
-- except gateway/credential instants which are epoch seconds (REAL) for cheap comparisons.

CREATE TABLE connector_registry (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    description          TEXT,
    category             TEXT NOT NULL,
    vendor               TEXT NOT NULL,
    latest_version       TEXT NOT NULL,
    icon_url             TEXT,
    documentation_url    TEXT,
    config_schema        TEXT NOT NULL,
    capabilities         TEXT NOT NULL,
    required_permissions TEXT NOT NULL,
    is_first_party       INTEGER NOT NULL DEFAULT 0,
    status               TEXT NOT NULL DEFAULT 'active',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

CREATE TABLE connector_instances (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL,
    connector_id          TEXT NOT NULL,
    display_name          TEXT NOT NULL,
    version               TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'installed',
    status_reason         TEXT,
    config                TEXT NOT NULL DEFAULT '{}',
    auth_type             TEXT NOT NULL,
    granted_capabilities  TEXT NOT NULL DEFAULT '[]',
    denied_capabilities   TEXT NOT NULL DEFAULT '[]',
    data_scope            TEXT NOT NULL DEFAULT '{}',
    rate_limits           TEXT NOT NULL DEFAULT '{}',
    features              TEXT NOT NULL DEFAULT '{"syncEnabled":false,"webhooksEnabled":false}',
    last_health_check_at  TEXT,
    last_health_status    TEXT,
    last_error_at         TEXT,
    last_error            TEXT,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    circuit_state         TEXT NOT NULL DEFAULT 'closed',
    circuit_opened_at     TEXT,
    circuit_next_retry_at TEXT,
    installed_at          TEXT NOT NULL,
    installed_by          TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    last_activity_at      TEXT,
    total_requests        INTEGER NOT NULL DEFAULT 0,
    total_errors          INTEGER NOT NULL DEFAULT 0,
    total_latency_ms      INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT valid_status CHECK (status IN (
        'installed','authenticating','active','paused',
        'error','degraded','uninstalling','uninstalled'
    ))
);
CREATE INDEX idx_instances_tenant ON connector_instances(tenant_id, connector_id);
-- A name is unique among a tenant's live instances; uninstalled rows free it.
CREATE UNIQUE INDEX ux_instances_tenant_name
    ON connector_instances(tenant_id, display_name) WHERE status <> 'uninstalled';

CREATE TABLE connector_credentials (
    id                TEXT PRIMARY KEY,
    instance_id       TEXT NOT NULL REFERENCES connector_instances(id) ON DELETE CASCADE,
    tenant_id         TEXT NOT NULL,
    credential_type   TEXT NOT NULL,
    encrypted_data    BLOB NOT NULL,
    wrapped_key       BLOB NOT NULL,
    encryption_key_id TEXT NOT NULL,
    expires_at        REAL,
    refreshed_at      REAL,
    created_at        REAL NOT NULL,
    metadata          TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT valid_credential_type CHECK (credential_type IN (
        'oauth2_token','api_key','bearer_token','basic_auth','service_account','mtls_cert','none'
    )),
    UNIQUE (tenant_id, instance_id)
);

CREATE TABLE webhook_subscriptions (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    secret_hash      TEXT NOT NULL,
    active           INTEGER NOT NULL DEFAULT 1,
    custom_headers   TEXT DEFAULT '{}',
    retry_policy     TEXT NOT NULL DEFAULT '{"maxRetries":3}',
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    last_delivery_at TEXT,
    total_deliveries INTEGER NOT NULL DEFAULT 0,
    total_failures   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_webhook_subscriptions_tenant ON webhook_subscriptions(tenant_id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    url             TEXT NOT NULL,
    request_headers TEXT,
    request_body    TEXT,
    response_status INTEGER,
    response_body   TEXT,
    duration_ms     INTEGER,
    attempt         INTEGER NOT NULL DEFAULT 1,
    success         INTEGER NOT NULL,
    error           TEXT,
    delivered_at    TEXT NOT NULL
);
CREATE INDEX idx_webhook_deliveries_sub ON webhook_deliveries(subscription_id, delivered_at DESC);

CREATE TABLE integration_events (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    type              TEXT NOT NULL,
    source            TEXT NOT NULL,
    data              TEXT NOT NULL,
    correlation_id    TEXT,
    connector_id      TEXT NOT NULL,
    connector_version TEXT,
    created_at        TEXT NOT NULL
);
CREATE INDEX idx_integration_events_type ON integration_events(tenant_id, type, created_at DESC);
CREATE INDEX idx_integration_events_source ON integration_events(source, created_at DESC);
