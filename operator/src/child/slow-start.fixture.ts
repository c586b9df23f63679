/**
 * A supervised child for supervised.test.ts: its main thread is busy for
 * `SLOW_START_MS` before it says ready (as a host booting on a loaded node is), then it
 * answers heartbeats until told `{ t: "stall" }`, when it stops its main thread for good.
 */
import { guardChild } from "./guard.ts";

const until = Date.now() + Number(process.env.SLOW_START_MS ?? "0");
while (Date.now() < until) {
  // Busy: no event loop turn, so no ping could be answered.
}
guardChild((message: { t?: string }) => {
  if (message.t === "stall") for (;;) {
    // The main thread is stuck: the heartbeat must find it hung.
  }
});
