// Node 20 (and 22 before 22.21, 24 before 24.5): fetch() does not read
// HTTPS_PROXY, so it goes around github-token-proxy. Preloaded into every
// node process, this file sends fetch() (Node's own and undici's) through
// the proxy the environment names: HTTPS_PROXY / HTTP_PROXY, except the
// hosts in NO_PROXY, as curl reads them. The CA bundle still comes from
// NODE_EXTRA_CA_CERTS.
//
//   npm install --prefix /opt/node-env-proxy undici@7.30.3   (Node 20.18.1 or later)
//   NODE_PATH=/opt/node-env-proxy/node_modules
//   NODE_OPTIONS="--require /opt/node-env-proxy/node-env-proxy.cjs"
//
// Newer Node needs none of it: NODE_USE_ENV_PROXY=1 (proxy-pod.yaml sets
// it) does the same for fetch() and the http and https modules. Not
// covered here on Node 20: the http and https modules (and libraries
// built on them, such as axios), which need a proxy agent of their own.
// docs/agent-isolation.md ("Node"); run by test/acceptance.
'use strict';
const { EnvHttpProxyAgent, setGlobalDispatcher } = require('undici');
setGlobalDispatcher(new EnvHttpProxyAgent());
