// A stand-in operator for isolation.test.ts: starts two sandbox hosts, prints their
// pids, then waits to be killed.
import { SandboxFleet } from "./fleet.ts";
import { hostileRevision } from "./fixtures.ts";

const fleet = new SandboxFleet();
await fleet.load({ ...hostileRevision("one@1", ""), host: "ns/one" });
await fleet.load({ ...hostileRevision("two@1", ""), host: "ns/two" });
process.stdout.write(`pids ${fleet.hostPid("ns/one")},${fleet.hostPid("ns/two")}\n`);
setInterval(() => {}, 1000);
