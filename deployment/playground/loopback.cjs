// Preloaded into the Microsoft 365 Agents Playground with `node --require` (see deployment/playground/__main__.py).
//
// The Playground (0.2.28) calls `server.listen(port, callback)` with no host, so it listens on every interface,
// and it has no command-line option or environment variable to change that. Its page talks to a mock Bot
// Connector that accepts anything without authentication, so it must not be reachable from the network.
// This shim gives every listen() that names a port but no host the loopback address instead.
"use strict";
const net = require("net");

const HOST = process.env.PLAYGROUND_HOST || "127.0.0.1";
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (typeof args[1] !== "string") {
      args.splice(1, 0, HOST);
    }
  } else if (first && typeof first === "object" && first.path === undefined && first.host === undefined) {
    args[0] = { ...first, host: HOST };
  }
  return listen.apply(this, args);
};
