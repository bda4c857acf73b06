// Copied from /work/shared/peers/node-oidc-provider/server.mjs (the measured peer config);
// bench/server.py copies it next to its node_modules in bench/.peers/oidc/ and runs it there.
// Changes, all marked "bench:": this header; a second client `app-web-01` (authorization_code +
// refresh_token, ES256 ID tokens), `offline_access`/`openid` scopes (without offline_access the
// provider does not enable the refresh_token grant), `rotateRefreshToken: true`; and, only when
// SEED_PORT is set, a loopback listener of its own that mints refresh tokens for the bench.
// Minimal node-oidc-provider (v9) authorization server for load testing.
//   * one confidential client (client_secret_basic) allowed client_credentials
//   * resource indicator https://api.example.test -> RFC 9068 JWT access tokens
//     (typ "at+jwt"), signed with AT_ALG (ES256 default, or RS256)
//   * resource indicator https://opaque-api.example.test -> opaque tokens
//     (oidc-provider refuses to introspect/revoke structured JWT tokens, so
//     this one exists only to have something introspectable)
//   * introspection + revocation enabled; in-memory adapter (dev default)
// Usage: node server.mjs   (env: PORT=3000 AT_ALG=ES256|RS256)
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const PORT = Number(process.env.PORT || 3000);
const AT_ALG = process.env.AT_ALG || 'ES256';
const ISSUER = `http://127.0.0.1:${PORT}`;
const API = 'https://api.example.test';
const OPAQUE_API = 'https://opaque-api.example.test';

// fresh signing keys at startup (RSA for RS256 / id_token default, EC for ES256)
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ecdsa = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const configuration = {
  clients: [{
    client_id: 'svc-billing-01',
    client_secret: 'bench-secret-0123456789abcdef0123456789abcdef',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'read:orders write:orders',
  }, {
    // bench: the refresh-grant scenario's client.
    client_id: 'app-web-01',
    client_secret: 'bench-secret-refresh-0123456789abcdef0123456789',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['https://app.example.test/callback'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    scope: 'openid offline_access read:orders',
  }],
  jwks: {
    keys: [
      { ...rsa, kid: 'rsa-1', use: 'sig', alg: 'RS256' },
      { ...ecdsa, kid: 'ec-1', use: 'sig', alg: 'ES256' },
    ],
  },
  scopes: ['openid', 'offline_access', 'read:orders', 'write:orders'], // bench: +openid, offline_access
  rotateRefreshToken: true, // bench: every refresh rotates (the default rotates only past 70% TTL)
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf || API,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator, client) => {
        if (resourceIndicator === API) {
          return {
            scope: 'read:orders write:orders',
            audience: API,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: AT_ALG } },
          };
        }
        if (resourceIndicator === OPAQUE_API) {
          return {
            scope: 'read:orders write:orders',
            audience: OPAQUE_API,
            accessTokenTTL: 3600,
            accessTokenFormat: 'opaque',
          };
        }
        throw new errors.InvalidTarget();
      },
    },
  },
};

const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(PORT, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${ISSUER} pid=${process.pid} at_alg=${AT_ALG} node=${process.version}`);
});

// bench: POST http://127.0.0.1:$SEED_PORT/seed?n=N answers {"refresh_tokens": [...]}, N fresh
// refresh tokens (scope `openid read:orders`, resource API), each of its own grant and account,
// as if N users had just logged in to app-web-01. A separate listener, so the provider's own
// request path carries nothing extra.
if (process.env.SEED_PORT) {
  const { createServer } = await import('node:http');
  const { randomUUID } = await import('node:crypto');
  const seed = async (n) => {
    const client = await provider.Client.find('app-web-01');
    const authTime = Math.floor(Date.now() / 1000);
    const tokens = [];
    for (let i = 0; i < n; i += 1) {
      const accountId = randomUUID().replaceAll('-', '');
      const grant = new provider.Grant({ accountId, clientId: client.clientId });
      grant.addOIDCScope('openid');
      grant.addResourceScope(API, 'read:orders');
      const grantId = await grant.save();
      const token = new provider.RefreshToken({
        accountId, authTime, client, grantId, gty: 'authorization_code',
        resource: API, rotations: 0, scope: 'openid read:orders',
      });
      tokens.push(await token.save());
    }
    return tokens;
  };
  createServer((req, res) => {
    const n = Number(new URL(req.url, 'http://seed').searchParams.get('n'));
    if (req.method !== 'POST' || !Number.isInteger(n) || n < 1 || n > 500) {
      res.writeHead(400).end();
      return;
    }
    seed(n).then(
      (tokens) => res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ refresh_tokens: tokens })),
      (err) => { console.error('seed', err); res.writeHead(500).end(String(err)); },
    );
  }).listen(Number(process.env.SEED_PORT), '127.0.0.1');
}

// exit cleanly on SIGINT/SIGTERM (lets `node --cpu-prof` write its profile)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
