// The real, independent OAuth server of tests/auth: `oidc-provider` (a certified OpenID Provider)
// on 127.0.0.1:<random port>. It prints one JSON line {"issuer": ...} once it listens.
//
// Clients:
//   cuervo-cli       a native public client: PKCE required, loopback redirect (any port), refresh
//                    tokens that rotate on every use (reuse revokes the whole grant), device flow.
//   resource-server  a confidential client the tests' resource API uses to introspect tokens.
//
// Test-only control endpoints (not part of oidc-provider):
//   POST /_test/config {"accessTokenTTL": seconds}   TTL of access tokens issued from now on
//   GET  /_test/stats                                 counters and every token value issued
import http from 'node:http';
import Provider from 'oidc-provider';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const settings = { accessTokenTTL: 3600 };
const stats = {
  refreshes: 0,
  refreshErrors: [],
  codeExchanges: 0,
  deviceExchanges: 0,
  grantsRevoked: 0,
  revocations: 0,
  issued: [],
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'cuervo-cli',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
      response_types: ['code'],
    },
    {
      client_id: 'resource-server',
      client_secret: 'resource-server-secret',
      redirect_uris: [],
      response_types: [],
      grant_types: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  claims: { openid: ['sub'] },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => (
        client.clientId === 'resource-server' || token.clientId === client.clientId
      ),
    },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: () => settings.accessTokenTTL,
    AuthorizationCode: 60,
    DeviceCode: 600,
    Grant: 86400,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 86400,
    Session: 86400,
  },
  cookies: { keys: ['cuervo-fabric-test-cookie-key'] },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
});

provider.on('grant.success', (ctx) => {
  const grantType = ctx.oidc.params.grant_type;
  if (grantType === 'refresh_token') stats.refreshes += 1;
  if (grantType === 'authorization_code') stats.codeExchanges += 1;
  if (grantType === 'urn:ietf:params:oauth:grant-type:device_code') stats.deviceExchanges += 1;
});
provider.on('grant.error', (ctx, err) => {
  if (ctx.oidc.params && ctx.oidc.params.grant_type === 'refresh_token') {
    stats.refreshErrors.push(`${err.error}: ${err.error_description}`);
  }
});
provider.on('grant.revoked', () => { stats.grantsRevoked += 1; });
for (const model of ['access_token', 'refresh_token', 'authorization_code', 'device_code']) {
  provider.on(`${model}.saved`, (token) => { stats.issued.push(token.jti); });
}

const handler = provider.callback();
server.on('request', (req, res) => {
  if (req.url === '/_test/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.url === '/_test/config' && req.method === 'POST') {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      Object.assign(settings, JSON.parse(body || '{}'));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(settings));
    });
    return;
  }
  if (req.method === 'POST' && req.url.startsWith('/token/revocation')) stats.revocations += 1;
  handler(req, res);
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
