import assert from "node:assert/strict";
import { it } from "node:test";
import { isLoopbackHost } from "./origin.ts";

it("counts localhost, 127.0.0.0/8, ::1 and IPv6-mapped 127.x as loopback, in any spelling", () => {
  const loopback = ["localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "[::ffff:127.9.9.9]", "::ffff:7f00:1"];
  for (const host of loopback) assert.equal(isLoopbackHost(host), true, host);
});

it("counts nothing else as loopback: other addresses, other names, *.localhost, the wildcard", () => {
  const other = ["0.0.0.0", "::", "128.0.0.1", "10.0.0.1", "126.255.255.255", "::2", "::ffff:128.0.0.1", "::ffff:10.0.0.1", "app.localhost", "localhost.example", "evil.example", "127.0.0.1.nip.io", "", "[]"];
  for (const host of other) assert.equal(isLoopbackHost(host), false, host);
});
