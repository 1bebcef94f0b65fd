-- Gateway state shared by every process: circuit breakers, rate-limit buckets and leases, provider
-- limits, the response cache, metrics and the audit log. Instants are epoch seconds (REAL) so the
-- conditional statements compare numbers. Rows with tenant_id + instance_id belong to the instance
-- and are deleted when it is uninstalled (SqliteStore.purge_instance_data).

CREATE TABLE gw_circuit (
    tenant_id              TEXT NOT NULL,
    instance_id            TEXT NOT NULL,
    state                  TEXT NOT NULL DEFAULT 'closed',
    failure_count          INTEGER NOT NULL DEFAULT 0,
    success_count          INTEGER NOT NULL DEFAULT 0,
    last_failure_at        REAL,
    last_success_at        REAL,
    opened_at              REAL,
    next_retry_at          REAL,
    reason                 TEXT,
    forced                 INTEGER NOT NULL DEFAULT 0,
    -- per-instance overrides of the category defaults (NULL: the default)
    failure_threshold      INTEGER,
    success_threshold      INTEGER,
    timeout_ms             INTEGER,
    half_open_max_requests INTEGER,
    updated_at             REAL NOT NULL,
    PRIMARY KEY (tenant_id, instance_id),
    CONSTRAINT valid_circuit_state CHECK (state IN ('closed', 'open', 'half_open'))
);

-- Leases: half-open probes (scope 'probe') and concurrent-request slots ('instance', 'tenant').
-- A lease expires, so a crashed process cannot hold a slot for ever.
CREATE TABLE gw_leases (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    scope       TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    CONSTRAINT valid_lease_scope CHECK (scope IN ('probe', 'instance', 'tenant'))
);
CREATE INDEX idx_gw_leases_scope ON gw_leases(tenant_id, scope, instance_id, expires_at);

-- Token buckets refilled per window (all tokens at once when the window ends, like the providers'
-- own remaining/reset counters). instance_id '' holds the tenant's own buckets.
CREATE TABLE gw_buckets (
    tenant_id    TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    period_s     INTEGER NOT NULL,
    capacity     INTEGER NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0,
    window_start REAL NOT NULL,
    PRIMARY KEY (tenant_id, instance_id, period_s)
);

-- Tenant-wide limits (cuervo-fabric ratelimit set); 0 means unlimited.
CREATE TABLE gw_tenant_limits (
    tenant_id           TEXT PRIMARY KEY,
    requests_per_minute INTEGER NOT NULL DEFAULT 0,
    requests_per_hour   INTEGER NOT NULL DEFAULT 0,
    concurrent_requests INTEGER NOT NULL DEFAULT 0,
    updated_at          TEXT NOT NULL
);

-- What providers said about their own limits, per resource (GitHub core/search, OpenAI
-- requests/tokens, ...). blocked_until is honoured by every process.
CREATE TABLE gw_provider_limits (
    tenant_id     TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    resource      TEXT NOT NULL,
    source        TEXT NOT NULL,
    limit_value   INTEGER,
    remaining     INTEGER,
    reset_at      REAL,
    blocked_until REAL,
    reason        TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (tenant_id, instance_id, resource)
);

-- Results of read actions that declare cache_ttl, keyed by a hash of action and params.
CREATE TABLE gw_cache (
    tenant_id   TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    cache_key   TEXT NOT NULL,
    action      TEXT NOT NULL,
    value       TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, instance_id, cache_key)
);

-- Counters and histogram buckets (non-cumulative; summed when rendered), by label set.
CREATE TABLE gw_metrics (
    tenant_id   TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    labels      TEXT NOT NULL,
    value       REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, instance_id, name, labels)
);

-- One row per call. The column is instance_ref, not instance_id, on purpose: the audit trail
-- outlives an uninstalled instance. Never a secret, never a body. created_at is epoch seconds.
CREATE TABLE gw_audit (
    id                   INTEGER PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    instance_ref         TEXT NOT NULL,
    instance_name        TEXT NOT NULL,
    connector_id         TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    action               TEXT NOT NULL,
    status               TEXT NOT NULL,
    error_code           TEXT,
    duration_ms          REAL NOT NULL,
    attempts             INTEGER NOT NULL,
    api_calls            INTEGER NOT NULL,
    cached               INTEGER NOT NULL,
    trace_id             TEXT NOT NULL,
    rate_limit_remaining INTEGER,
    rate_limit_limit     INTEGER,
    rate_limit_reset_at  TEXT,
    created_at           REAL NOT NULL,
    CONSTRAINT valid_audit_status CHECK (status IN ('success', 'error', 'refused'))
);
CREATE INDEX idx_gw_audit_tenant_time ON gw_audit(tenant_id, created_at DESC);
