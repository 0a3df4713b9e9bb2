#!/usr/bin/env node
// A real OpenID Connect provider (npm oidc-provider 8.8.1, panva) for idpctl's discovery
// preflight tests, served over HTTPS on 127.0.0.1.
//
//   node oidc-server.cjs CERT.pem KEY.pem METHODS
//
// METHODS: comma-separated token_endpoint_auth_methods (clientAuthMethods), e.g.
// "client_secret_post,private_key_jwt". Listens on a free port, then prints one line
// "READY https://127.0.0.1:PORT" (the issuer, no trailing slash) and serves until killed.
"use strict";
const https = require("node:https");
const { readFileSync } = require("node:fs");

async function main([certPath, keyPath, methods]) {
  if (!certPath || !keyPath || !methods) {
    process.stderr.write("usage: oidc-server.cjs CERT.pem KEY.pem METHODS\n");
    return 2;
  }
  const { default: Provider } = await import("oidc-provider");
  let app = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = https.createServer(
    { cert: readFileSync(certPath), key: readFileSync(keyPath) },
    (req, res) => app(req, res),
  );
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `https://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clientAuthMethods: methods.split(","),
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "given_name", "family_name"],
    },
    clients: [{
      client_id: "idpctl-test",
      client_secret: "not-a-real-secret-0123456789abcdef",
      redirect_uris: ["https://127.0.0.1/federation/oauth2"],
      token_endpoint_auth_method: methods.split(",")[0],
    }],
  });
  app = provider.callback();
  process.stdout.write(`READY ${issuer}\n`);
  return null;
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== null) process.exit(code); },
  (error) => {
    process.stderr.write(`oidc-server.cjs: ${error.stack || error}\n`);
    process.exit(2);
  },
);
