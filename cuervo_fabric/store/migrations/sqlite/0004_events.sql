-- The durable event bus and webhooks (in and out).
--
-- integration_events becomes the outbox: an append-only log ordered by ``seq`` (AUTOINCREMENT, so a
-- position is never reused). SQLite serialises writers, so rows become visible in ``seq`` order and a
-- subscriber's cursor never skips a row. Provider redeliveries are dropped by a unique index on the
-- provider's delivery id per instance.
CREATE TABLE integration_events_v4 (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    tenant_id           TEXT NOT NULL,
    type                TEXT NOT NULL,
    source              TEXT NOT NULL,
    data                TEXT NOT NULL,
    correlation_id      TEXT,
    connector_id        TEXT NOT NULL,
    connector_version   TEXT,
    created_at          TEXT NOT NULL,
    original_webhook_id TEXT,
    target_subscriber   TEXT
);
INSERT INTO integration_events_v4 (id, tenant_id, type, source, data, correlation_id, connector_id,
                                   connector_version, created_at)
    SELECT id, tenant_id, type, source, data, correlation_id, connector_id, connector_version, created_at
    FROM integration_events ORDER BY created_at, id;
DROP TABLE integration_events;
ALTER TABLE integration_events_v4 RENAME TO integration_events;
CREATE INDEX idx_integration_events_type ON integration_events(tenant_id, type, created_at DESC);
CREATE INDEX idx_integration_events_source ON integration_events(source, created_at DESC);
CREATE UNIQUE INDEX ux_integration_events_webhook
    ON integration_events(tenant_id, source, original_webhook_id) WHERE original_webhook_id IS NOT NULL;

-- Durable consumers of the log: in-process handlers (EventBus.subscribe) and outgoing webhooks.
-- tenant_id '*' receives every tenant's events. cursor_seq: the log position up to which matching
-- events have been turned into deliveries.
CREATE TABLE event_subscribers (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    patterns    TEXT NOT NULL,
    ordered     INTEGER NOT NULL DEFAULT 0,
    concurrency INTEGER NOT NULL DEFAULT 1,
    retry_policy TEXT NOT NULL,
    cursor_seq  INTEGER NOT NULL DEFAULT 0,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT valid_kind CHECK (kind IN ('handler', 'webhook')),
    UNIQUE (tenant_id, name)
);

-- One event owed to one subscriber. A lease is next_attempt_at pushed forward (with lease_owner):
-- a crashed worker's delivery comes due again when its lease runs out. 'dead' is the DLQ.
CREATE TABLE event_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id   TEXT NOT NULL REFERENCES event_subscribers(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_seq       INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CONSTRAINT valid_delivery_status CHECK (status IN ('pending', 'done', 'dead')),
    UNIQUE (subscriber_id, event_id)
);
CREATE INDEX idx_event_deliveries_due ON event_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX idx_event_deliveries_subscriber ON event_deliveries(subscriber_id, status, event_seq);
CREATE INDEX idx_event_deliveries_leased ON event_deliveries(subscriber_id)
    WHERE status = 'pending' AND lease_owner IS NOT NULL;
CREATE INDEX idx_event_deliveries_dead ON event_deliveries(tenant_id, updated_at) WHERE status = 'dead';

-- Outgoing webhooks: the signing secrets and custom header values are sealed by the vault
-- (secret_hash stays the seed's fingerprint of the current secret); the retry schedule is
-- retry_policy (maxRetries, backoffMs, jitter).
ALTER TABLE webhook_subscriptions ADD COLUMN sealed_secrets BLOB;
ALTER TABLE webhook_subscriptions ADD COLUMN sealed_key BLOB;
ALTER TABLE webhook_subscriptions ADD COLUMN sealed_key_id TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN timeout_ms INTEGER NOT NULL DEFAULT 15000;
ALTER TABLE webhook_subscriptions ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_subscriptions ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN updated_at TEXT;

-- The delivery log keeps every attempt; delivery_id links it to event_deliveries.
ALTER TABLE webhook_deliveries ADD COLUMN delivery_id INTEGER;
CREATE INDEX idx_webhook_deliveries_event ON webhook_deliveries(tenant_id, event_id);

-- Inbound endpoints: POST /webhooks/<instance_id>/<token>. The URL token and the provider secret
-- are sealed together; token_hash (SHA-256) is what a request is checked against.
CREATE TABLE webhook_endpoints (
    instance_id      TEXT PRIMARY KEY REFERENCES connector_instances(id) ON DELETE CASCADE,
    tenant_id        TEXT NOT NULL,
    connector_id     TEXT NOT NULL,
    token_hash       TEXT NOT NULL,
    sealed_secret    BLOB NOT NULL,
    sealed_key       BLOB NOT NULL,
    sealed_key_id    TEXT NOT NULL,
    secret_source    TEXT NOT NULL DEFAULT 'generated',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_received_at TEXT,
    total_received   INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT valid_secret_source CHECK (secret_source IN ('generated', 'provided'))
);
CREATE INDEX idx_webhook_endpoints_tenant ON webhook_endpoints(tenant_id);
