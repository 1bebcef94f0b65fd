-- The durable event bus and webhooks (in and out): the same shape as sqlite/0004_events.sql.
--
-- integration_events becomes the outbox, ordered by seq. Unlike SQLite, PostgreSQL hands out
-- identity values before commit, so rows can become visible out of seq order: a reader that
-- advances a cursor must only read below the oldest running transaction's snapshot
-- (pg_snapshot_xmin(pg_current_snapshot())) or re-scan a short window behind its cursor.
ALTER TABLE integration_events ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE integration_events ADD CONSTRAINT ux_integration_events_seq UNIQUE (seq);
ALTER TABLE integration_events ADD COLUMN original_webhook_id TEXT;
ALTER TABLE integration_events ADD COLUMN target_subscriber TEXT;
CREATE UNIQUE INDEX ux_integration_events_webhook
    ON integration_events(tenant_id, source, original_webhook_id) WHERE original_webhook_id IS NOT NULL;

-- Durable consumers of the log. tenant_id '*' receives every tenant's events; such a subscriber
-- runs as the schema owner (RLS does not apply to it).
CREATE TABLE event_subscribers (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    patterns     JSONB NOT NULL,
    ordered      BOOLEAN NOT NULL DEFAULT false,
    concurrency  INTEGER NOT NULL DEFAULT 1,
    retry_policy JSONB NOT NULL,
    cursor_seq   BIGINT NOT NULL DEFAULT 0,
    active       BOOLEAN NOT NULL DEFAULT true,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT valid_kind CHECK (kind IN ('handler', 'webhook')),
    UNIQUE (tenant_id, name)
);
ALTER TABLE event_subscribers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_subscribers
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- One event owed to one subscriber; a lease is next_attempt_at pushed forward. 'dead' is the DLQ.
CREATE TABLE event_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id   TEXT NOT NULL REFERENCES event_subscribers(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_seq       BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_owner     TEXT,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT valid_delivery_status CHECK (status IN ('pending', 'done', 'dead')),
    UNIQUE (subscriber_id, event_id)
);
CREATE INDEX idx_event_deliveries_due ON event_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX idx_event_deliveries_subscriber ON event_deliveries(subscriber_id, status, event_seq);
CREATE INDEX idx_event_deliveries_leased ON event_deliveries(subscriber_id)
    WHERE status = 'pending' AND lease_owner IS NOT NULL;
CREATE INDEX idx_event_deliveries_dead ON event_deliveries(tenant_id, updated_at) WHERE status = 'dead';
ALTER TABLE event_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_deliveries
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Outgoing webhooks: sealed signing secrets and custom header values; the retry schedule.
ALTER TABLE webhook_subscriptions ADD COLUMN sealed_secrets BYTEA;
ALTER TABLE webhook_subscriptions ADD COLUMN sealed_key BYTEA;
ALTER TABLE webhook_subscriptions ADD COLUMN sealed_key_id TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN timeout_ms INTEGER NOT NULL DEFAULT 15000;
ALTER TABLE webhook_subscriptions ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_subscriptions ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN updated_at TIMESTAMPTZ;

ALTER TABLE webhook_deliveries ADD COLUMN delivery_id BIGINT;
CREATE INDEX idx_webhook_deliveries_event ON webhook_deliveries(tenant_id, event_id);

-- Inbound endpoints: POST /webhooks/<instance_id>/<token>; token and secret sealed together.
CREATE TABLE webhook_endpoints (
    instance_id      TEXT PRIMARY KEY REFERENCES connector_instances(id) ON DELETE CASCADE,
    tenant_id        TEXT NOT NULL,
    connector_id     TEXT NOT NULL,
    token_hash       TEXT NOT NULL,
    sealed_secret    BYTEA NOT NULL,
    sealed_key       BYTEA NOT NULL,
    sealed_key_id    TEXT NOT NULL,
    secret_source    TEXT NOT NULL DEFAULT 'generated',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_received_at TIMESTAMPTZ,
    total_received   BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT valid_secret_source CHECK (secret_source IN ('generated', 'provided'))
);
CREATE INDEX idx_webhook_endpoints_tenant ON webhook_endpoints(tenant_id);
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));
