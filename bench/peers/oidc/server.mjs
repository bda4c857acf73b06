// Copied from /work/shared/peers/node-oidc-provider/server.mjs (the measured peer config);
// bench/server.py copies it next to its node_modules in bench/.peers/oidc/ and runs it there.
// Only change: this header.
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
  }],
  jwks: {
    keys: [
      { ...rsa, kid: 'rsa-1', use: 'sig', alg: 'RS256' },
      { ...ecdsa, kid: 'ec-1', use: 'sig', alg: 'ES256' },
    ],
  },
  scopes: ['read:orders', 'write:orders'],
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

// exit cleanly on SIGINT/SIGTERM (lets `node --cpu-prof` write its profile)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
